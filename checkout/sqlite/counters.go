package sqlite

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

var _ risk.RecordCounter = (*DB)(nil)

// The counters' tables (migration 00011), bounded per key as risk.Counters
// documents: risk_occurrences (one row per event, a key's KeepPerKey
// latest), risk_members (a key's members, last seen; its KeepPerKey most
// recent) and risk_buckets (a bucketed key's counts per bucket start).
const (
	insertOccurrences = `INSERT INTO risk_occurrences (key, at) VALUES `
	upsertMembers     = `INSERT INTO risk_members (key, member, at) VALUES `
	onMemberConflict  = ` ON CONFLICT (key, member) DO UPDATE SET at = max(at, excluded.at)`
	addToBucket       = `INSERT INTO risk_buckets (key, start, n) VALUES (?, ?, 1)
		ON CONFLICT (key, start) DO UPDATE SET n = n + 1 RETURNING n`
	trimBuckets = `DELETE FROM risk_buckets WHERE key = ? AND start < ?`

	// What the periodic prune deletes: rows past the longest window any
	// setting may use. Occurrences in rowid (arrival) order, so that the
	// oldest are found without an index on time.
	pruneOccurrences = `DELETE FROM risk_occurrences WHERE rowid IN
		(SELECT rowid FROM (SELECT rowid, at FROM risk_occurrences ORDER BY rowid LIMIT ?2) WHERE at < ?1)`
	pruneMembers = `DELETE FROM risk_members WHERE rowid IN
		(SELECT rowid FROM risk_members WHERE at < ?1 LIMIT ?2)`
)

// Record stores the counters' events in one write.
func (db *DB) Record(ctx context.Context, events []risk.Event) error {
	if len(events) == 0 {
		return nil
	}
	return db.write(ctx, func(tx *writeTx) error { return db.record(ctx, tx, events) })
}

// RecordAndCount records the events and answers the queries in one write,
// the counts including the events just recorded.
func (db *DB) RecordAndCount(ctx context.Context, events []risk.Event, queries []risk.Query) (counts []int, err error) {
	err = db.write(ctx, func(tx *writeTx) (err error) {
		counts, err = db.recordAndCount(ctx, tx, events, queries)
		return err
	})
	return counts, err
}

// recordAndCount is RecordAndCount inside the caller's write.
func (db *DB) recordAndCount(ctx context.Context, tx *writeTx, events []risk.Event, queries []risk.Query) ([]int, error) {
	if err := db.record(ctx, tx, events); err != nil {
		return nil, err
	}
	return count(ctx, tx, queries)
}

// Count answers the queries in order.
func (db *DB) Count(ctx context.Context, queries []risk.Query) ([]int, error) {
	return count(ctx, db.r, queries)
}

var _ risk.RoundTripper = (*DB)(nil)

