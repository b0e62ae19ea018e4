package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
)

// binary is checkoutd built once for the tests that run the real program as
// a separate process, so that everything it prints, crash output included,
// can be searched.
var binary string

func TestMain(m *testing.M) {
	// Every test shopper comes from 127.0.0.1 with the sandbox's test cards,
	// which share their first 12 digits: the card-testing rate limits would
	// refuse most of them, and the proof-of-work challenge would stop their
	// retries, which do not solve it. All are off for every checkoutd the tests start
	// (in process or as a binary, which inherits the environment); the tests
	// of the limits themselves turn them on with flags, which win over the
	// environment.
	for _, env := range []string{"CHECKOUT_LIMIT_IP", "CHECKOUT_LIMIT_SESSION", "CHECKOUT_LIMIT_MERCHANT", "CHECKOUT_LIMIT_CARD", "CHECKOUT_LIMIT_CHUNK", "CHECKOUT_CHALLENGE_BITS"} {
		os.Setenv(env, "0")
	}
	dir, err := os.MkdirTemp("", "checkoutd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "checkoutd")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build checkoutd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a running checkoutd.
type process struct {
	BaseURL  string
	DemoURL  string
	Merchant DemoMerchant
	DataDir  string
	Shop     string // the origin return URLs point at: the demo shop, or a merchant's registered origin
	// ProcessorKey is the sandbox processor's key the start-up line shows
	// with the demo shop (chargeback notifications).
	ProcessorKey string

	cmd    *exec.Cmd
	mu     sync.Mutex
	output bytes.Buffer // stdout and stderr, everything the program printed
	done   chan struct{}
}

// lockedWriter appends to the process output under its lock.
type lockedWriter struct{ p *process }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.output.Write(b)
}

// Output is everything the program printed so far.
func (p *process) Output() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.output.Bytes())
}

// mustStart runs checkoutd on loopback ports with a fresh data directory.
func mustStart(tb testing.TB, args ...string) *process {
	tb.Helper()
	return mustStartIn(tb, filepath.Join(tb.TempDir(), "data"), args...)
}

// mustStartIn runs checkoutd on loopback ports with the given data directory.
func mustStartIn(tb testing.TB, dataDir string, args ...string) *process {
	tb.Helper()
	return mustStartWith(tb, dataDir, nil, args...)
}

// mustStartWith runs checkoutd with extra environment variables (KEY=value).
func mustStartWith(tb testing.TB, dataDir string, env []string, args ...string) *process {
	tb.Helper()
	p := &process{DataDir: dataDir, done: make(chan struct{})}
	all := append([]string{"serve", "-addr", "127.0.0.1:0", "-demo-addr", "127.0.0.1:0", "-data-dir", p.DataDir, "-log-level", "debug"}, args...)
	p.cmd = exec.Command(binary, all...)
	p.cmd.Env = append(append(os.Environ(), "GOTRACEBACK=all"), env...)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	p.cmd.Stderr = lockedWriter{p}
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Stop(tb) })

	lines := bufio.NewReader(stdout)
	first, err := lines.ReadBytes('\n')
	lockedWriter{p}.Write(first)
	if err != nil {
		tb.Fatalf("checkoutd did not start: %v\n%s", err, p.Output())
	}
	go func() {
		io.Copy(lockedWriter{p}, lines)
		close(p.done)
	}()
	var started struct {
		Checkout string       `json:"checkout"`
		DemoShop string       `json:"demo_shop"`
		Merchant DemoMerchant `json:"demo_merchant"`
		Key      string       `json:"sandbox_processor_key"`
	}
	if err := json.Unmarshal(first, &started); err != nil {
		tb.Fatalf("start-up line %q: %v", first, err)
	}
	p.BaseURL, p.DemoURL, p.Merchant, p.ProcessorKey = started.Checkout, started.DemoShop, started.Merchant, started.Key
	p.Shop = p.DemoURL
	return p
}

// Stop asks for a graceful shutdown and waits for it.
func (p *process) Stop(tb testing.TB) {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			tb.Errorf("checkoutd exited with %v\n%s", err, p.Output())
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		tb.Errorf("checkoutd did not stop within 30s")
	}
	<-p.done
}

// api is a merchant's server calling the JSON API.
func (p *process) api(tb testing.TB, method, path string, body any, out any) *http.Response {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.BaseURL+path, rd)
	req.Header.Set("Authorization", "Bearer "+p.Merchant.APIKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			tb.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp
}

// session is the part of a session answer the tests read.
type session struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Status string `json:"status"`
}

func (p *process) mustSession(tb testing.TB, orderID string) session {
	tb.Helper()
	return p.mustSessionFor(tb, orderID, "taro@example.jp")
}

