package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

// The customers API: created, read, listed a page at a time, deleted, and
// never another merchant's; saved cards listed with no more of a card
// than a payment shows, and deleted.
func TestCustomersAPI(t *testing.T) {
	env := MustEnv(t)
	w, created := env.api(t, env.key, "POST", "/v1/customers", `{"reference": "user-1", "email": "taro@example.jp", "name": "山田 太郎"}`)
	if w.Code != 201 || created["object"] != "customer" || created["reference"] != "user-1" || created["name"] != "山田 太郎" {
		t.Fatalf("create: %d %v", w.Code, created)
	}
	id := created["id"].(string)
	for _, tc := range []struct{ body, code, field string }{
		{`{"reference": "user-1"}`, "conflict", "reference"},
		{`{"reference": "user 1"}`, "invalid", "reference"},
		{`{"email": "nobody"}`, "invalid", "email"},
		{`{"name": "4242 4242 4242 4242"}`, "invalid", "name"},
		{`{"card": "4242424242424242"}`, "invalid", "card"},
	} {
		w, got := env.api(t, env.key, "POST", "/v1/customers", tc.body)
		e, _ := got["error"].(map[string]any)
		if e["code"] != tc.code || e["field"] != tc.field || strings.Contains(w.Body.String(), "4242") {
			t.Errorf("%s: %d %v; want %s on %s", tc.body, w.Code, got, tc.code, tc.field)
		}
	}
	if w, got := env.api(t, env.key, "GET", "/v1/customers/"+id, ""); w.Code != 200 || got["id"] != id {
		t.Fatalf("get: %d %v", w.Code, got)
	}
	if w, _ := env.api(t, env.otherKey, "GET", "/v1/customers/"+id, ""); w.Code != 404 {
		t.Fatalf("another merchant reads it: %d", w.Code)
	}
	if w, _ := env.api(t, env.otherKey, "DELETE", "/v1/customers/"+id, ""); w.Code != 404 {
		t.Fatalf("another merchant deletes it: %d", w.Code)
	}

	for range 2 {
		if w, got := env.api(t, env.key, "POST", "/v1/customers", `{}`); w.Code != 201 || got["reference"] != nil {
			t.Fatalf("create without reference: %d %v", w.Code, got)
		}
	}
	seen := map[string]bool{}
	for after, pages := "", 0; ; pages++ {
		w, page := env.api(t, env.key, "GET", "/v1/customers?limit=2&after="+after, "")
		if w.Code != 200 || pages > 3 {
			t.Fatalf("list: %d %v", w.Code, page)
		}
		for _, d := range page["data"].([]any) {
			seen[d.(map[string]any)["id"].(string)] = true
		}
		next, _ := page["next"].(string)
		if next == "" {
			break
		}
		after = next
	}
	if len(seen) != 3 || !seen[id] {
		t.Fatalf("listed %v; want the 3 customers", seen)
	}
	if w, got := env.api(t, env.key, "GET", "/v1/customers?after=%00", ""); w.Code != 400 {
		t.Fatalf("a cursor that is no id: %d %v", w.Code, got)
	}

	// A saved card (saved by a payment, which this API does not make).
	saved := env.mustSavedCard(t, id)
	w, cards := env.api(t, env.key, "GET", "/v1/customers/"+id+"/cards", "")
	data, _ := cards["data"].([]any)
	if w.Code != 200 || len(data) != 1 {
		t.Fatalf("cards: %d %v", w.Code, cards)
	}
	sameJSONValue(t, "a saved card", data[0], `{"id": "`+saved.ID+`", "object": "saved_card", "customer": "`+id+`", "brand": "visa", "last4": "4242",
		"exp_month": 12, "exp_year": 2030, "fingerprint": "`+saved.Fingerprint+`", "created_at": "`+timeJSON(saved.CreatedAt)+`", "last_used_at": null}`)
	// The page of a session for the customer lists the card: brand, last
	// 4 and expiry, never its token or fingerprint.
	_, sess := env.api(t, env.key, "POST", "/v1/sessions", `{"amount": 1500, "currency": "JPY", "order_id": "o-1",
		"success_url": "https://shop.example/done", "customer": "`+id+`"}`)
	page := env.do("GET", "/pay/"+sess["id"].(string), "").Body.String()
	if !strings.Contains(page, "Visa •••• 4242") || !strings.Contains(page, "12/30") || !strings.Contains(page, `"saved_cards":[{"id":"`+saved.ID+`"`) ||
		strings.Contains(page, saved.CardToken) || strings.Contains(page, saved.Fingerprint) {
		t.Fatalf("the page's saved cards: %s", page)
	}
	if w, _ := env.api(t, env.otherKey, "GET", "/v1/customers/"+id+"/cards", ""); w.Code != 404 {
		t.Fatalf("another merchant lists the cards: %d", w.Code)
	}
	if w, got := env.api(t, env.key, "DELETE", "/v1/customers/"+id+"/cards/"+saved.ID, ""); w.Code != 200 || got["deleted"] != true {
		t.Fatalf("delete the card: %d %v", w.Code, got)
	}
	if w, _ := env.api(t, env.key, "DELETE", "/v1/customers/"+id+"/cards/"+saved.ID, ""); w.Code != 404 {
		t.Fatalf("delete it again: %d", w.Code)
	}
	if w, got := env.api(t, env.key, "DELETE", "/v1/customers/"+id, ""); w.Code != 200 || got["deleted"] != true {
		t.Fatalf("delete the customer: %d %v", w.Code, got)
	}
	if w, _ := env.api(t, env.key, "GET", "/v1/customers/"+id, ""); w.Code != 404 {
		t.Fatalf("a deleted customer: %d", w.Code)
	}
}

