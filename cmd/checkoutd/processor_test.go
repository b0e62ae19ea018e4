package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The card processor's key authenticates chargebacks, which the guarantee
// pays for: checkoutd refuses to start on a key file or data directory
// that someone else could have read or written, or on a file that does not
// hold a key `checkoutd processors key` makes, and says which and why.
func TestStartRefusesUntrustedKeyFilesAndDataDirectory(t *testing.T) {
	const key = "proc_sk_abcdefghijklmnopqrstuvwxyz" // 26 base32 characters
	other := 65534                                   // nobody
	tests := []struct {
		name  string
		setup func(t *testing.T, data, keyFile string) // data is the data directory, made 0700
		flag  bool                                     // pass -processor-key-file keyFile
		want  []string
	}{
		{"world-readable key file", func(t *testing.T, _, f string) { write(t, f, key+"\n", 0o644) }, true,
			[]string{"processor key", "processor.key", "mode 0644", "chmod 600"}},
		{"group-readable key file", func(t *testing.T, _, f string) { write(t, f, key+"\n", 0o640) }, true,
			[]string{"mode 0640"}},
		{"one-letter key", func(t *testing.T, _, f string) { write(t, f, "x", 0o600) }, true,
			[]string{"processor key", "processor.key", "1 bytes"}},
		{"key of the wrong shape", func(t *testing.T, _, f string) {
			write(t, f, "proc_sk_ABCDEFGHIJKLMNOPQRSTUVWXYZ\n", 0o600)
		}, true, []string{"processor.key", "checkoutd processors key"}},
		{"key with a tail", func(t *testing.T, _, f string) { write(t, f, key+"z\n", 0o600) }, true,
			[]string{"processor.key", "checkoutd processors key"}},
		{"key file owned by another user", func(t *testing.T, _, f string) {
			write(t, f, key+"\n", 0o600)
			chown(t, f, other)
		}, true, []string{"processor.key", "owned by uid 65534"}},
		{"key file is a directory", func(t *testing.T, _, f string) { os.Mkdir(f, 0o700) }, true,
			[]string{"processor.key", "not a regular file"}},
		{"sandbox key file world-readable", func(t *testing.T, data, _ string) {
			write(t, filepath.Join(data, "processor.key"), key+"\n", 0o644)
		}, false, []string{"processor.key", "mode 0644"}},
		{"sandbox key file of the wrong shape", func(t *testing.T, data, _ string) {
			write(t, filepath.Join(data, "processor.key"), "hunter2hunter2hunter2hunter2hunter2\n", 0o600)
		}, false, []string{"processor.key", "checkoutd processors key"}},
		{"world-writable data directory", func(t *testing.T, data, _ string) { chmod(t, data, 0o777) }, false,
			[]string{"data directory", "mode 0777", "chmod 700"}},
		{"world-writable sticky data directory", func(t *testing.T, data, _ string) { chmod(t, data, 0o1777) }, false,
			[]string{"data directory", "mode 1777"}},
		{"group-writable data directory", func(t *testing.T, data, _ string) { chmod(t, data, 0o770) }, false,
			[]string{"data directory", "mode 0770"}},
		{"data directory owned by another user", func(t *testing.T, data, _ string) { chown(t, data, other) }, false,
			[]string{"data directory", "owned by uid 65534"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(data, 0o700); err != nil {
				t.Fatal(err)
			}
			keyFile := filepath.Join(t.TempDir(), "processor.key")
			tt.setup(t, data, keyFile)
			args := []string{"serve", "-addr", "127.0.0.1:0", "-demo-addr", "", "-data-dir", data}
			if tt.flag {
				args = append(args, "-processor-key-file", keyFile)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			err := Run(ctx, args, &stdout, &stderr)
			if err == nil {
				t.Fatalf("started (stderr %s)", stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), key) {
				t.Errorf("error %q shows the key", err)
			}
		})
	}
}

// A key file made as the README says (0600, the key and a newline) is
// accepted, and so is the sandbox's own.
func TestStartAcceptsAPrivateKeyFile(t *testing.T) {
	for _, flag := range []bool{true, false} {
		data := filepath.Join(t.TempDir(), "data")
		args := []string{"serve", "-addr", "127.0.0.1:0", "-demo-addr", "", "-data-dir", data}
		if flag {
			keyFile := filepath.Join(t.TempDir(), "processor.key")
			write(t, keyFile, newProcessorKey()+"\n", 0o600)
			args = append(args, "-processor-key-file", keyFile)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		var stdout, stderr bytes.Buffer
		if err := Run(ctx, args, &stdout, &stderr); err != nil {
			t.Errorf("-processor-key-file %v: %v", flag, err)
		}
		cancel()
		if !strings.Contains(stdout.String(), "checkout") {
			t.Errorf("-processor-key-file %v: no start-up line: %s", flag, stdout.String())
		}
	}
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	chmod(t, path, mode)
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if mode&0o1000 != 0 {
		mode = mode&0o777 | os.ModeSticky
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// chown gives path to another user; the tests run as root, as the
// PostgreSQL and Vault ones do.
func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Chown(path, uid, -1); err != nil {
		t.Fatalf("chown (the tests run as root): %v", err)
	}
}
