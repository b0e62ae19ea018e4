package checkout_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlite"
	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

// harness is a Service on a real SQLite file and a real vault, with an
// Authorizer the test chooses (the sandbox issuer by default).
type harness struct {
	svc      *checkout.Service
	db       *sqlite.DB
	vault    *vault.Vault
	issuer   *sandbox.Issuer
	merchant checkout.Merchant
	jwks     *httptest.Server
}

func mustHarness(tb testing.TB) *harness {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "checkout.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	kek, _, err := vault.LoadOrCreateLocalKEK(filepath.Join(dir, "kek.key"))
	if err != nil {
		tb.Fatal(err)
	}
	v, err := vault.Open(ctx, vault.Options{Store: db, KEK: kek})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { v.Close() })
	h := &harness{db: db, vault: v, issuer: sandbox.New()}
	h.issuer.SlowResponse = 2 * time.Second
	h.jwks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := v.JWKSJSON()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write(body)
	}))
	tb.Cleanup(h.jwks.Close)
	h.svc = &checkout.Service{
		Store: db, Vault: v, Signer: v, Authorizer: h.issuer,
		Issuer: "https://checkout.test", AuthTimeout: 300 * time.Millisecond,
	}
	h.merchant, _, err = h.svc.CreateMerchant(ctx, "Tea Shop", []string{"https://shop.example"})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func (h *harness) mustSession(tb testing.TB) checkout.Session {
	tb.Helper()
	s, _, err := h.svc.CreateSession(context.Background(), h.merchant, "", checkout.SessionRequest{
		Amount: 1500, Currency: "JPY", OrderID: "order-1", SuccessURL: "https://shop.example/done",
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func payRequest(sessionID, number, cvc string) checkout.PayRequest {
	return checkout.PayRequest{SessionID: sessionID, Number: []byte(number), Expiry: "12/30", Holder: "TARO YAMADA", CVC: []byte(cvc)}
}

func (h *harness) verifier(tb testing.TB) *verify.Verifier {
	tb.Helper()
	v, err := verify.New(verify.Options{JWKSURL: h.jwks.URL, Issuer: "https://checkout.test", Audience: h.merchant.ID})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func TestPayEveryBrand(t *testing.T) {
	h := mustHarness(t)
	tests := []struct {
		number, cvc string
		brand       checkout.Brand
		last4       string
	}{
		{"4242 4242 4242 4242", "123", checkout.BrandVisa, "4242"},
		{"5555 5555 5555 4444", "123", checkout.BrandMastercard, "4444"},
		{"3530 1113 3330 0000", "123", checkout.BrandJCB, "0000"},
		{"3056 930902 0004", "123", checkout.BrandDiners, "0004"},
		{"3782 822463 10005", "1234", checkout.BrandAmex, "0005"},
	}
	for _, tt := range tests {
		t.Run(string(tt.brand), func(t *testing.T) {
			s := h.mustSession(t)
			res, err := h.svc.Pay(context.Background(), payRequest(s.ID, tt.number, tt.cvc))
			if err != nil {
				t.Fatal(err)
			}
			p := res.Payment
			if p.Brand != tt.brand || p.Last4 != tt.last4 || p.CVCCheck != checkout.CVCPass || p.Amount != 1500 || p.Status != checkout.PaymentSucceeded {
				t.Errorf("payment = %+v", p)
			}
			claims, err := h.verifier(t).Verify(context.Background(), res.Token)
			if err != nil {
				t.Fatalf("result does not verify: %v", err)
			}
			if claims.Subject != p.ID || claims.SessionID != s.ID || claims.Card.Token != p.CardToken || claims.CVCCheck != "pass" || claims.Card.Last4 != tt.last4 || claims.Amount != 1500 {
				t.Errorf("claims = %+v", claims)
			}
			got, _, err := h.svc.Session(context.Background(), h.merchant, s.ID)
			if err != nil || got.Status != checkout.SessionPaid || got.PaymentID != p.ID {
				t.Errorf("session after pay = %+v, %v", got, err)
			}
			revealed, err := h.vault.Reveal(context.Background(), p.CardToken)
			if err != nil || string(revealed) != digits(tt.number) {
				t.Errorf("vault does not hold the card under its token: %v", err)
			}
		})
	}
}

func digits(s string) string {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			out = append(out, s[i])
		}
	}
	return string(out)
}

func TestPayOutcomes(t *testing.T) {
	h := mustHarness(t)
	tests := []struct {
		name     string
		number   string
		cvc      string
		code     string // error code; empty: approved
		cvcCheck checkout.CVCCheck
	}{
		{"wrong code", sandbox.CardVisa, "999", checkout.EDECLINED, ""},
		{"declined", sandbox.CardDeclined, "123", checkout.EDECLINED, ""},
		{"insufficient funds", sandbox.CardInsufficient, "123", checkout.EDECLINED, ""},
		{"expired at issuer", sandbox.CardExpiredAtIssuer, "123", checkout.EDECLINED, ""},
		{"cvc mismatch", sandbox.CardCVCMismatch, "123", checkout.EDECLINED, ""},
		{"processing error", sandbox.CardProcessingError, "123", checkout.EUNAVAILABLE, ""},
		{"slow", sandbox.CardSlow, "123", checkout.ETIMEOUT, ""},
		{"X on a card with a code", sandbox.CardVisa, "X", checkout.EDECLINED, ""},
		{"X on a card without a code", sandbox.CardWithoutCode, "X", "", checkout.CVCCheckNone},
		{"I illegible", sandbox.CardVisa, "I", "", checkout.CVCCheckIlg},
		{"unlisted card", "4012888888881881", "456", "", checkout.CVCPass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := h.mustSession(t)
			res, err := h.svc.Pay(context.Background(), payRequest(s.ID, tt.number, tt.cvc))
			if got := checkout.ErrorCode(err); got != tt.code {
				t.Fatalf("error code = %q (%v), want %q", got, err, tt.code)
			}
			after, _, _ := h.svc.Session(context.Background(), h.merchant, s.ID)
			if tt.code != "" {
				if after.Status != checkout.SessionOpen || after.Attempts != 1 {
					t.Errorf("after a failed attempt the session is %s with %d attempts, want open with 1", after.Status, after.Attempts)
				}
				return
			}
			if res.Payment.CVCCheck != tt.cvcCheck || after.Status != checkout.SessionPaid {
				t.Errorf("cvc_check = %s, session %s", res.Payment.CVCCheck, after.Status)
			}
		})
	}
	// Every decline reason answers the same message: the page is no oracle.
	msgs := map[string]bool{}
	for _, number := range []string{sandbox.CardDeclined, sandbox.CardInsufficient, sandbox.CardCVCMismatch, sandbox.CardExpiredAtIssuer} {
		_, err := h.svc.Pay(context.Background(), payRequest(h.mustSession(t).ID, number, "123"))
		msgs[checkout.ErrorMessage(err)] = true
	}
	if len(msgs) != 1 {
		t.Errorf("decline messages differ by reason: %v", msgs)
	}
	// Only the three approved cases left a charge at the issuer.
	if st := h.issuer.Stats(); st.Charges != 3 {
		t.Errorf("issuer charges = %d, want 3 (%+v)", st.Charges, st)
	}
}

// The web layer hands Pay the checkout it read for the page's language;
// one of another session is refused, and pays nothing on either.
func TestPayTakesTheCallersCheckout(t *testing.T) {
	h := mustHarness(t)
	ctx := context.Background()
	a, b := h.mustSession(t), h.mustSession(t)
	coA, err := h.svc.OpenCheckout(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	wrong := payRequest(b.ID, "4242424242424242", "123")
	wrong.Checkout = &coA
	if _, err := h.svc.Pay(ctx, wrong); err == nil {
		t.Fatal("Pay with another session's checkout succeeded")
	}
	for _, id := range []string{a.ID, b.ID} {
		if co, err := h.svc.OpenCheckout(ctx, id); err != nil || co.Session.Status != checkout.SessionOpen {
			t.Fatalf("session %s after the refused submission: %+v, %v; want open", id, co.Session.Status, err)
		}
	}
	right := payRequest(a.ID, "4242424242424242", "123")
	right.Checkout = &coA
	res, err := h.svc.Pay(ctx, right)
	if err != nil {
		t.Fatal(err)
	}
	if res.Payment.SessionID != a.ID || res.Payment.Amount != a.Amount {
		t.Fatalf("payment = %+v; want session %s's amount %d", res.Payment, a.ID, a.Amount)
	}
}

func TestPayReportsEveryFieldError(t *testing.T) {
	h := mustHarness(t)
	s := h.mustSession(t)
	_, err := h.svc.Pay(context.Background(), checkout.PayRequest{SessionID: s.ID, Number: []byte("4242 4242 4242 4241"), Expiry: "13/30", Holder: "", CVC: []byte("12")})
	var e *checkout.Error
	if !errors.As(err, &e) || e.Code != checkout.EINVALID {
		t.Fatalf("err = %v", err)
	}
	fields := map[string]string{}
	for _, d := range e.Details {
		fields[d.Field] = d.MsgID
	}
	want := map[string]string{"number": "card.number.luhn", "expiry": "card.expiry.month", "name": "card.name.required", "cvc": "card.cvc.length_back"}
	for f, id := range want {
		if fields[f] != id {
			t.Errorf("field %s: msg %q, want %q (all: %v)", f, fields[f], id, fields)
		}
	}
	after, _, _ := h.svc.Session(context.Background(), h.merchant, s.ID)
	if after.Attempts != 0 {
		t.Errorf("an invalid form counted as an attempt")
	}
}

// recordingAuthorizer keeps the slice the Service passed as the security
// code, to check that it is zeroed once Authorize returns, and then behaves
// as told.
type recordingAuthorizer struct {
	behave func(ctx context.Context) (checkout.AuthResult, error)
	seen   []byte
	calls  int
	mu     sync.Mutex
}

func (a *recordingAuthorizer) Authorize(ctx context.Context, req *checkout.AuthRequest) (checkout.AuthResult, error) {
	a.mu.Lock()
	a.seen = req.CVC
	a.calls++
	a.mu.Unlock()
	return a.behave(ctx)
}

func (a *recordingAuthorizer) Reverse(context.Context, string) error        { return nil }
func (a *recordingAuthorizer) Capture(context.Context, string, int64) error { return nil }
func (a *recordingAuthorizer) Refund(context.Context, checkout.RefundOrder) (checkout.RefundAnswer, error) {
	return checkout.RefundAnswer{Status: checkout.RefundSucceeded}, nil
}

// PCI DSS 3.3.1.2: the security code is zeroed as soon as authorization
// returns, on every path.
func TestSecurityCodeZeroedOnEveryPath(t *testing.T) {
	paths := map[string]func(ctx context.Context) (checkout.AuthResult, error){
		"approved": func(context.Context) (checkout.AuthResult, error) {
			return checkout.AuthResult{Approved: true, CVCCheck: checkout.CVCPass}, nil
		},
		"declined": func(context.Context) (checkout.AuthResult, error) {
			return checkout.AuthResult{DeclineReason: checkout.DeclineIncorrectCVC, CVCCheck: checkout.CVCFail}, nil
		},
		"error": func(context.Context) (checkout.AuthResult, error) {
			return checkout.AuthResult{}, errors.New("issuer down")
		},
		"timeout": func(ctx context.Context) (checkout.AuthResult, error) {
			<-ctx.Done()
			return checkout.AuthResult{}, ctx.Err()
		},
		"panic": func(context.Context) (checkout.AuthResult, error) { panic("issuer client bug") },
	}
	for name, behave := range paths {
		t.Run(name, func(t *testing.T) {
			h := mustHarness(t)
			auth := &recordingAuthorizer{behave: behave}
			h.svc.Authorizer = auth
			s := h.mustSession(t)
			req := payRequest(s.ID, "4242424242424242", "987")
			cvc, number := req.CVC, req.Number
			_, err := h.svc.Pay(context.Background(), req)
			if name != "approved" && err == nil {
				t.Fatal("want an error")
			}
			if auth.calls != 1 || len(auth.seen) != 3 {
				t.Fatalf("authorizer saw %d calls, code of %d bytes", auth.calls, len(auth.seen))
			}
			for i, b := range auth.seen {
				if b != 0 {
					t.Fatalf("security code byte %d not zeroed after %s", i, name)
				}
			}
			if string(cvc) != "\x00\x00\x00" {
				t.Fatalf("the caller's security code buffer was not zeroed: %q", cvc)
			}
			for _, b := range number {
				if b != 0 {
					t.Fatalf("the caller's card number buffer was not zeroed")
				}
			}
		})
	}
}

// A double click, or two tabs, never pay twice.
func TestConcurrentSubmissionsPayOnce(t *testing.T) {
	h := mustHarness(t)
	s := h.mustSession(t)
	const n = 12
	var wg sync.WaitGroup
	results := make([]checkout.PayResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = h.svc.Pay(context.Background(), payRequest(s.ID, sandbox.CardVisa, "123"))
		}()
	}
	wg.Wait()
	paymentIDs := map[string]bool{}
	for i := range n {
		switch checkout.ErrorCode(errs[i]) {
		case "":
			paymentIDs[results[i].Payment.ID] = true
		case checkout.ECONFLICT:
		default:
			t.Errorf("submission %d: %v", i, errs[i])
		}
	}
	if len(paymentIDs) != 1 {
		t.Errorf("payments = %v, want exactly one", paymentIDs)
	}
	if st := h.issuer.Stats(); st.Charges != 1 {
		t.Errorf("issuer charged %d times", st.Charges)
	}
	// A retry after success answers the same payment without authorizing again.
	calls := h.issuer.Stats().Calls
	again, err := h.svc.Pay(context.Background(), payRequest(s.ID, sandbox.CardVisa, "123"))
	if err != nil || !paymentIDs[again.Payment.ID] || h.issuer.Stats().Calls != calls {
		t.Errorf("retry after success: %v, payment %s, calls %d -> %d", err, again.Payment.ID, calls, h.issuer.Stats().Calls)
	}
}

func TestPayExpiredSession(t *testing.T) {
	h := mustHarness(t)
	s := h.mustSession(t)
	h.svc.Now = func() time.Time { return s.ExpiresAt.Add(time.Second) }
	_, err := h.svc.Pay(context.Background(), payRequest(s.ID, sandbox.CardVisa, "123"))
	if checkout.ErrorCode(err) != checkout.EEXPIRED {
		t.Fatalf("err = %v", err)
	}
	if h.issuer.Stats().Calls != 0 {
		t.Fatal("an expired session reached the issuer")
	}
}

func TestCreateSessionIdempotency(t *testing.T) {
	h := mustHarness(t)
	ctx := context.Background()
	req := checkout.SessionRequest{Amount: 1500, Currency: "JPY", OrderID: "o-1", SuccessURL: "https://shop.example/done"}
	first, replayed, err := h.svc.CreateSession(ctx, h.merchant, "key-1", req)
	if err != nil || replayed {
		t.Fatalf("first: %v replayed=%v", err, replayed)
	}
	again, replayed, err := h.svc.CreateSession(ctx, h.merchant, "key-1", req)
	if err != nil || !replayed || again.ID != first.ID {
		t.Fatalf("replay: %v replayed=%v id %s vs %s", err, replayed, again.ID, first.ID)
	}
	req.Amount = 1600
	if _, _, err := h.svc.CreateSession(ctx, h.merchant, "key-1", req); checkout.ErrorCode(err) != checkout.EIDEMPOTENCY {
		t.Fatalf("other body: %v", err)
	}
	if _, _, err := h.svc.CreateSession(ctx, h.merchant, "key\n2", req); checkout.ErrorCode(err) != checkout.EINVALID {
		t.Fatalf("control character in key: %v", err)
	}
	other, _, err := h.svc.CreateMerchant(ctx, "Other", []string{"https://other.example"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.svc.Session(ctx, other, first.ID); checkout.ErrorCode(err) != checkout.ENOTFOUND {
		t.Fatalf("another merchant's session: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	h := mustHarness(t)
	ctx := context.Background()
	m, key, err := h.svc.CreateMerchant(ctx, "Keyed", []string{"https://keyed.example"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.svc.Authenticate(ctx, key)
	if err != nil || got.ID != m.ID {
		t.Fatalf("Authenticate(key) = %v, %v", got.ID, err)
	}
	for _, bad := range []string{"", key + "x", "sk_test_wrong"} {
		if _, err := h.svc.Authenticate(ctx, bad); checkout.ErrorCode(err) != checkout.EUNAUTHORIZED {
			t.Errorf("Authenticate(%q) = %v", bad, err)
		}
	}
}

// Issue 9, item 5: a paid session answers a double click with the same
// result id, and hands nothing to a submission that is not a valid card form.
func TestPaidSessionReissuesTheSameResult(t *testing.T) {
	h := mustHarness(t)
	s := h.mustSession(t)
	ctx := context.Background()
	first, err := h.svc.Pay(ctx, payRequest(s.ID, sandbox.CardVisa, "123"))
	if err != nil {
		t.Fatal(err)
	}
	v := h.verifier(t)
	firstClaims, err := v.Verify(ctx, first.Token)
	if err != nil {
		t.Fatal(err)
	}
	if firstClaims.ID != checkout.ResultID(first.Payment.ID) || firstClaims.Subject != first.Payment.ID {
		t.Fatalf("jti %q sub %q, want %q %q", firstClaims.ID, firstClaims.Subject, checkout.ResultID(first.Payment.ID), first.Payment.ID)
	}
	calls := h.issuer.Stats().Calls

	// A POST with the page's CSRF token and no card: a validation error, no token.
	for _, req := range []checkout.PayRequest{
		{SessionID: s.ID},
		payRequest(s.ID, "", "123"),
		payRequest(s.ID, sandbox.CardVisa, ""),
		payRequest(s.ID, "4242424242424241", "123"), // fails Luhn
	} {
		res, err := h.svc.Pay(ctx, req)
		if checkout.ErrorCode(err) != checkout.EINVALID || res.Token != "" {
			t.Errorf("%+v on a paid session: %v, token %q: want a validation error and no result", req, err, res.Token)
		}
	}
	// The double click: the same result id, no second authorization.
	again, err := h.svc.Pay(ctx, payRequest(s.ID, sandbox.CardVisa, "123"))
	if err != nil {
		t.Fatal(err)
	}
	againClaims, err := v.Verify(ctx, again.Token)
	if err != nil {
		t.Fatal(err)
	}
	if againClaims.ID != firstClaims.ID || againClaims.Subject != firstClaims.Subject {
		t.Errorf("re-issued result: jti %q sub %q, want %q %q", againClaims.ID, againClaims.Subject, firstClaims.ID, firstClaims.Subject)
	}
	if h.issuer.Stats().Calls != calls {
		t.Errorf("the issuer was called again")
	}
	if other := checkout.ResultID("pay_other"); other == firstClaims.ID {
		t.Errorf("two payments share a result id")
	}
}

// countingTokenizer counts the cards the Service stores.
type countingTokenizer struct {
	checkout.Tokenizer
	mu     sync.Mutex
	stored int
}

func (c *countingTokenizer) Tokenize(ctx context.Context, pan []byte, brand string, expMonth, expYear int) (vault.Card, error) {
	c.mu.Lock()
	c.stored++
	c.mu.Unlock()
	return c.Tokenizer.Tokenize(ctx, pan, brand, expMonth, expYear)
}

// Screening comes before the card is stored: a payment screened NG is
// declined without its number ever reaching the vault, and an OK one is
// stored once, under the fingerprint screening judged.
func TestScreenedNGCardIsNeverStored(t *testing.T) {
	h := mustHarness(t)
	ctx := context.Background()
	tok := &countingTokenizer{Tokenizer: h.vault}
	h.svc.Vault = tok
	h.svc.Screener = &risk.Screener{Settings: h.db, Counters: h.db, Lists: h.db}

	big, _, err := h.svc.CreateSession(ctx, h.merchant, "", checkout.SessionRequest{
		Amount: 2_500_000, Currency: "JPY", OrderID: "order-big", SuccessURL: "https://shop.example/done",
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.Pay(ctx, payRequest(big.ID, "4242424242424242", "123"))
	if checkout.ErrorCode(err) != checkout.EDECLINED {
		t.Fatalf("pay ¥2,500,000: %v; want declined by screening (amount.ng)", err)
	}
	attempts, err := h.svc.Attempts(ctx, h.merchant, big.ID)
	if err != nil || len(attempts) != 1 || attempts[0].Outcome != checkout.AttemptBlocked || attempts[0].CardToken != "" || attempts[0].Fingerprint == "" {
		t.Fatalf("attempts = %+v, %v; want one blocked, with a fingerprint and no card token", attempts, err)
	}
	if tok.stored != 0 {
		t.Fatalf("%d cards stored for a payment screened NG; want none", tok.stored)
	}

	res, err := h.svc.Pay(ctx, payRequest(h.mustSession(t).ID, "4242424242424242", "123"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.stored != 1 || res.Payment.Fingerprint != attempts[0].Fingerprint {
		t.Fatalf("stored %d cards, fingerprint %s; want 1 card under the screened fingerprint %s", tok.stored, res.Payment.Fingerprint, attempts[0].Fingerprint)
	}
}
