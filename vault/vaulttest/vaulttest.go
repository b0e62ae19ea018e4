// Package vaulttest runs a real HashiCorp Vault server for tests, on
// loopback, with the Transit engine ready: key "checkout" (aes256-gcm96) at
// mount "transit". The server is the binary `make deps` builds (env
// VAULT_BIN, default $HOME/.cache/hostedcheckout/vault-1.21.0); without it
// tests fail rather than skip, because a skipped KEK test looks like a pass.
package vaulttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/hostedcheckout/hostedcheckout/certs"
)

// Transit names every Server sets up.
const (
	Mount = "transit"
	Key   = "checkout"
)

// DefaultBinary is where `make deps` builds the Vault server, under $HOME.
const DefaultBinary = ".cache/hostedcheckout/vault-1.21.0"

// readyTimeout bounds how long a server may take to answer after start.
const readyTimeout = 60 * time.Second

// Options configure a Server.
type Options struct {
	// Persistent runs a real server (file storage in a temporary directory,
	// initialized and unsealed through the API with one key share) instead
	// of `vault server -dev`. Its keys survive Stop and Start.
	Persistent bool
	// TLS serves HTTPS with a certificate from a fresh development CA
	// (CAFile). It needs Persistent.
	TLS bool
	// AppRoleTokenTTL and AppRoleTokenMaxTTL are the token TTLs of roles
	// EnableAppRole creates. Defaults 1h and 4h; seconds at least.
	AppRoleTokenTTL    time.Duration
	AppRoleTokenMaxTTL time.Duration
}

// Server is a running Vault server. Its methods take the test's tb and
// fail it on any error.
type Server struct {
	bin       string
	opts      Options
	dir       string
	port      int
	addr      string
	caFile    string
	rootToken string
	out       *syncBuffer

	mu        sync.Mutex
	cmd       *exec.Cmd
	exited    chan struct{} // closed when cmd has exited
	unsealKey string
	roles     int
	approle   bool
}

// Start starts a Vault server and waits until Transit is ready. The server
// is killed and its files removed when the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.TLS && !opts.Persistent {
		tb.Fatal("vaulttest: Options.TLS needs Options.Persistent")
	}
	if opts.AppRoleTokenTTL == 0 {
		opts.AppRoleTokenTTL = time.Hour
	}
	if opts.AppRoleTokenMaxTTL == 0 {
		opts.AppRoleTokenMaxTTL = 4 * time.Hour
	}
	s := &Server{bin: MustBinary(tb), opts: opts, dir: tb.TempDir(), out: &syncBuffer{}}
	tb.Cleanup(func() { s.kill() })

	scheme := "http"
	if opts.TLS {
		scheme = "https"
		s.writeCerts(tb)
	}
	// A port taken between picking and binding (another test's server) is
	// picked again.
	for attempt := 1; ; attempt++ {
		s.port = freePort(tb)
		s.addr = fmt.Sprintf("%s://127.0.0.1:%d", scheme, s.port)
		if opts.Persistent {
			s.writeConfig(tb)
		} else {
			s.rootToken = "root-" + strings.ToLower(rand.Text())
		}
		err := s.start(tb)
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(string(s.out.SinceMark()), "address already in use") {
			tb.Fatalf("vaulttest: start: %v\n%s", err, s.Output())
		}
	}
	s.setup(tb, true)
	return s
}

// MustBinary returns the Vault server binary's path, or fails the test.
func MustBinary(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv("VAULT_BIN")
	if bin == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			tb.Fatalf("vaulttest: %v", err)
		}
		bin = filepath.Join(home, DefaultBinary)
	}
	if info, err := os.Stat(bin); err != nil || info.IsDir() {
		tb.Fatalf("vaulttest: Vault server binary not found; run `make deps` (looked for %s; set VAULT_BIN to use another)", bin)
	}
	return bin
}

// Addr is the server's URL, e.g. "http://127.0.0.1:41234".
func (s *Server) Addr() string { return s.addr }

// CAFile is the PEM file of the CA that signed the server's certificate;
// empty without TLS.
func (s *Server) CAFile() string { return s.caFile }

// RootToken is the server's root token.
func (s *Server) RootToken() string { return s.rootToken }

// Output is everything the server printed so far, stdout and stderr.
func (s *Server) Output() []byte { return s.out.Bytes() }

// Client returns a Vault API client with the root token.
func (s *Server) Client() *api.Client {
	c, err := s.newClient()
	if err != nil {
		panic(err) // only a bad CA file, which this package wrote itself
	}
	c.SetToken(s.rootToken)
	return c
}

func (s *Server) newClient() (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = s.addr
	cfg.Timeout = 30 * time.Second
	cfg.MaxRetries = 0
	if s.caFile != "" {
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: s.caFile}); err != nil {
			return nil, err
		}
	}
	return api.NewClient(cfg)
}

