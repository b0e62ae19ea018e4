package web

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlite"
)

const declinedForm = "number=4000000000000002&expiry=12%2F40&name=TARO+YAMADA&cvc=123"

func guarded(tb testing.TB, s risk.GuardSettings, bits int) *testEnv {
	tb.Helper()
	env := MustEnv(tb)
	db := env.svc.Store.(*sqlite.DB)
	// The merchants' limits over s, shared with the API (as cmd/checkoutd
	// wires them), so a merchant's change applies to its next payment.
	env.risk.Limits.Platform = s.RateLimits()
	g := &risk.Guard{Counters: db, Locks: db, Budget: db, Settings: s, Limits: env.risk.Limits}
	env.svc.Guard, env.svc.CardKeys = g, env.vault
	if bits > 0 {
		env.svc.Challenges, env.svc.ChallengeBits = g, bits
	}
	return env
}

// Every rate limit answers the page 429 with one localized message, and
// nothing reaches the issuer.
func TestPayRateLimitedPage(t *testing.T) {
	s := risk.DefaultGuardSettings()
	s.IP = risk.Limit{Max: 2, Window: time.Minute}
	env := guarded(t, s, 0)
	for range 2 {
		if w := env.pay(env.MustSession(t, "en"), declinedForm); w.Code != 402 {
			t.Fatalf("decline: %d %s", w.Code, w.Body)
		}
	}
	calls := env.auth.calls.Load()
	for _, lang := range []string{"en", "ja"} {
		w := env.pay(env.MustSession(t, lang), declinedForm)
		var m map[string]any
		json.Unmarshal(w.Body.Bytes(), &m)
		e, _ := m["error"].(map[string]any)
		want := map[string]string{"en": "Too many attempts. Please wait and try again.", "ja": "試行回数が多すぎます。しばらく待ってから、もう一度お試しください。"}[lang]
		if w.Code != 429 || e["code"] != "rate_limited" || e["message"] != want {
			t.Fatalf("%s over the limit: %d %s", lang, w.Code, w.Body)
		}
	}
	if env.auth.calls.Load() != calls {
		t.Fatal("a rate-limited payment reached the issuer")
	}
}

// After 2 failed attempts the page gets 428 with a challenge; a solved
// one goes through, once.
func TestPayChallengePage(t *testing.T) {
	env := guarded(t, risk.DefaultGuardSettings(), 6)
	id := env.MustSession(t, "en")
	for range 2 {
		if w := env.pay(id, declinedForm); w.Code != 402 {
			t.Fatalf("decline: %d %s", w.Code, w.Body)
		}
	}
	w := env.pay(id, declinedForm)
	var body struct {
		Error     struct{ Code string }
		Challenge checkout.Challenge
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 428 || body.Error.Code != "challenge_required" || body.Challenge.Nonce == "" || body.Challenge.Bits != 6 {
		t.Fatalf("third try: %d %s", w.Code, w.Body)
	}
	sol := ""
	for i := 0; sol == ""; i++ {
		c := strconv.Itoa(i)
		if checkout.LeadingZeroBits(sha256.Sum256([]byte(body.Challenge.Nonce+c))) >= 6 {
			sol = body.Challenge.Nonce + ":" + c
		}
	}
	if w := env.pay(id, declinedForm, "Checkout-PoW", sol); w.Code != 402 {
		t.Fatalf("with the solution: %d %s", w.Code, w.Body)
	}
	if w := env.pay(id, declinedForm, "Checkout-PoW", sol); w.Code != 428 {
		t.Fatalf("replayed solution: %d %s", w.Code, w.Body)
	}
}

// A locked card is answered exactly as a dead number's decline (status,
// headers, body), in the shopper's language: a lock exists only for a
// number the issuer knows, so any difference would tell a card tester
// which numbers are live. The issuer never hears of the locked card.
func TestPayLockedCardPage(t *testing.T) {
	env := guarded(t, risk.DefaultGuardSettings(), 0)
	db := env.svc.Store.(*sqlite.DB)
	now := time.Now()
	const live = "number=4242424242424242&expiry=12%2F40&name=TARO+YAMADA&cvc=123"
	if err := db.LockCard(t.Context(), env.vault.Fingerprint([]byte("4242424242424242")), now.Add(-time.Minute), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"en": "The card was declined. Check the details or use another card. If this keeps happening, contact your card issuer.",
		"ja": "このカードはご利用いただけませんでした。入力内容をご確認いただくか、別のカードをご利用ください。繰り返しご利用いただけない場合は、カード発行会社にお問い合わせください。",
	}
	for lang, msg := range want {
		locked := env.pay(env.MustSession(t, lang), live)
		calls := env.auth.calls.Load()
		dead := env.pay(env.MustSession(t, lang), declinedForm)
		if env.auth.calls.Load() != calls+1 {
			t.Fatalf("%s: the dead number did not reach the issuer", lang)
		}
		if e := decodeError(t, locked); locked.Code != 402 || e.Code != "card_declined" || e.Message != msg {
			t.Fatalf("%s, locked card: %d %s; want 402 card_declined %q", lang, locked.Code, locked.Body, msg)
		}
		if locked.Code != dead.Code || locked.Body.String() != dead.Body.String() {
			t.Fatalf("%s: locked card answers %d %s; a dead number %d %s", lang, locked.Code, locked.Body, dead.Code, dead.Body)
		}
		if l, d := sameHeaders(locked.Header()), sameHeaders(dead.Header()); !reflect.DeepEqual(l, d) {
			t.Fatalf("%s: locked card's headers %v; a dead number's %v", lang, l, d)
		}
	}
	if n := env.auth.calls.Load(); n != 2 {
		t.Fatalf("the issuer heard %d submissions; want the dead number's 2 only", n)
	}
}

// sameHeaders are a response's headers without the values that differ on
// every response whatever it says (the date, the CSP nonce).
func sameHeaders(h http.Header) http.Header {
	out := h.Clone()
	out.Del("Date")
	if csp := out.Get("Content-Security-Policy"); csp != "" {
		out.Set("Content-Security-Policy", nonceRE.ReplaceAllString(csp, "'nonce-*'"))
	}
	return out
}

var nonceRE = regexp.MustCompile(`'nonce-[^']*'`)
