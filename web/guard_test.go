package web

import (
	"crypto/sha256"
	"encoding/json"
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
	g := &risk.Guard{Counters: db, Locks: db, Settings: s}
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

// A locked card gets a decline with a message of its own, in the
// shopper's language, that names no threshold; the issuer never hears of it.
func TestPayLockedCardPage(t *testing.T) {
	env := guarded(t, risk.DefaultGuardSettings(), 0)
	db := env.svc.Store.(*sqlite.DB)
	now := time.Now()
	if err := db.LockCard(t.Context(), env.vault.Fingerprint([]byte("4000000000000002")), now.Add(-time.Minute), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"en": "This card can't be used right now because of too many unsuccessful attempts. Please use another card, or contact your card issuer.",
		"ja": "ご利用に失敗した回数が多いため、このカードは現在ご利用いただけません。別のカードをご利用いただくか、カード発行会社にお問い合わせください。",
	}
	for lang, msg := range want {
		w := env.pay(env.MustSession(t, lang), declinedForm)
		var m map[string]any
		json.Unmarshal(w.Body.Bytes(), &m)
		e, _ := m["error"].(map[string]any)
		if w.Code != 402 || e["code"] != "card_declined" || e["message"] != msg {
			t.Fatalf("%s, locked card: %d %s", lang, w.Code, w.Body)
		}
	}
	if n := env.auth.calls.Load(); n != 0 {
		t.Fatalf("a locked card reached the issuer %d times", n)
	}
}
