package vault_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostedcheckout/hostedcheckout/vault"
)

func TestLoadOrCreateLocalKEK(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "kek")

	k1, created, err := vault.LoadOrCreateLocalKEK(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreateLocalKEK: created %v, err %v", created, err)
	}
	for name, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		info, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s: mode %04o, want %04o", name, got, want)
		}
	}
	if info, _ := os.Stat(path); info.Size() != 32 {
		t.Errorf("KEK file is %d bytes, want 32", info.Size())
	}

	k2, created, err := vault.LoadOrCreateLocalKEK(path)
	if err != nil || created {
		t.Fatalf("second LoadOrCreateLocalKEK: created %v, err %v", created, err)
	}
	if k2.ID() != vault.LocalKEKID {
		t.Errorf("ID() = %q, want %q", k2.ID(), vault.LocalKEKID)
	}
	plain, wrapped, err := k1.GenerateDataKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) != 32 || strings.Contains(string(wrapped), string(plain)) {
		t.Fatalf("GenerateDataKey: %d-byte key, or key visible in its wrapping", len(plain))
	}
	got, err := k2.UnwrapDataKey(ctx, wrapped)
	if err != nil {
		t.Fatalf("reloaded KEK cannot unwrap: %v", err)
	}
	if string(got) != string(plain) {
		t.Error("unwrapped key differs from generated key")
	}
}

func TestLoadOrCreateLocalKEKRefuses(t *testing.T) {
	tests := []struct {
		name string
		mode os.FileMode
		size int
		dir  bool
		uid  int // owner when not 0 (the tests run as root)
		want string
	}{
		{name: "world readable", mode: 0o644, size: 32, want: "mode 0644"},
		{name: "group readable", mode: 0o640, size: 32, want: "mode 0640"},
		{name: "other writable", mode: 0o602, size: 32, want: "mode 0602"},
		{name: "short", mode: 0o600, size: 31, want: "31 bytes, want 32"},
		{name: "long", mode: 0o600, size: 33, want: "33 bytes, want 32"},
		{name: "empty", mode: 0o600, size: 0, want: "0 bytes, want 32"},
		{name: "directory", dir: true, want: "not a regular file"},
		{name: "another user's", mode: 0o600, size: 32, uid: 65534, want: "owned by uid 65534"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kek")
			if tt.dir {
				if err := os.Mkdir(path, 0o700); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := os.WriteFile(path, make([]byte, tt.size), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.mode); err != nil {
					t.Fatal(err)
				}
				if tt.uid != 0 {
					if err := os.Chown(path, tt.uid, -1); err != nil {
						t.Fatal(err)
					}
				}
			}
			k, created, err := vault.LoadOrCreateLocalKEK(path)
			if err == nil || k != nil || created {
				t.Fatalf("LoadOrCreateLocalKEK = %v, %v, %v; want an error", k, created, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestLocalKEKUnwrapRejects(t *testing.T) {
	ctx := context.Background()
	k, other := MustLocalKEK(t), MustLocalKEK(t)
	_, wrapped, err := k.GenerateDataKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(string(wrapped))
	tampered[len(tampered)-1] ^= 1
	tests := []struct {
		name    string
		kek     *vault.LocalKEK
		wrapped []byte
	}{
		{"tampered", k, tampered},
		{"truncated", k, wrapped[:20]},
		{"empty", k, nil},
		{"other KEK", other, wrapped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := tt.kek.UnwrapDataKey(ctx, tt.wrapped); err == nil || got != nil {
				t.Errorf("UnwrapDataKey = %x, %v; want an error", got, err)
			}
		})
	}
}
