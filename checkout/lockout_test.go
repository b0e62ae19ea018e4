package checkout_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
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
