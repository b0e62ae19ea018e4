package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlite"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

const testBase = "http://checkout.test"

// testAuthorizer approves every card except those ending 0002 (declined),
// and keeps a copy of nothing: it only counts calls and remembers the
// request's security code slice so a test can check it was zeroed.
type testAuthorizer struct {
	calls atomic.Int64
	mu    sync.Mutex
	cvcs  [][]byte // the request buffers' slices, not copies
}

func (a *testAuthorizer) Authorize(ctx context.Context, req *checkout.AuthRequest) (checkout.AuthResult, error) {
	a.calls.Add(1)
	a.mu.Lock()
	a.cvcs = append(a.cvcs, req.CVC)
	a.mu.Unlock()
	if req.PAN.Last4() == "0002" {
		return checkout.AuthResult{DeclineReason: checkout.DeclineGeneric, CVCCheck: checkout.CVCUnchecked}, nil
	}
	check := checkout.CVCPass
	switch req.CVCPresence {
	case checkout.CVCNotPresent:
		check = checkout.CVCCheckNone
	case checkout.CVCIllegible:
		check = checkout.CVCCheckIlg
	}
	return checkout.AuthResult{Approved: true, AuthCode: "T00001", CVCCheck: check}, nil
}

func (a *testAuthorizer) Reverse(ctx context.Context, key string) error { return nil }
func (a *testAuthorizer) Capture(ctx context.Context, key string, amount int64) error {
	return nil
}
func (a *testAuthorizer) Refund(ctx context.Context, o checkout.RefundOrder) (checkout.RefundAnswer, error) {
	return checkout.RefundAnswer{Status: checkout.RefundSucceeded}, nil
}

// testEnv is the real web handler on a real Service, SQLite store and vault.
type testEnv struct {
	h        http.Handler
	svc      *checkout.Service
	risk     *risk.Admin
	vault    *vault.Vault
	auth     *testAuthorizer
	logs     *bytes.Buffer
	logMu    *sync.Mutex
	clock    *atomic.Pointer[time.Time]
	merchant checkout.Merchant
	key      string // merchant's API key
	otherKey string // another merchant's API key
	ready    *atomic.Pointer[error]
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// MustEnv wires a fresh checkout in t.TempDir(), without 3-D Secure (the
// tests written before it expect screening's verdict alone).
func MustEnv(tb testing.TB) *testEnv {
	tb.Helper()
	return mustEnvWith(tb, nil)
}

// MustEnv3DS wires a fresh checkout with the sandbox issuer's 3-D Secure,
// as the real program has it.
func MustEnv3DS(tb testing.TB) *testEnv {
	tb.Helper()
	return mustEnvWith(tb, sandbox.ACS{})
}

func mustEnvWith(tb testing.TB, authenticator checkout.Authenticator) *testEnv {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "db"))
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	kek, _, err := vault.LoadOrCreateLocalKEK(filepath.Join(dir, "kek"))
	if err != nil {
		tb.Fatalf("LoadOrCreateLocalKEK: %v", err)
	}
	v, err := vault.Open(ctx, vault.Options{Store: db, KEK: kek})
	if err != nil {
		tb.Fatalf("vault.Open: %v", err)
	}
	tb.Cleanup(func() { v.Close() })

	env := &testEnv{vault: v, auth: &testAuthorizer{}, logs: &bytes.Buffer{}, logMu: &sync.Mutex{},
		clock: &atomic.Pointer[time.Time]{}, ready: &atomic.Pointer[error]{}}
	now := time.Now().UTC()
	env.clock.Store(&now)
	log := slog.New(slog.NewTextHandler(lockedWriter{env.logMu, env.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env.svc = &checkout.Service{
		Store: db, Vault: v, Signer: v, Authorizer: env.auth, Log: log,
		Authenticator: authenticator,
		Screener:      &risk.Screener{Settings: db, Counters: db, Lists: db},
		Issuer:        testBase,
		Now:           func() time.Time { return *env.clock.Load() },
	}
	env.merchant, env.key, err = env.svc.CreateMerchant(ctx, "Test Shop", []string{"https://shop.example", "http://127.0.0.1:8081"})
	if err != nil {
		tb.Fatalf("CreateMerchant: %v", err)
	}
	if _, env.otherKey, err = env.svc.CreateMerchant(ctx, "Other Shop", []string{"https://other.example"}); err != nil {
		tb.Fatalf("CreateMerchant: %v", err)
	}
	env.risk = &risk.Admin{Settings: db, Lists: db, Audit: db, Now: env.svc.Now,
		Limits: &risk.Limits{Store: db, Platform: risk.DefaultGuardSettings().RateLimits(), Now: env.svc.Now}}
	env.h = New(Options{
		Service: env.svc, Keys: v, BaseURL: testBase, HSTS: true, Log: log, Risk: env.risk,
		Ready: func(ctx context.Context) error {
			if p := env.ready.Load(); p != nil {
				return *p
			}
			return nil
		},
	})
	return env
}

func (e *testEnv) advance(d time.Duration) {
	t := e.clock.Load().Add(d)
	e.clock.Store(&t)
}

func (e *testEnv) logText() string {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.logs.String()
}

// do sends one request; headers are name, value pairs.
func (e *testEnv) do(method, target, body string, headers ...string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, testBase+target, r)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return w
}

const sessionBody = `{"amount":1500,"currency":"JPY","order_id":"order-1001","success_url":"https://shop.example/done","cancel_url":"https://shop.example/cart","locale":"%s"}`

// MustSession creates a session with the given locale and returns its id.
func (e *testEnv) MustSession(tb testing.TB, locale string) string {
	tb.Helper()
	w := e.do("POST", "/v1/sessions", strings.Replace(sessionBody, "%s", locale, 1),
		"Authorization", "Bearer "+e.key, "Content-Type", "application/json")
	if w.Code != http.StatusCreated {
		tb.Fatalf("create session: %d %s", w.Code, w.Body)
	}
	var s struct{ ID string }
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil || s.ID == "" {
		tb.Fatalf("create session: %v %s", err, w.Body)
	}
	return s.ID
}

func (e *testEnv) csrf(sessionID string) string {
	return base64.RawURLEncoding.EncodeToString(e.vault.MAC("csrf", []byte(sessionID)))
}

// pay submits the card form the way pay.js does; extra headers override.
func (e *testEnv) pay(sessionID, form string, headers ...string) *httptest.ResponseRecorder {
	h := []string{"Origin", testBase, "Content-Type", "application/x-www-form-urlencoded",
		"X-CSRF-Token", e.csrf(sessionID), "Accept-Language", "en"}
	return e.do("POST", "/pay/"+sessionID, form, append(h, headers...)...)
}

func decodeError(tb testing.TB, w *httptest.ResponseRecorder) errorJSON {
	tb.Helper()
	var b errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		tb.Fatalf("error body: %v: %s", err, w.Body)
	}
	return b.Error
}

