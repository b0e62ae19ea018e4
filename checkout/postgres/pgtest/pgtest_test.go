package pgtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

// mustConn connects to dsn and closes the connection when tb ends.
func mustConn(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(tb.Context(), dsn)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func mustExec(tb testing.TB, conn *pgx.Conn, sql string) {
	tb.Helper()
	if _, err := conn.Exec(tb.Context(), sql); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

func count(tb testing.TB, dsn string) int {
	tb.Helper()
	var n int
	if err := mustConn(tb, dsn).QueryRow(tb.Context(), `SELECT count(*) FROM kept`).Scan(&n); err != nil {
		tb.Fatalf("count: %v", err)
	}
	return n
}

func TestStopStartKeepsData(t *testing.T) {
	began := time.Now()
	s := Start(t)
	t.Logf("cluster started in %v", time.Since(began).Round(time.Millisecond))
	dsn := s.NewDatabase(t)
	conn := mustConn(t, dsn)
	mustExec(t, conn, `CREATE TABLE kept (n int)`)
	mustExec(t, conn, `INSERT INTO kept VALUES (1), (2)`)
	var listen, sockets string
	if err := conn.QueryRow(t.Context(), `SELECT current_setting('listen_addresses'), current_setting('unix_socket_directories')`).
		Scan(&listen, &sockets); err != nil {
		t.Fatal(err)
	}
	if listen != "127.0.0.1" || sockets != filepath.Dir(s.DataDir()) {
		t.Errorf("listen_addresses %q, unix_socket_directories %q; want loopback and the private directory", listen, sockets)
	}

	port := s.Port()
	s.Stop(t)
	if s.Running() {
		t.Fatal("Running after Stop")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if c, err := pgx.Connect(ctx, dsn); err == nil {
		c.Close(ctx)
		t.Fatal("connected to a stopped server")
	}
	s.Stop(t) // stopping again is a no-op

	s.Start(t)
	if s.Port() != port {
		t.Fatalf("port %d after restart; want %d", s.Port(), port)
	}
	if n := count(t, dsn); n != 2 {
		t.Fatalf("%d rows after restart; want 2", n)
	}
	if _, err := os.Stat(filepath.Join(s.DataDir(), "PG_VERSION")); err != nil {
		t.Errorf("DataDir: %v", err)
	}
	if b, err := os.ReadFile(s.LogFile()); err != nil || len(b) == 0 {
		t.Errorf("LogFile: %d bytes, %v", len(b), err)
	}
}

func TestKillThenRecover(t *testing.T) {
	s := Options{Durable: true}.Start(t)
	dsn := s.NewDatabase(t)
	conn := mustConn(t, dsn)
	var fsync string
	if err := conn.QueryRow(t.Context(), `SHOW fsync`).Scan(&fsync); err != nil || fsync != "on" {
		t.Fatalf("fsync = %q, %v; want on for a durable server", fsync, err)
	}
	mustExec(t, conn, `CREATE TABLE kept (n int)`)
	mustExec(t, conn, `INSERT INTO kept SELECT generate_series(1, 1000)`)
	// An open transaction at the crash must be rolled back by recovery.
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `INSERT INTO kept VALUES (0)`); err != nil {
		t.Fatal(err)
	}
	s.Kill(t)
	if s.Running() {
		t.Fatal("Running after Kill")
	}
	s.Start(t)
	if n := count(t, dsn); n != 1000 {
		t.Fatalf("%d rows after crash recovery; want the 1000 committed", n)
	}
}

func TestShared(t *testing.T) {
	a, b := Shared(t), Shared(t)
	if a != b {
		t.Fatal("Shared returned two servers")
	}
	d1, d2 := a.NewDatabase(t), a.NewDatabase(t)
	if d1 == d2 {
		t.Fatal("NewDatabase returned one database twice")
	}
	mustExec(t, mustConn(t, d1), `CREATE TABLE only_here (n int)`)
	if _, err := mustConn(t, d2).Exec(t.Context(), `SELECT * FROM only_here`); err == nil {
		t.Fatal("databases are not isolated")
	}
}

func TestMissingBinaries(t *testing.T) {
	t.Setenv("PGTEST_BIN_DIR", t.TempDir())
	_, err := findBinaries()
	if !errors.Is(err, ErrNoBinaries) {
		t.Fatalf("findBinaries with an empty PGTEST_BIN_DIR: %v; want ErrNoBinaries", err)
	}
}
