package sandbox

import (
	"context"
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

func TestACSAuthenticatesTestCards(t *testing.T) {
	tests := []struct {
		number    string
		requested bool // the requestor mandates a challenge
		status    checkout.ThreeDSStatus
		eci       string
	}{
		{CardVisa, false, checkout.ThreeDSAuthenticated, "05"},
		{CardVisa, true, checkout.ThreeDSChallenge, ""},
		{CardMastercard, false, checkout.ThreeDSAuthenticated, "02"},
		{Card3DSChallenge, false, checkout.ThreeDSChallenge, ""},
		{Card3DSChallengeMastercard, false, checkout.ThreeDSChallenge, ""},
		{Card3DSChallengeAmex, false, checkout.ThreeDSChallenge, ""},
		{Card3DSAttempted, false, checkout.ThreeDSAttempted, "06"},
		{Card3DSAttempted, true, checkout.ThreeDSAttempted, "06"}, // the issuer cannot challenge: it says so
		{Card3DSUnavailable, true, checkout.ThreeDSUnavailable, "07"},
		{Card3DSFailed, false, checkout.ThreeDSFailed, "07"},
		{Card3DSRejected, false, checkout.ThreeDSRejected, "07"},
	}
	for _, tt := range tests {
		pan, err := checkout.ParsePAN([]byte(tt.number))
		if err != nil {
			t.Fatal(err)
		}
		ans, err := ACS{}.Authenticate(context.Background(), &checkout.ThreeDSRequest{ID: "3ds_t", PAN: pan, ChallengeRequested: tt.requested})
		if err != nil || ans.Status != tt.status || ans.ECI != tt.eci || ans.ACSTransID == "" {
			t.Errorf("%s (challenge requested %v): %+v, %v; want %s ECI %q", tt.number, tt.requested, ans, err, tt.status, tt.eci)
		}
		if shifts := ans.Value != ""; shifts != checkout.LiabilityShift(tt.status) {
			t.Errorf("%s: authentication value %q for status %s", tt.number, ans.Value, tt.status)
		}
	}
}

func TestACSChallengeCode(t *testing.T) {
	a := checkout.Authentication{ID: "3ds_t", Brand: checkout.BrandAmex, ACSTransID: "acs_t", Status: checkout.ThreeDSChallenge}
	for code, want := range map[string]checkout.ThreeDSStatus{
		ChallengeCode: checkout.ThreeDSAuthenticated, "123457": checkout.ThreeDSChallenge, "": checkout.ThreeDSChallenge, "1234567": checkout.ThreeDSChallenge,
	} {
		ans, err := ACS{}.AnswerChallenge(context.Background(), a, code)
		if err != nil || ans.Status != want || ans.ACSTransID != "acs_t" {
			t.Errorf("code %q: %+v, %v; want %s", code, ans, err, want)
		}
		if want == checkout.ThreeDSAuthenticated && (ans.ECI != "05" || len(ans.Value) != 28) {
			t.Errorf("passed challenge: ECI %q value %q; want 05 and a 20-byte value", ans.ECI, ans.Value)
		}
	}
}

func TestAuthorizeRefusesAnAuthenticationWithoutItsValue(t *testing.T) {
	req := mustRequest(t, "k-3ds", CardVisa, "123")
	req.ThreeDS = &checkout.ThreeDS{Status: checkout.ThreeDSAuthenticated, ECI: "05", LiabilityShift: true}
	if r, err := New().Authorize(context.Background(), req); err != nil || r.Approved {
		t.Fatalf("ECI 05 without its value: %+v, %v; want declined", r, err)
	}
	req = mustRequest(t, "k-3ds-2", CardVisa, "123")
	req.ThreeDS = &checkout.ThreeDS{Status: checkout.ThreeDSAuthenticated, ECI: "05", LiabilityShift: true}
	req.AuthenticationValue = "AAABBBCCC"
	if r, err := New().Authorize(context.Background(), req); err != nil || !r.Approved {
		t.Fatalf("ECI 05 with its value: %+v, %v; want approved", r, err)
	}
}