// mustSessionFor is mustSession for the customer with that email.
func (p *process) mustSessionFor(tb testing.TB, orderID, email string) session {
	tb.Helper()
	var s session
	resp := p.api(tb, "POST", "/v1/sessions", map[string]any{
		"amount": 1500, "currency": "JPY", "order_id": orderID,
		"success_url": p.Shop + "/done", "cancel_url": p.Shop + "/",
		"customer_email": email,
	}, &s)
	if resp.StatusCode != http.StatusCreated || s.ID == "" {
		tb.Fatalf("create session: %d %+v", resp.StatusCode, s)
	}
	return s
}

var csrfPattern = regexp.MustCompile(`"csrf":"([^"]+)"`)

// csrfToken opens the hosted page as a browser would and reads its token.
func csrfToken(tb testing.TB, client *http.Client, pageURL string) string {
	tb.Helper()
	resp, err := client.Get(pageURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	m := csrfPattern.FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		tb.Fatalf("page %s: status %d, no CSRF token", pageURL, resp.StatusCode)
	}
	return string(m[1])
}

func formBody(fields ...string) io.Reader {
	var b strings.Builder
	for i := 0; i+1 < len(fields); i += 2 {
		if i > 0 {
			b.WriteByte('&')
		}
		fmt.Fprintf(&b, "%s=%s", fields[i], strings.ReplaceAll(fields[i+1], " ", "+"))
	}
	return strings.NewReader(b.String())
}

// paid is the hosted page's answer to a successful card submission.
type paid struct {
	Status     string `json:"status"` // paid, or requires_action (3-D Secure)
	Token      string `json:"token"`
	NextAction struct {
		AuthenticationID string `json:"authentication_id"`
		URL              string `json:"url"`
	} `json:"next_action"`
}

// acsCSRF finds the sandbox issuer's challenge form token.
var acsCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// answerChallenge answers the sandbox issuer's 3-D Secure window as a
// shopper would: opens it and enters the one-time code.
func (p *process) answerChallenge(tb testing.TB, client *http.Client, window string) {
	tb.Helper()
	if err := p.tryAnswerChallenge(client, window); err != nil {
		tb.Fatal(err)
	}
}

// tryAnswerChallenge is answerChallenge for goroutines that meet faults on
// purpose: it reports what went wrong instead of failing the test.
func (p *process) tryAnswerChallenge(client *http.Client, window string) error {
	resp, err := client.Get(p.BaseURL + window)
	if err != nil {
		return err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := acsCSRF.FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		return fmt.Errorf("challenge window %s: status %d\n%s", window, resp.StatusCode, page)
	}
	resp, err = client.PostForm(p.BaseURL+window, url.Values{"csrf": {string(m[1])}, "code": {sandbox.ChallengeCode}})
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("challenge answer: status %d", resp.StatusCode)
	}
	return nil
}

// pay submits a card as a shopper on the hosted page does: the page's CSRF
// token, from the checkout's own origin; when the card's issuer asks for a
// 3-D Secure challenge, the shopper answers it (they hold the phone) and
// the page sends the card again. It returns the final status and answer.
func (p *process) pay(tb testing.TB, client *http.Client, s session, number, cvc string) (int, paid) {
	tb.Helper()
	status, out := p.try(tb, client, s, number, cvc)
	if status != http.StatusOK || out.Status != "requires_action" {
		return status, out
	}
	p.answerChallenge(tb, client, out.NextAction.URL)
	return p.submit(tb, client, s, "number", number, "expiry", "12/30", "name", "TEST SHOPPER", "cvc", cvc,
		"authentication", out.NextAction.AuthenticationID)
}

// try submits a card once, as a card tester does: a 3-D Secure challenge
// is left unanswered (the tester does not hold the cardholder's phone) and
// comes back as status 200 with Status "requires_action".
func (p *process) try(tb testing.TB, client *http.Client, s session, number, cvc string) (int, paid) {
	tb.Helper()
	return p.submit(tb, client, s, "number", number, "expiry", "12/30", "name", "TEST SHOPPER", "cvc", cvc)
}

// submit posts the pay form with the given field names and values, after
// opening this instance's page for its CSRF token.
func (p *process) submit(tb testing.TB, client *http.Client, s session, fields ...string) (int, paid) {
	tb.Helper()
	status, out, err := p.postCard(client, s, csrfToken(tb, client, p.BaseURL+"/pay/"+s.ID), fields...)
	if err != nil {
		tb.Fatal(err)
	}
	return status, out
}

// postCard posts the pay form as the page does, with the page's CSRF
// token, and decodes the answer. It reports a failed request instead of
// failing the test, for goroutines that meet faults on purpose.
func (p *process) postCard(client *http.Client, s session, csrf string, fields ...string) (int, paid, error) {
	req, _ := http.NewRequest("POST", p.BaseURL+"/pay/"+s.ID, formBody(fields...))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Origin", p.BaseURL)
	resp, err := client.Do(req)
	if err != nil {
		return 0, paid{}, err
	}
	defer resp.Body.Close()
	var out paid
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}
