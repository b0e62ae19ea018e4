package postgres

import (
	"io/fs"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

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

// Migration 00012 down folds a bucket's shards into its one row (their sum)
// and up spreads nothing: the count is the same either way.
func TestBucketShardsMigrateDownAndUp(t *testing.T) {
	db, dsn := mustNewDB(t)
	at := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	event := risk.Event{Key: "rl_merchant:mer_x", At: at, Bucket: time.Second}
	const records = 40
	for range records {
		if err := db.Record(t.Context(), []risk.Event{event}); err != nil {
			t.Fatal(err)
		}
	}

	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB := stdlib.OpenDB(*cfg)
	defer sqlDB.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(t.Context(), 11); err != nil {
		t.Fatalf("down to 11: %v", err)
	}
	var rows, sum int
	if err := sqlDB.QueryRowContext(t.Context(), `SELECT count(*), sum(n) FROM risk_buckets WHERE key = $1 AND start = $2`,
		event.Key, at).Scan(&rows, &sum); err != nil {
		t.Fatalf("read the folded bucket: %v", err)
	}
	if rows != 1 || sum != records {
		t.Fatalf("after down: %d rows holding %d; want 1 holding %d", rows, sum, records)
	}
	if _, err := p.Up(t.Context()); err != nil {
		t.Fatalf("up again: %v", err)
	}
	counts, err := mustOpen(t, dsn).Count(t.Context(), []risk.Query{{Key: event.Key, Since: at, Bucket: time.Second}})
	if err != nil || counts[0] != records {
		t.Fatalf("count after up = %v, %v; want %d", counts, err, records)
	}
}
