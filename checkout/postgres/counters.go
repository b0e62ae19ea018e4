package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

var _ risk.RecordCounter = (*DB)(nil)

// The counters' tables (migration 00011), bounded per key as risk.Counters
// documents: risk_occurrences (one row per event, a key's KeepPerKey
// latest), risk_members (a key's members, last seen; its KeepPerKey most
// recent) and risk_buckets (a bucketed key's counts per bucket start).

// Record stores the counters' events in one batch (one round trip).
func (db *DB) Record(ctx context.Context, events []risk.Event) error {
	if len(events) == 0 {
		return nil
	}
	batch := &pgx.Batch{}
	latest := queueRecord(batch, events, lockGuard{})
	if err := db.pool.SendBatch(ctx, batch).Close(); err != nil {
		return wrap("record risk events", err)
	}
	return db.pruneSometimes(ctx, latest)
}

// RecordAndCount records the events and answers the queries in one batch:
// one round trip, one implicit transaction, so the counts include the
// events just recorded (risk.RecordCounter).
func (db *DB) RecordAndCount(ctx context.Context, events []risk.Event, queries []risk.Query) ([]int, error) {
	batch := &pgx.Batch{}
	latest := queueRecord(batch, events, lockGuard{})
	counts := queueCount(batch, queries)
	if err := db.pool.SendBatch(ctx, batch).Close(); err != nil {
		return nil, batchError("record and count risk events", err)
	}
	return *counts, db.pruneSometimes(ctx, latest)
}

// queueCount queues the count of queries; the counts are there once the
// batch has run.
func queueCount(batch *pgx.Batch, queries []risk.Query) *[]int {
	counts := new([]int)
	sql, args := countStatement(queries)
	batch.Queue(sql, args...).Query(func(rows pgx.Rows) (err error) {
		*counts, err = scanCounts(rows, len(queries))
		return err
	})
	return counts
}

var _ risk.RoundTripper = (*DB)(nil)

// RoundTrip answers a submission's Round in one batch: its tripwires' counts
// (with a Begin only: one reached rolls the round back), the card's lock, the
// events' writes, each a no-op for a card locked at the round's time, the
// counts and the blocklists' lookup. Without a Begin it is one round trip,
// one implicit transaction. With one, the batch begins a transaction with
// the attempt's beginning (BeginAttempt's lock, read and update) and a
// second round trip commits it, or rolls it all back when the session
// could not begin: a session's state changes only in an explicit
// transaction (BeginAttempt says why).
func (db *DB) RoundTrip(ctx context.Context, r risk.Round) (risk.RoundAnswer, error) {
	if len(r.Tripwires) > 0 && r.Begin == nil {
		return risk.RoundAnswer{}, errors.New("postgres: a round trips only in the transaction of a begin")
	}
	var ans risk.RoundAnswer
	batch := &pgx.Batch{}
	var wired *[]int
	if len(r.Tripwires) > 0 {
		wired = queueCount(batch, risk.TripwireQueries(r.Tripwires))
	}
	moved := queueBegin(batch, r.Begin, &ans.Before)
	batch.Queue(`SELECT EXISTS (SELECT 1 FROM card_locks WHERE fingerprint = $1 AND locked_until > $2)`, r.Card, ts(r.At)).
		QueryRow(func(row pgx.Row) error { return row.Scan(&ans.Locked) })
	latest := queueRecord(batch, r.Events, lockGuard{card: r.Card, at: r.At})
	counts := queueCount(batch, r.Queries)
	if len(r.Keys) > 0 {
		sql, args := matchStatement(r.MerchantID, r.Keys)
		batch.Queue(sql, args...).Query(func(rows pgx.Rows) (err error) {
			ans.Matches, err = scanMatches(rows)
			return err
		})
	}
	var err error
	if r.Begin == nil {
		if err = db.pool.SendBatch(ctx, batch).Close(); err != nil {
			err = batchError("record and count risk events", err)
		}
	} else {
		err = db.inTxFrom(ctx, "begin attempt", batch, func(pgx.Tx) error {
			if wired != nil && risk.Tripped(r.Tripwires, *wired) {
				return checkout.ErrNearLimit
			}
			if !*moved {
				return checkout.AttemptRefused(ans.Before.Status)
			}
			return nil
		})
	}
	if err != nil {
		return risk.RoundAnswer{}, err
	}
	if ans.Locked {
		return risk.RoundAnswer{Before: ans.Before, Locked: true}, nil
	}
	ans.Counts = *counts
	return ans, db.pruneSometimes(ctx, latest)
}

