package postgres

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout"
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

// The outbox makes as many delivery ids as a merchant may have endpoints;
// a merchant with more (endpoints from before the cap, say) still gets a
// delivery on each, with ids of the same shape, and an event stored again
// makes none.
func TestDeliveriesPastTheEndpointCap(t *testing.T) {
	db, _ := mustNewDB(t)
	m := mustMerchant(t, db)
	const endpoints = checkout.MaxWebhookEndpoints + 4
	for range endpoints {
		id := checkout.NewID("we")
		if _, err := db.pool.Exec(t.Context(), `INSERT INTO webhook_endpoints (id, merchant_id, url, created_at) VALUES ($1, $2, $3, $4)`,
			id, m.ID, "https://shop.example/hooks/"+id, now); err != nil {
			t.Fatal(err)
		}
		if _, err := db.pool.Exec(t.Context(), `INSERT INTO webhook_subscriptions (endpoint_id, event_type) VALUES ($1, $2)`,
			id, checkout.EventPaymentAuthorized); err != nil {
			t.Fatal(err)
		}
	}
	e := checkout.WebhookEvent{ID: checkout.NewID("evt"), Type: checkout.EventPaymentAuthorized, MerchantID: m.ID,
		CreatedAt: now, Payload: []byte(`{"type":"payment.authorized"}`)}
	for i, want := range []int{endpoints, 0} {
		n, err := db.EnqueueWebhookEvent(t.Context(), e)
		if err != nil || n != want {
			t.Fatalf("enqueue %d: %d deliveries, %v; want %d", i+1, n, err, want)
		}
	}
	rows, err := db.pool.Query(t.Context(), `SELECT id FROM webhook_deliveries WHERE event_id = $1`, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !checkout.IsID("whd", id) || seen[id] {
			t.Fatalf("delivery id %q: not a delivery id, or repeated, in %v", id, ids)
		}
		seen[id] = true
	}
	if len(ids) != endpoints {
		t.Fatalf("%d deliveries stored; want %d", len(ids), endpoints)
	}
}
