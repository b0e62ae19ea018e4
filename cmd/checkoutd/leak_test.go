package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
)

// The sentinel card number: one no other test uses (American Express, not a
// sandbox test card, so the issuer approves it with any 4-digit code).
const sentinelPAN = "371449635398431"

// sentinelCVC picks the sentinel security code: 4 digits made only of
// 0, 1, 8 and 9, which base32 ids (a-z, 2-7) never hold, so that a chance
// match in random bytes is about one in four billion per position; and, of
// those, one that the baseline (what exists before any payment: a database
// cluster's catalogs, a server's banner) does not already hold.
func sentinelCVC(t *testing.T, baseline ...[]byte) string {
	t.Helper()
	// Irregular codes only: years and round numbers turn up in logs and catalogs.
	for _, code := range []string{"9108", "8019", "9801", "1890", "8901", "9018", "1098", "8109"} {
		clean := true
		for _, b := range baseline {
			clean = clean && !containsCVC(b, code)
		}
		if clean {
			return code
		}
	}
	t.Fatal("no sentinel security code is absent from the baseline")
	return ""
}

// recorder keeps every request and response that passes through it.
type recorder struct {
	mu        sync.Mutex
	requests  bytes.Buffer
	responses bytes.Buffer
	base      http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	reqDump, _ := httputil.DumpRequestOut(req, true)
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	respDump, _ := httputil.DumpResponse(resp, true)
	r.mu.Lock()
	r.requests.Write(reqDump)
	r.responses.Write(respDump)
	r.responses.WriteString("\n")
	r.mu.Unlock()
	return resp, nil
}

// PCI DSS 3.3.1.2 and 3.5.1: after full payments with a sentinel card, the
// security code appears nowhere (data directory with the database's journal
// files, everything the program printed, every response), and the full card
// number appears nowhere outside ciphertext.
func TestNoCardDataLeaks(t *testing.T) {
	p := mustStart(t)
	cvc := sentinelCVC(t)
	corpora := leakScenario(t, p, cvc)
	readDataDir(t, p.DataDir, "running", corpora)
	p.Stop(t)
	readDataDir(t, p.DataDir, "stopped", corpora)
	if _, ok := corpora["running: checkout.db-wal"]; !ok {
		t.Fatalf("no write-ahead log seen while running: %v", keys(corpora))
	}
	if _, ok := corpora["running: checkout.db"]; !ok {
		t.Fatalf("no database in the data directory: %v", keys(corpora))
	}
	corpora["program output"] = p.Output()
	searchLeaks(t, corpora, cvc)
}