func TestHealthReadyJWKS(t *testing.T) {
	env := MustEnv(t)
	if w := env.do("GET", "/healthz", ""); w.Code != 200 {
		t.Errorf("healthz: %d", w.Code)
	}
	if w := env.do("GET", "/readyz", ""); w.Code != 200 {
		t.Errorf("readyz: %d", w.Code)
	}
	down := errors.New("db: disk I/O error")
	env.ready.Store(&down)
	w := env.do("GET", "/readyz", "")
	if w.Code != 503 || strings.Contains(w.Body.String(), "disk") {
		t.Errorf("readyz down: %d %s (want 503 without detail)", w.Code, w.Body)
	}
	w = env.do("GET", "/.well-known/jwks.json", "")
	if w.Code != 200 || w.Header().Get("Cache-Control") != "public, max-age=60" {
		t.Fatalf("jwks: %d %q", w.Code, w.Header().Get("Cache-Control"))
	}
	var jwks struct{ Keys []map[string]any }
	if err := json.Unmarshal(w.Body.Bytes(), &jwks); err != nil || len(jwks.Keys) == 0 {
		t.Errorf("jwks body: %v %s", err, w.Body)
	}
	for _, k := range jwks.Keys {
		if _, private := k["d"]; private {
			t.Errorf("jwks publishes a private key")
		}
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	env := MustEnv(t)
	id := env.MustSession(t, "en")
	for _, target := range []string{"/healthz", "/v1/sessions/x", "/pay/" + id, "/pay/cs_missing", "/nowhere", "/v1/checkout.js"} {
		w := env.do("GET", target, "")
		h := w.Header()
		for name, want := range map[string]string{
			"X-Content-Type-Options":    "nosniff",
			"Referrer-Policy":           "no-referrer",
			"Strict-Transport-Security": "max-age=63072000; includeSubDomains",
		} {
			if got := h.Get(name); got != want {
				t.Errorf("%s: %s = %q, want %q", target, name, got, want)
			}
		}
		if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s: CSP %q", target, h.Get("Content-Security-Policy"))
		}
		if target != "/v1/checkout.js" && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", target, h.Get("Cache-Control"))
		}
	}
}

