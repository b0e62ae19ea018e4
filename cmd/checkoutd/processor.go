package main

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// processorKeyPrefix starts every processor key, so that one found in a
// log or a repository is recognised for what it is.
const processorKeyPrefix = "proc_sk_"

// processorKey is the card processor's credential for chargeback
// notifications: the SHA-256 the web layer compares against, and the key
// itself when it is the sandbox's (made in the data directory), which the
// start-up summary shows beside the demo merchant's key. With PostgreSQL
// and no -processor-key-file, there is none: merchants never record
// chargebacks themselves, since the guarantee pays them for those.
func processorKey(cfg Config, log *slog.Logger) (hash []byte, sandboxKey string, err error) {
	path := cfg.ProcessorKeyFile
	if path == "" {
		if cfg.Store != "sqlite" {
			log.Info("chargeback notifications off: set -processor-key-file to the card processor's key")
			return nil, "", nil
		}
		path = filepath.Join(cfg.DataDir, "processor.key")
		if sandboxKey, err = loadOrCreateProcessorKey(path); err != nil {
			return nil, "", err
		}
		sum := sha256.Sum256([]byte(sandboxKey))
		return sum[:], sandboxKey, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("processor key: %w", err)
	}
	key := strings.TrimSpace(string(b))
	if !strings.HasPrefix(key, processorKeyPrefix) || len(key) < len(processorKeyPrefix)+26 {
		return nil, "", fmt.Errorf("processor key: %s must hold a key made by `checkoutd processors key` (%s...)", path, processorKeyPrefix)
	}
	sum := sha256.Sum256([]byte(key))
	return sum[:], "", nil
}

// newProcessorKey is a fresh processor key: 26 random base32 characters
// after the prefix (130 bits, crypto/rand.Text).
func newProcessorKey() string { return processorKeyPrefix + strings.ToLower(rand.Text()) }

// loadOrCreateProcessorKey reads the sandbox processor's key, making it
// (mode 0600) on first start.
func loadOrCreateProcessorKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("processor key: %w", err)
	}
	key := newProcessorKey()
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("processor key: %w", err)
	}
	return key, nil
}
