package risk_test

import (
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
	"github.com/hostedcheckout/hostedcheckout/checkout/storetest"
)

// MemoryCounters keep the stores' bounds and accuracy.
func TestMemoryCountersBounds(t *testing.T) {
	storetest.CounterBounds(t, risk.NewMemoryCounters(risk.MaxWindow))
}
