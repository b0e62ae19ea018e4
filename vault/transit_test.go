package vault_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/hostedcheckout/hostedcheckout/vault"
	"github.com/hostedcheckout/hostedcheckout/vault/vaulttest"
)

// MustTransit returns a Transit KEK, closed when the test ends.
func MustTransit(tb testing.TB, opts vault.TransitOptions) *vault.Transit {
	tb.Helper()
	tr, err := vault.NewTransit(context.Background(), opts)
	if err != nil {
		tb.Fatalf("NewTransit: %v", err)
	}
	tb.Cleanup(func() { tr.Close() })
	return tr
}

// MustRootTransit returns a Transit KEK on srv with its root token.
func MustRootTransit(tb testing.TB, srv *vaulttest.Server) *vault.Transit {
	tb.Helper()
	return MustTransit(tb, vault.TransitOptions{Address: srv.Addr(), CACert: srv.CAFile(), Token: srv.RootToken()})
}

// syncWriter is a goroutine-safe log sink.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestTransitTokenizeReveal(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	tr := MustRootTransit(t, srv)
	if got, want := tr.ID(), "transit:transit/checkout"; got != want {
		t.Errorf("ID() = %q, want %q", got, want)
	}
	if err := tr.Healthy(); err != nil {
		t.Fatalf("Healthy() = %v, want nil", err)
	}
	store := newMemStore()
	v := MustOpen(t, vault.Options{Store: store, KEK: tr})

	const n = 500
	pans := make(map[string]string, n)
	for range n {
		pan := randomPAN()
		pans[MustTokenize(t, v, pan).Token] = pan
	}
	for token, pan := range pans {
		if got := MustReveal(t, v, token); string(got) != pan {
			t.Fatalf("Reveal(%s) = %q, want %q", token, got, pan)
		}
	}
	// Steady state: the data key cache, not Vault, serves each card.
	st := v.Stats()
	calls := st.KEKGenerate + st.KEKUnwrap
	t.Logf("%d cards tokenized and revealed: %d KEK calls (%.4f per card)", n, calls, float64(calls)/n)
	if calls > 2 {
		t.Errorf("KEK calls = %d (%+v), want at most 2 for %d cards", calls, st, n)
	}

	// What is stored is Transit ciphertext, named by the KEK's ID; no
	// plaintext data key is anywhere in the store.
	keys, err := store.DataKeys(context.Background(), "", 100)
	if err != nil || len(keys) == 0 {
		t.Fatalf("DataKeys: %d keys, %v", len(keys), err)
	}
	for _, dk := range keys {
		if dk.KEKID != tr.ID() || !bytes.HasPrefix(dk.Wrapped, []byte("vault:v1:")) || tr.KeyVersion(dk.Wrapped) != 1 {
			t.Errorf("data key %s: KEKID %q, wrapped %.12q..., want %q and vault:v1:", dk.ID, dk.KEKID, dk.Wrapped, tr.ID())
		}
		plain, err := tr.UnwrapDataKey(context.Background(), dk.Wrapped)
		if err != nil {
			t.Fatalf("UnwrapDataKey: %v", err)
		}
		if contains(store.rows(), plain) {
			t.Errorf("data key %s is stored in plaintext", dk.ID)
		}
	}

	// Another instance on the same store unwraps through Transit, once per
	// data key.
	v2 := MustOpen(t, vault.Options{Store: store, KEK: tr})
	for token, pan := range pans {
		if got := MustReveal(t, v2, token); string(got) != pan {
			t.Fatalf("second instance: Reveal(%s) = %q, want %q", token, got, pan)
		}
	}
	if st := v2.Stats(); st.KEKUnwrap > int64(len(keys)) || st.KEKGenerate != 0 {
		t.Errorf("second instance: %+v, want at most %d unwraps and no generate", st, len(keys))
	}
}

