// Package sqlite is the embedded store: one SQLite file (pure Go,
// modernc.org/sqlite) holding merchants, sessions, payments and the vault's
// rows, with its schema kept by versioned goose migrations that run at Open.
//
// Writes go through a single connection whose transactions begin IMMEDIATE,
// so that writers queue in the process instead of failing with SQLITE_BUSY,
// and a read-then-write inside a transaction cannot be overtaken. Reads go
// through a separate pool of read-only connections; in WAL mode they never
// wait for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

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

// busyTimeout is how long a connection waits for another process's write
// lock before giving up with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// DB is the SQLite store. It implements checkout.Store and vault.Store and is
// safe for concurrent use.
type DB struct {
	w      *sql.DB  // one connection, held by writer once the migrations ran
	writer *writer  // every write, in group commits on w's connection
	r      *readers // read-only connections: reads outside write transactions

	recorded atomic.Uint64 // Record calls, to prune the counters every risk.PruneEvery
	reserved atomic.Uint64 // ReserveSlot calls, to prune lockout_slots every risk.PruneEvery
}

// Open opens (creating if needed) the database file at path and brings its
// schema up to date. The file holds card ciphertext, so it is created mode
// 0600 (an existing file is tightened to 0600) and a missing directory is
// created 0700.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := prepareFile(abs); err != nil {
		return nil, err
	}

	w, err := sql.Open("sqlite", dsn(abs, url.Values{
		"_busy_timeout": {fmt.Sprint(busyTimeout.Milliseconds())},
		"_foreign_keys": {"1"},
		"_journal_mode": {"WAL"},
		// FULL: a payment reported as stored survives a power cut, not just
		// a crash of the process (NORMAL may lose the last transactions).
		"_synchronous": {"FULL"},
		"_txlock":      {"immediate"},
		// The savepoints each write of a group runs in keep the pages they
		// change in a sub-journal, a temporary file by default (a write
		// system call per page); in memory they cost a copy. Only a
		// savepoint's own rollback reads it: durability is the WAL's.
		"_pragma": {"temp_store(memory)"},
	}))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	// One writer: SQLite allows one at a time anyway, and queueing in
	// database/sql is fair, where competing connections would poll the lock.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}

	// The readers open after the migrations so that the file is already in
	// WAL mode; query_only makes a write through them an error, not a second
	// writer.
	r, err := sql.Open("sqlite", dsn(abs, url.Values{
		"_busy_timeout": {fmt.Sprint(busyTimeout.Milliseconds())},
		"_foreign_keys": {"1"},
		"_query_only":   {"1"},
	}))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	n := max(4, runtime.NumCPU())
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	wr, err := newWriter(ctx, w)
	if err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	db := &DB{w: w, writer: wr, r: newReaders(r)}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// dsn is the driver's name for the file: a SQLite URI, so that a path with
// '?', '#' or '%' in it is escaped rather than cut short.
func dsn(path string, params url.Values) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: params.Encode()}
	return u.String()
}

// prepareFile creates the directory (0700) and the empty database file
// (0600) before SQLite does, since SQLite would create the file 0644. SQLite
// gives its -wal and -shm files the mode of the database file. An existing
// file with wider permissions is tightened: it holds card ciphertext and
// wrapped keys (PCI DSS 7.2, least privilege).
func prepareFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("sqlite: create data directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlite: create database file: %w", err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Stat(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite: stat database file: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(name, 0o600); err != nil {
				return fmt.Errorf("sqlite: restrict database file: %w", err)
			}
		}
	}
	return nil
}

// migrate applies the embedded migrations that the file has not seen yet.
func migrate(ctx context.Context, db *sql.DB) error {
	p, err := migrationProvider(db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

// migrationProvider is goose's provider of the embedded migrations on db.
func migrationProvider(db *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	// The global registry holds Go migrations other packages may register
	// with goose; this schema is only the embedded files.
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	return p, nil
}

// Close closes the database. Pending writes have either committed or rolled
// back by the time it returns.
func (db *DB) Close() error {
	return errors.Join(db.r.Close(), db.writer.close(), db.w.Close())
}

// Ping reads the schema through a reader connection, so that it fails when
// the file cannot be read, not only when the pool is closed. It serves
// /readyz.
func (db *DB) Ping(ctx context.Context) error {
	var n int
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// write runs fn in a write transaction: BEGIN IMMEDIATE, grouped with the
// writes queued beside it (writer.go), so that what fn reads stays true until
// it commits; write returns once it has.
func (db *DB) write(ctx context.Context, fn func(tx *writeTx) error) error {
	return db.writer.do(ctx, fn)
}

// exec runs one write statement in its own write.
func (db *DB) exec(ctx context.Context, query string, args ...any) (res sql.Result, err error) {
	err = db.write(ctx, func(tx *writeTx) error {
		res, err = tx.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// querier is what the readers and a write transaction have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// unixNanos is a time as the schema stores it: INTEGER nanoseconds since the
// Unix epoch, UTC; NULL for the zero time.
type unixNanos time.Time

// Value implements driver.Valuer. Times outside int64 nanoseconds (before
// 1678 or after 2261) are refused rather than silently wrapped.
func (t unixNanos) Value() (driver.Value, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return nil, nil
	}
	if y := tt.UTC().Year(); y < 1678 || y > 2261 {
		return nil, fmt.Errorf("sqlite: time %s out of range", tt.UTC().Format(time.RFC3339))
	}
	return tt.UnixNano(), nil
}

// timeDest scans a unixNanos column into *t, as UTC.
type timeDest struct{ t *time.Time }

// Scan implements sql.Scanner.
func (d timeDest) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*d.t = time.Time{}
	case int64:
		*d.t = time.Unix(0, v).UTC()
	default:
		return fmt.Errorf("sqlite: time column holds %T", v)
	}
	return nil
}

// errorCode is SQLite's extended result code of err, or 0.
func errorCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// isPrimaryKey reports whether err is a primary key violation.
func isPrimaryKey(err error) bool {
	return errorCode(err) == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// readList runs a read and scans its rows with scan, naming op in its
// errors: the shape of every list the store reads.
func readList[T any](ctx context.Context, db *DB, op string, scan func(sqlstore.Rows) ([]T, error), query string, args ...any) ([]T, error) {
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	defer rows.Close()
	out, err := scan(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return out, nil
}

// isDuplicate reports whether err is a primary key or unique violation.
func isDuplicate(err error) bool {
	return isPrimaryKey(err) || errorCode(err) == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// isForeignKey reports whether err is a foreign key violation.
func isForeignKey(err error) bool {
	return errorCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

func notFound(what string) error {
	return &checkout.Error{Code: checkout.ENOTFOUND, Message: "no such " + what}
}