// POST /v1/payments charges a saved card: 201 with the payment and its
// signed result, 200 and Idempotent-Replayed for the same key, 400
// without a key, 402 with the issuer's reason.
func TestChargeAPI(t *testing.T) {
	env := MustEnv(t)
	_, cus := env.api(t, env.key, "POST", "/v1/customers", `{}`)
	id := cus["id"].(string)
	env.mustSavedCard(t, id)
	body := `{"customer": "` + id + `", "amount": 980, "currency": "JPY", "order_id": "sub-1", "reason": "recurring"}`
	w := env.do("POST", "/v1/payments", body, "Authorization", "Bearer "+env.key, "Content-Type", "application/json")
	if w.Code != 400 || !strings.Contains(w.Body.String(), "Idempotency-Key") {
		t.Fatalf("without a key: %d %s", w.Code, w.Body)
	}
	charge := func() (int, string, map[string]any) {
		w := env.do("POST", "/v1/payments", body, "Authorization", "Bearer "+env.key, "Content-Type", "application/json", "Idempotency-Key", "sub-1")
		var got map[string]any
		json.Unmarshal(w.Body.Bytes(), &got)
		return w.Code, w.Header().Get("Idempotent-Replayed"), got
	}
	code, replayed, got := charge()
	if code != 201 || replayed != "" || got["object"] != "payment" || got["initiator"] != "merchant" || got["reason"] != "recurring" ||
		got["status"] != "succeeded" || got["result"] == "" {
		t.Fatalf("charge: %d %v", code, got)
	}
	code, replayed, again := charge()
	if code != 200 || replayed != "true" || again["id"] != got["id"] {
		t.Fatalf("the same key again: %d %s %v", code, replayed, again)
	}
	if n := env.auth.calls.Load(); n != 1 {
		t.Fatalf("the issuer was asked %d times; want once", n)
	}
	// A charge has no page: its session cannot be opened or paid by a shopper.
	session := got["session_id"].(string)
	if w := env.do("GET", "/pay/"+session, ""); w.Code != 404 {
		t.Fatalf("the charge's page: %d", w.Code)
	}
	if w := env.pay(session, "number=4242424242424242&expiry=12%2F40&name=TARO&cvc=123"); w.Code != 404 {
		t.Fatalf("a card sent to the charge's session: %d %s", w.Code, w.Body)
	}
}