func TestTransitDataKeys(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	tr := MustRootTransit(t, srv)
	ctx := context.Background()

	plain, wrapped, err := tr.GenerateDataKey(ctx)
	if err != nil {
		t.Fatalf("GenerateDataKey: %v", err)
	}
	if len(plain) != 32 || tr.KeyVersion(wrapped) != 1 {
		t.Fatalf("GenerateDataKey: %d-byte key, wrapped %q", len(plain), wrapped)
	}
	got, err := tr.UnwrapDataKey(ctx, wrapped)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("UnwrapDataKey = %x, %v; want %x", got, err, plain)
	}
	// A damaged ciphertext is refused, and is not an availability error.
	bad := bytes.Clone(wrapped)
	bad[len(bad)-3] ^= 1
	if _, err := tr.UnwrapDataKey(ctx, bad); err == nil || errors.Is(err, vault.ErrKEKUnavailable) {
		t.Errorf("UnwrapDataKey(damaged) = %v, want a refusal that is not ErrKEKUnavailable", err)
	}
	if _, err := tr.UnwrapDataKey(ctx, []byte("local-ciphertext")); err == nil {
		t.Error("UnwrapDataKey(non-Transit) succeeded")
	}
	if err := tr.Healthy(); err != nil {
		t.Errorf("a refused ciphertext made Transit unhealthy: %v", err)
	}

	for _, tc := range []struct {
		in   string
		want int
	}{
		{"vault:v1:abc", 1}, {"vault:v12:abc", 12}, {"vault:v0:abc", 0}, {"vault:v:abc", 0},
		{"vault:vx:abc", 0}, {"vault:v1", 0}, {"vault:v-1:abc", 0}, {"", 0}, {"v1:abc", 0},
		{"vault:v99999999999:abc", 0},
	} {
		if got := tr.KeyVersion([]byte(tc.in)); got != tc.want {
			t.Errorf("KeyVersion(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// loginAppRole returns a client holding a token of the role.
func loginAppRole(t *testing.T, srv *vaulttest.Server, roleID, secretID string) *api.Client {
	t.Helper()
	c := srv.Client()
	c.ClearToken()
	s, err := c.Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID})
	if err != nil {
		t.Fatalf("AppRole login: %v", err)
	}
	c.SetToken(s.Auth.ClientToken)
	return c
}

// wantForbidden checks that every request is refused with 403.
func wantForbidden(t *testing.T, c *api.Client, reqs map[string]func() error) {
	t.Helper()
	for name, req := range reqs {
		err := req()
		var re *api.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %v, want 403 permission denied", name, err)
		}
	}
}

