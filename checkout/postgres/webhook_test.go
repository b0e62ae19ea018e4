package postgres

import (
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout/postgres/pgtest"
	"github.com/hostedcheckout/hostedcheckout/checkout/storetest"
)

// Two instances on one database, as two pools: each due delivery is
// claimed by one of them only (FOR UPDATE SKIP LOCKED and the lease), and
// concurrent chargebacks never overspend the cap (the guarantee row lock).
func TestFraudAcrossHandles(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	a, b := mustOpen(t, dsn), mustOpen(t, dsn)
	t.Run("Claim", func(t *testing.T) { storetest.ClaimAcrossHandles(t, a, b) })
	t.Run("Chargebacks", func(t *testing.T) { storetest.ChargebacksAcrossHandles(t, a, b) })
}
