package checkout_test

import (
	"context"
	"crypto/sha256"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

// solve does what pay.js does: the first counter whose hash has the bits.
func solve(tb testing.TB, ch checkout.Challenge) string {
	tb.Helper()
	for i := 0; i < 1<<24; i++ {
		c := strconv.Itoa(i)
		if checkout.LeadingZeroBits(sha256.Sum256([]byte(ch.Nonce+c))) >= ch.Bits {
			return ch.Nonce + ":" + c
		}
	}
	tb.Fatal("challenge not solved")
	return ""
}

func mustChallengeHarness(tb testing.TB) *harness {
	tb.Helper()
	h := mustGuardedHarness(tb, risk.DefaultGuardSettings())
	h.svc.Challenges = h.svc.Guard.(*risk.Guard)
	h.svc.ChallengeBits = 8 // the rule, not the cost, is under test
	return h
}

func TestVerifyChallenge(t *testing.T) {
	h := mustChallengeHarness(t)
	now := time.Now()
	ch := h.svc.NewChallenge("cs_a")
	good := solve(t, ch)
	if _, ok := h.svc.VerifyChallenge("cs_a", good, now); !ok {
		t.Fatal("a solved challenge was refused")
	}
	nonce, counter, _ := strings.Cut(good, ":")
	// A counter that does not solve it: the next one that fails.
	wrong := ""
	for i := 0; ; i++ {
		c := strconv.Itoa(i)
		if checkout.LeadingZeroBits(sha256.Sum256([]byte(nonce+c))) < ch.Bits {
			wrong = nonce + ":" + c
			break
		}
	}
	parts := strings.Split(nonce, ".")
	forged := strings.Join([]string{parts[0], parts[1], "1", parts[3]}, ".") // difficulty lowered: MAC breaks
	tests := map[string]struct {
		session, solution string
		at                time.Time
	}{
		"wrong work":         {"cs_a", wrong, now},
		"other session":      {"cs_b", good, now},
		"expired":            {"cs_a", good, now.Add(checkout.DefaultChallengeTTL + time.Second)},
		"forged bits":        {"cs_a", forged + ":" + counter, now},
		"empty":              {"cs_a", "", now},
		"no counter":         {"cs_a", nonce + ":", now},
		"counter not digits": {"cs_a", nonce + ":1e3", now},
		"too long":           {"cs_a", strings.Repeat("a", 300), now},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, ok := h.svc.VerifyChallenge(tc.session, tc.solution, tc.at); ok {
				t.Fatal("accepted")
			}
		})
	}
	// A challenge issued at a lower difficulty than the current one is refused.
	h.svc.ChallengeBits = 12
	if _, ok := h.svc.VerifyChallenge("cs_a", good, now); ok && ch.Bits < 12 {
		t.Fatal("a challenge easier than the current difficulty was accepted")
	}
}

