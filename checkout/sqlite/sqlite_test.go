package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
	"github.com/hostedcheckout/hostedcheckout/checkout/storetest"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

// mustOpen opens a store at path and closes it when the test ends.
func mustOpen(tb testing.TB, path string) *DB {
	tb.Helper()
	db, err := Open(tb.Context(), path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "checkout.db"))
	})
}

// Two handles on one file (two processes on one data directory) see each
// other's counter events and list entries.
func TestRiskAcrossHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkout.db")
	storetest.RunShared(t, mustOpen(t, path), mustOpen(t, path))
}

func TestRefundsAcrossHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkout.db")
	storetest.RefundsShared(t, mustOpen(t, path), mustOpen(t, path))
}

var now = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

func mustMerchant(tb testing.TB, db *DB) checkout.Merchant {
	tb.Helper()
	m, _, err := checkout.NewMerchant("SQLite Shop", []string{"https://shop.example"}, now)
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.CreateMerchant(tb.Context(), m); err != nil {
		tb.Fatalf("CreateMerchant: %v", err)
	}
	return m
}

func mustSession(tb testing.TB, db *DB, m checkout.Merchant) checkout.Session {
	tb.Helper()
	s := checkout.Session{
		ID: checkout.NewID("cs"), MerchantID: m.ID, Amount: 1500, Currency: "JPY", OrderID: "o-1",
		SuccessURL: "https://shop.example/done", Locale: "ja", ResultDelivery: checkout.DeliverPost,
		Status: checkout.SessionOpen, CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute),
	}
	if err := db.CreateSession(tb.Context(), s); err != nil {
		tb.Fatalf("CreateSession: %v", err)
	}
	return s
}

func wantMode(tb testing.TB, path string, want fs.FileMode) {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		tb.Errorf("%s: mode %#o; want %#o", filepath.Base(path), got, want)
	}
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "db")
	path := filepath.Join(dir, "checkout.db")
	db := mustOpen(t, path)
	mustSession(t, db, mustMerchant(t, db)) // so that the WAL holds something

	wantMode(t, filepath.Dir(dir), 0o700)
	wantMode(t, dir, 0o700)
	wantMode(t, path, 0o600)
	// SQLite gives its side files the database file's mode.
	for _, side := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + side); err != nil {
			t.Fatalf("%s file: %v", side, err)
		}
		wantMode(t, path+side, 0o600)
	}
}

func TestOpenTightensExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkout.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // past the umask
		t.Fatal(err)
	}
	mustOpen(t, path)
	wantMode(t, path, 0o600)
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkout.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	m := mustMerchant(t, db)
	s := mustSession(t, db, m)
	versions := func(db *DB) (n, top int64) {
		t.Helper()
		err := db.r.QueryRowContext(t.Context(),
			`SELECT count(*), max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&n, &top)
		if err != nil {
			t.Fatal(err)
		}
		return n, top
	}
	n1, top1 := versions(db)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// Reopening applies nothing again and keeps every row.
	for range 2 {
		db := mustOpen(t, path)
		if n, top := versions(db); n != n1 || top != top1 {
			t.Fatalf("after reopen: %d migrations up to %d; want %d up to %d", n, top, n1, top1)
		}
		got, err := db.Session(t.Context(), s.ID)
		if err != nil {
			t.Fatalf("Session after reopen: %v", err)
		}
		if !got.CreatedAt.Equal(s.CreatedAt) || got.MerchantID != m.ID || got.Status != checkout.SessionOpen {
			t.Fatalf("session after reopen = %+v", got)
		}
		if _, err := db.MerchantByAPIKeyHash(t.Context(), m.APIKeyHash); err != nil {
			t.Fatalf("MerchantByAPIKeyHash after reopen: %v", err)
		}
		db.Close()
	}
}

func TestPragmas(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "checkout.db"))
	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"temp_store", "2"},  // MEMORY: the savepoints' sub-journals
	} {
		var got string
		err := db.write(t.Context(), func(tx *writeTx) error {
			return tx.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got)
		})
		if err != nil {
			t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("writer PRAGMA %s = %s; want %s", tc.pragma, got, tc.want)
		}
	}
	var queryOnly string
	if err := db.r.QueryRowContext(t.Context(), "PRAGMA query_only").Scan(&queryOnly); err != nil {
		t.Fatal(err)
	}
	if queryOnly != "1" {
		t.Errorf("reader PRAGMA query_only = %s; want 1", queryOnly)
	}
	if _, err := db.r.ExecContext(t.Context(), `DELETE FROM merchants`); err == nil {
		t.Error("a reader connection could write")
	}
}

// No column of the schema is named for card data (storetest.WantNoCardDataColumns).
func TestSchemaHoldsNoSensitiveAuthenticationData(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "checkout.db"))
	rows, err := db.r.QueryContext(t.Context(), `SELECT m.name, p.name FROM sqlite_schema m
		JOIN pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY m.name, p.cid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var columns []storetest.Column
	for rows.Next() {
		var c storetest.Column
		if err := rows.Scan(&c.Table, &c.Name); err != nil {
			t.Fatal(err)
		}
		columns = append(columns, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	storetest.WantNoCardDataColumns(t, columns, 50)
}

// The schema refuses a full card number in the clear metadata columns
// (PCI DSS 3.4.1: at most the first 6 and last 4).
func TestSchemaRefusesFullNumberInMetadata(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "checkout.db"))
	k := vault.DataKey{ID: checkout.NewID("dk"), Wrapped: []byte{1, 2, 3}, KEKID: "local", CreatedAt: now}
	if err := db.InsertDataKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	card := vault.StoredCard{Token: checkout.NewID("tok"), DataKeyID: k.ID, Ciphertext: []byte{9},
		Fingerprint: "fp_x", Brand: "visa", BIN: "424242", Last4: "4242", ExpMonth: 1, ExpYear: 2034, CreatedAt: now}
	for name, mutate := range map[string]func(*vault.StoredCard){
		"bin":   func(c *vault.StoredCard) { c.BIN = "4242424242424242" },
		"last4": func(c *vault.StoredCard) { c.Last4 = "4242424242424242" },
	} {
		c := card
		c.Token = checkout.NewID("tok")
		mutate(&c)
		if err := db.InsertCard(t.Context(), c); err == nil {
			t.Errorf("a full number in %s was stored", name)
		}
	}
	if err := db.InsertCard(t.Context(), card); err != nil {
		t.Fatalf("InsertCard: %v", err)
	}
}

func TestAPIKeyHashMustBeAHash(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "checkout.db"))
	m, key, err := checkout.NewMerchant("Shop", []string{"https://shop.example"}, now)
	if err != nil {
		t.Fatal(err)
	}
	m.APIKeyHash = []byte(key) // the raw key, by mistake
	if err := db.CreateMerchant(t.Context(), m); err == nil {
		t.Fatal("a raw API key was stored")
	}
}

