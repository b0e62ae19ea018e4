package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout/storetest"
)

// Two processes on one file, as two handles: each due delivery is claimed
// by one of them only, and concurrent chargebacks never overspend the cap.
func TestFraudAcrossHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkout.db")
	a, b := mustOpen(t, path), mustOpen(t, path)
	t.Run("Claim", func(t *testing.T) { storetest.ClaimAcrossHandles(t, a, b) })
	t.Run("Chargebacks", func(t *testing.T) { storetest.ChargebacksAcrossHandles(t, a, b) })
}
