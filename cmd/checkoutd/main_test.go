package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/hostedcheckout/hostedcheckout/certs"
)

func TestConfigValidationFailsFast(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-addr", "8080"}, nil, "-addr"},
		{[]string{"-base-url", "http://checkout.example"}, nil, "-base-url"},
		{[]string{"-base-url", "https://checkout.example/path"}, nil, "-base-url"},
		{[]string{"-tls-cert", "a.pem"}, nil, "-tls-cert and -tls-key go together"},
		{[]string{"-auth-timeout", "0s"}, nil, "-auth-timeout"},
		{[]string{"-result-ttl", "2h"}, nil, "-result-ttl must be at most 1h"},
		{[]string{"-log-format", "xml"}, nil, "-log-format"},
		{nil, map[string]string{"CHECKOUT_SESSION_TTL": "forever"}, "-session-ttl"},
		{[]string{"-data-dir", " "}, nil, "-data-dir"},
		{[]string{"-no-such-flag"}, nil, "flag provided but not defined"},
		{[]string{"-lockout-failures", "0"}, nil, "lockout failures must be from 1 to 100"},
		{[]string{"-lockout-window", "30s"}, nil, "lockout window must be from 1m"},
		{[]string{"-limit-ip", "-1"}, nil, "rate limit ip"},
		{[]string{"-limit-card", "3", "-limit-card-window", "0s"}, nil, "rate limit card: window"},
		{[]string{"-challenge-bits", "30"}, nil, "-challenge-bits"},
		{[]string{"-webhook-retention", "24h"}, nil, "-webhook-retention must be at least 96h"},
		{[]string{"-sweep", "500ms"}, nil, "-sweep must be from 1s to 1h"},
		{[]string{"-sweep", "2h"}, nil, "-sweep must be from 1s to 1h"},
		{nil, map[string]string{"CHECKOUT_LIMIT_SESSION": "many"}, "CHECKOUT_LIMIT_SESSION must be a whole number"},
		{[]string{"-trusted-proxies", "10.0.0.0/33"}, nil, "-trusted-proxies"},
		{[]string{"-trusted-proxies", "nginx.internal"}, nil, "-trusted-proxies"},
		{nil, map[string]string{"CHECKOUT_TRUSTED_PROXIES": "0.0.0.0/0"}, "would trust every peer"},
		{[]string{"-trusted-proxies", "127.0.0.1, ::/0"}, nil, "would trust every peer"},
	}
	for _, tt := range tests {
		for k, v := range tt.env {
			t.Setenv(k, v)
		}
		var stdout, stderr bytes.Buffer
		err := Run(context.Background(), append([]string{"serve"}, tt.args...), &stdout, &stderr)
		if err == nil {
			t.Errorf("%v %v: started", tt.args, tt.env)
			continue
		}
		if got := err.Error() + stderr.String(); !strings.Contains(got, tt.want) {
			t.Errorf("%v %v: error %q, want it to name %q", tt.args, tt.env, got, tt.want)
		}
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.0.0.7, fd00::/64 192.168.1.77/24,::ffff:172.16.0.1/112")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.7/32", "fd00::/64", "192.168.1.0/24", "172.16.0.0/16"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d: %s, want %s", i, got[i], want[i])
		}
	}
	if got, err := ParseTrustedProxies(""); err != nil || got != nil {
		t.Errorf("empty: %v %v, want none trusted", got, err)
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	t.Setenv("CHECKOUT_ADDR", "127.0.0.1:9999")
	t.Setenv("CHECKOUT_LOG_LEVEL", "warn")
	var cfg Config
	fs := cfg.flagSet("test", &bytes.Buffer{})
	if err := fs.Parse([]string{"-log-level", "debug"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9999" || cfg.LogLevel != "debug" || cfg.DataDir != "./data" {
		t.Fatalf("env, flag, default = %q, %q, %q", cfg.Addr, cfg.LogLevel, cfg.DataDir)
	}
}

// The operator's command registers a merchant whose key then works against
// the running service, and refuses a bad origin with a clear message.
func TestMerchantsCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	out, err := exec.Command(binary, "merchants", "create", "--data-dir", dir, "--name", "Tea Shop",
		"--origin", "https://shop.example", "--origin", "http://localhost:3000").Output()
	if err != nil {
		t.Fatalf("merchants create: %v", err)
	}
	var created struct {
		ID      string   `json:"merchant_id"`
		Key     string   `json:"secret_key"`
		Origins []string `json:"origins"`
	}
	if err := json.Unmarshal(out, &created); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if !strings.HasPrefix(created.ID, "mer_") || !strings.HasPrefix(created.Key, "sk_test_") ||
		strings.Join(created.Origins, " ") != "https://shop.example http://localhost:3000" {
		t.Fatalf("created = %+v", created)
	}

	p := mustStartIn(t, dir)
	req, _ := http.NewRequest("GET", p.BaseURL+"/v1/sessions/cs_none", nil)
	req.Header.Set("Authorization", "Bearer "+created.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound { // authenticated; the session just does not exist
		t.Fatalf("the new key answered %d, want 404", resp.StatusCode)
	}
	p.Stop(t)
	if bytes.Contains(p.Output(), []byte(created.Key)) {
		t.Fatal("the service printed the merchant's secret key")
	}

	bad := exec.Command(binary, "merchants", "create", "--data-dir", dir, "--name", "Evil", "--origin", "http://evil.example")
	msg, err := bad.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "origin must use https") {
		t.Fatalf("plain-http origin: %v %s", err, msg)
	}
}

