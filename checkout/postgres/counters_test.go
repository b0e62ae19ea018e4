package postgres

import (
	"database/sql"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
	"github.com/hostedcheckout/hostedcheckout/checkout/storetest"
)

// recordInOneBucket records n events of one bucketed key, all in one
// bucket, and returns the event.
func recordInOneBucket(t *testing.T, db *DB, n int) risk.Event {
	t.Helper()
	event := risk.Event{Key: "rl_merchant:mer_x", At: time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC), Bucket: time.Second}
	for range n {
		if err := db.Record(t.Context(), []risk.Event{event}); err != nil {
			t.Fatal(err)
		}
	}
	return event
}

// A bucket's records spread over its shards (so that concurrent records at
// one merchant do not queue on one row's lock), and a count sums them all.
func TestBucketsSpreadOverShards(t *testing.T) {
	db, _ := mustNewDB(t)
	const records = 64
	event := recordInOneBucket(t, db, records)
	var rows, sum int
	if err := db.pool.QueryRow(t.Context(), `SELECT count(*), coalesce(sum(n), 0) FROM risk_buckets WHERE key = $1`, event.Key).Scan(&rows, &sum); err != nil {
		t.Fatal(err)
	}
	// 64 records all in one of 8 shards: a chance of 8^-63.
	if rows < 2 || rows > bucketShards || sum != records {
		t.Fatalf("bucket rows = %d holding %d; want 2..%d rows holding %d", rows, sum, bucketShards, records)
	}
	counts, err := db.Count(t.Context(), []risk.Query{{Key: event.Key, Since: event.At, Bucket: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if counts[0] != records {
		t.Fatalf("count = %d; want %d", counts[0], records)
	}
}

// Migration 00012 down folds a bucket's shards into its one row (their sum)
// and up spreads nothing: the count is the same either way.
func TestBucketShardsMigrateDownAndUp(t *testing.T) {
	db, dsn := mustNewDB(t)
	const records = 40
	event := recordInOneBucket(t, db, records)

	p, sqlDB := mustProvider(t, dsn)
	if _, err := p.DownTo(t.Context(), 11); err != nil {
		t.Fatalf("down to 11: %v", err)
	}
	var rows, sum int
	if err := sqlDB.QueryRowContext(t.Context(), `SELECT count(*), sum(n) FROM risk_buckets WHERE key = $1 AND start = $2`,
		event.Key, event.At).Scan(&rows, &sum); err != nil {
		t.Fatalf("read the folded bucket: %v", err)
	}
	if rows != 1 || sum != records {
		t.Fatalf("after down: %d rows holding %d; want 1 holding %d", rows, sum, records)
	}
	if _, err := p.Up(t.Context()); err != nil {
		t.Fatalf("up again: %v", err)
	}
	counts, err := mustOpen(t, dsn).Count(t.Context(), []risk.Query{{Key: event.Key, Since: event.At, Bucket: time.Second}})
	if err != nil || counts[0] != records {
		t.Fatalf("count after up = %v, %v; want %d", counts, err, records)
	}
}

func TestCaptureColumnsMigrateDownAndUp(t *testing.T) {
	db, dsn := mustNewDB(t)
	storetest.CaptureColumnsDownAndUp(t, db, func(t *testing.T) {
		p, _ := mustProvider(t, dsn)
		if _, err := p.DownTo(t.Context(), 12); err != nil {
			t.Fatalf("down to 12: %v", err)
		}
		if _, err := p.Up(t.Context()); err != nil {
			t.Fatalf("up again: %v", err)
		}
	})
}

// mustProvider is goose's provider of the migrations on a database/sql
// handle of dsn's database, closed when t ends.
func mustProvider(t *testing.T, dsn string) (*goose.Provider, *sql.DB) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { sqlDB.Close() })
	p, err := migrationProvider(sqlDB)
	if err != nil {
		t.Fatal(err)
	}
	return p, sqlDB
}
