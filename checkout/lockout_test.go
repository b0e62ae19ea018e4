package checkout_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

// Wrong security codes for one card submitted all at once, on separate
// sessions from separate addresses (so no rate limit is what stops them):
// at most the lockout's threshold reach the issuer, every shopper reads
// the one decline, and the card ends locked.
func TestPayConcurrentWrongCodesHoldTheLockout(t *testing.T) {
	ctx := context.Background()
	s := risk.DefaultGuardSettings() // 3 wrong codes lock the card
	s.Card = risk.Limit{}            // only the lockout may stop them
	h := mustGuardedHarness(t, s)
	const n = 12
	reqs := make([]checkout.PayRequest, n)
	for i := range reqs {
		reqs[i] = payRequest(h.mustSession(t).ID, "4242424242424242", fmt.Sprintf("%03d", 900+i))
		reqs[i].ClientIP = netip.MustParseAddr(fmt.Sprintf("203.0.113.%d", i+1))
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() {
			<-start
			_, errs[i] = h.svc.Pay(ctx, reqs[i])
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if checkout.ErrorCode(err) != checkout.EDECLINED || checkout.ErrorMessage(err) != checkout.ErrorMessage(errs[0]) {
			t.Errorf("submission %d: %v; want the one decline", i+1, err)
		}
	}
	if calls := h.issuer.Stats().Calls; calls > s.LockoutFailures {
		t.Fatalf("%d of %d concurrent wrong codes reached the issuer; want at most the lockout's %d", calls, n, s.LockoutFailures)
	}
	locked, err := h.db.LockedCards(ctx, time.Now())
	if err != nil || len(locked) != 1 || locked[0].Fingerprint != h.vault.Fingerprint([]byte("4242424242424242")) {
		t.Fatalf("locked cards %+v, %v; want the card", locked, err)
	}
}

// A shopper who answers a 3-D Secure challenge sends the card again to
// complete it: that submission is the same attempt for the rate limits
// (its authentication is bound to the session and the card), so with a
// per-card limit of N, N challenged payments each complete. An
// authentication that is not this session's and card's, answered and
// unused, earns no such pass; and the lockout still applies to it.
func TestThreeDSCompletionIsTheSameAttemptForTheLimits(t *testing.T) {
	ctx := context.Background()
	const n = 2
	gs := risk.DefaultGuardSettings()
	gs.Card = risk.Limit{Max: n, Window: time.Hour}
	s := mustAuthenticating(t, nil)
	s.svc.Guard = &risk.Guard{Counters: s.db, Locks: s.db, Budget: s.db, Settings: gs}
	s.svc.CardKeys = s.vault
	answered := func(sessionID string) string {
		t.Helper()
		action := challenged(t, s, sessionID, sandbox.Card3DSChallenge)
		if _, err := s.svc.AnswerThreeDSChallenge(ctx, action.AuthenticationID, sandbox.ChallengeCode, false); err != nil {
			t.Fatal(err)
		}
		return action.AuthenticationID
	}
	var used string
	for i := range n {
		sess := s.mustSession(t)
		req := shopper(sess.ID, sandbox.Card3DSChallenge)
		req.AuthenticationID = answered(sess.ID)
		if _, err := s.svc.Pay(ctx, req); err != nil {
			t.Fatalf("challenged payment %d of %d, completed: %v; want paid", i+1, n, err)
		}
		used = req.AuthenticationID
	}

	// No pass for an authentication that is not this session's, unused and
	// answered: each such submission counts (the card's limit is spent).
	for name, id := range map[string]string{
		"another session's, used": used,
		"none such":               "3ds_" + strings.Repeat("a", 26),
	} {
		req := shopper(s.mustSession(t).ID, sandbox.Card3DSChallenge)
		req.AuthenticationID = id
		if _, err := s.svc.Pay(ctx, req); checkout.ErrorCode(err) != checkout.ERATELIMITED {
			t.Errorf("%s authentication: %v; want rate limited", name, err)
		}
	}

	// A locked card is declined even when completing a challenge.
	s2 := mustAuthenticating(t, nil)
	s2.svc.Guard = &risk.Guard{Counters: s2.db, Locks: s2.db, Budget: s2.db, Settings: risk.DefaultGuardSettings()}
	s2.svc.CardKeys = s2.vault
	s = s2
	sess := s.mustSession(t)
	req := shopper(sess.ID, sandbox.Card3DSChallenge)
	req.AuthenticationID = answered(sess.ID)
	fp := s.vault.Fingerprint([]byte(sandbox.Card3DSChallenge))
	if err := s.db.LockCard(ctx, fp, time.Now().Add(-time.Minute), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	calls := s.issuer.Stats().Calls
	if _, err := s.svc.Pay(ctx, req); checkout.ErrorCode(err) != checkout.EDECLINED {
		t.Fatalf("completing on a locked card: %v; want declined", err)
	}
	if s.issuer.Stats().Calls != calls {
		t.Fatal("a locked card reached the issuer")
	}
}

// The card is stored while the lockout's slot is taken, not after: each
// waits here until the other has begun, which a payment that took them one
// after the other never lets happen (the one waiting would time out and
// the payment fail). Neither needs the other, so neither should wait for
// the other's commit.
func TestTheCardIsStoredWhileTheSlotIsTaken(t *testing.T) {
	h := mustGuardedHarness(t, risk.DefaultGuardSettings())
	tokenizing, reserving := make(chan struct{}), make(chan struct{})
	h.svc.Vault = meetingTokenizer{Tokenizer: h.vault, arrive: tokenizing, meet: reserving}
	guard := h.svc.Guard.(*risk.Guard)
	guard.Budget = meetingBudget{LockoutBudget: h.db, arrive: reserving, meet: tokenizing}
	res, err := h.svc.Pay(context.Background(), payRequest(h.mustSession(t).ID, "4242424242424242", "123"))
	if err != nil || res.Payment.Status != checkout.PaymentSucceeded || res.Payment.CardToken == "" {
		t.Fatalf("Pay: %+v, %v; want a payment whose card was stored while its slot was taken", res.Payment, err)
	}
}

// meet waits until the other side has arrived, or gives up.
func meet(arrive, other chan struct{}) error {
	close(arrive)
	select {
	case <-other:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("waited 5 s for the other write to begin")
	}
}

type meetingTokenizer struct {
	checkout.Tokenizer
	arrive, meet chan struct{}
}

func (m meetingTokenizer) Tokenize(ctx context.Context, pan []byte, brand string, month, year int) (vault.Card, error) {
	if err := meet(m.arrive, m.meet); err != nil {
		return vault.Card{}, err
	}
	return m.Tokenizer.Tokenize(ctx, pan, brand, month, year)
}

type meetingBudget struct {
	risk.LockoutBudget
	arrive, meet chan struct{}
}

func (m meetingBudget) ReserveSlot(ctx context.Context, s risk.LockoutSlot) (string, error) {
	if err := meet(m.arrive, m.meet); err != nil {
		return "", err
	}
	return m.LockoutBudget.ReserveSlot(ctx, s)
}