// Seal seals the server, as `vault operator seal` does: every Transit call
// fails with 503 until Unseal.
func (s *Server) Seal(tb testing.TB) {
	tb.Helper()
	if err := s.Client().Sys().Seal(); err != nil {
		tb.Fatalf("vaulttest: seal: %v", err)
	}
}

// Unseal unseals the server and waits until it serves again.
func (s *Server) Unseal(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	key := s.unsealKey
	s.mu.Unlock()
	st, err := s.Client().Sys().Unseal(key)
	if err != nil {
		tb.Fatalf("vaulttest: unseal: %v", err)
	}
	if st.Sealed {
		tb.Fatal("vaulttest: still sealed after unseal")
	}
	s.waitActive(tb)
}

// Stop stops the server with SIGTERM and waits for it to exit.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-exited
		tb.Errorf("vaulttest: server did not stop within 20s of SIGTERM; killed")
	}
	s.mu.Lock()
	s.cmd = nil
	s.mu.Unlock()
}

// Start starts a stopped server again on the same port. A persistent
// server keeps its storage and is unsealed; a dev server starts empty and
// gets Transit again (its old keys are gone).
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	if err := s.start(tb); err != nil {
		tb.Fatalf("vaulttest: restart: %v\n%s", err, s.Output())
	}
	s.setup(tb, !s.opts.Persistent)
}

// EnableAppRole writes policyHCL as a new policy, enables AppRole (once),
// creates a role with only that policy (token_no_default_policy: the
// policy given is all the token may do) and the Options' token TTLs, and
// returns its role id and a fresh secret id.
func (s *Server) EnableAppRole(tb testing.TB, policyHCL string) (roleID, secretID string) {
	tb.Helper()
	c := s.Client()
	s.mu.Lock()
	s.roles++
	name := fmt.Sprintf("checkout-%d", s.roles)
	enable := !s.approle
	s.approle = true
	s.mu.Unlock()
	if err := c.Sys().PutPolicy(name, policyHCL); err != nil {
		tb.Fatalf("vaulttest: put policy: %v", err)
	}
	if enable {
		if err := c.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil && !strings.Contains(err.Error(), "path is already in use") {
			tb.Fatalf("vaulttest: enable approle: %v", err)
		}
	}
	_, err := c.Logical().Write("auth/approle/role/"+name, map[string]any{
		"token_policies":          []string{name},
		"token_no_default_policy": true,
		"token_ttl":               int(s.opts.AppRoleTokenTTL / time.Second),
		"token_max_ttl":           int(s.opts.AppRoleTokenMaxTTL / time.Second),
		"token_type":              "service",
		"secret_id_ttl":           "24h",
	})
	if err != nil {
		tb.Fatalf("vaulttest: create role: %v", err)
	}
	r, err := c.Logical().Read("auth/approle/role/" + name + "/role-id")
	if err != nil || r == nil {
		tb.Fatalf("vaulttest: read role id: %v", err)
	}
	sec, err := c.Logical().Write("auth/approle/role/"+name+"/secret-id", nil)
	if err != nil || sec == nil {
		tb.Fatalf("vaulttest: make secret id: %v", err)
	}
	roleID, _ = r.Data["role_id"].(string)
	secretID, _ = sec.Data["secret_id"].(string)
	if roleID == "" || secretID == "" {
		tb.Fatal("vaulttest: empty role id or secret id")
	}
	return roleID, secretID
}

