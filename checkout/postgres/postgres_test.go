package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/postgres/pgtest"
	"github.com/hostedcheckout/hostedcheckout/checkout/storetest"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// mustOpen opens a store on dsn and closes it when the test ends.
func mustOpen(tb testing.TB, dsn string) *DB {
	tb.Helper()
	db, err := Open(tb.Context(), dsn)
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

// mustNewDB opens a store on a fresh database of the shared server.
func mustNewDB(tb testing.TB) (*DB, string) {
	tb.Helper()
	dsn := pgtest.Shared(tb).NewDatabase(tb)
	return mustOpen(tb, dsn), dsn
}

func TestStore(t *testing.T) {
	// One database for the whole suite (it tolerates shared state), a new
	// handle per test, so that every Open also finds the schema in place.
	// The session's time zone is not UTC: answers must be in UTC all the same.
	dsn := pgtest.Shared(t).NewDatabase(t) + "&timezone=America/New_York"
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return mustOpen(t, dsn)
	})
}

// Two instances (two pools) on one database count each other's attempts:
// the velocity rules hold across instances.
func TestRiskAcrossInstances(t *testing.T) {
	a, dsn := mustNewDB(t)
	storetest.RunShared(t, a, mustOpen(t, dsn))
}

// Refunds from two instances at once never take more than was captured.
func TestRefundsAcrossInstances(t *testing.T) {
	a, dsn := mustNewDB(t)
	storetest.RefundsShared(t, a, mustOpen(t, dsn))
}

var now = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

func mustMerchant(tb testing.TB, db *DB) checkout.Merchant {
	tb.Helper()
	m, _, err := checkout.NewMerchant("PostgreSQL Shop", []string{"https://shop.example"}, now)
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.CreateMerchant(tb.Context(), m); err != nil {
		tb.Fatalf("CreateMerchant: %v", err)
	}
	return m
}

func newSession(m checkout.Merchant) checkout.Session {
	return checkout.Session{
		ID: checkout.NewID("cs"), MerchantID: m.ID, Amount: 1500, Currency: "JPY", OrderID: "o-1",
		SuccessURL: "https://shop.example/done", Locale: "ja", ResultDelivery: checkout.DeliverPost,
		Status: checkout.SessionOpen, CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute),
	}
}

func mustSession(tb testing.TB, db *DB, m checkout.Merchant) checkout.Session {
	tb.Helper()
	s := newSession(m)
	if err := db.CreateSession(tb.Context(), s); err != nil {
		tb.Fatalf("CreateSession: %v", err)
	}
	return s
}

func newPayment(s checkout.Session, n int) (checkout.Attempt, checkout.Payment) {
	a := checkout.Attempt{SessionID: s.ID, N: n, Outcome: checkout.AttemptApproved, CVCCheck: checkout.CVCPass,
		CardToken: checkout.NewID("tok"), Fingerprint: "fp_1", Brand: checkout.BrandVisa, Last4: "4242", CreatedAt: now}
	p := checkout.Payment{ID: checkout.NewID("pay"), SessionID: s.ID, MerchantID: s.MerchantID, OrderID: s.OrderID,
		Amount: s.Amount, Currency: s.Currency, Status: checkout.PaymentSucceeded, CardToken: a.CardToken,
		Brand: a.Brand, Last4: a.Last4, ExpMonth: 12, ExpYear: 2034, Fingerprint: a.Fingerprint,
		CVCCheck: a.CVCCheck, AuthCode: "A1", CreatedAt: now}
	return a, p
}

