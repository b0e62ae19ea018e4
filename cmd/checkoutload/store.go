package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	_ "modernc.org/sqlite"             // driver "sqlite"
)

// The store report: what the run left in the database. The counter tables
// (every risk_* table, lockout_slots, card_locks) are state that grows with
// traffic and must stay bounded by design (STYLE.md), so the soak prints
// their rows; payments and attempts grow with the business and are shown
// for scale. Tables are found in the schema, so a new risk_* table is
// reported without changing this file.

// storeReport is the row counts of the counter tables and the database's
// size on disk.
type storeReport struct {
	kind     string // "sqlite" or "postgres"
	counters []tableRows
	scale    []tableRows
	size     int64
	sizeNote string
}

type tableRows struct {
	name string
	rows int64
}

// counterTable says which tables hold the card-testing and screening
// counters.
func counterTable(name string) bool {
	return strings.HasPrefix(name, "risk_") || name == "lockout_slots" || name == "card_locks"
}

// scaleTables grow with payments by design; their counts put the counters'
// in proportion.
var scaleTables = []string{"sessions", "attempts", "payments"}

// readStore reports the started server's store: PostgreSQL when the
// environment points checkoutd at it (CHECKOUT_STORE=postgres, as
// .ci/services.sh sets), else the SQLite file in its data directory. It
// opens the store read-only beside the running server.
func readStore(ctx context.Context, srv *server) (storeReport, error) {
	if os.Getenv("CHECKOUT_STORE") == "postgres" {
		return readPostgres(ctx, os.Getenv("CHECKOUT_DATABASE_URL"))
	}
	return readSQLite(ctx, filepath.Join(srv.dataDir, "checkout.db"))
}

func readSQLite(ctx context.Context, path string) (storeReport, error) {
	r := storeReport{kind: "sqlite"}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return r, err
	}
	defer db.Close()
	names, err := tableNames(ctx, db, `SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	if err != nil {
		return r, err
	}
	if err := r.count(ctx, db, names); err != nil {
		return r, err
	}
	for _, suffix := range []string{"", "-wal"} {
		fi, err := os.Stat(path + suffix)
		if err != nil {
			return r, err
		}
		r.size += fi.Size()
		r.sizeNote += fmt.Sprintf("%s %s, ", filepath.Base(path+suffix), mib(fi.Size()))
	}
	r.sizeNote = strings.TrimSuffix(r.sizeNote, ", ")
	return r, nil
}

func readPostgres(ctx context.Context, dsn string) (storeReport, error) {
	r := storeReport{kind: "postgres"}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return r, err
	}
	defer db.Close()
	names, err := tableNames(ctx, db, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		return r, err
	}
	if err := r.count(ctx, db, names); err != nil {
		return r, err
	}
	if err := db.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&r.size); err != nil {
		return r, err
	}
	r.sizeNote = "pg_database_size"
	return r, nil
}

func tableNames(ctx context.Context, db *sql.DB, query string) ([]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// count counts the rows of the counter tables and the scale tables among
// names. Names come from the schema, never from input; they are quoted all
// the same.
func (r *storeReport) count(ctx context.Context, db *sql.DB, names []string) error {
	for _, n := range names {
		var dst *[]tableRows
		switch {
		case counterTable(n):
			dst = &r.counters
		case slices.Contains(scaleTables, n):
			dst = &r.scale
		default:
			continue
		}
		var rows int64
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM "`+strings.ReplaceAll(n, `"`, `""`)+`"`).Scan(&rows); err != nil {
			return fmt.Errorf("count %s: %w", n, err)
		}
		*dst = append(*dst, tableRows{n, rows})
	}
	return nil
}

func (r storeReport) print(checkouts int64) {
	fmt.Printf("store (%s) after %d checkouts:\n", r.kind, checkouts)
	for _, t := range r.counters {
		fmt.Printf("  %-22s %10d rows  (%.3f per checkout)\n", t.name, t.rows, float64(t.rows)/float64(max(checkouts, 1)))
	}
	for _, t := range r.scale {
		fmt.Printf("  %-22s %10d rows  (for scale)\n", t.name, t.rows)
	}
	fmt.Printf("  database size: %s (%s), %.0f bytes per checkout\n", mib(r.size), r.sizeNote, float64(r.size)/float64(max(checkouts, 1)))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
