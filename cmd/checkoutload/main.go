// Command checkoutload drives full checkouts over HTTP against a running
// checkoutd and prints throughput and latency percentiles. It starts the
// binary itself (on loopback, in a fresh data directory) unless -url is
// given. Traffic goes to loopback only, bounded by -n and -max-duration.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "checkoutload:", err)
		os.Exit(1)
	}
}

type config struct {
	binary, baseURL, apiKey  string
	countVault, transitToken string // production benchmark: Vault's address, a token for raw Transit calls
	returnURL                string // a URL on the merchant's registered origins
	card                     string // one card for every checkout; "" a card per shopper
	n, concurrency           int
	maxDuration              time.Duration
}

func run() error {
	var cfg config
	flag.StringVar(&cfg.binary, "binary", "bin/checkoutd", "checkoutd binary to start (ignored with -url)")
	flag.StringVar(&cfg.baseURL, "url", "", "base URL of a running checkoutd on loopback (default: start -binary)")
	flag.StringVar(&cfg.apiKey, "key", "", "merchant secret key (with -url)")
	flag.StringVar(&cfg.returnURL, "return-url", "", "success URL on the merchant's registered origins (with -url)")
	flag.StringVar(&cfg.card, "card", "", "pay every checkout with this card instead of one per shopper (e.g. 4000000000003063, which the sandbox issuer always challenges)")
	flag.IntVar(&cfg.n, "n", 2000, "checkouts to run")
	flag.IntVar(&cfg.concurrency, "c", 16, "checkouts in flight at once")
	flag.DurationVar(&cfg.maxDuration, "max-duration", 5*time.Minute, "stop after this long whatever -n says")
	flag.StringVar(&cfg.countVault, "count-vault", "", "Vault address: put a counting proxy in front of it for the started binary, and report Vault calls per card")
	flag.StringVar(&cfg.transitToken, "transit-token", "", "with -count-vault: also time raw Transit encrypt calls (-n of them, -c at once) with this token")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), cfg.maxDuration)
	defer cancel()
	var counter *vaultCounter
	var env []string
	if cfg.countVault != "" {
		if err := loopbackOnly(cfg.countVault); err != nil {
			return err
		}
		var err error
		if counter, err = startVaultCounter(cfg.countVault); err != nil {
			return err
		}
		env = append(env, "CHECKOUT_VAULT_ADDR="+counter.url)
	}
	if cfg.baseURL == "" {
		stop, err := startBinary(ctx, &cfg, env)
		if err != nil {
			return err
		}
		defer stop()
	}
	if err := loopbackOnly(cfg.baseURL); err != nil {
		return err
	}
	before := counter.snapshot()
	ok, err := drive(ctx, cfg)
	if err != nil {
		return err
	}
	if counter != nil {
		after := counter.snapshot()
		fmt.Printf("vault calls during the run: %d key operations (datakey, decrypt), %d health probes, %d logins/renewals\n",
			after.keyOps-before.keyOps, after.health-before.health, after.auth-before.auth)
		fmt.Printf("vault key operations per card: %.4f\n", float64(after.keyOps-before.keyOps)/float64(max(ok, 1)))
	}
	if cfg.transitToken != "" {
		return transitBench(ctx, cfg)
	}
	return nil
}

// loopbackOnly refuses any target off this machine: a load generator must
// never be pointed at someone else's server.
func loopbackOnly(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	switch h := u.Hostname(); {
	case h == "localhost", strings.HasPrefix(h, "127."), h == "::1":
		return nil
	default:
		return fmt.Errorf("refusing to load %s: loopback targets only", base)
	}
}