// Two handles on one file (checkoutd and an operator subcommand, say) are
// two writers: BEGIN IMMEDIATE and the busy timeout make them take turns
// instead of failing with SQLITE_BUSY.
func TestTwoHandlesTakeTurns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkout.db")
	a, b := mustOpen(t, path), mustOpen(t, path)
	s := mustSession(t, a, mustMerchant(t, a))
	const n = 10
	errs := make([]error, 2*n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range errs {
		db := a
		if i%2 == 1 {
			db = b
		}
		wg.Go(func() {
			<-start
			_, errs[i] = db.BeginAttempt(t.Context(), s.ID, now, now.Add(-time.Minute))
			if errs[i] == nil || checkout.ErrorCode(errs[i]) == checkout.ECONFLICT {
				_, _, err := db.CreateSessionIdempotent(t.Context(), checkout.Session{
					ID: checkout.NewID("cs"), MerchantID: s.MerchantID, Amount: 1, Currency: "JPY", OrderID: "o",
					SuccessURL: "https://shop.example/done", Locale: "ja", ResultDelivery: checkout.DeliverPost,
					Status: checkout.SessionOpen, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
				}, "shared-key", []byte("h"))
				if err != nil {
					errs[i] = err
				}
			}
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch checkout.ErrorCode(err) {
		case "":
			won++
		case checkout.ECONFLICT:
		default:
			t.Fatalf("concurrent write through two handles: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d BeginAttempt calls won across two handles; want 1", won)
	}
}

func TestTimeOutOfRange(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "checkout.db"))
	m := mustMerchant(t, db)
	s := checkout.Session{ID: checkout.NewID("cs"), MerchantID: m.ID, Amount: 1, Currency: "JPY", OrderID: "o",
		SuccessURL: "https://shop.example/done", Locale: "ja", ResultDelivery: checkout.DeliverPost,
		Status: checkout.SessionOpen, CreatedAt: now, ExpiresAt: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := db.CreateSession(t.Context(), s); err == nil {
		t.Fatal("a time past 2262 was stored (it would wrap around)")
	}
}

func TestPingAndClose(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "checkout.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Ping(context.Background()); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(t.Context(), ""); err == nil {
		t.Error("Open with an empty path succeeded")
	}
	// A directory where the file should be.
	dir := t.TempDir()
	if _, err := Open(t.Context(), dir); err == nil {
		t.Error("Open on a directory succeeded")
	}
	// A path with URI syntax in it names a file, not parameters.
	odd := filepath.Join(t.TempDir(), "a?b#c%20d.db")
	db := mustOpen(t, odd)
	mustMerchant(t, db)
	if _, err := os.Stat(odd); err != nil {
		t.Fatalf("database not at the path given: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(odd), "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a file was created at a truncated path (err %v)", err)
	}
}

func TestCounterRowsStayBounded(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "checkout.db"))
	storetest.CounterRowsStayBounded(t, db, func(table, key string) (n int, err error) {
		return n, db.r.QueryRowContext(t.Context(), `SELECT count(*) FROM `+table+` WHERE key = ?`, key).Scan(&n)
	})
}

func TestCaptureColumnsMigrateDownAndUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkout.db")
	storetest.CaptureColumnsDownAndUp(t, mustOpen(t, path), func(t *testing.T) {
		// A connection of its own: the store's writer holds its one.
		db, err := sql.Open("sqlite", dsn(path, url.Values{"_busy_timeout": {"5000"}}))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		p, err := migrationProvider(db)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.DownTo(t.Context(), 13); err != nil {
			t.Fatalf("down to 13: %v", err)
		}
		if _, err := p.Up(t.Context()); err != nil {
			t.Fatalf("up again: %v", err)
		}
	})
}

// The retention sweep picks its batch through the index of unsaved,
// unerased cards by age, so that however many cards customers saved, a
// batch reads only candidates.
func TestRetentionSweepUsesItsIndex(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "checkout.db"))
	rows, err := db.r.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+sqlstore.EraseUnneededCards(500, ""), int64(1), int64(2))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if joined := strings.Join(plan, "\n"); !strings.Contains(joined, "cards_retained") {
		t.Fatalf("the sweep's plan does not use cards_retained:\n%s", joined)
	}
}
