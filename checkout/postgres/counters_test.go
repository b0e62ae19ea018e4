package postgres

import (
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

// A bucket's records spread over its shards (so that concurrent records at
// one merchant do not queue on one row's lock), and a count sums them all.
func TestBucketsSpreadOverShards(t *testing.T) {
	db, _ := mustNewDB(t)
	at := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	event := risk.Event{Key: "rl_merchant:mer_x", At: at, Bucket: time.Second}
	const records = 64
	for range records {
		if err := db.Record(t.Context(), []risk.Event{event}); err != nil {
			t.Fatal(err)
		}
	}
	var rows, sum int
	if err := db.pool.QueryRow(t.Context(), `SELECT count(*), coalesce(sum(n), 0) FROM risk_buckets WHERE key = $1`, event.Key).Scan(&rows, &sum); err != nil {
		t.Fatal(err)
	}
	// 64 records all in one of 8 shards: a chance of 8^-63.
	if rows < 2 || rows > bucketShards || sum != records {
		t.Fatalf("bucket rows = %d holding %d; want 2..%d rows holding %d", rows, sum, bucketShards, records)
	}
	counts, err := db.Count(t.Context(), []risk.Query{{Key: event.Key, Since: at, Bucket: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if counts[0] != records {
		t.Fatalf("count = %d; want %d", counts[0], records)
	}
}
