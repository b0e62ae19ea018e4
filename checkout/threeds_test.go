package checkout_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
)

func TestECIAndLiabilityShift(t *testing.T) {
	tests := []struct {
		brand  checkout.Brand
		status checkout.ThreeDSStatus
		eci    string
		shift  bool
	}{
		{checkout.BrandVisa, checkout.ThreeDSAuthenticated, "05", true},
		{checkout.BrandVisa, checkout.ThreeDSAttempted, "06", true},
		{checkout.BrandVisa, checkout.ThreeDSUnavailable, "07", false},
		{checkout.BrandAmex, checkout.ThreeDSAuthenticated, "05", true},
		{checkout.BrandJCB, checkout.ThreeDSFailed, "07", false},
		{checkout.BrandMastercard, checkout.ThreeDSAuthenticated, "02", true},
		{checkout.BrandMastercard, checkout.ThreeDSAttempted, "01", true},
		{checkout.BrandMastercard, checkout.ThreeDSRejected, "00", false},
		{checkout.BrandVisa, checkout.ThreeDSChallenge, "", false},
	}
	for _, tt := range tests {
		if got := checkout.ECI(tt.brand, tt.status); got != tt.eci {
			t.Errorf("ECI(%s, %s) = %q; want %q", tt.brand, tt.status, got, tt.eci)
		}
		if got := checkout.LiabilityShift(tt.status); got != tt.shift {
			t.Errorf("LiabilityShift(%s) = %v; want %v", tt.status, got, tt.shift)
		}
	}
}

// mustAuthenticating is the screened harness with the sandbox's 3-D Secure.
func mustAuthenticating(tb testing.TB, adjust func(*risk.Settings)) *screened {
	tb.Helper()
	s := mustScreened(tb, adjust)
	s.svc.Authenticator = sandbox.ACS{}
	return s
}

// shopper is a submission from its own IP and device, so that the
// velocity rules, which would otherwise see one shopper trying many cards,
// stay out of the way of the 3-D Secure under test.
var shopperN atomic.Int32

func shopper(sessionID, number string) checkout.PayRequest {
	n := shopperN.Add(1)
	cvc := "123"
	if number[:2] == "34" || number[:2] == "37" {
		cvc = "1234" // American Express: 4 digits on the front
	}
	req := payRequest(sessionID, number, cvc)
	req.ClientIP = netip.AddrFrom4([4]byte{198, 51, 100, byte(n)})
	req.DeviceID = fmt.Sprintf("dev_%026d", n)
	return req
}

func TestThreeDSFrictionless(t *testing.T) {
	s := mustAuthenticating(t, nil)
	tests := []struct {
		name   string
		number string
		status checkout.ThreeDSStatus
		eci    string
		shift  bool
	}{
		{"authenticated", sandbox.CardVisa, checkout.ThreeDSAuthenticated, "05", true},
		{"mastercard", sandbox.CardMastercard, checkout.ThreeDSAuthenticated, "02", true},
		{"attempted", sandbox.Card3DSAttempted, checkout.ThreeDSAttempted, "06", true},
		{"unavailable", sandbox.Card3DSUnavailable, checkout.ThreeDSUnavailable, "07", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.svc.Pay(context.Background(), shopper(s.mustSession(t).ID, tt.number))
			if err != nil || res.Action != nil {
				t.Fatalf("Pay: %v, action %+v", err, res.Action)
			}
			tds := res.Payment.ThreeDS
			if tds == nil || tds.Status != tt.status || tds.ECI != tt.eci || tds.LiabilityShift != tt.shift ||
				tds.Challenged || tds.ChallengeRequested || tds.Version != checkout.ThreeDSVersion || tds.AuthenticationID == "" {
				t.Fatalf("payment three_ds %+v", tds)
			}
			stored, err := s.svc.Payment(context.Background(), s.merchant, res.Payment.ID)
			if err != nil || stored.ThreeDS == nil || *stored.ThreeDS != *tds {
				t.Fatalf("stored three_ds %+v, %v; want %+v", stored.ThreeDS, err, tds)
			}
			claims, err := s.verifier(t).Verify(context.Background(), res.Token)
			if err != nil {
				t.Fatal(err)
			}
			if c := claims.ThreeDS; c == nil || c.Status != string(tt.status) || c.ECI != tt.eci || c.LiabilityShift != tt.shift {
				t.Fatalf("result three_ds %+v", c)
			}
		})
	}
}

