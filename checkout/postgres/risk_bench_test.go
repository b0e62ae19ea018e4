package postgres

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/postgres/pgtest"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

// BenchmarkScreenPostgres is the cost screening adds to one payment on the
// production store: load the merchant's settings, record the attempt's
// counter events, count the sliding windows, match the blocklists (Screen:
// four round trips), and again with the issuer's answer (Rescreen: the
// settings once more). The tables start with 100,000 members, 100,000 events and
// 1,000 list entries, so that the indexes, not empty tables, answer. "Durable" runs on
// a server with fsync and full-page writes on, as production has them; the
// others on the tests' faster shared server.
//
//	go test ./checkout/postgres -run '^$' -bench ScreenPostgres
func BenchmarkScreenPostgres(b *testing.B) {
	db, _ := mustNewDB(b)
	benchScreen(b, db)
	b.Run("Durable", func(b *testing.B) {
		benchScreen(b, mustOpen(b, pgtest.Options{Durable: true}.Start(b).NewDatabase(b)))
	})
}

func benchScreen(b *testing.B, db *DB) {
	m := mustMerchant(b, db)
	ctx := b.Context()
	if _, err := db.pool.Exec(ctx, `INSERT INTO risk_members (key, member, at)
		SELECT 'ip:' || (g % 5000), 'card' || g, $1::timestamptz - (g % 3600) * interval '1 second'
		FROM generate_series(1, 100000) g`, now); err != nil {
		b.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO risk_occurrences (key, at)
		SELECT 'card:' || (g % 5000), $1::timestamptz - (g % 3600) * interval '1 second'
		FROM generate_series(1, 100000) g`, now); err != nil {
		b.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO risk_lists (merchant_id, kind, value, created_at)
		SELECT CASE WHEN g % 2 = 0 THEN $1 ELSE '' END, 'ip', '198.18.' || (g / 250) || '.' || (g % 250) || '/32', $2
		FROM generate_series(1, 1000) g`, m.ID, now); err != nil {
		b.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `ANALYZE risk_members; ANALYZE risk_occurrences; ANALYZE risk_lists`); err != nil {
		b.Fatal(err)
	}
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
			if _, err := sc.Screen(ctx, input()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ScreenAndRescreen", func(b *testing.B) {
		for b.Loop() {
			in := input()
			d, err := sc.Screen(ctx, in)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := sc.Rescreen(ctx, d, in, checkout.AuthOutcome{Approved: true, CVCCheck: checkout.CVCPass}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ScreenParallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := sc.Screen(ctx, input()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