func TestTransitAppRoleLeastPrivilege(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	ctx := context.Background()
	root := srv.Client()
	if _, err := root.Logical().Write("transit/keys/other", map[string]any{"type": "aes256-gcm96"}); err != nil {
		t.Fatal(err)
	}
	otherCT, err := root.Logical().Write("transit/encrypt/other", map[string]any{"plaintext": "aGVsbG8="})
	if err != nil {
		t.Fatal(err)
	}

	policy := vault.TransitPolicy("transit", "checkout")
	roleID, secretID := srv.EnableAppRole(t, policy)
	logs := &syncWriter{}
	tr := MustTransit(t, vault.TransitOptions{
		Address: srv.Addr(),
		AppRole: vault.AppRoleAuth{RoleID: roleID, SecretID: secretID},
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
	})
	v := MustOpen(t, vault.Options{KEK: tr})
	for range 20 {
		pan := randomPAN()
		if got := MustReveal(t, v, MustTokenize(t, v, pan).Token); string(got) != pan {
			t.Fatalf("round trip through AppRole: got %q, want %q", got, pan)
		}
	}

	// The service may not rotate or manage the key: that is the operator's.
	if _, err := tr.Rotate(ctx); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Rotate with the service policy: %v, want permission denied", err)
	}
	if _, err := tr.LatestVersion(ctx); err == nil {
		t.Error("LatestVersion with the service policy succeeded")
	}
	if err := tr.SetMinDecryptionVersion(ctx, 1); err == nil {
		t.Error("SetMinDecryptionVersion with the service policy succeeded")
	}
	if err := tr.Healthy(); err != nil {
		t.Errorf("a refused rotation made Transit unhealthy: %v", err)
	}

	// A token of the role may make, unwrap and rewrap data keys with the
	// checkout key, and nothing else.
	c := loginAppRole(t, srv, roleID, secretID)
	dk, err := c.Logical().Write("transit/datakey/plaintext/checkout", map[string]any{"bits": 256})
	if err != nil {
		t.Fatalf("datakey with the service policy: %v", err)
	}
	ct := dk.Data["ciphertext"].(string)
	if _, err := c.Logical().Write("transit/decrypt/checkout", map[string]any{"ciphertext": ct}); err != nil {
		t.Errorf("decrypt with the service policy: %v", err)
	}
	if _, err := c.Logical().Write("transit/rewrap/checkout", map[string]any{"ciphertext": ct}); err != nil {
		t.Errorf("rewrap with the service policy: %v", err)
	}
	write := func(path string, data map[string]any) func() error {
		return func() error { _, err := c.Logical().Write(path, data); return err }
	}
	read := func(path string) func() error {
		return func() error { _, err := c.Logical().Read(path); return err }
	}
	wantForbidden(t, c, map[string]func() error{
		"encrypt with checkout":   write("transit/encrypt/checkout", map[string]any{"plaintext": "aGVsbG8="}),
		"encrypt with other":      write("transit/encrypt/other", map[string]any{"plaintext": "aGVsbG8="}),
		"datakey with other":      write("transit/datakey/plaintext/other", map[string]any{"bits": 256}),
		"decrypt with other":      write("transit/decrypt/other", map[string]any{"ciphertext": otherCT.Data["ciphertext"]}),
		"rewrap with other":       write("transit/rewrap/other", map[string]any{"ciphertext": otherCT.Data["ciphertext"]}),
		"wrapped datakey":         write("transit/datakey/wrapped/checkout", map[string]any{"bits": 256}),
		"rotate":                  write("transit/keys/checkout/rotate", nil),
		"config":                  write("transit/keys/checkout/config", map[string]any{"min_decryption_version": 1}),
		"read key":                read("transit/keys/checkout"),
		"export key":              read("transit/export/encryption-key/checkout"),
		"backup key":              read("transit/backup/checkout"),
		"create key":              write("transit/keys/new", nil),
		"list mounts":             read("sys/mounts"),
		"seal":                    write("sys/seal", nil),
		"write policy":            write("sys/policies/acl/mine", map[string]any{"policy": `path "*" { capabilities = ["sudo"] }`}),
		"new secret id":           write("auth/approle/role/checkout-1/secret-id", nil),
		"create token":            write("auth/token/create", nil),
		"cubbyhole (default pol)": write("cubbyhole/x", map[string]any{"a": "b"}),
	})

	// The admin policy rotates and retires versions, and cannot make or
	// unwrap data keys.
	adminRole, adminSecret := srv.EnableAppRole(t, vault.TransitAdminPolicy("transit", "checkout"))
	admin := MustTransit(t, vault.TransitOptions{Address: srv.Addr(), AppRole: vault.AppRoleAuth{RoleID: adminRole, SecretID: adminSecret}})
	ver, err := admin.Rotate(ctx)
	if err != nil || ver != 2 {
		t.Fatalf("admin Rotate = %d, %v; want 2", ver, err)
	}
	if latest, err := admin.LatestVersion(ctx); err != nil || latest != 2 {
		t.Errorf("admin LatestVersion = %d, %v; want 2", latest, err)
	}
	if err := admin.SetMinDecryptionVersion(ctx, 1); err != nil {
		t.Errorf("admin SetMinDecryptionVersion: %v", err)
	}
	if _, _, err := admin.GenerateDataKey(ctx); err == nil || !errors.Is(err, vault.ErrKEKUnavailable) {
		t.Errorf("admin GenerateDataKey = %v, want permission denied", err)
	}

	// Close revokes the token it logged in with.
	tokens := func() int {
		s, err := root.Logical().List("auth/token/accessors")
		if err != nil {
			t.Fatal(err)
		}
		return len(s.Data["keys"].([]any))
	}
	before := tokens()
	tr.Close()
	if after := tokens(); after != before-1 {
		t.Errorf("tokens: %d before Close, %d after; want one revoked", before, after)
	}
	if err := v.Healthy(); !errors.Is(err, vault.ErrKEKUnavailable) {
		t.Errorf("vault.Healthy after the KEK closed = %v, want ErrKEKUnavailable", err)
	}
	// Neither a secret id nor a token is ever logged, by us or the server.
	for _, s := range []string{secretID, adminSecret, "hvs."} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("our logs contain %q", s)
		}
	}
	for _, s := range []string{secretID, adminSecret} {
		if bytes.Contains(srv.Output(), []byte(s)) {
			t.Errorf("the server's output contains %q", s)
		}
	}
}

