package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlite"
	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
	"github.com/hostedcheckout/hostedcheckout/checkout/webhook"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

// env is a real SQLite store and vault, a merchant, and the domain's
// Webhooks over them (loopback endpoints allowed, as in development).
type env struct {
	path     string
	db       *sqlite.DB
	vault    *vault.Vault
	hooks    *checkout.Webhooks
	merchant checkout.Merchant
	logs     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func MustEnv(tb testing.TB) *env {
	tb.Helper()
	dir := tb.TempDir()
	e := &env{path: filepath.Join(dir, "checkout.db"), logs: &syncBuffer{}}
	var err error
	if e.db, err = sqlite.Open(tb.Context(), e.path); err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	tb.Cleanup(func() { e.db.Close() })
	kek, _, err := vault.LoadOrCreateLocalKEK(filepath.Join(dir, "kek"))
	if err != nil {
		tb.Fatal(err)
	}
	if e.vault, err = vault.Open(tb.Context(), vault.Options{Store: e.db, KEK: kek}); err != nil {
		tb.Fatalf("vault.Open: %v", err)
	}
	tb.Cleanup(func() { e.vault.Close() })
	e.hooks = &checkout.Webhooks{Store: e.db, Keys: e.vault, AllowLoopback: true}
	m, _, err := checkout.NewMerchant("Webhook Shop", []string{"https://shop.example"}, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.db.CreateMerchant(tb.Context(), m); err != nil {
		tb.Fatal(err)
	}
	e.merchant = m
	return e
}

// dispatcher returns a dispatcher over store with a short schedule.
func (e *env) dispatcher(tb testing.TB, store webhook.Store, opts webhook.Options) *webhook.Dispatcher {
	tb.Helper()
	opts.Store, opts.Keys = store, e.vault
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.Poll == 0 {
		opts.Poll = 10 * time.Millisecond
	}
	d, err := webhook.New(opts)
	if err != nil {
		tb.Fatalf("webhook.New: %v", err)
	}
	return d
}

// run runs d until the test ends.
func run(tb testing.TB, d *webhook.Dispatcher) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		d.Run(ctx)
		close(done)
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
}

// receiver is a merchant's webhook endpoint on loopback. answer decides
// each response's status from the number of requests so far (1 for the
// first).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []received
	answer   func(n int) int
	delay    time.Duration
}

type received struct {
	at     time.Time
	header http.Header
	body   []byte
}

func newReceiver(tb testing.TB, answer func(n int) int) *receiver {
	r := &receiver{answer: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, received{time.Now(), req.Header.Clone(), body})
		n := len(r.requests)
		delay := r.delay
		r.mu.Unlock()
		time.Sleep(delay)
		w.WriteHeader(r.answer(n))
		io.WriteString(w, `{"echo":"the checkout must not keep this"}`)
	}))
	tb.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.requests...)
}

func always(status int) func(int) int { return func(int) int { return status } }

// endpoint registers url for types and returns the endpoint and its secret.
func (e *env) endpoint(tb testing.TB, url string, types ...string) (checkout.WebhookEndpoint, string) {
	tb.Helper()
	ep, secret, err := e.hooks.CreateEndpoint(tb.Context(), e.merchant, checkout.WebhookRequest{URL: url, Events: types})
	if err != nil {
		tb.Fatalf("CreateEndpoint: %v", err)
	}
	return ep, secret
}

func (e *env) notify(tb testing.TB, typ string, data any) checkout.Event {
	tb.Helper()
	ev := checkout.Event{ID: checkout.NewID("evt"), Type: typ, MerchantID: e.merchant.ID, Data: data, CreatedAt: time.Now()}
	if err := e.hooks.Notify(tb.Context(), ev); err != nil {
		tb.Fatalf("Notify: %v", err)
	}
	return ev
}

func (e *env) deliveries(tb testing.TB, f checkout.DeliveryFilter) []checkout.Delivery {
	tb.Helper()
	ds, err := e.hooks.Deliveries(tb.Context(), e.merchant, f)
	if err != nil {
		tb.Fatalf("Deliveries: %v", err)
	}
	return ds
}

