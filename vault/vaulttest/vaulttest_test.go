package vaulttest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/hostedcheckout/hostedcheckout/vault/vaulttest"
)

// fatalTB records a Fatal or Skip instead of ending the real test.
type fatalTB struct {
	testing.TB
	msg     string
	skipped bool
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fatalTB) Fatal(args ...any) { f.msg = fmt.Sprint(args...); runtime.Goexit() }
func (f *fatalTB) Skip(args ...any)  { f.skipped = true; runtime.Goexit() }
func (f *fatalTB) Skipf(format string, args ...any) {
	f.skipped = true
	runtime.Goexit()
}
func (f *fatalTB) SkipNow() { f.skipped = true; runtime.Goexit() }

func TestMissingBinaryFails(t *testing.T) {
	t.Setenv("VAULT_BIN", "/nonexistent/vault")
	ftb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		vaulttest.Start(ftb, vaulttest.Options{})
	}()
	<-done
	if ftb.skipped || !strings.Contains(ftb.msg, "Vault server binary not found; run `make deps`") {
		t.Errorf("skipped %v, message %q; want a failure telling to run make deps", ftb.skipped, ftb.msg)
	}
}

// encrypt encrypts a fixed plaintext with the checkout key.
func encrypt(t *testing.T, c *api.Client) string {
	t.Helper()
	s, err := c.Logical().Write("transit/encrypt/checkout", map[string]any{"plaintext": "aGVsbG8="})
	if err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	return s.Data["ciphertext"].(string)
}

func decrypt(c *api.Client, ct string) (string, error) {
	s, err := c.Logical().Write("transit/decrypt/checkout", map[string]any{"ciphertext": ct})
	if err != nil {
		return "", err
	}
	return s.Data["plaintext"].(string), nil
}

func TestDevSealUnseal(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	if !strings.HasPrefix(srv.Addr(), "http://127.0.0.1:") || srv.CAFile() != "" || srv.RootToken() == "" {
		t.Fatalf("Addr %q, CAFile %q, root token set %v", srv.Addr(), srv.CAFile(), srv.RootToken() != "")
	}
	c := srv.Client()
	ct := encrypt(t, c)
	srv.Seal(t)
	if _, err := decrypt(c, ct); err == nil || !strings.Contains(err.Error(), "sealed") {
		t.Errorf("decrypt while sealed: %v", err)
	}
	srv.Unseal(t)
	if pt, err := decrypt(c, ct); err != nil || pt != "aGVsbG8=" {
		t.Errorf("decrypt after unseal = %q, %v", pt, err)
	}
	if !strings.Contains(string(srv.Output()), "Vault server started") {
		t.Errorf("Output() lacks the server's log:\n%s", srv.Output())
	}
}

func TestPersistentRestart(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{Persistent: true, TLS: true})
	if !strings.HasPrefix(srv.Addr(), "https://127.0.0.1:") || srv.CAFile() == "" {
		t.Fatalf("Addr %q, CAFile %q", srv.Addr(), srv.CAFile())
	}
	ct := encrypt(t, srv.Client())
	root, addr := srv.RootToken(), srv.Addr()
	srv.Stop(t)
	if _, err := srv.Client().Sys().Health(); err == nil {
		t.Error("server answers after Stop")
	}
	start := time.Now()
	srv.Start(t)
	t.Logf("restart and unseal took %s", time.Since(start).Round(time.Millisecond))
	if srv.RootToken() != root || srv.Addr() != addr {
		t.Error("root token or address changed across the restart")
	}
	if pt, err := decrypt(srv.Client(), ct); err != nil || pt != "aGVsbG8=" {
		t.Errorf("decrypt after restart = %q, %v; want the key to have survived", pt, err)
	}
}

func TestEnableAppRole(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	policy := `path "transit/encrypt/checkout" { capabilities = ["update"] }`
	for range 2 { // twice: AppRole is enabled once
		roleID, secretID := srv.EnableAppRole(t, policy)
		c := srv.Client()
		c.ClearToken()
		s, err := c.Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID})
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		c.SetToken(s.Auth.ClientToken)
		encrypt(t, c)
		if _, err := c.Logical().Write("transit/decrypt/checkout", map[string]any{"ciphertext": "vault:v1:x"}); err == nil {
			t.Error("the role may decrypt, beyond its policy")
		}
	}
}

func TestProxy(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	p := vaulttest.NewProxy(t, srv.Addr())
	get := func(timeout time.Duration) (int, time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/v1/sys/health", nil)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, time.Since(start), err
		}
		resp.Body.Close()
		return resp.StatusCode, time.Since(start), nil
	}
	if code, _, err := get(time.Second); err != nil || code != http.StatusOK {
		t.Errorf("pass: %d, %v", code, err)
	}
	p.FailWith(http.StatusServiceUnavailable)
	if code, _, err := get(time.Second); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("FailWith(503): %d, %v", code, err)
	}
	p.Pass()
	p.SetDelay(300 * time.Millisecond)
	if code, took, err := get(2 * time.Second); err != nil || code != http.StatusOK || took < 300*time.Millisecond {
		t.Errorf("SetDelay(300ms): %d after %s, %v", code, took, err)
	}
	p.Pass()
	p.Blackhole(true)
	if _, took, err := get(300 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) || took < 300*time.Millisecond {
		t.Errorf("Blackhole: %v after %s, want no answer", err, took)
	}
	p.Pass()
	if code, _, err := get(time.Second); err != nil || code != http.StatusOK {
		t.Errorf("Pass again: %d, %v", code, err)
	}
}
