// Package pgtest runs a private PostgreSQL server for tests: a fresh
// cluster in a temporary directory, listening on 127.0.0.1 at a random
// port, that tests may stop, crash and start again. A shared system server
// cannot be used for that, and the tests must talk to a real PostgreSQL.
//
// The server binaries (initdb, postgres) are taken from $PGTEST_BIN_DIR,
// else the newest /usr/lib/postgresql/*/bin (Debian's layout), else PATH.
// Without them the tests fail, never skip: CI must not hide a missing
// dependency. PostgreSQL refuses to run as root, so under root the cluster
// belongs to the "postgres" OS user and the binaries run as that user.
//
// A package's tests share one server through Shared, each test in its own
// database (NewDatabase); tests that stop or crash the server start their
// own with Start.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries is the failure when no PostgreSQL server binaries are
// installed.
var ErrNoBinaries = errors.New("PostgreSQL server binaries not found; run `make deps` (apt-get install -y postgresql)")

// Timeouts of the server's life cycle.
const (
	readyTimeout = 30 * time.Second // from launch to accepting connections
	stopTimeout  = 30 * time.Second // for a fast shutdown, before SIGKILL
)

// Options configure a server.
type Options struct {
	// Durable keeps PostgreSQL's crash safety (fsync, full-page writes).
	// Off, the default, is faster and loses nothing when only processes die
	// (Kill), but would lose data if the OS crashed; crash and fault tests
	// turn it on.
	Durable bool
}

// Server is a private PostgreSQL cluster. Its methods are safe for
// concurrent use.
type Server struct {
	opts    Options
	bin     string // directory of initdb and postgres
	dir     string // the temporary directory: data, socket and log
	cred    *syscall.Credential
	port    int
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd     // the running postmaster; nil when stopped
	exited chan struct{} // closed when cmd has exited
}

// Start starts a private server with the default Options and stops and
// removes it when tb ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return Options{}.Start(tb)
}

// Start starts a private server with these options and stops and removes it
// when tb ends.
func (o Options) Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := start(o)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.destroy(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return s
}

var shared struct {
	mu   sync.Mutex
	main bool // Main is running the tests
	srv  *Server
	err  error
}

// Shared returns the test binary's shared server, starting it on first use.
// Tests must not stop it; each should work in its own database
// (NewDatabase). The package's TestMain must run the tests through Main,
// which stops the server at the end: a tb.Cleanup would stop it after the
// first test.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.main {
		tb.Fatal("pgtest: Shared needs the package's TestMain to run the tests with pgtest.Main(m), which stops the shared server")
	}
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = start(Options{})
	}
	if shared.err != nil {
		tb.Fatalf("pgtest: %v", shared.err)
	}
	return shared.srv
}

// Main runs the tests, then stops and removes the shared server, and exits
// with the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	if shared.srv != nil {
		if err := shared.srv.destroy(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		shared.srv = nil
	}
	shared.mu.Unlock()
	os.Exit(code)
}

// start makes and starts a cluster.
func start(opts Options) (s *Server, err error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	s = &Server{opts: opts, bin: bin}
	if s.cred, err = serverUser(); err != nil {
		return nil, err
	}
	// Not t.TempDir: its parent directories are 0700 and root's, where the
	// postgres user could not reach the cluster.
	if s.dir, err = os.MkdirTemp("", "pgtest-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(s.dir)
		}
	}()
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return nil, err
		}
	}
	s.logPath = filepath.Join(s.dir, "postgres.log")
	initdb := s.command(filepath.Join(bin, "initdb"), "-D", s.DataDir(), "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// A free port can be taken by someone else between our probe and the
	// server's bind; try a few.
	for try := 0; ; try++ {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		err = s.launch()
		if err == nil || try == 2 || !strings.Contains(s.logTail(), "could not bind") {
			return s, err
		}
	}
}

// findBinaries finds the directory holding initdb and postgres.
func findBinaries() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			// Stat follows symbolic links: a dangling one does not count.
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv("PGTEST_BIN_DIR"); dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%w (PGTEST_BIN_DIR=%s has no initdb and postgres)", ErrNoBinaries, dir)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest first, by major version as a number ("9.6" < "15").
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int {
		switch va, vb := version(a), version(b); {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return 0
	})
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	if path, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(path); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if has(filepath.Dir(path)) {
			return filepath.Dir(path), nil
		}
	}
	return "", ErrNoBinaries
}

