// Package postgres is the store for several checkout instances sharing one
// database: PostgreSQL through pgx v5, holding merchants, sessions, payments
// and the vault's rows, with its schema kept by versioned goose migrations
// that run at Open.
//
// Every state change that instances could race on is decided by the
// database, not by a process: BeginAttempt and FinishAttempt lock the
// session row (SELECT ... FOR UPDATE) for the length of their transaction,
// CreateSessionIdempotent lets INSERT ... ON CONFLICT on the key decide which
// session wins, and UpdateDataKeyWrapped is one compare-and-swap UPDATE.
// Transactions run at READ COMMITTED, set explicitly so that a server whose
// default is SERIALIZABLE does not turn these waits into serialization
// failures; under READ COMMITTED a row lock makes the waiter read the row as
// the winner committed it.
//
// Queries go through a pgxpool.Pool (pgx's native interface: typed SQLSTATE
// errors, bytea and timestamptz without conversions, one pool). Only the
// migrations use database/sql, because goose needs a *sql.DB; they get a
// connection of their own that is closed afterwards, so that goose's
// session-level advisory lock can never outlive them inside the pool.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

var (
	_ checkout.Store = (*DB)(nil)
	_ vault.Store    = (*DB)(nil)
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the PostgreSQL store. It implements checkout.Store and vault.Store
// and is safe for concurrent use, also by several processes on one database.
type DB struct {
	pool *pgxpool.Pool

	recorded atomic.Uint64 // Record calls, to prune the counters every risk.PruneEvery
	reserved atomic.Uint64 // ReserveSlot calls, to prune lockout_slots every risk.PruneEvery
}

// Open connects to the database at dsn and brings its schema up to date.
// Several instances may Open one database at once: the migrations run under
// a PostgreSQL advisory lock, so exactly one applies each.
//
// dsn is a PostgreSQL URL or keyword/value string as pgx reads it. The pool
// is configured there too: pool_max_conns (default DefaultMaxConns),
// pool_min_conns, pool_max_conn_lifetime, pool_max_conn_idle_time and
// pool_health_check_period; connect_timeout bounds each connection attempt.
// In production use sslmode=verify-full: the rows carry card ciphertext and
// wrapped keys (PCI DSS 4.2.1).
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// Not wrapped: pgx's error keeps the DSN, and redacts its password
		// only on a best-effort basis (a malformed URL defeats it).
		return nil, errors.New("postgres: open: the DSN does not parse; check its syntax and parameters (it is not shown: it may hold a password)")
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		// Names our sessions in pg_stat_activity for the operator.
		cfg.ConnConfig.RuntimeParams["application_name"] = "checkout"
	}
	if err := migrate(ctx, cfg.ConnConfig); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	db := &DB{pool: pool}
	if err := db.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// DefaultMaxConns is the pool's size when the DSN does not set
// pool_max_conns. pgx's own default, max(4, CPUs), lets at most four
// checkouts talk to the database at once on a small machine, each waiting
// out its round trips and its commit's fsync while the CPU idles: with 16
// shoppers at once on two cores, 16 connections served 15% more checkouts a
// second than 4 (issue 10). Two instances at 16 stay far below
// PostgreSQL's default max_connections (100).
const DefaultMaxConns = 16

// How goose's session locker polls for the lock while another instance
// migrates: every second, for up to two minutes. Its
// default (every 5 s) would make a second instance starting at the same
// moment wait 5 s for a migration that takes milliseconds.
const (
	migrationLockPeriod   = 1   // seconds
	migrationLockAttempts = 120 // tries
)

// migrate applies the embedded migrations that the database has not seen
// yet, holding goose's advisory lock so that concurrent Opens take turns.
func migrate(ctx context.Context, cfg *pgx.ConnConfig) error {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(migrationLockPeriod, migrationLockAttempts))
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	// A database/sql handle of its own, closed when done: closing its
	// connections releases the session lock even if unlocking failed.
	sqlDB := stdlib.OpenDB(*cfg.Copy())
	defer sqlDB.Close()
	sqlDB.SetMaxOpenConns(2)
	p, err := migrationProvider(sqlDB, goose.WithSessionLocker(locker))
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", scrub(err))
	}
	return nil
}

// migrationProvider is the goose provider of the embedded migrations on db. The
// global registry holds Go migrations other packages may register with
// goose; this schema is only the embedded files.
func migrationProvider(db *sql.DB, opts ...goose.ProviderOption) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, append([]goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	return p, nil
}

