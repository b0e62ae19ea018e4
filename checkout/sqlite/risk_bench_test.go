package sqlite

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

// BenchmarkScreenSQLite is the cost screening adds to one payment on the
// embedded store (see BenchmarkScreenPostgres): settings, one write
// transaction for the counter events, the counts and the blocklists.
//
//	go test ./checkout/sqlite -run '^$' -bench ScreenSQLite
func BenchmarkScreenSQLite(b *testing.B) {
	db := mustOpen(b, filepath.Join(b.TempDir(), "checkout.db"))
	m := mustMerchant(b, db)
	sc := &risk.Screener{Settings: db, Counters: db, Lists: db}
	var n atomic.Int64
	input := func() checkout.ScreenInput {
		i := n.Add(1)
		return checkout.ScreenInput{
			MerchantID: m.ID, SessionID: fmt.Sprintf("cs_%d", i), Amount: 1500, Currency: "JPY",
			Fingerprint: fmt.Sprintf("fp_%d", i), BIN: "424242", Brand: checkout.BrandVisa, Last4: "4242",
			ExpMonth: 12, ExpYear: 2034, CVC: checkout.CVCProvided, Email: fmt.Sprintf("shopper%d@example.jp", i%1000),
			Shipping: &checkout.Address{Country: "JP", PostalCode: "150-0002", Line1: fmt.Sprintf("渋谷1-2-%d", i%500)},
			IP:       netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), DeviceID: fmt.Sprintf("dev_%d", i%2000),
			Time: now.Add(time.Duration(i) * time.Millisecond),
		}
	}
	b.Run("Screen", func(b *testing.B) {
		for b.Loop() {
			if _, err := sc.Screen(b.Context(), input()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ScreenParallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := sc.Screen(b.Context(), input()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