func TestStaticAndEmbedScript(t *testing.T) {
	env := MustEnv(t)
	s, err := newServer(Options{Service: env.svc, Keys: env.vault, BaseURL: testBase})
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range s.assets.byName {
		w := env.do("GET", s.assets.url(name), "")
		if w.Code != 200 || w.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" ||
			w.Header().Get("Content-Type") != a.ctype || !bytes.Equal(w.Body.Bytes(), a.body) {
			t.Errorf("%s: %d %v", name, w.Code, w.Header())
		}
	}
	if w := env.do("GET", "/static/pay.js", ""); w.Code != 404 {
		t.Errorf("unhashed static name: %d, want 404", w.Code)
	}

	w := env.do("GET", "/v1/checkout.js", "", "Accept-Encoding", "gzip")
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/javascript; charset=utf-8" ||
		w.Header().Get("Cache-Control") != "public, max-age=300" || w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("checkout.js: %d %v", w.Code, w.Header())
	}
	gzipped := w.Body.Len()
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	t.Logf("checkout.js: %d bytes, %d gzipped (goal < 3072)", len(plain), gzipped)
	if gzipped >= 3072 {
		t.Errorf("checkout.js is %d bytes gzipped; the goal is under 3 KB", gzipped)
	}
	for _, want := range []string{`var origin = "` + testBase + `"`, "?embed=1&parent=", "e.origin !== origin", "e.source !== frame.contentWindow", `"hosted-checkout"`, "unmount"} {
		if !bytes.Contains(plain, []byte(want)) {
			t.Errorf("checkout.js lacks %q", want)
		}
	}
	etag := w.Header().Get("ETag")
	if w := env.do("GET", "/v1/checkout.js", "", "If-None-Match", etag); w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", w.Code)
	}
}

// Issue 9: a page opened through another host name of the server goes to
// the base URL's (it would be refused on submit there), and the embed
// script frames the base URL whatever host it was loaded from.
func TestPagesLiveOnTheBaseURL(t *testing.T) {
	env := MustEnv3DS(t)
	id := env.MustSession(t, "en")
	for _, target := range []string{"/pay/" + id, "/pay/" + id + "?embed=1&parent=https%3A%2F%2Fshop.example", "/sandbox/acs/3ds_x"} {
		req := httptest.NewRequest("GET", "http://127.0.0.1:8080"+target, nil)
		w := httptest.NewRecorder()
		env.h.ServeHTTP(w, req)
		if w.Code != http.StatusPermanentRedirect || w.Header().Get("Location") != testBase+target {
			t.Errorf("GET %s on another host: %d Location %q, want 308 to %s", target, w.Code, w.Header().Get("Location"), testBase+target)
		}
	}
	for _, host := range []string{"checkout.test", "CHECKOUT.test", "checkout.test:80"} {
		req := httptest.NewRequest("GET", "http://"+host+"/pay/"+id, nil)
		w := httptest.NewRecorder()
		env.h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Errorf("GET on the base host %s: %d, want 200", host, w.Code)
		}
	}
	req := httptest.NewRequest("GET", "http://127.0.0.1:8080/v1/checkout.js", nil)
	w := httptest.NewRecorder()
	env.h.ServeHTTP(w, req)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `var origin = "`+testBase+`"`) || strings.Contains(w.Body.String(), "127.0.0.1") {
		t.Errorf("checkout.js from another host: %d, want it to frame %s", w.Code, testBase)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	env := MustEnv(t)
	for _, o := range []Options{
		{Keys: env.vault, BaseURL: testBase},
		{Service: env.svc, BaseURL: testBase},
		{Service: env.svc, Keys: env.vault, BaseURL: "checkout.test"},
		{Service: env.svc, Keys: env.vault, BaseURL: "ftp://checkout.test"},
	} {
		if _, err := newServer(o); err == nil {
			t.Errorf("newServer(%+v) accepted", o.BaseURL)
		}
	}
}

func TestOriginOf(t *testing.T) {
	for in, want := range map[string]string{
		"http://localhost:8080":   "http://localhost:8080",
		"https://Pay.Example:443": "https://pay.example",
		"http://127.0.0.1:80/x":   "http://127.0.0.1",
		"https://[::1]:8443":      "https://[::1]:8443",
	} {
		s, err := newServer(Options{Service: &checkout.Service{}, Keys: fakeKeys{}, BaseURL: in})
		if err != nil {
			t.Fatal(err)
		}
		if s.selfOrigin != want {
			t.Errorf("origin of %s = %s, want %s", in, s.selfOrigin, want)
		}
	}
}

type fakeKeys struct{}

func (fakeKeys) JWKSJSON() ([]byte, error)     { return []byte(`{"keys":[]}`), nil }
func (fakeKeys) MAC(p string, m []byte) []byte { return append([]byte(p), m...) }

var _ Keys = (*vault.Vault)(nil)

func TestPanicIsLoggedWithoutRequestData(t *testing.T) {
	var logs bytes.Buffer
	s, err := newServer(Options{Service: &checkout.Service{}, Keys: fakeKeys{}, BaseURL: testBase,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r := s.routes()
	r.GET("/boom", func(c *gin.Context) { panic("card 4242424242424242") })
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/boom?number=4242424242424242", nil))
	if w.Code != 500 || !strings.Contains(w.Body.String(), `"internal"`) {
		t.Errorf("panic answer: %d %s", w.Code, w.Body)
	}
	if strings.Contains(logs.String(), "4242") {
		t.Errorf("log holds request or panic data:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "panic in handler") {
		t.Errorf("panic not logged:\n%s", logs.String())
	}
}
