package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout/postgres/pgtest"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
	"github.com/hostedcheckout/hostedcheckout/vault"
	"github.com/hostedcheckout/hostedcheckout/vault/vaulttest"
)

// production is the production configuration under test: a real
// PostgreSQL, a real HashiCorp Vault with Transit, checkoutd logging in with
// an AppRole that holds only the service's least-privilege policy, and a
// merchant registered on https://shop.example.
type production struct {
	pg       *pgtest.Server
	vault    *vaulttest.Server
	dsn      string
	vaultURL string // where instances reach Vault: the server, or a fault proxy in front of it
	roleID   string
	secretID string
	key      string // the merchant's secret key
	merchant string // its id

	processorKey     string // the card processor's key, for chargeback notifications
	processorKeyFile string // where every instance reads it
}

type productionOptions struct {
	vault   vaulttest.Options
	durable bool // PostgreSQL keeps crash safety (fault tests)
	proxy   bool // instances reach Vault through a fault proxy
}

func mustProduction(t *testing.T, opts productionOptions) (*production, *vaulttest.Proxy) {
	t.Helper()
	e := &production{pg: pgtest.Options{Durable: opts.durable}.Start(t), vault: vaulttest.Start(t, opts.vault)}
	e.dsn = e.pg.NewDatabase(t)
	e.vaultURL = e.vault.Addr()
	var proxy *vaulttest.Proxy
	if opts.proxy {
		proxy = vaulttest.NewProxy(t, e.vault.Addr())
		e.vaultURL = proxy.URL()
	}
	e.roleID, e.secretID = e.vault.EnableAppRole(t, vault.TransitPolicy(vaulttest.Mount, vaulttest.Key))

	// The operator makes the processor's key and installs it for every instance.
	out, err := exec.Command(binary, "processors", "key").Output()
	var made struct {
		Key string `json:"processor_key"`
	}
	if err != nil || json.Unmarshal(out, &made) != nil || !strings.HasPrefix(made.Key, "proc_sk_") {
		t.Fatalf("processors key: %q %v", out, err)
	}
	e.processorKey, e.processorKeyFile = made.Key, filepath.Join(t.TempDir(), "processor.key")
	if err := os.WriteFile(e.processorKeyFile, []byte(made.Key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(binary, "merchants", "create", "--name", "Tea Shop", "--origin", "https://shop.example")
	cmd.Env = append(cmd.Environ(), e.env()...)
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("merchants create on PostgreSQL and Vault: %v", err)
	}
	var created struct {
		ID  string `json:"merchant_id"`
		Key string `json:"secret_key"`
	}
	if err := json.Unmarshal(out, &created); err != nil || created.Key == "" {
		t.Fatalf("merchants create: %q %v", out, err)
	}
	e.key, e.merchant = created.Key, created.ID
	return e, proxy
}

func (e *production) env() []string {
	return []string{
		"CHECKOUT_STORE=postgres",
		"CHECKOUT_DATABASE_URL=" + e.dsn,
		"CHECKOUT_KEK=transit",
		"CHECKOUT_VAULT_ADDR=" + e.vaultURL,
		"CHECKOUT_VAULT_CACERT=" + e.vault.CAFile(),
		"CHECKOUT_VAULT_ROLE_ID=" + e.roleID,
		"CHECKOUT_VAULT_SECRET_ID=" + e.secretID,
		"CHECKOUT_VAULT_TIMEOUT=1s",
		// A session left processing by a failure is taken over after three
		// authorization deadlines; short here, so the tests can see it.
		"CHECKOUT_AUTH_TIMEOUT=1s",
		"CHECKOUT_PROCESSOR_KEY_FILE=" + e.processorKeyFile,
	}
}

// operatorJSON runs an operator command on the shared PostgreSQL and Vault
// and decodes what it prints.
func (e *production) operatorJSON(t *testing.T, out any, args ...string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(cmd.Environ(), e.env()...)
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("checkoutd %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("checkoutd %s: %q: %v", strings.Join(args, " "), b, err)
	}
}

// instance starts one stateless checkoutd on the shared PostgreSQL and Vault.
func (e *production) instance(t *testing.T) *process {
	t.Helper()
	p := mustStartWith(t, filepath.Join(t.TempDir(), "data"), e.env(), "-demo-addr", "")
	p.Merchant.APIKey, p.Shop = e.key, "https://shop.example"
	return p
}

// corpora is everything the dependencies hold or printed: PostgreSQL's
// data directory and log, and Vault's output.
func (e *production) corpora(t *testing.T, when string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	readDataDir(t, e.pg.DataDir(), when, out)
	out[when+": Vault's output"] = e.vault.Output()
	if log, err := os.ReadFile(e.pg.LogFile()); err == nil {
		out[when+": PostgreSQL's log"] = log
	}
	return out
}

func (e *production) query(t *testing.T, sql string, args ...any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// Several stateless instances behind a load balancer: whatever instance a
// request reaches, the answer is the same.
func TestTwoInstancesShareOneStoreAndVault(t *testing.T) {
	e, _ := mustProduction(t, productionOptions{})
	a, b := e.instance(t), e.instance(t)
	client := &http.Client{Timeout: 30 * time.Second}

	t.Run("session created on one, paid on the other", func(t *testing.T) {
		s := a.mustSession(t, "across")
		// The page (and its CSRF token) from a, the submission to b.
		status, got := b.pay(t, client, s, sandbox.CardVisa, "123")
		if status != http.StatusOK || got.Status != "paid" {
			t.Fatalf("pay on b: %d %+v\n%s", status, got, b.Output())
		}
		var after session
		a.api(t, "GET", "/v1/sessions/"+s.ID, nil, &after)
		if after.Status != "paid" {
			t.Fatalf("a sees the session as %q", after.Status)
		}
	})

	t.Run("simultaneous submissions to both pay once", func(t *testing.T) {
		s := a.mustSession(t, "double")
		const n = 10
		statuses := make([]int, n)
		answers := make([]paid, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := a
				if i%2 == 1 {
					p = b
				}
				token := csrfToken(t, client, p.BaseURL+"/pay/"+s.ID)
				req, _ := http.NewRequest("POST", p.BaseURL+"/pay/"+s.ID, formBody("number", sandbox.CardVisa, "expiry", "12/30", "name", "DOUBLE CLICK", "cvc", "123"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-CSRF-Token", token)
				req.Header.Set("Origin", p.BaseURL)
				<-start
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				json.NewDecoder(resp.Body).Decode(&answers[i])
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			}()
		}
		time.Sleep(200 * time.Millisecond) // every goroutine has its token and waits
		close(start)
		wg.Wait()
		ok := 0
		ids := map[string]bool{} // jti and sub of every result handed out
		for i, st := range statuses {
			switch st {
			case http.StatusOK:
				ok++
				c := resultClaims(t, answers[i].Token)
				ids[fmt.Sprint(c["jti"], " ", c["sub"])] = true
			case http.StatusConflict:
			default:
				t.Errorf("status %d", st)
			}
		}
		if ok == 0 {
			t.Fatalf("no submission succeeded: %v", statuses)
		}
		// The double click's late clicks, on each instance: the same result.
		for _, p := range []*process{a, b} {
			token := csrfToken(t, client, p.BaseURL+"/pay/"+s.ID)
			status, again, err := p.postCard(client, s, token, "number", sandbox.CardVisa, "expiry", "12/30", "name", "DOUBLE CLICK", "cvc", "123")
			if err != nil || status != http.StatusOK {
				t.Fatalf("replay on %s: %d %v", p.BaseURL, status, err)
			}
			c := resultClaims(t, again.Token)
			ids[fmt.Sprint(c["jti"], " ", c["sub"])] = true
		}
		// One payment, one result id, whichever instance answered (issue 9).
		if len(ids) != 1 {
			t.Errorf("the double click's results carry %d jti/sub pairs, want 1: %v", len(ids), ids)
		}
		// Exactly one attempt reached the issuer, whatever instance took it.
		if n := e.query(t, `SELECT count(*) FROM attempts WHERE session_id = $1`, s.ID); n != 1 {
			t.Fatalf("%d authorization attempts for one session, want 1 (statuses %v)", n, statuses)
		}
		if n := e.query(t, `SELECT count(*) FROM payments WHERE session_id = $1`, s.ID); n != 1 {
			t.Fatalf("%d payments for one session", n)
		}
	})

	t.Run("idempotency key honoured across instances", func(t *testing.T) {
		body := map[string]any{"amount": 700, "currency": "JPY", "order_id": "idem-across", "success_url": "https://shop.example/done"}
		ids := make([]string, 2)
		var wg sync.WaitGroup
		for i, p := range []*process{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, _ := json.Marshal(body)
				req, _ := http.NewRequest("POST", p.BaseURL+"/v1/sessions", bytes.NewReader(b))
				req.Header.Set("Authorization", "Bearer "+e.key)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", "order-idem-across")
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				var s session
				json.NewDecoder(resp.Body).Decode(&s)
				ids[i] = s.ID
			}()
		}
		wg.Wait()
		if ids[0] == "" || ids[0] != ids[1] {
			t.Fatalf("sessions %v, want one", ids)
		}
	})
}

// outcome is one shopper's checkout during a fault.
type outcome struct {
	session session
	status  int // of the card submission; 0 when the session could not be created
}

// shoppers runs checkouts one after another until stop is closed (and at
// most limit), recording every outcome. Traffic stays on loopback.
func shoppers(t *testing.T, p *process, stop <-chan struct{}, limit int, number, cvc string) <-chan []outcome {
	done := make(chan []outcome, 1)
	client := &http.Client{Timeout: 20 * time.Second}
	go func() {
		var out []outcome
		for i := 0; i < limit; i++ {
			select {
			case <-stop:
				done <- out
				return
			case <-time.After(20 * time.Millisecond): // a steady stream, not a flood
			}
			var s session
			body, _ := json.Marshal(map[string]any{"amount": 1500, "currency": "JPY", "order_id": fmt.Sprintf("fault-%d", i), "success_url": p.Shop + "/done"})
			req, _ := http.NewRequest("POST", p.BaseURL+"/v1/sessions", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+p.Merchant.APIKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil || resp.StatusCode != http.StatusCreated {
				if resp != nil {
					resp.Body.Close()
				}
				out = append(out, outcome{})
				time.Sleep(50 * time.Millisecond)
				continue
			}
			json.NewDecoder(resp.Body).Decode(&s)
			resp.Body.Close()
			page, err := client.Get(s.URL)
			if err != nil {
				out = append(out, outcome{session: s})
				continue
			}
			html := new(bytes.Buffer)
			html.ReadFrom(page.Body)
			page.Body.Close()
			m := csrfPattern.FindSubmatch(html.Bytes())
			if m == nil {
				out = append(out, outcome{session: s, status: page.StatusCode})
				continue
			}
			fields := []string{"number", number, "expiry", "12/30", "name", "FAULT TEST", "cvc", cvc}
			o := outcome{session: s}
			var answer paid
			o.status, answer, _ = p.postCard(client, s, string(m[1]), fields...) // no answer: status 0
			if o.status == http.StatusOK && answer.Status == "requires_action" {
				// The shopper answers the issuer's challenge (screening asks
				// for one once this card has been used often), then the page
				// sends the card again; a fault on the way is a failure.
				o.status = 0
				if p.tryAnswerChallenge(client, answer.NextAction.URL) == nil {
					o.status, _, _ = p.postCard(client, s, string(m[1]), append(fields, "authentication", answer.NextAction.AuthenticationID)...)
				}
			}
			out = append(out, o)
		}
		done <- out
	}()
	return done
}

// waitReady polls /readyz until it answers want (bounded), and returns how long that took.
func waitReady(t *testing.T, p *process, want int, within time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	for time.Since(began) < within {
		resp, err := http.Get(p.BaseURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return time.Since(began)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("/readyz did not answer %d within %s\n%s", want, within, p.Output())
	return 0
}

// checkNothingLostOrDuplicated checks the invariants after a fault: every
// submission that answered "paid" has its payment and card token; no
// session has more than one payment; a submission that failed left its
// session open (nothing half-done), and once the dependency is back it pays
// exactly once.
func checkNothingLostOrDuplicated(t *testing.T, e *production, p *process, outcomes []outcome) (paid, failed int) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	for _, o := range outcomes {
		if o.session.ID == "" { // the session could not even be created: refused, nothing to check
			failed++
			continue
		}
		var got struct {
			Status  string `json:"status"`
			Payment *struct {
				ID   string `json:"id"`
				Card struct {
					Token string `json:"token"`
				} `json:"card"`
			} `json:"payment"`
		}
		p.api(t, "GET", "/v1/sessions/"+o.session.ID, nil, &got)
		switch {
		case o.status == http.StatusOK:
			paid++
			if got.Status != "paid" || got.Payment == nil || !strings.HasPrefix(got.Payment.Card.Token, "tok_") {
				t.Errorf("session %s answered paid but is %q with payment %+v", o.session.ID, got.Status, got.Payment)
			}
		default:
			failed++
			if got.Status == "paid" && got.Payment == nil {
				t.Errorf("session %s paid without a payment", o.session.ID)
			}
			if got.Status == "processing" {
				// The store went away between taking the session and
				// recording the outcome (the authorization was reversed).
				// After three deadlines a new submission takes it over.
				time.Sleep(3500 * time.Millisecond)
				got.Status = "open"
			}
			if got.Status == "open" { // the shopper tries again, now that the dependency is back
				if status, _ := p.pay(t, client, o.session, sandbox.CardVisa, "123"); status != http.StatusOK {
					t.Errorf("retry of %s after recovery: %d", o.session.ID, status)
				}
			}
		}
	}
	if n := e.query(t, `SELECT count(*) FROM (SELECT session_id FROM payments GROUP BY session_id HAVING count(*) > 1) d`); n != 0 {
		t.Errorf("%d sessions with more than one payment", n)
	}
	if n := e.query(t, `SELECT count(*) FROM sessions WHERE status = 'paid' AND payment_id NOT IN (SELECT id FROM payments)`); n != 0 {
		t.Errorf("%d paid sessions without their payment", n)
	}
	return paid, failed
}

// Each dependency fails in the middle of traffic; the checkout fails closed
// within a bounded time, reports not ready, loses and duplicates nothing,
// and recovers by itself when the dependency returns.
func TestFaultsFailClosedAndRecover(t *testing.T) {
	faults := []struct {
		name    string
		opts    productionOptions
		inject  func(t *testing.T, e *production, proxy *vaulttest.Proxy)
		restore func(t *testing.T, e *production, proxy *vaulttest.Proxy)
	}{
		{"vault sealed", productionOptions{},
			func(t *testing.T, e *production, _ *vaulttest.Proxy) { e.vault.Seal(t) },
			func(t *testing.T, e *production, _ *vaulttest.Proxy) { e.vault.Unseal(t) }},
		{"vault stopped", productionOptions{vault: vaulttest.Options{Persistent: true}},
			func(t *testing.T, e *production, _ *vaulttest.Proxy) { e.vault.Stop(t) },
			func(t *testing.T, e *production, _ *vaulttest.Proxy) { e.vault.Start(t) }},
		{"vault slow", productionOptions{proxy: true},
			func(t *testing.T, _ *production, proxy *vaulttest.Proxy) { proxy.SetDelay(5 * time.Second) },
			func(t *testing.T, _ *production, proxy *vaulttest.Proxy) { proxy.Pass() }},
		{"vault blackholed", productionOptions{proxy: true},
			func(t *testing.T, _ *production, proxy *vaulttest.Proxy) { proxy.Blackhole(true) },
			func(t *testing.T, _ *production, proxy *vaulttest.Proxy) { proxy.Pass() }},
		{"vault answering 503", productionOptions{proxy: true},
			func(t *testing.T, _ *production, proxy *vaulttest.Proxy) {
				proxy.FailWith(http.StatusServiceUnavailable)
			},
			func(t *testing.T, _ *production, proxy *vaulttest.Proxy) { proxy.Pass() }},
		{"postgres stopped", productionOptions{durable: true},
			func(t *testing.T, e *production, _ *vaulttest.Proxy) { e.pg.Stop(t) },
			func(t *testing.T, e *production, _ *vaulttest.Proxy) { e.pg.Start(t) }},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			e, proxy := mustProduction(t, f.opts)
			cvc := sentinelCVC(t, slices.Collect(maps.Values(e.corpora(t, "before")))...)
			p := e.instance(t)
			stop := make(chan struct{})
			results := shoppers(t, p, stop, 2000, sentinelPAN, cvc)
			time.Sleep(1500 * time.Millisecond) // payments flowing

			f.inject(t, e, proxy)
			notReady := waitReady(t, p, http.StatusServiceUnavailable, 15*time.Second)
			// A shopper during the fault gets a clear, bounded failure.
			s := p.mustSessionOrSkip(t)
			began := time.Now()
			var status int
			if s.ID != "" {
				status, _ = p.pay(t, &http.Client{Timeout: 30 * time.Second}, s, sandbox.CardVisa, "123")
			}
			failedIn := time.Since(began)
			if s.ID != "" && status != http.StatusServiceUnavailable {
				t.Errorf("payment during the fault answered %d, want 503", status)
			}
			time.Sleep(time.Second) // the shoppers meet the fault too
			f.restore(t, e, proxy)
			ready := waitReady(t, p, http.StatusOK, 30*time.Second)
			time.Sleep(1500 * time.Millisecond) // payments flowing again
			close(stop)
			outcomes := <-results
			paid, failed := checkNothingLostOrDuplicated(t, e, p, outcomes)
			if s.ID != "" {
				checkNothingLostOrDuplicated(t, e, p, []outcome{{session: s, status: status}})
			}
			t.Logf("not ready after %s; a payment failed closed in %s; ready again %s after restore; %d paid, %d failed during the run",
				notReady.Round(time.Millisecond), failedIn.Round(time.Millisecond), ready.Round(time.Millisecond), paid, failed)
			if paid == 0 || failed == 0 {
				t.Errorf("the run saw %d paid and %d failed checkouts: the fault did not land mid-traffic", paid, failed)
			}
			// The security code is still nowhere: PostgreSQL's files and
			// log, Vault's output, everything checkoutd printed.
			// Named by file, so that a hit can be looked at: a 4-digit
			// code also turns up by chance in 50 MB of ciphertext pages.
			corpora := e.corpora(t, "after")
			corpora["program output"] = p.Output()
			searchLeaks(t, corpora, cvc)
		})
	}
}

// mustSessionOrSkip creates a session, or returns an empty one when the
// store itself is down (the PostgreSQL fault): then the creation failing
// with 503 is the bounded failure under test.
func (p *process) mustSessionOrSkip(t *testing.T) session {
	t.Helper()
	var s session
	body := map[string]any{"amount": 1500, "currency": "JPY", "order_id": "during-fault", "success_url": p.Shop + "/done"}
	began := time.Now()
	resp := p.api(t, "POST", "/v1/sessions", body, &s)
	switch resp.StatusCode {
	case http.StatusCreated:
		return s
	case http.StatusServiceUnavailable:
		t.Logf("session creation failed closed with 503 in %s", time.Since(began).Round(time.Millisecond))
		return session{}
	default:
		t.Fatalf("session creation during the fault: %d", resp.StatusCode)
		return session{}
	}
}

// The leak test of the hosted checkout, on PostgreSQL and Vault: the
// security code is nowhere in PostgreSQL's data directory (tables, WAL),
// its log, Vault's output or anything checkoutd printed.
func TestNoCardDataLeaksOnPostgresAndVault(t *testing.T) {
	e, _ := mustProduction(t, productionOptions{})
	baseline := map[string][]byte{}
	readDataDir(t, e.pg.DataDir(), "postgres before", baseline)
	var all [][]byte
	for _, b := range baseline {
		all = append(all, b)
	}
	cvc := sentinelCVC(t, append(all, e.vault.Output())...)
	p := e.instance(t)
	corpora := leakScenario(t, p, cvc)
	p.Stop(t)
	readDataDir(t, e.pg.DataDir(), "postgres", corpora)
	if log, err := os.ReadFile(e.pg.LogFile()); err == nil {
		corpora["postgres log"] = log
	}
	corpora["vault output"] = e.vault.Output()
	corpora["program output"] = p.Output()
	if len(corpora) < 20 {
		t.Fatalf("only %d files searched: is the PostgreSQL data directory there?", len(corpora))
	}
	searchLeaks(t, corpora, cvc)
}

// The operator rotates the Transit key while payments continue: every data
// key is rewrapped, old versions are then refused, and a fresh instance
// (which must unwrap the keys the first one stored) still starts and pays.
func TestKEKRotationWhilePaying(t *testing.T) {
	e, _ := mustProduction(t, productionOptions{})
	p := e.instance(t)
	stop := make(chan struct{})
	results := shoppers(t, p, stop, 2000, sandbox.CardVisa, "123")
	time.Sleep(time.Second)

	// The operator's token holds both the service's and the admin policy.
	client := e.vault.Client()
	policy := vault.TransitPolicy(vaulttest.Mount, vaulttest.Key) + "\n" + vault.TransitAdminPolicy(vaulttest.Mount, vaulttest.Key)
	if err := client.Sys().PutPolicy("checkout-operator", policy); err != nil {
		t.Fatal(err)
	}
	secret, err := client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"checkout-operator"}, NoDefaultPolicy: true, TTL: "10m"})
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range e.env() {
		if !strings.HasPrefix(kv, "CHECKOUT_VAULT_ROLE_ID=") && !strings.HasPrefix(kv, "CHECKOUT_VAULT_SECRET_ID=") {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(binary, "kek", "rotate", "-raise-min-version")
	cmd.Env = append(append(cmd.Environ(), env...), "CHECKOUT_VAULT_TOKEN="+secret.Auth.ClientToken)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kek rotate: %v\n%s\n%s", err, out, stderr.Bytes())
	}
	if !bytes.Contains(out, []byte(`"rotated":true`)) || !bytes.Contains(out, []byte(`"finished":true`)) || !bytes.Contains(out, []byte(`"min_decryption_version":2`)) {
		t.Fatalf("kek rotate printed:\n%s", out)
	}
	if bytes.Contains(stderr.Bytes(), []byte(secret.Auth.ClientToken)) {
		t.Fatal("the command logged its Vault token")
	}
	time.Sleep(time.Second)
	close(stop)
	outcomes := <-results
	paid, failed := checkNothingLostOrDuplicated(t, e, p, outcomes)
	if failed != 0 {
		t.Errorf("%d checkouts failed during the rotation", failed)
	}
	if n := e.query(t, `SELECT count(*) FROM data_keys WHERE wrapped NOT LIKE 'vault:v2:%'`); n != 0 {
		t.Errorf("%d data keys not at the newest Transit version", n)
	}

	fresh := e.instance(t)
	s := fresh.mustSession(t, "after-rotation")
	if status, _ := fresh.pay(t, &http.Client{Timeout: 30 * time.Second}, s, sandbox.CardVisa, "123"); status != http.StatusOK {
		t.Fatalf("a fresh instance after rotation: pay answered %d\n%s", status, fresh.Output())
	}
	t.Logf("%d checkouts paid during the rotation, none failed; output:\n%s", paid, out)
}