// Given certificates (here from the operator's `certs dev`), the service
// serves TLS 1.2+ and sends HSTS.
func TestServesTLSWithHSTS(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command(binary, "certs", "dev", "-out", dir).CombinedOutput(); err != nil {
		t.Fatalf("certs dev: %v\n%s", err, out)
	}
	certFile, keyFile := filepath.Join(dir, "checkoutd.crt"), filepath.Join(dir, "checkoutd.key")
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	p := mustStart(t, "-tls-cert", certFile, "-tls-key", keyFile)
	if !strings.HasPrefix(p.BaseURL, "https://127.0.0.1:") {
		t.Fatalf("base URL %s", p.BaseURL)
	}
	get := func(cfg *tls.Config) (*http.Response, error) {
		return (&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}).Get(p.BaseURL + "/healthz")
	}
	resp, err := get(&tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Fatalf("HSTS = %q", hsts)
	}
	if resp, err := get(&tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}); err == nil {
		resp.Body.Close()
		t.Fatal("served TLS 1.1")
	}
	other, err := certs.NewDevCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := get(&tls.Config{RootCAs: other.Pool()}); err == nil {
		resp.Body.Close()
		t.Fatal("a client trusting another CA accepted the server")
	}
}

func TestHealthAndReadiness(t *testing.T) {
	p := mustStart(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(p.BaseURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s = %d", path, resp.StatusCode)
		}
	}
}

// On the embedded defaults the sandbox has a card processor: its key is
// made once in the data directory (0600), shown with the demo shop, and
// the only key that records a chargeback; a restart keeps it.
func TestSandboxProcessorKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := mustStartIn(t, dir)
	if !strings.HasPrefix(p.ProcessorKey, "proc_sk_") {
		t.Fatalf("start-up line shows processor key %q", p.ProcessorKey)
	}
	info, err := os.Stat(filepath.Join(dir, "processor.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("processor.key: %v, %v; want mode 0600", info, err)
	}
	record := func(key string) int {
		req, _ := http.NewRequest("POST", p.BaseURL+"/v1/processor/payments/pay_nosuchpayment/chargebacks",
			strings.NewReader(`{"amount":100,"reason_code":"10.4"}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := record(p.ProcessorKey); got != http.StatusNotFound { // authenticated: the payment is what is missing
		t.Fatalf("the processor's key: %d; want 404 for a missing payment", got)
	}
	if got := record(p.Merchant.APIKey); got != http.StatusUnauthorized {
		t.Fatalf("the merchant's key: %d; want 401", got)
	}
	key := p.ProcessorKey
	p.Stop(t)
	if again := mustStartIn(t, dir); again.ProcessorKey != key {
		t.Fatalf("restart changed the sandbox processor's key")
	}
}

func TestServeTunesTheGarbageCollector(t *testing.T) {
	was := debug.SetGCPercent(100)
	defer debug.SetGCPercent(was)

	tuneGC(func(string) (string, bool) { return "", false })
	if got := debug.SetGCPercent(100); got != serveGCPercent {
		t.Errorf("without GOGC the collector's target is %d; want %d", got, serveGCPercent)
	}
	tuneGC(func(name string) (string, bool) { return "150", name == "GOGC" })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set the target became %d; want the operator's (left at 100)", got)
	}
}
