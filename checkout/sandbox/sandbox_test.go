package sandbox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

func mustRequest(tb testing.TB, key, number, cvc string) *checkout.AuthRequest {
	tb.Helper()
	pan, err := checkout.ParsePAN([]byte(number))
	if err != nil {
		tb.Fatal(err)
	}
	presence, err := checkout.CheckSecurityCode([]byte(cvc), pan.Brand())
	if err != nil {
		tb.Fatal(err)
	}
	req := &checkout.AuthRequest{Key: key, Amount: 100, Currency: "JPY", PAN: pan, CVCPresence: presence}
	if presence == checkout.CVCProvided {
		req.CVC = []byte(cvc)
	}
	return req
}

func TestAuthorizeTestCards(t *testing.T) {
	tests := []struct {
		number, cvc string
		approved    bool
		reason      string
		check       checkout.CVCCheck
	}{
		{CardVisa, "123", true, "", checkout.CVCPass},
		{CardVisa, "124", false, checkout.DeclineIncorrectCVC, checkout.CVCFail},
		{CardMastercard, "123", true, "", checkout.CVCPass},
		{CardJCB, "123", true, "", checkout.CVCPass},
		{CardDiners, "123", true, "", checkout.CVCPass},
		{CardAmex, "1234", true, "", checkout.CVCPass},
		{CardAmex, "4321", false, checkout.DeclineIncorrectCVC, checkout.CVCFail},
		{CardDeclined, "123", false, checkout.DeclineGeneric, checkout.CVCPass},
		{CardInsufficient, "123", false, checkout.DeclineInsufficientFunds, checkout.CVCPass},
		{CardExpiredAtIssuer, "123", false, checkout.DeclineExpiredCard, checkout.CVCPass},
		{CardCVCMismatch, "123", false, checkout.DeclineIncorrectCVC, checkout.CVCFail},
		{CardWithoutCode, "X", true, "", checkout.CVCCheckNone},
		{CardVisa, "X", false, checkout.DeclineCVCRequired, checkout.CVCCheckNone},
		{CardVisa, "I", true, "", checkout.CVCCheckIlg},
		{"4012888888881881", "777", true, "", checkout.CVCPass},
	}
	s := New()
	for i, tt := range tests {
		got, err := s.Authorize(context.Background(), mustRequest(t, string(rune('a'+i)), tt.number, tt.cvc))
		if err != nil {
			t.Fatalf("%s/%s: %v", tt.number, tt.cvc, err)
		}
		if got.Approved != tt.approved || got.DeclineReason != tt.reason || got.CVCCheck != tt.check {
			t.Errorf("%s/%s = %+v, want approved=%v reason=%q check=%q", tt.number, tt.cvc, got, tt.approved, tt.reason, tt.check)
		}
	}
}

func TestAuthorizeErrors(t *testing.T) {
	s := New()
	if _, err := s.Authorize(context.Background(), mustRequest(t, "e", CardProcessingError, "123")); !errors.Is(err, ErrProcessing) {
		t.Errorf("processing error card: %v", err)
	}
	s.SlowResponse = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Authorize(ctx, mustRequest(t, "slow", CardSlow, "123")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow card past deadline: %v", err)
	}
}

func TestAuthorizeIdempotentByKey(t *testing.T) {
	s := New()
	first, _ := s.Authorize(context.Background(), mustRequest(t, "k1", CardVisa, "123"))
	again, _ := s.Authorize(context.Background(), mustRequest(t, "k1", CardVisa, "123"))
	if first.AuthCode != again.AuthCode || s.Stats().Charges != 1 || s.Stats().Calls != 2 {
		t.Fatalf("replay charged again: %+v %+v %+v", first, again, s.Stats())
	}
	if err := s.Reverse(context.Background(), "k1"); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Charges != 0 || st.Reversed != 1 {
		t.Fatalf("after reversal: %+v", st)
	}
	if err := s.Reverse(context.Background(), "never-seen"); err != nil {
		t.Fatalf("reversing an unknown key: %v", err)
	}
}

// A capture is taken once per authorization: the same amount again answers
// as the first, another is a conflict; a declined or reversed
// authorization has nothing to capture; a sale is captured with its
// approval.
func TestCapture(t *testing.T) {
	ctx := context.Background()
	s := New()
	if _, err := s.Authorize(ctx, mustRequest(t, "k1", CardVisa, CorrectCode)); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Captured("k1"); ok {
		t.Fatal("an authorization without Capture was captured")
	}
	if err := s.Capture(ctx, "k1", 60); err != nil {
		t.Fatal(err)
	}
	if err := s.Capture(ctx, "k1", 60); err != nil {
		t.Fatalf("the same capture again: %v", err)
	}
	if err := s.Capture(ctx, "k1", 70); !errors.Is(err, checkout.ErrCaptureConflict) {
		t.Fatalf("another amount: %v; want ErrCaptureConflict", err)
	}
	if amount, ok := s.Captured("k1"); !ok || amount != 60 {
		t.Fatalf("captured %d, %v; want 60", amount, ok)
	}

	if _, err := s.Authorize(ctx, mustRequest(t, "k2", CardDeclined, CorrectCode)); err != nil {
		t.Fatal(err)
	}
	if err := s.Capture(ctx, "k2", 100); !errors.Is(err, checkout.ErrNotAuthorized) {
		t.Fatalf("capture of a decline: %v; want ErrNotAuthorized", err)
	}
	if _, err := s.Authorize(ctx, mustRequest(t, "k3", CardVisa, CorrectCode)); err != nil {
		t.Fatal(err)
	}
	s.Reverse(ctx, "k3")
	if err := s.Capture(ctx, "k3", 100); !errors.Is(err, checkout.ErrNotAuthorized) {
		t.Fatalf("capture of a reversal: %v; want ErrNotAuthorized", err)
	}
	// Another instance's authorization: this sandbox cannot know it.
	if err := s.Capture(ctx, "elsewhere", 100); err != nil {
		t.Fatalf("capture of another instance's authorization: %v", err)
	}

	sale := mustRequest(t, "k4", CardVisa, CorrectCode)
	sale.Capture = true
	if _, err := s.Authorize(ctx, sale); err != nil {
		t.Fatal(err)
	}
	if amount, ok := s.Captured("k4"); !ok || amount != sale.Amount {
		t.Fatalf("sale captured %d, %v; want %d with the approval", amount, ok, sale.Amount)
	}
}

// Approval codes hold no digit a sentinel security code is made of (0, 1,
// 8, 9): stored beside everything else, a code in one would read as a leak.
func TestAuthCodesHoldNoCodeDigits(t *testing.T) {
	for range 200 {
		c := authCode()
		if len(c) != 6 || strings.ContainsAny(c, "0189") || strings.Trim(c, authCodeAlphabet) != "" {
			t.Fatalf("approval code %q; want 6 of %s", c, authCodeAlphabet)
		}
	}
}