// startBinary runs checkoutd on loopback ports in a fresh data directory
// and reads its start-up line for the URL and the demo merchant's key.
func startBinary(ctx context.Context, cfg *config, env []string) (stop func(), err error) {
	dir, err := os.MkdirTemp("", "checkoutload-")
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, cfg.binary, "serve", "-addr", "127.0.0.1:0", "-demo-addr", "127.0.0.1:0",
		"-data-dir", dir, "-log-level", "warn")
	cmd.Stderr = os.Stderr
	// Each checkout is its own shopper (a loopback address and a card of
	// its own), so screening sees ordinary traffic and stays on. The
	// card-testing limits and the proof-of-work challenge are off: one
	// merchant taking hundreds of payments a second from one machine is
	// what the merchant limit is for. Their counters are still written.
	fmt.Fprintln(os.Stderr, "checkoutload: card-testing limits and proof-of-work challenge off for this run (one merchant, one machine)")
	cmd.Env = append(append(os.Environ(), "CHECKOUT_LIMIT_IP=0", "CHECKOUT_LIMIT_SESSION=0", "CHECKOUT_LIMIT_MERCHANT=0",
		"CHECKOUT_LIMIT_CARD=0", "CHECKOUT_LIMIT_CHUNK=0", "CHECKOUT_CHALLENGE_BITS=0"), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop = func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		os.RemoveAll(dir)
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		stop()
		return nil, fmt.Errorf("read start-up line: %w", err)
	}
	go io.Copy(io.Discard, stdout)
	var started struct {
		Checkout string `json:"checkout"`
		DemoShop string `json:"demo_shop"`
		Merchant struct {
			Key string `json:"secret_key"`
		} `json:"demo_merchant"`
	}
	if err := json.Unmarshal(line, &started); err != nil {
		stop()
		return nil, fmt.Errorf("start-up line %q: %w", line, err)
	}
	cfg.baseURL, cfg.apiKey, cfg.returnURL = started.Checkout, started.Merchant.Key, started.DemoShop+"/done"
	return stop, nil
}

// csrfPattern finds the pay form's CSRF token in the hosted page.
var csrfPattern = regexp.MustCompile(`"csrf":"([^"]+)"`)

// acsCSRFPattern finds the sandbox issuer's challenge form token.
var acsCSRFPattern = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// sample is one checkout's timings; challenged says 3-D Secure asked the
// shopper for a code.
type sample struct {
	total, pay time.Duration
	challenged bool
}

func drive(ctx context.Context, cfg config) (int, error) {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.concurrency}}
	var (
		next    atomic.Int64
		mu      sync.Mutex
		samples []sample
		errs    = map[string]int{}
		wg      sync.WaitGroup
	)
	start := time.Now()
	for range cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1)
				if i > int64(cfg.n) {
					return
				}
				s, err := checkoutOnce(ctx, client, cfg, i)
				mu.Lock()
				if err != nil {
					errs[err.Error()]++
				} else {
					samples = append(samples, s)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	totals := make([]time.Duration, len(samples))
	pays := make([]time.Duration, len(samples))
	for i, s := range samples {
		totals[i], pays[i] = s.total, s.pay
	}
	slices.Sort(totals)
	slices.Sort(pays)
	challenged := 0
	for _, s := range samples {
		if s.challenged {
			challenged++
		}
	}
	fmt.Printf("checkouts: %d ok, %d failed, concurrency %d, %s\n", len(samples), cfg.n-len(samples), cfg.concurrency, elapsed.Round(time.Millisecond))
	fmt.Printf("throughput: %.1f checkouts/s\n", float64(len(samples))/elapsed.Seconds())
	fmt.Printf("full checkout (create session + page + pay): p50 %s  p99 %s\n", pct(totals, 50), pct(totals, 99))
	fmt.Printf("pay step alone (tokenize + screen + 3-D Secure + authorize + record + sign):  p50 %s  p99 %s\n", pct(pays, 50), pct(pays, 99))
	fmt.Printf("3-D Secure challenges answered: %d of %d checkouts\n", challenged, len(samples))
	for msg, n := range errs {
		fmt.Printf("error x%d: %s\n", n, msg)
	}
	if len(samples) == 0 {
		return 0, errors.New("no checkout succeeded")
	}
	return len(samples), nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)].Round(10 * time.Microsecond)
}

// shopperAddr is checkout i's own loopback address (127.1.0.1 and up): the
// whole of 127.0.0.0/8 reaches this machine, so screening's velocity
// rules see one shopper per checkout rather than one client trying
// thousands of cards.
func shopperAddr(i int64) net.IP {
	return net.IPv4(127, byte(1+i/62500), byte(i/250%250), byte(1+i%250))
}

// shopperCard is checkout i's own Visa number: distinct in its first 12
// digits too, which the sandbox approves with any well-formed code.
func shopperCard(i int64) string {
	body := fmt.Sprintf("4%011d000", i)
	for d := '0'; d <= '9'; d++ {
		if checkout.Luhn([]byte(body + string(d))) {
			return body + string(d)
		}
	}
	panic("unreachable")
}