// lockGuard makes a Round's writes no-ops for a card locked at its time; its
// zero value guards nothing.
type lockGuard struct {
	card string
	at   time.Time
}

// where is the guard's condition for a statement whose parameters before it
// number n, with its two parameters; empty for the zero guard.
func (g lockGuard) where(n int) (string, []any) {
	if g.card == "" {
		return "", nil
	}
	return fmt.Sprintf(` WHERE NOT EXISTS (SELECT 1 FROM card_locks WHERE fingerprint = $%d AND locked_until > $%d)`, n+1, n+2),
		[]any{g.card, ts(g.at)}
}

// bucketShards is how many rows share a bucket (migration 00012): a record
// adds to one of them at random, so that concurrent records at one
// merchant rarely wait for each other's commit on a row lock; a count sums
// them, reading at most bucketShards rows a bucket.
const bucketShards = 8

// queueRecord queues the events' writes (risk.SplitEvents: in key order,
// so that two instances writing the same keys lock them in one order) and
// returns the latest event's time. The batch's implicit transaction commits
// like every other, waiting for the WAL to reach disk (synchronous_commit
// stays on: a counter the lockout or a limit relied on must not vanish in a
// crash). A key's trim deletes only when it holds more than it keeps, so
// ordinary traffic takes no lock there.
func queueRecord(batch *pgx.Batch, events []risk.Event, guard lockGuard) time.Time {
	if len(events) == 0 {
		return time.Time{}
	}
	w := risk.SplitEvents(events)
	if len(w.Occurrences) > 0 {
		keys, ats := make([]string, len(w.Occurrences)), make([]time.Time, len(w.Occurrences))
		for i, e := range w.Occurrences {
			keys[i], ats[i] = e.Key, e.At
		}
		unless, args := guard.where(2)
		batch.Queue(`INSERT INTO risk_occurrences (key, at) SELECT * FROM unnest($1::text[], $2::timestamptz[])`+unless,
			append([]any{keys, ats}, args...)...)
		batch.Queue(trimStatement("risk_occurrences"), w.OccurrenceKeys, risk.KeepPerKey-1)
	}
	if len(w.Members) > 0 {
		keys, members, ats := make([]string, len(w.Members)), make([]string, len(w.Members)), make([]time.Time, len(w.Members))
		for i, e := range w.Members {
			keys[i], members[i], ats[i] = e.Key, e.Member, e.At
		}
		unless, args := guard.where(3)
		batch.Queue(`INSERT INTO risk_members (key, member, at)
				SELECT DISTINCT ON (key, member) key, member, at
				FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS e(key, member, at)`+unless+`
				ORDER BY key, member, at DESC
			ON CONFLICT (key, member) DO UPDATE SET at = GREATEST(risk_members.at, excluded.at)`,
			append([]any{keys, members, ats}, args...)...)
		batch.Queue(trimStatement("risk_members"), w.MemberKeys, risk.KeepPerKey-1)
	}
	if len(w.Buckets) > 0 {
		keys, starts, horizons := make([]string, len(w.Buckets)), make([]time.Time, len(w.Buckets)), make([]time.Time, len(w.Buckets))
		for i, e := range w.Buckets {
			keys[i], starts[i], horizons[i] = e.Key, risk.BucketStart(e.At, e.Bucket), risk.BucketHorizon(e.At, e.Bucket)
		}
		unless, args := guard.where(3)
		batch.Queue(`INSERT INTO risk_buckets (key, start, shard, n)
				SELECT key, start, $3, count(*) FROM unnest($1::text[], $2::timestamptz[]) AS b(key, start)`+unless+`
				GROUP BY key, start ORDER BY key, start
			ON CONFLICT (key, start, shard) DO UPDATE SET n = risk_buckets.n + excluded.n`,
			append([]any{keys, starts, rand.IntN(bucketShards)}, args...)...)
		batch.Queue(`DELETE FROM risk_buckets b USING unnest($1::text[], $2::timestamptz[]) AS h(key, horizon)
			WHERE b.key = h.key AND b.start < h.horizon`, keys, horizons)
	}
	return w.Latest
}