func TestTransitAppRoleRenewal(t *testing.T) {
	// Tokens live 2s and at most 5s: over 7s of calls the token must be
	// renewed, then replaced by a fresh login when renewal is capped.
	srv := vaulttest.Start(t, vaulttest.Options{AppRoleTokenTTL: 2 * time.Second, AppRoleTokenMaxTTL: 5 * time.Second})
	roleID, secretID := srv.EnableAppRole(t, vault.TransitPolicy("transit", "checkout"))
	logs := &syncWriter{}
	tr := MustTransit(t, vault.TransitOptions{
		Address: srv.Addr(),
		AppRole: vault.AppRoleAuth{RoleID: roleID, SecretID: secretID},
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	ctx := context.Background()
	deadline := time.Now().Add(7 * time.Second)
	calls := 0
	for time.Now().Before(deadline) {
		plain, wrapped, err := tr.GenerateDataKey(ctx)
		if err != nil {
			t.Fatalf("after %d calls: GenerateDataKey: %v\nlogs:\n%s", calls, err, logs)
		}
		if got, err := tr.UnwrapDataKey(ctx, wrapped); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("after %d calls: UnwrapDataKey: %v", calls, err)
		}
		calls++
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d data keys over 7s with 2s tokens (max 5s): no call refused", calls)
	if !strings.Contains(logs.String(), "token renewed") || !strings.Contains(logs.String(), "logged in again") {
		t.Errorf("want renewals and a fresh login in the logs:\n%s", logs)
	}
	if strings.Contains(logs.String(), secretID) || strings.Contains(logs.String(), "hvs.") {
		t.Errorf("logs contain the secret id or a token:\n%s", logs)
	}
}

func TestTransitTLS(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{Persistent: true, TLS: true})
	if !strings.HasPrefix(srv.Addr(), "https://") || srv.CAFile() == "" {
		t.Fatalf("TLS server at %q with CA %q", srv.Addr(), srv.CAFile())
	}
	tr := MustTransit(t, vault.TransitOptions{Address: srv.Addr(), CACert: srv.CAFile(), Token: srv.RootToken()})
	v := MustOpen(t, vault.Options{KEK: tr})
	pan := randomPAN()
	if got := MustReveal(t, v, MustTokenize(t, v, pan).Token); string(got) != pan {
		t.Fatalf("round trip over TLS: got %q", got)
	}

	// Without the CA (system roots only), or with another CA, the server's
	// certificate is refused at start, and the error says why.
	other := vaulttest.Start(t, vaulttest.Options{Persistent: true, TLS: true})
	for name, ca := range map[string]string{"no CA": "", "another CA": other.CAFile()} {
		_, err := vault.NewTransit(context.Background(), vault.TransitOptions{Address: srv.Addr(), CACert: ca, Token: srv.RootToken()})
		if err == nil || !strings.Contains(err.Error(), "x509") {
			t.Errorf("%s: NewTransit = %v, want an x509 error", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestTransitOptions(t *testing.T) {
	for name, opts := range map[string]vault.TransitOptions{
		"no address":             {Token: "t"},
		"not a URL":              {Address: "vault:8200", Token: "t"},
		"ftp":                    {Address: "ftp://127.0.0.1:8200", Token: "t"},
		"http off loopback":      {Address: "http://vault.internal:8200", Token: "t"},
		"CA with http":           {Address: "http://127.0.0.1:8200", CACert: "ca.pem", Token: "t"},
		"no auth":                {Address: "https://vault.internal:8200"},
		"token and AppRole":      {Address: "https://vault.internal:8200", Token: "t", AppRole: vault.AppRoleAuth{RoleID: "r", SecretID: "s"}},
		"AppRole without secret": {Address: "https://vault.internal:8200", AppRole: vault.AppRoleAuth{RoleID: "r"}},
		"glob key":               {Address: "https://vault.internal:8200", Token: "t", Key: "*"},
		"glob mount":             {Address: "https://vault.internal:8200", Token: "t", Mount: "transit+"},
		"quote in key":           {Address: "https://vault.internal:8200", Token: "t", Key: `a"b`},
		"dotdot mount":           {Address: "https://vault.internal:8200", Token: "t", Mount: "a/../sys"},
		"negative timeout":       {Address: "https://vault.internal:8200", Token: "t", CallTimeout: -1},
		"missing CA file":        {Address: "https://vault.internal:8200", Token: "t", CACert: "/nonexistent/ca.pem"},
	} {
		if tr, err := vault.NewTransit(context.Background(), opts); err == nil {
			tr.Close()
			t.Errorf("%s: NewTransit succeeded", name)
		}
	}
	// Nothing listening: a clear error at start, bounded by the call timeout.
	start := time.Now()
	_, err := vault.NewTransit(context.Background(), vault.TransitOptions{Address: "http://127.0.0.1:1", Token: "t", CallTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "unreachable") || time.Since(start) > 2*time.Second {
		t.Errorf("NewTransit(nothing listening) = %v after %s, want unreachable within 1s", err, time.Since(start))
	}
}

func TestTransitPolicyText(t *testing.T) {
	p := vault.TransitPolicy("", "")
	for _, want := range []string{
		`path "transit/datakey/plaintext/checkout"`, `path "transit/decrypt/checkout"`, `path "transit/rewrap/checkout"`,
		`path "auth/token/renew-self"`, `path "auth/token/revoke-self"`,
	} {
		if !strings.Contains(p, want) {
			t.Errorf("TransitPolicy lacks %s:\n%s", want, p)
		}
	}
	if n := strings.Count(p, "path "); n != 5 {
		t.Errorf("TransitPolicy has %d paths, want 5:\n%s", n, p)
	}
	for _, bad := range []string{"sys/", "*", "+", "encrypt", "keys/", `"read"`, "sudo", "create", "delete"} {
		if strings.Contains(p, bad) {
			t.Errorf("TransitPolicy contains %q:\n%s", bad, p)
		}
	}
	a := vault.TransitAdminPolicy("kms", "cards")
	for _, want := range []string{`path "kms/keys/cards/rotate"`, `path "kms/keys/cards/config"`, `path "kms/keys/cards"`} {
		if !strings.Contains(a, want) {
			t.Errorf("TransitAdminPolicy lacks %s:\n%s", want, a)
		}
	}
	if strings.Contains(a, "datakey") || strings.Contains(a, "decrypt") || strings.Contains(a, "*") {
		t.Errorf("TransitAdminPolicy grants key use:\n%s", a)
	}
	for _, bad := range [][2]string{{"transit", "*"}, {"transit", "check+out"}, {"tr*", "checkout"}, {"transit", `a"b`}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("TransitPolicy(%q, %q) did not panic", bad[0], bad[1])
				}
			}()
			vault.TransitPolicy(bad[0], bad[1])
		}()
	}
}

// BenchmarkTokenizeWithTransit is the product's tokenization with keys in a
// real Vault: the data key comes from Transit once, then every card is
// encrypted locally. Compare with BenchmarkTransitEncryptPerCard, the cost
// of calling Transit once per card, on the same server.
func BenchmarkTokenizeWithTransit(b *testing.B) {
	srv := vaulttest.Start(b, vaulttest.Options{})
	v := MustOpen(b, vault.Options{KEK: MustRootTransit(b, srv)})
	pan := []byte(randomPAN())
	before := v.Stats()
	b.ResetTimer() // the server's start is not tokenization
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Tokenize(context.Background(), pan, "visa", 12, 2030); err != nil {
				b.Fatal(err)
			}
		}
	})
	s := v.Stats()
	b.ReportMetric(float64(s.KEKGenerate-before.KEKGenerate+s.KEKUnwrap-before.KEKUnwrap)/float64(b.N), "vault-calls/card")
}

// BenchmarkTransitEncryptPerCard calls Transit's encrypt once per card, the
// design the data-key cache avoids.
func BenchmarkTransitEncryptPerCard(b *testing.B) {
	srv := vaulttest.Start(b, vaulttest.Options{})
	client := srv.Client()
	plaintext := base64.StdEncoding.EncodeToString([]byte(randomPAN()))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, err := client.Logical().WriteWithContext(context.Background(), "transit/encrypt/"+vaulttest.Key,
				map[string]any{"plaintext": plaintext})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(1, "vault-calls/card")
}