// Two instances starting at once on a fresh database: both Opens succeed,
// and each migration is applied exactly once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	dbs := make([]*DB, 2)
	errs := make([]error, 2)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range dbs {
		wg.Go(func() {
			<-start
			dbs[i], errs[i] = Open(t.Context(), dsn)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Open %d: %v", i, err)
		}
		t.Cleanup(func() { dbs[i].Close() })
	}

	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v, %v", files, err)
	}
	applied := func() (rows, versions int) {
		t.Helper()
		err := dbs[0].pool.QueryRow(t.Context(),
			`SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&rows, &versions)
		if err != nil {
			t.Fatal(err)
		}
		return rows, versions
	}
	if rows, versions := applied(); rows != len(files) || versions != len(files) {
		t.Fatalf("goose_db_version: %d rows for %d versions; want each of the %d migrations once", rows, versions, len(files))
	}
	// Opening again applies nothing, and both instances work on one schema.
	mustOpen(t, dsn)
	if rows, _ := applied(); rows != len(files) {
		t.Fatalf("goose_db_version has %d rows after a third Open; want %d", rows, len(files))
	}
	m := mustMerchant(t, dbs[0])
	if _, err := dbs[1].Merchant(t.Context(), m.ID); err != nil {
		t.Fatalf("second instance reading the first's merchant: %v", err)
	}
}

// Two instances (two pools, as two processes would have) race to begin an
// attempt on one session: exactly one wins.
func TestTwoInstancesBeginAttempt(t *testing.T) {
	a, dsn := mustNewDB(t)
	b := mustOpen(t, dsn)
	s := mustSession(t, a, mustMerchant(t, a))
	const n = 20
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range errs {
		db := []*DB{a, b}[i%2]
		wg.Go(func() {
			<-start
			_, errs[i] = db.BeginAttempt(t.Context(), s.ID, now, now.Add(-time.Minute))
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
			t.Fatalf("BeginAttempt: %v; want success or ECONFLICT", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d BeginAttempt calls across two instances won; want exactly 1", won, n)
	}
	got, err := b.Session(t.Context(), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != checkout.SessionProcessing || got.Attempts != 1 {
		t.Fatalf("session is %s with %d attempts; want processing with 1", got.Status, got.Attempts)
	}
}

// Two instances race on one idempotency key: one session is created, and
// every caller gets it.
func TestTwoInstancesIdempotency(t *testing.T) {
	a, dsn := mustNewDB(t)
	b := mustOpen(t, dsn)
	m := mustMerchant(t, a)
	key, hash := checkout.NewID("idem"), []byte("racing body hash")
	const n = 20
	type result struct {
		candidate, stored checkout.Session
		created           bool
		err               error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range results {
		db := []*DB{a, b}[i%2]
		results[i].candidate = newSession(m)
		wg.Go(func() {
			<-start
			r := &results[i]
			r.stored, r.created, r.err = db.CreateSessionIdempotent(t.Context(), r.candidate, key, hash)
		})
	}
	close(start)
	wg.Wait()
	winner := ""
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("CreateSessionIdempotent: %v", r.err)
		}
		if r.created {
			if winner != "" {
				t.Fatalf("two sessions created under one key: %s and %s", winner, r.stored.ID)
			}
			winner = r.stored.ID
		}
	}
	if winner == "" {
		t.Fatal("no instance created the session")
	}
	for _, r := range results {
		if r.stored.ID != winner {
			t.Fatalf("a caller got session %s; want the winner %s", r.stored.ID, winner)
		}
	}
	var sessions int
	if err := a.pool.QueryRow(t.Context(), `SELECT count(*) FROM sessions WHERE merchant_id = $1`, m.ID).Scan(&sessions); err != nil {
		t.Fatal(err)
	}
	if sessions != 1 {
		t.Fatalf("%d sessions stored for the merchant; want 1", sessions)
	}
}

// A session row locked by another transaction makes BeginAttempt wait, and
// the wait ends with the caller's context.
func TestLockWaitHonoursContext(t *testing.T) {
	db, dsn := mustNewDB(t)
	s := mustSession(t, db, mustMerchant(t, db))
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE`, s.ID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err = db.BeginAttempt(ctx, s.ID, now, now.Add(-time.Minute))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("BeginAttempt on a locked row past its deadline: %v; want context.DeadlineExceeded", err)
	}
	if waited := time.Since(began); waited > 5*time.Second {
		t.Fatalf("BeginAttempt returned %v after its deadline", waited)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.BeginAttempt(t.Context(), s.ID, now, now.Add(-time.Minute)); err != nil {
		t.Fatalf("BeginAttempt once the lock is gone: %v", err)
	}
}

// Ping tells a stopped server from a running one, and the pool recovers
// when it is back, without reopening.
func TestPingAcrossRestart(t *testing.T) {
	srv := pgtest.Start(t)
	db := mustOpen(t, srv.NewDatabase(t))
	s := mustSession(t, db, mustMerchant(t, db))
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	srv.Stop(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := db.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded with the server stopped")
	}
	srv.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := db.Ping(t.Context())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := db.Session(t.Context(), s.ID); err != nil {
		t.Fatalf("Session after restart: %v", err)
	}
}

// The server crashes while instances pay sessions. After recovery every
// payment that was acknowledged is there, and no session is paid without
// its payment or the other way round: the payment and the paid session are
// one transaction.
func TestCrashMidLoad(t *testing.T) {
	srv := pgtest.Options{Durable: true}.Start(t)
	dsn := srv.NewDatabase(t)
	db := mustOpen(t, dsn)
	m := mustMerchant(t, db)

	var mu sync.Mutex
	acked := map[string]string{} // payment id -> session id
	stop := make(chan struct{})
	pay := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		s := newSession(m)
		if err := db.CreateSession(ctx, s); err != nil {
			return err
		}
		if _, err := db.BeginAttempt(ctx, s.ID, now, now.Add(-time.Minute)); err != nil {
			return err
		}
		a, p := newPayment(s, 1)
		if err := db.FinishAttempt(ctx, a, &p); err != nil {
			return err
		}
		mu.Lock()
		acked[p.ID] = s.ID
		mu.Unlock()
		return nil
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if pay() != nil {
					time.Sleep(10 * time.Millisecond) // the server is down; do not spin
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	srv.Kill(t)
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	srv.Start(t)

	if len(acked) == 0 {
		t.Fatal("no payment was acknowledged before the crash; the load did not run")
	}
	after := mustOpen(t, dsn)
	for pid, sid := range acked {
		p, err := after.Payment(t.Context(), pid)
		if err != nil {
			t.Fatalf("acknowledged payment %s after the crash: %v", pid, err)
		}
		s, err := after.Session(t.Context(), sid)
		if err != nil || s.Status != checkout.SessionPaid || s.PaymentID != p.ID {
			t.Fatalf("session of acknowledged payment %s: %+v, %v; want paid by it", pid, s, err)
		}
	}
	var torn int
	err := after.pool.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM sessions s WHERE s.status = 'paid' AND NOT EXISTS
			(SELECT 1 FROM payments p WHERE p.id = s.payment_id AND p.session_id = s.id))
		+ (SELECT count(*) FROM payments p JOIN sessions s ON s.id = p.session_id
			WHERE s.status <> 'paid' OR s.payment_id <> p.id)`).Scan(&torn)
	if err != nil {
		t.Fatal(err)
	}
	if torn != 0 {
		t.Fatalf("%d sessions and payments disagree after the crash", torn)
	}
	t.Logf("%d payments acknowledged before the crash, all kept", len(acked))
}

// No column of the schema is named for card data (storetest.WantNoCardDataColumns).
func TestSchemaHoldsNoSensitiveAuthenticationData(t *testing.T) {
	db, _ := mustNewDB(t)
	rows, err := db.pool.Query(t.Context(), `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`)
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
	// The card number is only ever ciphertext: the one binary column of cards.
	var typ string
	if err := db.pool.QueryRow(t.Context(), `SELECT data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'cards' AND column_name = 'ciphertext'`).Scan(&typ); err != nil || typ != "bytea" {
		t.Fatalf("cards.ciphertext is %q (%v); want bytea", typ, err)
	}
}

// A full card number in the clear metadata columns is refused (PCI DSS
// 3.4.1: at most the first 6 and last 4), before it is sent and by the
// schema itself.
func TestFullNumberInMetadataRefused(t *testing.T) {
	db, _ := mustNewDB(t)
	k := vault.DataKey{ID: checkout.NewID("dk"), Wrapped: []byte{1, 2, 3}, KEKID: "local", CreatedAt: now}
	if err := db.InsertDataKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	card := vault.StoredCard{Token: checkout.NewID("tok"), DataKeyID: k.ID, Ciphertext: []byte{9},
		Fingerprint: "fp_x", Brand: "visa", BIN: "424242", Last4: "4242", ExpMonth: 1, ExpYear: 2034, CreatedAt: now}
	const full = "4242424242424242"
	for name, mutate := range map[string]func(*vault.StoredCard){
		"bin":   func(c *vault.StoredCard) { c.BIN = full },
		"last4": func(c *vault.StoredCard) { c.Last4 = full },
	} {
		c := card
		c.Token = checkout.NewID("tok")
		mutate(&c)
		err := db.InsertCard(t.Context(), c)
		if err == nil {
			t.Errorf("a full number in %s was stored", name)
		} else if strings.Contains(err.Error(), full) {
			t.Errorf("the error quotes the number: %v", err)
		}
		_, err = db.pool.Exec(t.Context(), `INSERT INTO cards (token, data_key_id, ciphertext, fingerprint, brand,
			bin, last4, exp_month, exp_year, created_at) VALUES ($1, $2, $3, 'fp', 'visa', $4, $5, 1, 2034, now())`,
			c.Token, k.ID, []byte{9}, c.BIN, c.Last4)
		if code, _ := pgCode(err); code != "23514" {
			t.Errorf("the schema took a full number in %s: %v; want a check violation", name, err)
		}
	}
	if err := db.InsertCard(t.Context(), card); err != nil {
		t.Fatalf("InsertCard: %v", err)
	}
}

// Server errors keep no DETAIL, which can quote the row, even where Error()
// is not what prints them.
func TestErrorsQuoteNoValues(t *testing.T) {
	db, _ := mustNewDB(t)
	k := vault.DataKey{ID: checkout.NewID("dk"), Wrapped: []byte("wrapped-secret"), KEKID: "local", CreatedAt: now}
	if err := db.InsertDataKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	err := db.InsertDataKey(t.Context(), k)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != uniqueViolation {
		t.Fatalf("duplicate InsertDataKey: %v; want a unique violation", err)
	}
	if pgErr.Detail != "" || pgErr.Where != "" || pgErr.Hint != "" {
		t.Errorf("server error keeps detail %q, where %q, hint %q", pgErr.Detail, pgErr.Where, pgErr.Hint)
	}
	for _, form := range []string{fmt.Sprint(err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", pgErr)} {
		if strings.Contains(form, k.ID) {
			t.Errorf("error quotes the row: %s", form)
		}
	}
}

func TestAPIKeyHashMustBeAHash(t *testing.T) {
	db, _ := mustNewDB(t)
	m, key, err := checkout.NewMerchant("Shop", []string{"https://shop.example"}, now)
	if err != nil {
		t.Fatal(err)
	}
	m.APIKeyHash = []byte(key) // the raw key, by mistake
	if err := db.CreateMerchant(t.Context(), m); err == nil {
		t.Fatal("a raw API key was stored")
	}
	if _, err := db.Merchant(t.Context(), m.ID); checkout.ErrorCode(err) != checkout.ENOTFOUND {
		t.Fatalf("half a merchant was stored (err %v)", err)
	}
}

// After a COMMIT whose answer was lost, FinishAttempt asks whether the
// payment made it; only a payment that pays its session counts.
func TestPaymentStored(t *testing.T) {
	db, _ := mustNewDB(t)
	s := mustSession(t, db, mustMerchant(t, db))
	if _, err := db.BeginAttempt(t.Context(), s.ID, now, now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	a, p := newPayment(s, 1)
	if db.paymentStored(t.Context(), p) {
		t.Fatal("paymentStored before the payment was stored")
	}
	if err := db.FinishAttempt(t.Context(), a, &p); err != nil {
		t.Fatal(err)
	}
	if !db.paymentStored(t.Context(), p) {
		t.Fatal("paymentStored = false for a stored payment")
	}
	_, other := newPayment(s, 1)
	if db.paymentStored(t.Context(), other) {
		t.Fatal("paymentStored = true for a payment that was never stored")
	}
}

func TestPoolLimitFromDSN(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	db := mustOpen(t, dsn+"&pool_max_conns=3")
	if got := db.pool.Config().MaxConns; got != 3 {
		t.Fatalf("MaxConns = %d; want 3 from pool_max_conns", got)
	}
	if got := mustOpen(t, dsn).pool.Config().MaxConns; got != DefaultMaxConns {
		t.Fatalf("MaxConns = %d without pool_max_conns; want DefaultMaxConns (%d)", got, DefaultMaxConns)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Nothing listens on port 1.
	_, err := Open(ctx, "postgres://checkout:hunter2secret@127.0.0.1:1/checkout?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("Open with no server succeeded")
	}
	if strings.Contains(err.Error(), "hunter2secret") {
		t.Fatalf("the error shows the password: %v", err)
	}
	for _, dsn := range []string{"postgres://checkout:hunter2secret@%zz/x", "postgres://checkout:hunter2secret@h/x?pool_max_conns=many"} {
		_, err := Open(ctx, dsn)
		if err == nil {
			t.Fatalf("Open with a malformed DSN succeeded")
		}
		if strings.Contains(fmt.Sprintf("%#v %v", err, err), "hunter2secret") {
			t.Fatalf("the error shows the password: %v", err)
		}
	}
}

func TestPingAfterClose(t *testing.T) {
	db, err := Open(t.Context(), pgtest.Shared(t).NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Ping(t.Context()); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
}

func TestCounterRowsStayBounded(t *testing.T) {
	db, _ := mustNewDB(t)
	storetest.CounterRowsStayBounded(t, db, func(table, key string) (n int, err error) {
		return n, db.pool.QueryRow(t.Context(), `SELECT count(*) FROM `+table+` WHERE key = $1`, key).Scan(&n)
	})
}