// Close closes every connection of the pool, waiting for those in use to
// be returned.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Ping checks that the database answers, on a connection from the pool. It
// serves /readyz.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", scrub(err))
	}
	return nil
}

// inTx runs fn in a READ COMMITTED transaction and commits it unless fn
// fails. A failed COMMIT comes back as a *commitError: the transaction may
// or may not have committed.
func (db *DB) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.inTxFrom(ctx, "begin", &pgx.Batch{}, fn)
}

// inTxFrom is inTx whose transaction begins with first's statements, sent
// with the BEGIN in one round trip; their errors come back as op's
// (batchError), and fn runs once they succeeded.
func (db *DB) inTxFrom(ctx context.Context, op string, first *pgx.Batch, fn func(tx pgx.Tx) error) error {
	begun := &pgx.Batch{}
	begun.BeginTx(pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	begun.QueuedQueries = append(begun.QueuedQueries, first.QueuedQueries...)
	br := db.pool.SendBatch(ctx, begun)
	tx := br.Tx()
	// A failed rollback (ctx is done, the connection broke) leaves nothing
	// behind: pgx closes the connection, and the server rolls back a
	// transaction whose connection is gone.
	if err := br.Close(); err != nil {
		tx.Rollback(ctx)
		return batchError(op, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback(ctx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return &commitError{err: scrub(err)}
	}
	return nil
}

// batchError is an error of a batch whose callbacks may answer the
// store's own errors: those as they are, any other as op's (wrap).
func batchError(op string, err error) error {
	var e *checkout.Error
	if errors.As(err, &e) {
		return err
	}
	return wrap(op, err)
}

// commitError is a COMMIT that failed: the server may have committed the
// transaction before the connection broke.
type commitError struct{ err error }

func (e *commitError) Error() string { return "postgres: commit: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// querier is what *pgxpool.Pool and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ts is a time as the schema stores it: timestamptz, NULL for the zero time.
// PostgreSQL keeps microseconds; finer digits are dropped.
func ts(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// utcTime scans a timestamptz into *t, in UTC: pgx would answer in the
// process's local zone. NULL scans as the zero time.
type utcTime struct{ t *time.Time }

// ScanTimestamptz implements pgtype.TimestamptzScanner.
func (d utcTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	switch {
	case !v.Valid:
		*d.t = time.Time{}
	case v.InfinityModifier != pgtype.Finite:
		return errors.New("postgres: infinite timestamp")
	default:
		*d.t = v.Time.UTC()
	}
	return nil
}

// SQLSTATE codes the store tells apart.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// pgCode returns err's SQLSTATE and constraint, or "" when err is not from
// the server.
func pgCode(err error) (code, constraint string) {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code, e.ConstraintName
	}
	return "", ""
}

// scrub blanks the parts of a server error that can quote values, in place,
// and returns err. The server's DETAIL can quote the row ("Failing row
// contains (...)", "Key (token)=(...)"); Error() leaves it out, but %#v or
// a structured logger walking the error would not (PCI DSS 3.3, 10.2). The
// code, message and the names of the table, column and constraint stay.
func scrub(err error) error {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		e.Detail, e.Hint, e.Where, e.InternalQuery = "", "", "", ""
		e.InternalPosition, e.Position = 0, 0
	}
	return err
}

// wrap adds the operation to a scrubbed error. A database that cannot be
// reached is EUNAVAILABLE, so that callers fail closed with "try again"
// (503) rather than "internal error".
func wrap(op string, err error) error {
	err = fmt.Errorf("postgres: %s: %w", op, scrub(err))
	if unreachable(err) {
		return &checkout.Error{Code: checkout.EUNAVAILABLE, Message: "the database is unavailable; nothing was charged, please try again shortly", Err: err}
	}
	return err
}

// unreachable reports whether err means the server could not be reached or
// went away, rather than that it refused this statement.
func unreachable(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.DeadlineExceeded), pgconn.SafeToRetry(err):
		return true
	}
	code, _ := pgCode(err)
	// Class 08: connection exception; 57P01-57P03: the server is shutting
	// down or starting; 53300: too many connections.
	return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03" || code == "53300"
}

// readList runs a read and scans its rows with scan, naming op in its
// errors: the shape of every list the store reads.
func readList[T any](ctx context.Context, q querier, op string, scan func(sqlstore.Rows) ([]T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	out, err := scan(rows)
	if err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

func notFound(what string) error {
	return &checkout.Error{Code: checkout.ENOTFOUND, Message: "no such " + what}
}