// waitFor polls cond for up to 10 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDeliverySignedAndVerifiable(t *testing.T) {
	e := MustEnv(t)
	r := newReceiver(t, always(http.StatusNoContent))
	ep, secret := e.endpoint(t, r.URL+"/hooks?shop=1", checkout.EventPaymentAuthorized)
	if !strings.HasPrefix(secret, "whsec_") || len(secret) < 40 {
		t.Fatalf("secret %q", secret)
	}
	payment := map[string]any{"id": "pay_1", "object": "payment", "amount": 1500, "currency": "JPY",
		"card": map[string]any{"brand": "visa", "last4": "4242"}}
	ev := e.notify(t, checkout.EventPaymentAuthorized, payment)
	e.notify(t, checkout.EventPaymentVoided, payment) // not subscribed

	d := e.dispatcher(t, e.db, webhook.Options{AllowLoopback: true})
	if n, err := d.DeliverDue(t.Context()); err != nil || n != 1 {
		t.Fatalf("DeliverDue = %d, %v; want 1 attempt", n, err)
	}
	got := r.got()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests", len(got))
	}
	req := got[0]
	// The merchant's side: the helper accepts it with the secret shown at
	// registration, and refuses it once tampered with.
	if err := verify.WebhookSignature(secret, req.header.Get("Checkout-Signature"), req.body, 0, time.Now()); err != nil {
		t.Fatalf("signature does not verify: %v (header %q)", err, req.header.Get("Checkout-Signature"))
	}
	tampered := bytes.Replace(req.body, []byte("1500"), []byte("9999"), 1)
	if err := verify.WebhookSignature(secret, req.header.Get("Checkout-Signature"), tampered, 0, time.Now()); err == nil {
		t.Fatal("a tampered body verified")
	}
	var body struct {
		ID      string          `json:"id"`
		Type    string          `json:"type"`
		Created int64           `json:"created"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(req.body, &body); err != nil {
		t.Fatalf("body %q: %v", req.body, err)
	}
	if body.ID != ev.ID || body.Type != ev.Type || body.Created != ev.CreatedAt.Unix() || !bytes.Contains(body.Data, []byte(`"last4":"4242"`)) {
		t.Fatalf("body %s", req.body)
	}
	for name, want := range map[string]string{
		"Content-Type": "application/json", "Checkout-Event-Id": ev.ID, "Checkout-Event-Type": ev.Type,
		"Checkout-Delivery-Attempt": "1",
	} {
		if got := req.header.Get(name); got != want {
			t.Errorf("%s: %q; want %q", name, got, want)
		}
	}
	// Another endpoint's secret is another key.
	_, other := e.endpoint(t, r.URL+"/other", checkout.EventPaymentAuthorized)
	if other == secret || verify.WebhookSignature(other, req.header.Get("Checkout-Signature"), req.body, 0, time.Now()) == nil {
		t.Fatal("two endpoints share a signing secret")
	}
	if again := checkout.WebhookSecret(e.vault, e.merchant.ID, ep.ID); again != secret {
		t.Fatal("the secret is not derived the same way twice")
	}

	ds := e.deliveries(t, checkout.DeliveryFilter{EventID: ev.ID})
	if len(ds) != 1 || ds[0].Status != checkout.DeliverySucceeded || len(ds[0].Attempts) != 1 ||
		ds[0].Attempts[0].StatusCode != 204 || ds[0].Attempts[0].Error != "" || ds[0].Attempts[0].Latency <= 0 {
		t.Fatalf("delivery log: %+v", ds)
	}
	// What the endpoint answered is neither kept nor logged.
	if strings.Contains(e.logs.String(), "must not keep") || strings.Contains(e.logs.String(), "4242") {
		t.Fatalf("logs hold the response or the body:\n%s", e.logs.String())
	}
}

func TestRetriesWithBackoffThenSucceeds(t *testing.T) {
	e := MustEnv(t)
	r := newReceiver(t, func(n int) int {
		if n < 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	_, secret := e.endpoint(t, r.URL, checkout.EventChargebackCreated)
	schedule := []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, time.Hour}
	run(t, e.dispatcher(t, e.db, webhook.Options{AllowLoopback: true, Schedule: schedule}))
	ev := e.notify(t, checkout.EventChargebackCreated, map[string]any{"id": "cb_1"})

	waitFor(t, "the delivery to succeed", func() bool {
		ds := e.deliveries(t, checkout.DeliveryFilter{EventID: ev.ID})
		return len(ds) == 1 && ds[0].Status == checkout.DeliverySucceeded
	})
	got := r.got()
	if len(got) != 3 {
		t.Fatalf("%d requests; want 3", len(got))
	}
	// Each retry waited its turn in the schedule (less at most 10% jitter).
	for i, want := range schedule[:2] {
		if gap := got[i+1].at.Sub(got[i].at); gap < want*9/10 {
			t.Errorf("retry %d after %s; want at least %s", i+1, gap, want*9/10)
		}
	}
	for i, req := range got {
		// Every attempt carries the same body, freshly signed.
		if !bytes.Equal(req.body, got[0].body) {
			t.Errorf("attempt %d sent another body", i+1)
		}
		if err := verify.WebhookSignature(secret, req.header.Get("Checkout-Signature"), req.body, 0, time.Now()); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
	}
	d := e.deliveries(t, checkout.DeliveryFilter{EventID: ev.ID})[0]
	var codes []int
	for _, a := range d.Attempts {
		codes = append(codes, a.StatusCode)
	}
	if len(codes) != 3 || codes[0] != 500 || codes[1] != 500 || codes[2] != 200 || d.Attempts[0].Error != "HTTP 500" {
		t.Fatalf("attempts: %+v", d.Attempts)
	}
}

func TestGivesUpAfterTheLastAttempt(t *testing.T) {
	e := MustEnv(t)
	r := newReceiver(t, always(http.StatusServiceUnavailable))
	e.endpoint(t, r.URL, checkout.EventPaymentCaptured)
	run(t, e.dispatcher(t, e.db, webhook.Options{AllowLoopback: true, Schedule: []time.Duration{20 * time.Millisecond, 20 * time.Millisecond}}))
	ev := e.notify(t, checkout.EventPaymentCaptured, map[string]any{"id": "pay_1"})
	waitFor(t, "the delivery to fail", func() bool {
		ds := e.deliveries(t, checkout.DeliveryFilter{EventID: ev.ID})
		return len(ds) == 1 && ds[0].Status == checkout.DeliveryFailed
	})
	time.Sleep(100 * time.Millisecond) // nothing more comes
	if n := len(r.got()); n != 3 {
		t.Fatalf("%d requests; want 3 (one and two retries)", n)
	}
	d := e.deliveries(t, checkout.DeliveryFilter{EventID: ev.ID})[0]
	if len(d.Attempts) != 3 || !d.NextAttemptAt.IsZero() || d.CompletedAt.IsZero() {
		t.Fatalf("failed delivery: %+v", d)
	}
	if !strings.Contains(e.logs.String(), "no attempts left") {
		t.Fatalf("giving up was not logged:\n%s", e.logs.String())
	}
}

// The address is checked when the connection is made: an endpoint that
// resolves to this machine (or was registered while loopback was allowed)
// is refused by a dispatcher that does not allow loopback, and nothing is
// sent.
func TestPrivateAddressesRefusedAtDial(t *testing.T) {
	e := MustEnv(t)
	r := newReceiver(t, always(http.StatusOK))
	port := r.URL[strings.LastIndex(r.URL, ":"):]
	e.endpoint(t, r.URL, checkout.EventPaymentAuthorized)
	e.endpoint(t, "http://localhost"+port+"/by-name", checkout.EventPaymentAuthorized)
	ev := e.notify(t, checkout.EventPaymentAuthorized, map[string]any{"id": "pay_1"})
	d := e.dispatcher(t, e.db, webhook.Options{Schedule: []time.Duration{time.Hour}})
	if n, err := d.DeliverDue(t.Context()); err != nil || n != 2 {
		t.Fatalf("DeliverDue = %d, %v", n, err)
	}
	if n := len(r.got()); n != 0 {
		t.Fatalf("%d requests reached a loopback address", n)
	}
	for _, d := range e.deliveries(t, checkout.DeliveryFilter{EventID: ev.ID}) {
		if d.Status != checkout.DeliveryPending || len(d.Attempts) != 1 || !strings.Contains(d.Attempts[0].Error, "private, loopback") {
			t.Errorf("delivery to %s: %+v", d.URL, d)
		}
	}
}

func TestTimeoutAndRedirect(t *testing.T) {
	e := MustEnv(t)
	slow := newReceiver(t, always(http.StatusOK))
	slow.delay = 500 * time.Millisecond
	target := newReceiver(t, always(http.StatusOK))
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	e.endpoint(t, slow.URL, checkout.EventPaymentAuthorized)
	e.endpoint(t, redirect.URL, checkout.EventPaymentAuthorized)
	ev := e.notify(t, checkout.EventPaymentAuthorized, map[string]any{"id": "pay_1"})
	d := e.dispatcher(t, e.db, webhook.Options{AllowLoopback: true, Timeout: 100 * time.Millisecond, Lease: 10 * time.Second})
	if _, err := d.DeliverDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(target.got()); n != 0 {
		t.Fatal("a redirect was followed")
	}
	errs := map[string]string{}
	for _, d := range e.deliveries(t, checkout.DeliveryFilter{EventID: ev.ID}) {
		errs[d.URL] = d.Attempts[0].Error
	}
	if got := errs[slow.URL]; got != "timed out: no answer within 100ms" {
		t.Errorf("slow endpoint: %q", got)
	}
	if got := errs[redirect.URL]; !strings.Contains(got, "HTTP 307: redirects are not followed") {
		t.Errorf("redirecting endpoint: %q", got)
	}
}

// Two dispatchers on one store (two instances, here two handles on one
// SQLite file) send each event once.
func TestTwoDispatchersSendEachEventOnce(t *testing.T) {
	e := MustEnv(t)
	second, err := sqlite.Open(t.Context(), e.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close() })
	r := newReceiver(t, always(http.StatusOK))
	r.delay = 5 * time.Millisecond
	e.endpoint(t, r.URL, checkout.EventPaymentAuthorized)
	const n = 40
	for i := range n {
		e.notify(t, checkout.EventPaymentAuthorized, map[string]any{"n": i})
	}
	run(t, e.dispatcher(t, e.db, webhook.Options{AllowLoopback: true, Workers: 3}))
	run(t, e.dispatcher(t, second, webhook.Options{AllowLoopback: true, Workers: 3}))
	waitFor(t, "every event", func() bool { return len(r.got()) >= n })
	time.Sleep(100 * time.Millisecond)
	seen := map[string]int{}
	for _, req := range r.got() {
		seen[req.header.Get("Checkout-Event-Id")]++
	}
	if len(seen) != n {
		t.Fatalf("%d distinct events; want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("event %s delivered %d times", id, c)
		}
	}
}

// A graceful stop lets the attempt in flight finish and be recorded.
func TestStopWaitsForAttemptInFlight(t *testing.T) {
	e := MustEnv(t)
	r := newReceiver(t, always(http.StatusOK))
	r.delay = 300 * time.Millisecond
	e.endpoint(t, r.URL, checkout.EventPaymentAuthorized)
	ev := e.notify(t, checkout.EventPaymentAuthorized, map[string]any{"id": "pay_1"})
	d := e.dispatcher(t, e.db, webhook.Options{AllowLoopback: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	waitFor(t, "the request", func() bool { return len(r.got()) == 1 })
	cancel()
	<-done
	ds := e.deliveries(t, checkout.DeliveryFilter{EventID: ev.ID})
	if ds[0].Status != checkout.DeliverySucceeded {
		t.Fatalf("after stop: %+v", ds[0])
	}
}

func TestWakeDeliversWithoutWaitingForThePoll(t *testing.T) {
	e := MustEnv(t)
	r := newReceiver(t, always(http.StatusOK))
	e.endpoint(t, r.URL, checkout.EventPaymentAuthorized)
	d := e.dispatcher(t, e.db, webhook.Options{AllowLoopback: true, Poll: time.Hour})
	e.hooks.Enqueued = d.Wake
	run(t, d)
	time.Sleep(50 * time.Millisecond) // the first pass found nothing; the next poll is an hour away
	began := time.Now()
	e.notify(t, checkout.EventPaymentAuthorized, map[string]any{"id": "pay_1"})
	waitFor(t, "the woken dispatcher", func() bool { return len(r.got()) == 1 })
	t.Logf("delivered %s after Notify", time.Since(began).Round(time.Millisecond))
}

func TestNewRefusesBadOptions(t *testing.T) {
	e := MustEnv(t)
	for name, opts := range map[string]webhook.Options{
		"no store":                     {Keys: e.vault},
		"no keys":                      {Store: e.db},
		"short lease":                  {Store: e.db, Keys: e.vault, Timeout: 10 * time.Second, Lease: 12 * time.Second},
		"zero in schedule":             {Store: e.db, Keys: e.vault, Schedule: []time.Duration{time.Minute, 0}},
		"retention within the retries": {Store: e.db, Keys: e.vault, Retention: 48 * time.Hour},
	} {
		if _, err := webhook.New(opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// pruneRecorder is the store, with the prunes it was asked for.
type pruneRecorder struct {
	webhook.Store
	mu      sync.Mutex
	befores []time.Time
}

func (p *pruneRecorder) PruneWebhookEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	p.mu.Lock()
	p.befores = append(p.befores, before)
	p.mu.Unlock()
	return p.Store.PruneWebhookEvents(ctx, before, limit)
}

func (p *pruneRecorder) calls() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.befores...)
}

// The dispatcher keeps delivered events for the retention, then deletes
// them with their log: once at start, then at most once an hour.
func TestDispatcherPrunesPastTheRetention(t *testing.T) {
	e := MustEnv(t)
	r := newReceiver(t, always(http.StatusOK))
	e.endpoint(t, r.URL, checkout.EventPaymentAuthorized)
	e.notify(t, checkout.EventPaymentAuthorized, map[string]any{"id": "pay_1"})
	first := e.dispatcher(t, e.db, webhook.Options{AllowLoopback: true})
	run(t, first)
	waitFor(t, "the delivery", func() bool { return len(r.got()) == 1 })
	deliveries := func() int {
		ds, err := e.db.WebhookDeliveries(t.Context(), e.merchant.ID, checkout.DeliveryFilter{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return len(ds)
	}
	waitFor(t, "the delivery logged", func() bool {
		ds, _ := e.db.WebhookDeliveries(t.Context(), e.merchant.ID, checkout.DeliveryFilter{Limit: 10})
		return len(ds) == 1 && ds[0].Status == checkout.DeliverySucceeded
	})

	// A dispatcher 31 days on: the event is past the default retention.
	later := time.Now().Add(webhook.DefaultRetention + 24*time.Hour)
	store := &pruneRecorder{Store: e.db}
	second := e.dispatcher(t, store, webhook.Options{AllowLoopback: true, Now: func() time.Time { return later }})
	run(t, second)
	waitFor(t, "the prune", func() bool { return deliveries() == 0 })
	time.Sleep(50 * time.Millisecond) // several polls: still one prune within the hour
	if got := store.calls(); len(got) != 1 || !got[0].Equal(later.Add(-webhook.DefaultRetention)) {
		t.Fatalf("prunes %v; want one, of events before %s", got, later.Add(-webhook.DefaultRetention))
	}
	if !strings.Contains(e.logs.String(), `"msg":"webhook: pruned old events","events":1`) {
		t.Errorf("no log line for the prune:\n%s", e.logs)
	}
}

// Every IPv6 form that embeds a refused IPv4 address is refused by the
// dialer itself, before a packet leaves (a translator on the path would
// otherwise carry it to 169.254.169.254), whatever registration let in.
func TestEmbeddedIPv4RefusedAtDial(t *testing.T) {
	client := webhook.NewClient(false, 2*time.Second)
	for _, host := range []string{
		"[::ffff:169.254.169.254]",      // IPv4-mapped
		"[::ffff:0:a9fe:a9fe]",          // SIIT, IPv4-translated
		"[::a9fe:a9fe]",                 // IPv4-compatible
		"[64:ff9b::a9fe:a9fe]",          // NAT64, well-known prefix
		"[64:ff9b:1::a9fe:a9fe]",        // NAT64, local-use prefix
		"[2002:a9fe:a9fe::1]",           // 6to4
		"[2001:0:a9fe:a9fe::f7f7:f7f7]", // Teredo server
		"[2001:0:808:808::5601:5601]",   // Teredo client (inverted)
		"[2001:0:808:808::80ff:fffe]",   // Teredo client 127.0.0.1
	} {
		t.Run(host, func(t *testing.T) {
			_, err := client.Post("http://"+host+":80/hooks", "application/json", strings.NewReader("{}"))
			if !errors.Is(err, webhook.ErrAddressNotAllowed) {
				t.Fatalf("POST to %s: %v; want it refused at dial", host, err)
			}
		})
	}
}

// The delivery log merchants read (GET /v1/webhooks/deliveries shows each
// attempt's Error as it is) says what kind of failure it was and nothing of
// our network: not the resolver that answered (the host's own, here a real
// one), nor an internal address. The operator's log keeps the detail.
func TestDeliveryLogErrorsAreGeneric(t *testing.T) {
	e := MustEnv(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	refusedURL := closed.URL + "/hooks"
	closed.Close() // nothing listens there now
	untrusted := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(untrusted.Close)
	cases := map[string]string{
		"https://no-such-host.invalid/hooks": "could not resolve the endpoint's host",
		refusedURL:                           "connection refused",
		untrusted.URL + "/hooks":             "TLS handshake failed",
	}
	for u := range cases {
		e.endpoint(t, u, checkout.EventPaymentAuthorized)
	}
	ev := e.notify(t, checkout.EventPaymentAuthorized, map[string]any{"id": "pay_1"})
	d := e.dispatcher(t, e.db, webhook.Options{AllowLoopback: true, Schedule: []time.Duration{time.Hour}})
	if _, err := d.DeliverDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	internal := regexp.MustCompile(`\d+\.\d+\.\d+\.\d+|\[?[0-9a-f]*:[0-9a-f:]+\]?:\d+|:53\b|lookup|dial|tcp|udp|x509`)
	ds := e.deliveries(t, checkout.DeliveryFilter{EventID: ev.ID})
	if len(ds) != len(cases) {
		t.Fatalf("%d deliveries", len(ds))
	}
	for _, d := range ds {
		got := d.Attempts[0].Error
		if !strings.HasPrefix(got, cases[d.URL]) {
			t.Errorf("%s: delivery log says %q; want %q", d.URL, got, cases[d.URL])
		}
		if m := internal.FindString(got); m != "" {
			t.Errorf("%s: delivery log says %q, which shows %q", d.URL, got, m)
		}
	}
	// The operator sees why, in the dispatcher's own log.
	if logs := e.logs.String(); !strings.Contains(logs, "no-such-host.invalid") || !strings.Contains(logs, "connection refused") || !strings.Contains(logs, "x509") {
		t.Errorf("the operator's log lacks the detail:\n%s", logs)
	}
}
