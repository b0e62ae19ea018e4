package vault_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostedcheckout/hostedcheckout/vault"
)

func TestReadKeyFile(t *testing.T) {
	tests := []struct {
		name     string
		content  string
		mode     os.FileMode
		uid      int // owner when not 0 (the tests run as root)
		min, max int64
		want     string // "" for accepted
	}{
		{"owner only", "proc_sk_qz\n", 0o600, 0, 1, 64, ""},
		{"read-only for its owner", "QZJX", 0o400, 0, 4, 4, ""},
		{"world readable", "QZJX", 0o644, 0, 4, 4, "mode 0644"},
		{"group writable", "QZJX", 0o620, 0, 4, 4, "mode 0620"},
		{"another user's", "QZJX", 0o600, 65534, 4, 4, "owned by uid 65534"},
		{"short", "Q", 0o600, 0, 2, 4, "1 bytes, want 2 to 4"},
		{"long", "QZJXQ", 0o600, 0, 2, 4, "5 bytes, want 2 to 4"},
		{"exact size", "QZJ", 0o600, 0, 4, 4, "3 bytes, want 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
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
			got, err := vault.ReadKeyFile(path, tt.min, tt.max)
			switch {
			case tt.want == "" && (err != nil || string(got) != tt.content):
				t.Fatalf("ReadKeyFile = %q, %v; want %q", got, err, tt.content)
			case tt.want != "" && err == nil:
				t.Fatalf("ReadKeyFile = %q; want an error saying %q", got, tt.want)
			case tt.want != "" && (!strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path)):
				t.Fatalf("error %q does not name the file and say %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), tt.content):
				t.Fatalf("error %q shows the content", err)
			}
		})
	}
	if _, err := vault.ReadKeyFile(t.TempDir(), 1, 1); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a directory: %v", err)
	}
}

func TestCheckPrivateDir(t *testing.T) {
	tests := []struct {
		name string
		mode os.FileMode
		uid  int
		want string
	}{
		{"owner only", 0o700, 0, ""},
		{"readable by others", 0o755, 0, ""}, // they may list it; each file keeps its own mode
		{"world writable", 0o777, 0, "mode 0777"},
		{"world writable, sticky", 0o777 | os.ModeSticky, 0, "mode 1777"},
		{"group writable", 0o770, 0, "mode 0770"},
		{"another user's", 0o700, 65534, "owned by uid 65534"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tt.mode); err != nil {
				t.Fatal(err)
			}
			if tt.uid != 0 {
				if err := os.Chown(dir, tt.uid, -1); err != nil {
					t.Fatal(err)
				}
			}
			err := vault.CheckPrivateDir(dir)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("CheckPrivateDir = %v; want %q", err, tt.want)
			}
		})
	}
}