// trimStatement deletes, of each key in $1, the rows of table older than
// its $2+1 newest. Written as lateral lookups by key so that the plan is
// index reads of the keys named, whatever the table's statistics say (a
// join let the planner scan the whole table on every record); a key
// holding no more than it keeps yields no cut and costs one index probe.
func trimStatement(table string) string {
	return `DELETE FROM ` + table + ` WHERE ctid = ANY (ARRAY(
		SELECT old.ctid FROM (SELECT DISTINCT unnest($1::text[]) AS key) k
		CROSS JOIN LATERAL (SELECT at FROM ` + table + ` WHERE key = k.key ORDER BY at DESC OFFSET $2 LIMIT 1) cut
		CROSS JOIN LATERAL (SELECT ctid FROM ` + table + ` WHERE key = k.key AND at < cut.at) old))`
}

// pruneSometimes deletes rows past the longest window, a batch every
// risk.PruneEvery records (latest is zero when nothing was recorded);
// instances prune independently, and deleting rows another instance
// already deleted is harmless.
func (db *DB) pruneSometimes(ctx context.Context, latest time.Time) error {
	if latest.IsZero() || db.recorded.Add(1)%risk.PruneEvery != 0 { // nothing recorded, or not yet
		return nil
	}
	// The latest event's time, not the wall clock: the checkout's clock is
	// what stamped the events.
	horizon := latest.Add(-risk.MaxWindow)
	for _, table := range []string{"risk_occurrences", "risk_members"} {
		if _, err := db.pool.Exec(ctx, `DELETE FROM `+table+` WHERE ctid = ANY (ARRAY(
			SELECT ctid FROM `+table+` WHERE at < $1 LIMIT $2))`, horizon, risk.PruneBatch); err != nil {
			return wrap("prune risk events", err)
		}
	}
	return nil
}

// Count answers every query in one statement (one round trip), in order.
// Under READ COMMITTED the statement sees every Record committed before it
// began, on any instance.
func (db *DB) Count(ctx context.Context, queries []risk.Query) ([]int, error) {
	if len(queries) == 0 {
		return []int{}, nil
	}
	sql, args := countStatement(queries)
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrap("count risk events", err)
	}
	return scanCounts(rows, len(queries))
}

// countStatement answers every query in one statement, in order.
func countStatement(queries []risk.Query) (string, []any) {
	keys := make([]string, len(queries))
	since := make([]time.Time, len(queries))
	distinct := make([]bool, len(queries))
	bucketed := make([]bool, len(queries))
	limits := make([]int32, len(queries))
	for i, q := range queries {
		keys[i], since[i], distinct[i], limits[i] = q.Key, q.Since, q.Distinct, int32(q.Limit())
		if q.Bucket > 0 {
			bucketed[i], since[i] = true, risk.BucketStart(q.Since, q.Bucket)
		}
	}
	return `SELECT q.i::int, CASE
			WHEN q.bucketed THEN (SELECT coalesce(sum(b.n), 0) FROM risk_buckets b WHERE b.key = q.key AND b.start >= q.since)
			WHEN q.dist THEN (SELECT count(*) FROM (SELECT 1 FROM risk_members m WHERE m.key = q.key AND m.at >= q.since LIMIT q.lim) x)
			ELSE (SELECT count(*) FROM (SELECT 1 FROM risk_occurrences o WHERE o.key = q.key AND o.at >= q.since LIMIT q.lim) x) END::int
		FROM unnest($1::text[], $2::timestamptz[], $3::bool[], $4::bool[], $5::int[]) WITH ORDINALITY AS q(key, since, dist, bucketed, lim, i)`,
		[]any{keys, since, distinct, bucketed, limits}
}