// checkoutOnce is one shopper: the merchant creates a session (its server,
// client), the shopper opens the page and pays from its own address with
// its own card, answering a 3-D Secure challenge if the issuer asks.
func checkoutOnce(ctx context.Context, client *http.Client, cfg config, i int64) (sample, error) {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: shopperAddr(i)}, Timeout: 5 * time.Second}
	browser := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext}}
	defer browser.CloseIdleConnections()
	began := time.Now()
	body := fmt.Sprintf(`{"amount":1500,"currency":"JPY","order_id":"load-%d","success_url":%q}`, i, cfg.returnURL)
	req, _ := http.NewRequestWithContext(ctx, "POST", cfg.baseURL+"/v1/sessions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+cfg.apiKey)
	req.Header.Set("Content-Type", "application/json")
	var session struct {
		ID  string `json:"id"`
		URL string `json:"url"`
	}
	if err := do(client, req, http.StatusCreated, &session); err != nil {
		return sample{}, fmt.Errorf("create session: %w", err)
	}
	page, _ := http.NewRequestWithContext(ctx, "GET", session.URL, nil)
	var html []byte
	if err := do(browser, page, http.StatusOK, &html); err != nil {
		return sample{}, fmt.Errorf("open page: %w", err)
	}
	m := csrfPattern.FindSubmatch(html)
	if m == nil {
		return sample{}, errors.New("open page: no CSRF token in the page")
	}
	payStart := time.Now()
	card := cfg.card
	if card == "" {
		card = shopperCard(i)
	}
	form := url.Values{"number": {card}, "expiry": {"12/30"}, "name": {"LOAD TEST"}, "cvc": {"123"}}
	paid, err := submitCard(ctx, browser, cfg, session.ID, string(m[1]), form)
	if err != nil {
		return sample{}, err
	}
	challenged := paid.Status == "requires_action"
	if challenged {
		// The shopper answers the issuer's window, and the page sends the
		// card again with the authentication.
		if err := answerChallenge(ctx, browser, cfg, paid.NextAction.URL); err != nil {
			return sample{}, err
		}
		form.Set("authentication", paid.NextAction.AuthenticationID)
		if paid, err = submitCard(ctx, browser, cfg, session.ID, string(m[1]), form); err != nil {
			return sample{}, err
		}
	}
	if paid.Status != "paid" || paid.Token == "" {
		return sample{}, fmt.Errorf("pay: status %q", paid.Status)
	}
	done := time.Now()
	return sample{total: done.Sub(began), pay: done.Sub(payStart), challenged: challenged}, nil
}

// payAnswer is the page's answer to a card submission.
type payAnswer struct {
	Status     string `json:"status"` // paid, or requires_action
	Token      string `json:"token"`
	NextAction struct {
		AuthenticationID string `json:"authentication_id"`
		URL              string `json:"url"`
	} `json:"next_action"`
}

func submitCard(ctx context.Context, client *http.Client, cfg config, sessionID, csrf string, form url.Values) (payAnswer, error) {
	pay, _ := http.NewRequestWithContext(ctx, "POST", cfg.baseURL+"/pay/"+sessionID, strings.NewReader(form.Encode()))
	pay.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	pay.Header.Set("X-CSRF-Token", csrf)
	pay.Header.Set("Origin", cfg.baseURL)
	var a payAnswer
	if err := do(client, pay, http.StatusOK, &a); err != nil {
		return payAnswer{}, fmt.Errorf("pay: %w", err)
	}
	return a, nil
}

// answerChallenge opens the sandbox issuer's window and enters the code.
func answerChallenge(ctx context.Context, client *http.Client, cfg config, path string) error {
	if !strings.HasPrefix(path, "/sandbox/acs/") {
		return fmt.Errorf("3-D Secure: unexpected window %q", path)
	}
	page, _ := http.NewRequestWithContext(ctx, "GET", cfg.baseURL+path, nil)
	var html []byte
	if err := do(client, page, http.StatusOK, &html); err != nil {
		return fmt.Errorf("3-D Secure window: %w", err)
	}
	m := acsCSRFPattern.FindSubmatch(html)
	if m == nil {
		return errors.New("3-D Secure window: no form token")
	}
	form := url.Values{"csrf": {string(m[1])}, "code": {sandbox.ChallengeCode}}
	answer, _ := http.NewRequestWithContext(ctx, "POST", cfg.baseURL+path, strings.NewReader(form.Encode()))
	answer.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var done []byte
	if err := do(client, answer, http.StatusOK, &done); err != nil {
		return fmt.Errorf("3-D Secure answer: %w", err)
	}
	return nil
}

func do(client *http.Client, req *http.Request, want int, out any) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = b
		return nil
	}
	return json.Unmarshal(b, out)
}