// The shopper removes a saved card from the page: only from the session's
// own page, only the session's customer's card; its number is erased.
func TestShopperRemovesASavedCard(t *testing.T) {
	env := MustEnv(t)
	ctx := context.Background()
	customer := func() string {
		_, c := env.api(t, env.key, "POST", "/v1/customers", `{}`)
		return c["id"].(string)
	}
	mine, theirs := customer(), customer()
	card, strangers := env.mustSavedCard(t, mine), env.mustSavedCard(t, theirs)
	_, sess := env.api(t, env.key, "POST", "/v1/sessions", `{"amount": 1500, "currency": "JPY", "order_id": "o-1",
		"success_url": "https://shop.example/done", "customer": "`+mine+`"}`)
	id := sess["id"].(string)
	remove := func(cardID string, headers ...string) int {
		h := append([]string{"Origin", testBase, "X-CSRF-Token", env.csrf(id)}, headers...)
		return env.do("POST", "/pay/"+id+"/saved_cards/"+cardID+"/remove", "", h...).Code
	}
	if code := remove(card.ID, "X-CSRF-Token", ""); code != 403 {
		t.Fatalf("without the page's token: %d", code)
	}
	if code := remove(strangers.ID); code != 400 {
		t.Fatalf("another customer's card: %d", code)
	}
	if code := remove("tok_notacard"); code != 400 {
		t.Fatalf("not a card id: %d", code)
	}
	if code := remove(card.ID); code != 200 {
		t.Fatalf("remove: %d", code)
	}
	if _, err := env.vault.Reveal(ctx, card.CardToken); !errors.Is(err, vault.ErrErased) {
		t.Fatalf("the removed card's number: %v; want erased", err)
	}
	if _, err := env.vault.Reveal(ctx, strangers.CardToken); err != nil {
		t.Fatalf("the other customer's card: %v", err)
	}
	if code := remove(card.ID); code != 400 {
		t.Fatalf("remove again: %d", code)
	}
}

// The account updater's route takes the processor's key, never a
// merchant's, and answers how many saved cards took the new expiry.
func TestAccountUpdaterRoute(t *testing.T) {
	e := mustFraudEnv(t)
	_, cus := e.call(t, e.key, "POST", "/v1/customers", `{}`)
	card := e.mustSavedCard(t, cus["id"].(string))
	path := "/v1/processor/cards/" + card.CardToken + "/updates"
	body := fmt.Sprintf(`{"exp_month": 4, "exp_year": %d}`, time.Now().Year()+5)
	if status, _ := e.call(t, e.key, "POST", path, body); status != 401 {
		t.Fatalf("a merchant's key: %d; want 401", status)
	}
	if status, got := e.call(t, e.processorKey, "POST", path, body); status != 200 || got["updated"] != 1.0 {
		t.Fatalf("the processor's notice: %d %v", status, got)
	}
	if status, got := e.call(t, e.processorKey, "POST", path, `{"exp_month": 13, "exp_year": 2031}`); status != 400 {
		t.Fatalf("a bad expiry: %d %v", status, got)
	}
	_, cards := e.call(t, e.key, "GET", "/v1/customers/"+cus["id"].(string)+"/cards", "")
	if c := cards["data"].([]any)[0].(map[string]any); c["exp_month"] != 4.0 {
		t.Fatalf("the saved card after: %v", c)
	}
}

// mustSavedCard saves a Visa for the customer as a payment would (the
// number in the vault, the saved card referring to it by token).
func (e *testEnv) mustSavedCard(tb testing.TB, customerID string) checkout.SavedCard {
	tb.Helper()
	ctx := context.Background()
	card, err := e.vault.Tokenize(ctx, []byte("4242424242424242"), "visa", 12, 2030)
	if err != nil {
		tb.Fatal(err)
	}
	saved, _, err := e.svc.Store.SaveCard(ctx, checkout.SavedCard{ID: checkout.NewID("card"), CustomerID: customerID, CardToken: card.Token,
		Fingerprint: card.Fingerprint, Brand: checkout.BrandVisa, Last4: card.Last4, ExpMonth: 12, ExpYear: 2030,
		Consent: checkout.Consent{Text: "saved", Locale: "en", At: time.Now()}, InitialPaymentID: "pay_first", CreatedAt: time.Now()})
	if err != nil {
		tb.Fatal(err)
	}
	return saved
}