// start runs the binary and waits until it answers HTTP.
func (s *Server) start(tb testing.TB) error {
	tb.Helper()
	var args []string
	if s.opts.Persistent {
		args = []string{"server", "-config=" + filepath.Join(s.dir, "vault.hcl")}
	} else {
		args = []string{"server", "-dev",
			"-dev-root-token-id=" + s.rootToken,
			"-dev-listen-address=" + fmt.Sprintf("127.0.0.1:%d", s.port),
			"-dev-no-store-token"}
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.Env = cleanEnv(s.dir)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	s.out.Mark()
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	c, err := s.newClient()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Sys().HealthWithContext(ctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-exited:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("server exited: %v", cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %s: %v", readyTimeout, err)
		}
	}
	tb.Logf("vaulttest: %s server answering on %s after %s", s.mode(), s.addr, time.Since(began).Round(time.Millisecond))
	return nil
}

func (s *Server) mode() string {
	switch {
	case s.opts.TLS:
		return "persistent TLS"
	case s.opts.Persistent:
		return "persistent"
	}
	return "dev"
}

var unsealKeyLine = regexp.MustCompile(`(?m)^Unseal Key: (\S+)`)

// setup unseals the server (initializing it first when new) and, when
// fresh, enables Transit with the checkout key.
func (s *Server) setup(tb testing.TB, fresh bool) {
	tb.Helper()
	began := time.Now()
	c := s.Client()
	switch {
	case !s.opts.Persistent:
		// The dev server prints its unseal key just after it starts serving.
		deadline := time.Now().Add(readyTimeout)
		for {
			if m := unsealKeyLine.FindSubmatch(s.out.SinceMark()); m != nil {
				s.mu.Lock()
				s.unsealKey = string(m[1])
				s.mu.Unlock()
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("vaulttest: dev server printed no unseal key\n%s", s.Output())
			}
			time.Sleep(20 * time.Millisecond)
		}
	case s.rootToken == "":
		init, err := c.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
		if err != nil {
			tb.Fatalf("vaulttest: init: %v", err)
		}
		s.rootToken = init.RootToken
		s.mu.Lock()
		s.unsealKey = init.KeysB64[0]
		s.mu.Unlock()
		s.Unseal(tb)
	default:
		s.Unseal(tb)
	}
	s.waitActive(tb)
	c = s.Client()
	if fresh {
		if err := c.Sys().Mount(Mount, &api.MountInput{Type: "transit"}); err != nil {
			tb.Fatalf("vaulttest: enable transit: %v", err)
		}
		if _, err := c.Logical().Write(Mount+"/keys/"+Key, map[string]any{"type": "aes256-gcm96"}); err != nil {
			tb.Fatalf("vaulttest: create transit key: %v", err)
		}
	}
	tb.Logf("vaulttest: Transit ready after another %s", time.Since(began).Round(time.Millisecond))
}

// waitActive waits until the server is unsealed, active, and serving
// authenticated requests.
func (s *Server) waitActive(tb testing.TB) {
	tb.Helper()
	c := s.Client()
	deadline := time.Now().Add(readyTimeout)
	for {
		h, err := c.Sys().Health()
		if err == nil && h.Initialized && !h.Sealed && !h.Standby {
			if _, err = c.Sys().ListMounts(); err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("vaulttest: server not active within %s: %v\n%s", readyTimeout, err, s.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeConfig writes the persistent server's configuration.
func (s *Server) writeConfig(tb testing.TB) {
	tb.Helper()
	tlsLines := `  tls_disable = true`
	if s.opts.TLS {
		tlsLines = fmt.Sprintf("  tls_cert_file = %q\n  tls_key_file = %q\n  tls_min_version = \"tls12\"",
			filepath.Join(s.dir, "tls", "vault.crt"), filepath.Join(s.dir, "tls", "vault.key"))
	}
	cfg := fmt.Sprintf(`# vaulttest: a real Vault server on loopback for tests.
storage "file" {
  path = %q
}

listener "tcp" {
  address = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
%s
}

api_addr = %q
cluster_addr = "https://127.0.0.1:%d"
disable_mlock = true
ui = false
log_level = "info"
`, filepath.Join(s.dir, "data"), s.port, s.port+1, tlsLines, s.addr, s.port+1)
	if err := os.WriteFile(filepath.Join(s.dir, "vault.hcl"), []byte(cfg), 0o600); err != nil {
		tb.Fatalf("vaulttest: %v", err)
	}
}

// writeCerts makes a development CA and a server certificate for
// 127.0.0.1 and localhost.
func (s *Server) writeCerts(tb testing.TB) {
	tb.Helper()
	ca, err := certs.NewDevCA("vaulttest CA")
	if err != nil {
		tb.Fatalf("vaulttest: %v", err)
	}
	issued, err := ca.IssueServer("127.0.0.1", "localhost")
	if err != nil {
		tb.Fatalf("vaulttest: %v", err)
	}
	dir := filepath.Join(s.dir, "tls")
	if _, _, err := issued.WriteFiles(dir, "vault"); err != nil {
		tb.Fatalf("vaulttest: %v", err)
	}
	s.caFile = filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(s.caFile, ca.CertPEM(), 0o644); err != nil {
		tb.Fatalf("vaulttest: %v", err)
	}
}

// kill ends the server, whatever its state, at the end of the test.
func (s *Server) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// freePort returns a loopback port that is free, with the next one free
// too (the server's cluster listener takes port+1).
func freePort(tb testing.TB) int {
	tb.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("vaulttest: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1))
		l.Close()
		if err == nil {
			l2.Close()
			return port
		}
	}
	tb.Fatal("vaulttest: no two free neighbouring ports")
	return 0
}

// cleanEnv is the server's environment: the test's, minus every VAULT_*
// variable (which would change what the server does), with HOME in dir.
func cleanEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VAULT_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+dir)
}

// syncBuffer collects the server's output; Mark notes where the current
// run's output starts.
type syncBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	mark int
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

func (b *syncBuffer) Mark() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mark = b.b.Len()
}

func (b *syncBuffer) SinceMark() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes()[b.mark:])
}
