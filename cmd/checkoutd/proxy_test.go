package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// nginxAddr is the loopback address nginx connects to the instances from
// (proxy_bind): the only peer the instances trust. No shopper uses it.
const nginxAddr = "127.0.0.2"

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// mustNginx runs Debian's nginx (installed by .ci/deps.sh) on loopback in
// front of the upstreams, configured as .ci/cluster.sh and compose.yaml
// configure it: it passes the Host and appends the peer to
// X-Forwarded-For. It returns nginx's base URL.
func mustNginx(t *testing.T, port int, upstreams ...string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("nginx not found (%v): run `make deps` (.ci/deps.sh installs nginx-light)", err)
	}
	dir := t.TempDir()
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "server %s; ", u)
	}
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  upstream checkout { %[2]s}
  server {
    listen 127.0.0.1:%[3]d;
    client_max_body_size 32k;
    location / {
      proxy_pass http://checkout;
      proxy_bind %[4]s;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`, dir, servers.String(), port, nginxAddr)
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", confFile, "-p", dir, "-e", filepath.Join(dir, "error.log"))
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not come up: %s\n%s", out, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// forgingClientFrom is clientFrom whose every request carries a forged
// X-Forwarded-For.
func forgingClientFrom(ip string) *http.Client {
	c := clientFrom(ip)
	inner, n := c.Transport, &atomic.Int64{}
	c.Transport = roundTripFunc(func(req *http.Request) (*http.Response, error) {
		req = req.Clone(req.Context())
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", n.Add(1)%250+1))
		return inner.RoundTrip(req)
	})
	return c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// Issue 9, item 1: behind the documented topology (nginx in front of two
// instances on one PostgreSQL and Vault), every shopper is still an address
// of its own: twelve shoppers from twelve addresses all pay without a
// challenge; one address trying many cards is stopped at the per-IP limit;
// and a forged X-Forwarded-For, through nginx or straight to an instance,
// changes nothing.
func TestShoppersBehindNginxKeepTheirAddresses(t *testing.T) {
	e, _ := mustProduction(t, productionOptions{})
	proxyPort, portA, portB := freePort(t), freePort(t), freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", proxyPort)
	// Every defence at its default but the per-merchant limit (one merchant
	// takes every payment here) and the proof of work (this client does not
	// solve it; the limits must hold without it).
	flags := func(port int) []string {
		return []string{"-demo-addr", "", "-addr", fmt.Sprintf("127.0.0.1:%d", port), "-base-url", base,
			"-trusted-proxies", nginxAddr, "-limit-ip", "6", "-limit-session", "5", "-limit-merchant", "1000",
			"-limit-card", "5", "-limit-chunk", "5", "-challenge-bits", "0"}
	}
	start := func(port int) *process {
		p := mustStartWith(t, filepath.Join(t.TempDir(), "data"), e.env(), flags(port)...)
		p.Merchant.APIKey, p.Shop = e.key, "https://shop.example"
		return p
	}
	a, b := start(portA), start(portB)
	mustNginx(t, proxyPort, fmt.Sprintf("127.0.0.1:%d", portA), fmt.Sprintf("127.0.0.1:%d", portB))
	// The shop and its shoppers talk to nginx only.
	front := &process{BaseURL: base, Merchant: a.Merchant, Shop: a.Shop}

	// Twelve shoppers, each from an address, with a card and an email of
	// their own: none is challenged, limited or held.
	for i := range 12 {
		ip := fmt.Sprintf("127.0.0.%d", 20+i)
		s := front.mustSessionFor(t, fmt.Sprintf("shopper-%02d", i), fmt.Sprintf("shopper-%02d@example.jp", i))
		status, out := front.try(t, clientFrom(ip), s, testCard((i+1)*1000), "123")
		if status != http.StatusOK || out.Status != "paid" || out.Token == "" {
			t.Errorf("shopper %d from %s: %d %+v, want paid", i+1, ip, status, out)
		}
	}
	if n := e.query(t, `SELECT count(*) FROM payments WHERE status = 'succeeded'`); n != 12 {
		t.Errorf("%d payments succeeded (not held), want 12", n)
	}

	// One address, many cards: refused past the per-IP limit (6), although
	// each request says it comes from somewhere else.
	tester := forgingClientFrom("127.0.0.50")
	var statuses []int
	for i := range 9 {
		s := front.mustSessionFor(t, fmt.Sprintf("tester-%02d", i), fmt.Sprintf("tester-%02d@example.jp", i))
		status, _ := front.try(t, tester, s, testCard((i+20)*1000), "123")
		statuses = append(statuses, status)
	}
	for i, st := range statuses {
		if want := http.StatusOK; i < 6 && st != want {
			t.Errorf("tester card %d within the IP limit: %d, want %d (all %v)", i+1, st, want, statuses)
		}
		if i >= 6 && st != http.StatusTooManyRequests {
			t.Errorf("tester card %d past the IP limit: %d, want 429 (all %v)", i+1, st, statuses)
		}
	}

	// Straight to an instance, skipping nginx, with a forged header: the
	// instance does not trust the peer, so the header is ignored and this
	// address is counted (and stopped) like any other.
	direct := forgingClientFrom("127.0.0.60")
	statuses = nil
	for i := range 8 {
		s := front.mustSessionFor(t, fmt.Sprintf("direct-%02d", i), fmt.Sprintf("direct-%02d@example.jp", i))
		inst := []*process{a, b}[i%2]
		req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/pay/%s", []int{portA, portB}[i%2], s.ID),
			formBody("number", testCard((i+40)*1000), "expiry", "12/30", "name", "TEST SHOPPER", "cvc", "123"))
		req.Host = strings.TrimPrefix(base, "http://")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-CSRF-Token", csrfToken(t, clientFrom("127.0.0.61"), front.BaseURL+"/pay/"+s.ID))
		req.Header.Set("Origin", base)
		resp, err := direct.Do(req)
		if err != nil {
			t.Fatalf("direct to %s: %v", inst.BaseURL, err)
		}
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
	for i, st := range statuses {
		if i >= 6 && st != http.StatusTooManyRequests {
			t.Errorf("direct card %d past the IP limit: %d, want 429 (all %v)", i+1, st, statuses)
		}
	}
	// The screening counters saw the forging addresses as themselves: no
	// attempt was counted for a forged 198.51.100.x address.
	if n := e.query(t, `SELECT count(*) FROM attempts a JOIN sessions s ON s.id = a.session_id
		WHERE s.order_id LIKE 'direct-%' AND a.outcome = 'rate_limited'`); n != 2 {
		t.Errorf("%d direct attempts rate limited, want 2", n)
	}
}

// compose.yaml configures the same as the nginx test: the proxy sends
// X-Forwarded-For from a fixed address, and the instances trust exactly it.
func TestComposeTrustsOnlyItsProxy(t *testing.T) {
	b, err := os.ReadFile("../../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	compose := string(b)
	trusted := regexp.MustCompile(`CHECKOUT_TRUSTED_PROXIES: (\S+)`).FindStringSubmatch(compose)
	proxyAddr := regexp.MustCompile(`front: \{ipv4_address: (\S+)\}`).FindStringSubmatch(compose)
	if trusted == nil || proxyAddr == nil || trusted[1] != proxyAddr[1] {
		t.Fatalf("instances trust %v, the proxy is at %v: want the proxy's address alone", trusted, proxyAddr)
	}
	if _, err := ParseTrustedProxies(trusted[1]); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"X-Forwarded-For $$proxy_add_x_forwarded_for", "Host $$http_host"} {
		if !strings.Contains(compose, want) {
			t.Errorf("compose.yaml's nginx lacks %q", want)
		}
	}
}