// attempts are a session's attempts as the merchant sees them.
func (s *screened) attempts(tb testing.TB, sessionID string) []checkout.Attempt {
	tb.Helper()
	got, err := s.svc.Attempts(context.Background(), s.merchant, sessionID)
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

func TestThreeDSNotAuthenticatedIsBlocked(t *testing.T) {
	s := mustAuthenticating(t, nil)
	for _, tt := range []struct {
		number string
		status checkout.ThreeDSStatus
	}{{sandbox.Card3DSFailed, checkout.ThreeDSFailed}, {sandbox.Card3DSRejected, checkout.ThreeDSRejected}} {
		declined := declinedByIssuer(t, s)
		sess := s.mustSession(t)
		calls := s.issuer.Stats().Calls
		_, err := s.svc.Pay(context.Background(), shopper(sess.ID, tt.number))
		if checkout.ErrorCode(err) != checkout.EDECLINED || checkout.ErrorMessage(err) != checkout.ErrorMessage(declined) {
			t.Fatalf("%s: %v; want the decline's own message", tt.status, err)
		}
		if got := s.issuer.Stats().Calls; got != calls {
			t.Fatalf("%s: the issuer was asked to authorize", tt.status)
		}
		a := s.attempts(t, sess.ID)
		if len(a) != 1 || a[0].Outcome != checkout.AttemptBlocked || a[0].ThreeDS == nil || a[0].ThreeDS.Status != tt.status ||
			a[0].Risk == nil || a[0].Risk.Verdict != checkout.VerdictNG || !a[0].Risk.Has(checkout.RuleThreeDSFailed) {
			t.Fatalf("%s: attempts %+v", tt.status, a)
		}
	}
}

// declinedByIssuer is what the shopper sees for an issuer's decline.
func declinedByIssuer(tb testing.TB, s *screened) error {
	tb.Helper()
	_, err := s.svc.Pay(context.Background(), shopper(s.mustSession(tb).ID, sandbox.CardDeclined))
	return err
}

// challenged submits the challenge card and checks the submission ended
// with an action and authorized nothing.
func challenged(tb testing.TB, s *screened, sessionID, number string) *checkout.ThreeDSAction {
	tb.Helper()
	calls := s.issuer.Stats().Calls
	req := shopper(sessionID, number)
	cvc := req.CVC
	res, err := s.svc.Pay(context.Background(), req)
	if err != nil || res.Action == nil {
		tb.Fatalf("Pay: %v, action %+v; want a challenge", err, res.Action)
	}
	if res.Action.Width != 390 || res.Action.Height != 400 || res.Action.AuthenticationID == "" {
		tb.Fatalf("action %+v", res.Action)
	}
	if strings.Trim(string(cvc), "\x00") != "" {
		tb.Fatalf("the security code outlived the submission that met the challenge: %q", cvc)
	}
	if got := s.issuer.Stats().Calls; got != calls {
		tb.Fatal("a challenged submission reached the issuer's authorization")
	}
	return res.Action
}

func TestThreeDSChallengeThenPay(t *testing.T) {
	s := mustAuthenticating(t, nil)
	ctx := context.Background()
	sess := s.mustSession(t)
	action := challenged(t, s, sess.ID, sandbox.Card3DSChallenge)

	a := s.attempts(t, sess.ID)
	if len(a) != 1 || a[0].Outcome != checkout.AttemptAuthenticationRequired || a[0].ThreeDS == nil || a[0].ThreeDS.Status != checkout.ThreeDSChallenge {
		t.Fatalf("attempts after the challenge: %+v", a)
	}
	// The shopper sends the card again after answering: the challenged
	// submission stores none.
	if a[0].CardToken != "" {
		t.Fatalf("the challenged submission stored its card (%s)", a[0].CardToken)
	}
	after, _, _ := s.svc.Session(ctx, s.merchant, sess.ID)
	if after.Status != checkout.SessionOpen {
		t.Fatalf("session %s during the challenge; want open", after.Status)
	}
	// Sent again before the shopper answered: the same challenge again.
	req := shopper(sess.ID, sandbox.Card3DSChallenge)
	req.AuthenticationID = action.AuthenticationID
	if res, err := s.svc.Pay(ctx, req); err != nil || res.Action == nil || res.Action.AuthenticationID != action.AuthenticationID {
		t.Fatalf("unanswered: %v, %+v", err, res.Action)
	}

	got, err := s.svc.AnswerThreeDSChallenge(ctx, action.AuthenticationID, "000000", false)
	if err != nil || got.Status != checkout.ThreeDSChallenge || got.Failures != 1 {
		t.Fatalf("wrong code: %+v, %v", got, err)
	}
	got, err = s.svc.AnswerThreeDSChallenge(ctx, action.AuthenticationID, sandbox.ChallengeCode, false)
	if err != nil || got.Status != checkout.ThreeDSAuthenticated || got.ECI != "05" || got.Value == "" {
		t.Fatalf("right code: %+v, %v", got, err)
	}
	if _, err := s.svc.AnswerThreeDSChallenge(ctx, action.AuthenticationID, sandbox.ChallengeCode, false); checkout.ErrorCode(err) != checkout.ECONFLICT {
		t.Fatalf("answer to an answered challenge: %v; want conflict", err)
	}

	req = shopper(sess.ID, sandbox.Card3DSChallenge)
	req.AuthenticationID = action.AuthenticationID
	res, err := s.svc.Pay(ctx, req)
	if err != nil || res.Action != nil {
		t.Fatalf("Pay after the challenge: %v, %+v", err, res.Action)
	}
	tds := res.Payment.ThreeDS
	if tds == nil || tds.AuthenticationID != action.AuthenticationID || tds.Status != checkout.ThreeDSAuthenticated ||
		tds.ECI != "05" || !tds.Challenged || !tds.LiabilityShift {
		t.Fatalf("payment three_ds %+v", tds)
	}
	claims, err := s.verifier(t).Verify(ctx, res.Token)
	if err != nil || claims.ThreeDS == nil || !claims.ThreeDS.Challenged || !claims.ThreeDS.LiabilityShift {
		t.Fatalf("result three_ds %+v, %v", claims.ThreeDS, err)
	}
	// Three attempts: the challenge, the early resend, the payment.
	stored, err := s.db.Authentication(ctx, action.AuthenticationID)
	if err != nil || stored.UsedBy != 3 || stored.Value != "" {
		t.Fatalf("stored authentication after use: %+v, %v; want used by attempt 3, value cleared", stored, err)
	}
}

func TestThreeDSChallengeFailsAfterThreeWrongCodes(t *testing.T) {
	s := mustAuthenticating(t, nil)
	ctx := context.Background()
	sess := s.mustSession(t)
	action := challenged(t, s, sess.ID, sandbox.Card3DSChallengeMastercard)
	var got checkout.Authentication
	var err error
	for i := 1; i <= checkout.MaxThreeDSFailures; i++ {
		if got, err = s.svc.AnswerThreeDSChallenge(ctx, action.AuthenticationID, "111111", false); err != nil {
			t.Fatal(err)
		}
	}
	if got.Status != checkout.ThreeDSFailed || got.ECI != "00" || got.Failures != checkout.MaxThreeDSFailures {
		t.Fatalf("after %d wrong codes: %+v; want N, ECI 00", checkout.MaxThreeDSFailures, got)
	}
	calls := s.issuer.Stats().Calls
	req := shopper(sess.ID, sandbox.Card3DSChallengeMastercard)
	req.AuthenticationID = action.AuthenticationID
	if _, err := s.svc.Pay(ctx, req); checkout.ErrorCode(err) != checkout.EDECLINED {
		t.Fatalf("Pay with a failed authentication: %v; want declined", err)
	}
	if s.issuer.Stats().Calls != calls {
		t.Fatal("a payment whose shopper failed the challenge reached the issuer")
	}
	// The failed authentication is spent: the next submission is challenged afresh.
	req = shopper(sess.ID, sandbox.Card3DSChallengeMastercard)
	req.AuthenticationID = action.AuthenticationID
	res, err := s.svc.Pay(ctx, req)
	if err != nil || res.Action == nil || res.Action.AuthenticationID == action.AuthenticationID {
		t.Fatalf("after a failed challenge: %v, %+v; want a new challenge", err, res.Action)
	}
}

func TestThreeDSChallengeCancelAndExpiry(t *testing.T) {
	s := mustAuthenticating(t, nil)
	ctx := context.Background()
	action := challenged(t, s, s.mustSession(t).ID, sandbox.Card3DSChallengeAmex)
	got, err := s.svc.AnswerThreeDSChallenge(ctx, action.AuthenticationID, "", true)
	if err != nil || got.Status != checkout.ThreeDSFailed || got.ECI != "07" {
		t.Fatalf("cancel: %+v, %v; want N", got, err)
	}

	action = challenged(t, s, s.mustSession(t).ID, sandbox.Card3DSChallenge)
	s.svc.Now = func() time.Time { return time.Now().Add(checkout.ThreeDSChallengeTTL + time.Second) }
	defer func() { s.svc.Now = nil }()
	if _, err := s.svc.AnswerThreeDSChallenge(ctx, action.AuthenticationID, sandbox.ChallengeCode, false); checkout.ErrorCode(err) != checkout.ECONFLICT {
		t.Fatalf("answer to an expired challenge: %v; want conflict", err)
	}
	if _, err := s.svc.AnswerThreeDSChallenge(ctx, "3ds_nosuchauthenticationxxxxx", "1", false); checkout.ErrorCode(err) != checkout.ENOTFOUND {
		t.Fatalf("unknown authentication: %v; want not found", err)
	}
}

func TestThreeDSAuthenticationIsBoundToItsCardAndSession(t *testing.T) {
	s := mustAuthenticating(t, nil)
	ctx := context.Background()
	sess := s.mustSession(t)
	action := challenged(t, s, sess.ID, sandbox.Card3DSChallenge)
	if _, err := s.svc.AnswerThreeDSChallenge(ctx, action.AuthenticationID, sandbox.ChallengeCode, false); err != nil {
		t.Fatal(err)
	}
	// Another session cannot use it: it is challenged on its own.
	other := s.mustSession(t)
	req := shopper(other.ID, sandbox.Card3DSChallenge)
	req.AuthenticationID = action.AuthenticationID
	if res, err := s.svc.Pay(ctx, req); err != nil || res.Action == nil || res.Action.AuthenticationID == action.AuthenticationID {
		t.Fatalf("another session with the authentication: %v, %+v; want its own challenge", err, res.Action)
	}
	// Another card in the same session authenticates afresh (frictionless).
	req = shopper(sess.ID, sandbox.CardVisa)
	req.AuthenticationID = action.AuthenticationID
	res, err := s.svc.Pay(ctx, req)
	if err != nil || res.Payment.ThreeDS == nil || res.Payment.ThreeDS.AuthenticationID == action.AuthenticationID || res.Payment.ThreeDS.Challenged {
		t.Fatalf("another card with the authentication: %v, %+v", err, res.Payment.ThreeDS)
	}
	if stored, err := s.db.Authentication(ctx, action.AuthenticationID); err != nil || stored.UsedBy != 0 {
		t.Fatalf("the authentication of another card was used: %+v, %v", stored, err)
	}
}

func TestScreeningRequestsAChallenge(t *testing.T) {
	// challenge_score 0: every payment is challenged, even a card the
	// issuer would have let through frictionless.
	s := mustAuthenticating(t, func(st *risk.Settings) { st.ChallengeScore = 0 })
	ctx := context.Background()
	sess := s.mustSession(t)
	action := challenged(t, s, sess.ID, sandbox.CardVisa)
	if _, err := s.svc.AnswerThreeDSChallenge(ctx, action.AuthenticationID, sandbox.ChallengeCode, false); err != nil {
		t.Fatal(err)
	}
	req := shopper(sess.ID, sandbox.CardVisa)
	req.AuthenticationID = action.AuthenticationID
	res, err := s.svc.Pay(ctx, req)
	if err != nil || res.Payment.ThreeDS == nil || !res.Payment.ThreeDS.ChallengeRequested || !res.Payment.ThreeDS.Challenged {
		t.Fatalf("Pay: %v, three_ds %+v; want challenge_requested and challenged", err, res.Payment.ThreeDS)
	}
	if res.Payment.Risk == nil || !res.Payment.Risk.ThreeDSChallenge {
		t.Fatalf("risk %+v; want three_ds_challenge", res.Payment.Risk)
	}
}

func TestThreeDSAnswerWithoutAuthenticator(t *testing.T) {
	h := mustHarness(t)
	if _, err := h.svc.AnswerThreeDSChallenge(context.Background(), "3ds_x", "123456", false); checkout.ErrorCode(err) != checkout.ENOTFOUND {
		t.Fatalf("%v; want not found", err)
	}
	res, err := h.svc.Pay(context.Background(), payRequest(h.mustSession(t).ID, sandbox.Card3DSChallenge, "123"))
	if err != nil || res.Action != nil || res.Payment.ThreeDS != nil {
		t.Fatalf("without an Authenticator: %v, %+v, %+v; want paid without 3-D Secure", err, res.Action, res.Payment.ThreeDS)
	}
}

func TestFraudReasonCode(t *testing.T) {
	for code, want := range map[string]bool{
		"10.4": true, "10.1": true, "10.5": true, "10.6": false, "10.": false, "13.1": false,
		"4837": true, "4863": true, "4853": false, "F29": true, "fr2": true, "C08": false, "": false,
	} {
		if got := checkout.FraudReasonCode(code); got != want {
			t.Errorf("FraudReasonCode(%q) = %v; want %v", code, got, want)
		}
	}
}