// RoundTrip answers a submission's Round in one write: its tripwires (one
// reached ends the write), the attempt's beginning when it has one (a
// refusal ends the write), the card's lock, then, unless it is locked, the
// events, the counts and the blocklists. The reads run on the writer's
// connection, whose pages are warm, rather than on a reader's, whose cache
// every commit empties.
func (db *DB) RoundTrip(ctx context.Context, r risk.Round) (ans risk.RoundAnswer, err error) {
	err = db.write(ctx, func(tx *writeTx) error {
		ans = risk.RoundAnswer{}
		if len(r.Tripwires) > 0 {
			counts, err := count(ctx, tx, risk.TripwireQueries(r.Tripwires))
			if err != nil {
				return err
			}
			if risk.Tripped(r.Tripwires, counts) {
				return checkout.ErrNearLimit
			}
		}
		if r.Begin != nil {
			var err error
			if ans.Before, err = beginAttempt(ctx, tx, *r.Begin); err != nil {
				return err
			}
		}
		var locked bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM card_locks WHERE fingerprint = ? AND locked_until > ?)`,
			r.Card, unixNanos(r.At)).Scan(&locked); err != nil {
			return fmt.Errorf("sqlite: read card lock: %w", err)
		}
		if locked {
			ans.Locked = true
			return nil // the attempt, when it began here, stays begun
		}
		if ans.Counts, err = db.recordAndCount(ctx, tx, r.Events, r.Queries); err != nil {
			return err
		}
		ans.Matches, err = match(ctx, tx, r.MerchantID, r.Keys)
		return err
	})
	return ans, err
}

// record writes the events (risk.SplitEvents) in a few statements: the
// occurrences in one insert, the members in one upsert, the buckets one by
// one (a checkout has one), a bucket's first event deleting its key's
// buckets past the window's reach. Triggers trim each key to its KeepPerKey rows
// as its rows are inserted (migration 00013).
func (db *DB) record(ctx context.Context, tx *writeTx, events []risk.Event) error {
	if len(events) == 0 {
		return nil
	}
	w := risk.SplitEvents(events)
	for _, e := range w.Buckets {
		var n int
		if err := tx.QueryRowContext(ctx, addToBucket, e.Key, unixNanos(risk.BucketStart(e.At, e.Bucket))).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: record risk events: %w", err)
		}
		if n > 1 {
			// Not a bucket's first event: the horizon, a bucket start, has
			// not moved since that one trimmed.
			continue
		}
		if _, err := tx.ExecContext(ctx, trimBuckets, e.Key, unixNanos(risk.BucketHorizon(e.At, e.Bucket))); err != nil {
			return fmt.Errorf("sqlite: record risk events: %w", err)
		}
	}
	if len(w.Occurrences) > 0 {
		args := make([]any, 0, 2*len(w.Occurrences))
		for _, e := range w.Occurrences {
			args = append(args, e.Key, unixNanos(e.At))
		}
		if _, err := tx.ExecContext(ctx, insertOccurrences+values(len(w.Occurrences), 2), args...); err != nil {
			return fmt.Errorf("sqlite: record risk events: %w", err)
		}
	}
	if len(w.Members) > 0 {
		args := make([]any, 0, 3*len(w.Members))
		for _, e := range w.Members {
			args = append(args, e.Key, e.Member, unixNanos(e.At))
		}
		if _, err := tx.ExecContext(ctx, upsertMembers+values(len(w.Members), 3)+onMemberConflict, args...); err != nil {
			return fmt.Errorf("sqlite: record risk events: %w", err)
		}
	}
	if db.recorded.Add(1)%risk.PruneEvery == 0 {
		// The latest event's time, not the wall clock: the checkout's clock
		// is what stamped the events.
		horizon := unixNanos(w.Latest.Add(-risk.MaxWindow))
		for _, prune := range []string{pruneOccurrences, pruneMembers} {
			if _, err := tx.ExecContext(ctx, prune, horizon, risk.PruneBatch); err != nil {
				return fmt.Errorf("sqlite: prune risk events: %w", err)
			}
		}
	}
	return nil
}

// values is n rows of width parameters: "(?, ?), (?, ?)".
func values(n, width int) string {
	row := "(" + strings.Repeat("?, ", width-1) + "?)"
	return strings.Repeat(row+", ", n-1) + row
}

// countExpr is the count of query's kind up to its limit, as a scalar
// subquery with its arguments. The limit is written into the text rather
// than bound: SQLite plans a LIMIT by its bound value, and so prepares the
// statement again whenever that binding changes; the texts stay few (a
// limit is at most KeepPerKey), each prepared once.
func countExpr(query risk.Query) (string, []any) {
	if query.Bucket > 0 {
		return "(SELECT coalesce(sum(n), 0) FROM risk_buckets WHERE key = ? AND start >= ?)",
			[]any{query.Key, unixNanos(risk.BucketStart(query.Since, query.Bucket))}
	}
	table := "risk_occurrences"
	if query.Distinct {
		table = "risk_members"
	}
	return "(SELECT count(*) FROM (SELECT 1 FROM " + table + " WHERE key = ? AND at >= ? LIMIT " + strconv.Itoa(query.Limit()) + "))",
		[]any{query.Key, unixNanos(query.Since)}
}

// count answers the queries in one statement: a row of one count each.
func count(ctx context.Context, q querier, queries []risk.Query) ([]int, error) {
	out := make([]int, len(queries))
	if len(queries) == 0 {
		return out, nil
	}
	exprs := make([]string, len(queries))
	dest := make([]any, len(queries))
	var args []any
	for i, query := range queries {
		var a []any
		exprs[i], a = countExpr(query)
		args = append(args, a...)
		dest[i] = &out[i]
	}
	if err := q.QueryRowContext(ctx, "SELECT "+strings.Join(exprs, ", "), args...).Scan(dest...); err != nil {
		return nil, fmt.Errorf("sqlite: count risk events: %w", err)
	}
	return out, nil
}