// leakScenario runs full payments with the sentinels, through the error
// paths too, and returns every response (result tokens decoded). It checks
// on its own that the search finds the sentinels where they are known to
// be, so that a search that can never match cannot pass.
func leakScenario(t *testing.T, p *process, sentinelCVC string) map[string][]byte {
	t.Helper()
	rec := &recorder{base: http.DefaultTransport}
	client := &http.Client{Transport: rec}

	var tokens []string
	for i := range 3 {
		s := p.mustSession(t, "leak-"+string(rune('a'+i)))
		// Error paths first, each with the sentinel: a bad expiry (refused
		// before authorization), then a code of the wrong length.
		if status, _ := p.submit(t, client, s, "number", "3714 496353 98431", "expiry", "13/99", "name", "LEAK TEST", "cvc", sentinelCVC); status != http.StatusBadRequest {
			t.Fatalf("bad expiry: status %d", status)
		}
		if status, _ := p.submit(t, client, s, "number", sentinelPAN, "expiry", "12/30", "name", "LEAK TEST", "cvc", sentinelCVC+"9"); status != http.StatusBadRequest {
			t.Fatalf("5-digit code: status %d", status)
		}
		status, paid := p.submit(t, client, s, "number", "3714 496353 98431", "expiry", "12/30", "name", "LEAK TEST", "cvc", sentinelCVC)
		if status != http.StatusOK || paid.Status != "paid" {
			t.Fatalf("sentinel payment: status %d %+v\n%s", status, paid, p.Output())
		}
		tokens = append(tokens, paid.Token)

		var got struct {
			Payment struct {
				ID   string `json:"id"`
				Card struct {
					Brand string `json:"brand"`
					Last4 string `json:"last4"`
				} `json:"card"`
			} `json:"payment"`
		}
		merchantGET := func(path string, out any) {
			req, _ := http.NewRequest("GET", p.BaseURL+path, nil)
			req.Header.Set("Authorization", "Bearer "+p.Merchant.APIKey)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			json.NewDecoder(resp.Body).Decode(out)
		}
		merchantGET("/v1/sessions/"+s.ID, &got)
		// The sentinel really went through: the payment shows its brand and last 4.
		if got.Payment.Card.Brand != "amex" || got.Payment.Card.Last4 != "8431" {
			t.Fatalf("payment card = %+v", got.Payment.Card)
		}
		merchantGET("/v1/payments/"+got.Payment.ID, &struct{}{})
		// A second submission on the paid session answers the payment again.
		p.submit(t, client, s, "number", sentinelPAN, "expiry", "12/30", "name", "LEAK TEST", "cvc", sentinelCVC)
	}
	// A 3-D Secure challenge with the sentinel code: the submission that
	// meets it must not keep the code while the shopper answers, and the
	// page sends it again afterwards.
	s := p.mustSession(t, "leak-3ds")
	status, action := p.submit(t, client, s, "number", sandbox.Card3DSChallengeAmex, "expiry", "12/30", "name", "LEAK TEST", "cvc", sentinelCVC)
	if status != http.StatusOK || action.Status != "requires_action" {
		t.Fatalf("challenge card: status %d %+v\n%s", status, action, p.Output())
	}
	p.answerChallenge(t, client, action.NextAction.URL)
	status, paid := p.submit(t, client, s, "number", sandbox.Card3DSChallengeAmex, "expiry", "12/30", "name", "LEAK TEST", "cvc", sentinelCVC,
		"authentication", action.NextAction.AuthenticationID)
	if status != http.StatusOK || paid.Status != "paid" {
		t.Fatalf("after the challenge: status %d %+v\n%s", status, paid, p.Output())
	}
	tokens = append(tokens, paid.Token)

	// Card on file: the sentinel card saved by a payment, then paid again
	// by its saved card and the sentinel code typed again.
	var cus struct {
		ID string `json:"id"`
	}
	p.api(t, "POST", "/v1/customers", map[string]any{"reference": "leak"}, &cus)
	var saving session
	p.api(t, "POST", "/v1/sessions", map[string]any{"amount": 1500, "currency": "JPY", "order_id": "leak-save",
		"success_url": p.Shop + "/done", "customer": cus.ID, "save_card": "required"}, &saving)
	if status, paid := p.submit(t, client, saving, "number", sentinelPAN, "expiry", "12/30", "name", "LEAK TEST", "cvc", sentinelCVC); status != http.StatusOK || paid.Status != "paid" {
		t.Fatalf("saving payment: status %d %+v\n%s", status, paid, p.Output())
	}
	var cards struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	p.api(t, "GET", "/v1/customers/"+cus.ID+"/cards", nil, &cards)
	if len(cards.Data) != 1 {
		t.Fatalf("saved cards: %+v", cards.Data)
	}
	var again session
	p.api(t, "POST", "/v1/sessions", map[string]any{"amount": 1500, "currency": "JPY", "order_id": "leak-saved",
		"success_url": p.Shop + "/done", "customer": cus.ID}, &again)
	status, paid = p.submit(t, client, again, "saved_card", cards.Data[0].ID, "cvc", sentinelCVC)
	if status != http.StatusOK || paid.Status != "paid" {
		t.Fatalf("saved-card payment: status %d %+v\n%s", status, paid, p.Output())
	}
	tokens = append(tokens, paid.Token)

	if resp, err := client.Get(p.BaseURL + "/.well-known/jwks.json"); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	// The responses, with each result token's claims decoded, since base64
	// would hide a leak from a plain search.
	responses := rec.responses.Bytes()
	for _, tok := range tokens {
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("result token %q is not a JWS", tok)
		}
		claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
		responses = append(responses, claims...)
	}
	// The search itself must work: our own requests carry both sentinels.
	if !containsCVC(rec.requests.Bytes(), sentinelCVC) || !bytes.Contains(rec.requests.Bytes(), []byte("3714+496353+98431")) {
		t.Fatal("the search does not find the sentinels where they are known to be")
	}
	return map[string][]byte{"responses": responses}
}

// searchLeaks fails the test for every corpus holding the security code or
// the full card number in any common encoding.
func searchLeaks(t *testing.T, corpora map[string][]byte, sentinelCVC string) {
	t.Helper()
	panForms := [][]byte{
		[]byte(sentinelPAN),
		[]byte("3714 496353 98431"),
		[]byte("3714+496353+98431"),
		[]byte("3714%20496353%2098431"),
		[]byte(base64.StdEncoding.EncodeToString([]byte(sentinelPAN))),
		[]byte(base64.RawURLEncoding.EncodeToString([]byte(sentinelPAN))),
	}
	total := 0
	for name, corpus := range corpora {
		total += len(corpus)
		if containsCVC(corpus, sentinelCVC) {
			t.Errorf("security code found in %s", name)
		}
		for _, form := range panForms {
			if bytes.Contains(corpus, form) {
				t.Errorf("full card number (%q) found in %s", form, name)
			}
		}
	}
	t.Logf("searched %d files and streams, %d bytes, for code %s and the card number", len(corpora), total, sentinelCVC)
}

// readDataDir adds every file under dir to corpora, named "when: file".
func readDataDir(t *testing.T, dir, when string, corpora map[string][]byte) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		corpora[when+": "+rel] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// containsCVC reports whether code appears as a whole run of digits, not as
// part of a longer one (a timestamp's nanoseconds hold every 4-digit run).
func containsCVC(b []byte, code string) bool {
	isDigit := func(i int) bool { return i >= 0 && i < len(b) && b[i] >= '0' && b[i] <= '9' }
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(code))
		if j < 0 {
			return false
		}
		at := i + j
		if !isDigit(at-1) && !isDigit(at+len(code)) {
			return true
		}
		i = at + 1
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestContainsCVC(t *testing.T) {
	for in, want := range map[string]bool{
		`"cvc":"9108"`:                  true,
		"cvc=9108&x":                    true,
		"9108":                          true,
		"2026-11-22T18:13:34.739108456": false,
		"91080":                         false,
		"x19108":                        false,
		"":                              false,
	} {
		if got := containsCVC([]byte(in), "9108"); got != want {
			t.Errorf("containsCVC(%q) = %v", in, got)
		}
	}
}