// serverUser is the OS user to run the server as: nil (ourselves) unless we
// are root, which PostgreSQL refuses; then "postgres".
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL will not: need the postgres OS user to run it as (%v)", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres OS user: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// command runs a server binary as the server's OS user, in its directory,
// with a minimal environment.
func (s *Server) command(path string, args ...string) *exec.Cmd {
	cmd := exec.Command(path, args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
	cmd.SysProcAttr = sysProcAttr(s.cred)
	return cmd
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launch starts the postmaster on s.port and waits until it accepts
// connections. The caller holds s.mu or owns s alone.
func (s *Server) launch() error {
	logFile, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own copy
	args := []string{"-D", s.DataDir(), "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1", // loopback only
		"-c", "unix_socket_directories=" + s.dir, // not /var/run/postgresql, which the system server owns
	}
	if !s.opts.Durable {
		// Loses nothing when only processes die: a commit still write()s
		// its WAL to the OS, which keeps it. (synchronous_commit=off would
		// not: it leaves commits in shared memory for a moment.)
		args = append(args, "-c", "fsync=off", "-c", "full_page_writes=off")
	}
	cmd := s.command(filepath.Join(s.bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("postgres exited while starting: %v; server log:\n%s", cmd.ProcessState, s.logTail())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("postgres did not accept connections within %v (%v); server log:\n%s", readyTimeout, err, s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logTail is the end of the server log, for error messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const max = 4 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// DSN is the URL of database db on the server, as the superuser postgres,
// over TCP on loopback.
func (s *Server) DSN(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// Port is the server's TCP port on 127.0.0.1; it stays the same across Stop
// and Start.
func (s *Server) Port() int { return s.port }

// DataDir is the cluster's data directory, for tests that search the files
// PostgreSQL writes.
func (s *Server) DataDir() string { return filepath.Join(s.dir, "data") }

// LogFile is the server's log (its stdout and stderr), outside DataDir.
func (s *Server) LogFile() string { return s.logPath }

// NewDatabase creates an empty database with a random name and returns its
// DSN. Databases are not dropped: they go with the server's directory, and
// a DROP DATABASE would make the next CREATE DATABASE several times slower.
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	name := "test_" + hex.EncodeToString(b)
	if err := s.exec(tb.Context(), "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	return s.DSN(name)
}

// exec runs one statement in the postgres database.
func (s *Server) exec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// Running reports whether the server is up (started and not stopped or killed).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running()
}

// running reports whether the postmaster is up, forgetting it if it has
// exited on its own; the caller holds s.mu.
func (s *Server) running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		s.cmd = nil
		return false
	default:
		return true
	}
}

// Stop shuts the server down the fast way (SIGINT: connections are closed,
// transactions rolled back, a checkpoint written) and keeps its data. It is
// a no-op when the server is not running.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.stop(); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
}

// Start starts a stopped server again, on the same port and data; after
// Kill, PostgreSQL recovers from its write-ahead log first.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running() {
		tb.Fatal("pgtest: Start: the server is running")
	}
	if err := s.launch(); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
}

// Kill crashes the server: SIGKILL to the postmaster and every backend, so
// that none does anything more, as a power cut would leave it (minus the
// OS's unwritten pages, unless Durable). Clients see their connections
// break. Start recovers it from its write-ahead log.
func (s *Server) Kill(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running() {
		tb.Fatal("pgtest: Kill: the server is not running")
	}
	if err := s.kill(); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
}

// stop does Stop; the caller holds s.mu.
func (s *Server) stop() error {
	if !s.running() {
		return nil
	}
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return s.kill()
	}
	select {
	case <-s.exited:
		s.cmd = nil
		return nil
	case <-time.After(stopTimeout):
		err := s.kill()
		return errors.Join(fmt.Errorf("fast shutdown took over %v; killed; server log:\n%s", stopTimeout, s.logTail()), err)
	}
}

// kill does Kill; the caller holds s.mu.
func (s *Server) kill() error {
	if !s.running() {
		return nil
	}
	err := killServer(s.cmd.Process.Pid, s.exited, 10*time.Second)
	s.cmd = nil
	return err
}

// destroy stops the server and removes its directory.
func (s *Server) destroy() error {
	s.mu.Lock()
	err := s.stop()
	s.mu.Unlock()
	return errors.Join(err, os.RemoveAll(s.dir))
}