// TestChallengeIssuance: the rule, without a browser. A fresh session pays
// without a challenge; after 2 failed attempts the next needs a solved,
// unspent challenge.
func TestChallengeIssuance(t *testing.T) {
	ctx := context.Background()
	h := mustChallengeHarness(t)
	if _, err := h.svc.Pay(ctx, payRequest(h.mustSession(t).ID, "4242424242424242", "123")); err != nil {
		t.Fatalf("first try on a fresh session: %v", err)
	}
	s := h.mustSession(t)
	for i := range 2 {
		if _, err := h.svc.Pay(ctx, payRequest(s.ID, "4000000000000002", "123")); checkout.ErrorCode(err) != checkout.EDECLINED {
			t.Fatalf("decline %d: %v", i+1, err)
		}
	}
	calls := h.issuer.Stats().Calls
	_, err := h.svc.Pay(ctx, payRequest(s.ID, "4242424242424242", "123"))
	if checkout.ErrorCode(err) != checkout.ECHALLENGE {
		t.Fatalf("third try without a challenge: %v, want %s", err, checkout.ECHALLENGE)
	}
	if h.issuer.Stats().Calls != calls {
		t.Fatal("an unchallenged try reached the issuer")
	}
	if attempts, _ := h.db.Attempts(ctx, s.ID); len(attempts) != 2 {
		t.Fatalf("a challenge counted as an attempt: %d attempts", len(attempts))
	}
	sol := solve(t, h.svc.NewChallenge(s.ID))
	// Solved for another session: refused.
	other := payRequest(h.mustSession(t).ID, "4242424242424242", "123")
	other.Challenge = sol
	if _, err := h.svc.Pay(ctx, other); err != nil {
		t.Fatalf("a fresh session needs no challenge, and ignores one: %v", err)
	}
	req := payRequest(s.ID, "4000000000000002", "123")
	req.Challenge = sol
	if _, err := h.svc.Pay(ctx, req); checkout.ErrorCode(err) != checkout.EDECLINED {
		t.Fatalf("with a solved challenge: %v, want it to reach the issuer", err)
	}
	// The same solution again: replayed, refused.
	req = payRequest(s.ID, "4242424242424242", "123")
	req.Challenge = sol
	if _, err := h.svc.Pay(ctx, req); checkout.ErrorCode(err) != checkout.ECHALLENGE {
		t.Fatalf("replayed solution: %v, want %s", err, checkout.ECHALLENGE)
	}
	req = payRequest(s.ID, "4242424242424242", "123")
	req.Challenge = solve(t, h.svc.NewChallenge(s.ID))
	if _, err := h.svc.Pay(ctx, req); err != nil {
		t.Fatalf("a fresh solution: %v", err)
	}
}

func TestChallengeDefaultCost(t *testing.T) {
	if testing.Short() {
		t.Skip("measures solving time")
	}
	h := mustHarness(t)
	h.svc.CardKeys = h.vault
	start := time.Now()
	for range 5 {
		solve(t, h.svc.NewChallenge("cs_a"))
	}
	t.Logf("default difficulty %d bits: %v per solution in Go (one core)", checkout.DefaultChallengeBits, time.Since(start)/5)
}

// One attempt from the IP's limit, a submission without a solution is
// asked one, and nothing of it is counted or begun; with one, it goes on.
// Asked in the round that begins the attempt (a Screener over the store),
// and by NeedsChallenge's read before it (without), alike.
func TestChallengeNearTheIPLimit(t *testing.T) {
	for name, inRound := range map[string]bool{"in the round": true, "read before": false} {
		t.Run(name, func(t *testing.T) {
			gs := risk.DefaultGuardSettings()
			gs.IP = risk.Limit{Max: 3, Window: time.Hour}
			h := mustGuardedHarness(t, gs)
			h.svc.Challenges = h.svc.Guard.(*risk.Guard)
			h.svc.ChallengeBits = 8
			if inRound {
				h.svc.Screener = &risk.Screener{Settings: h.db, Counters: h.db, Lists: h.db}
			}
			ip := netip.MustParseAddr("198.51.100.77")
			pay := func(sessionID, card, solution string) error {
				req := payRequest(sessionID, card, "123")
				req.ClientIP, req.Challenge = ip, solution
				_, err := h.svc.Pay(t.Context(), req)
				return err
			}
			for i, card := range []string{"4242424242424242", "5555555555554444"} {
				if err := pay(h.mustSession(t).ID, card, ""); err != nil {
					t.Fatalf("payment %d from the IP: %v", i+1, err)
				}
			}
			s := h.mustSession(t)
			if err := pay(s.ID, "3530111333300000", ""); checkout.ErrorCode(err) != checkout.ECHALLENGE {
				t.Fatalf("third from the IP without a solution: %v; want %s", err, checkout.ECHALLENGE)
			}
			if got, err := h.db.Session(t.Context(), s.ID); err != nil || got.Attempts != 0 || got.Status != checkout.SessionOpen {
				t.Fatalf("session after the challenge: %+v, %v; want open, no attempt", got, err)
			}
			if err := pay(s.ID, "3530111333300000", solve(t, h.svc.NewChallenge(s.ID))); err != nil {
				t.Fatalf("third from the IP with a solution: %v", err)
			}
		})
	}
}
