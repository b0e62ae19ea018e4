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

	"github.com/hostedcheckout/hostedcheckout/vault"
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
	key, err := readProcessorKey(path)
	if err != nil {
		return nil, "", fmt.Errorf("%w (-processor-key-file)", err)
	}
	sum := sha256.Sum256([]byte(key))
	return sum[:], "", nil
}

// processorKeyLen is the length of every key newProcessorKey makes.
const processorKeyLen = len(processorKeyPrefix) + 26

// newProcessorKey is a fresh processor key: 26 random base32 characters
// after the prefix (130 bits, crypto/rand.Text).
func newProcessorKey() string { return processorKeyPrefix + strings.ToLower(rand.Text()) }

// readProcessorKey reads a processor key file with the checks every key
// file gets (vault.ReadKeyFile: a regular file of the service's user,
// mode 0600, of a key's length), and refuses anything but one key as
// newProcessorKey makes it, with at most a line ending after it. The key
// authenticates chargebacks, which the guarantee pays: a key someone else
// could read, write or choose (a one-letter key in a 0644 file) would let
// them draw on it (PCI DSS 8.3.2, 8.6.3: authentication factors protected
// and strong).
func readProcessorKey(path string) (string, error) {
	b, err := vault.ReadKeyFile(path, int64(processorKeyLen), int64(processorKeyLen+2))
	if err != nil {
		return "", fmt.Errorf("processor key: %w", err)
	}
	defer clear(b)
	key := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if !validProcessorKey(key) {
		return "", fmt.Errorf("processor key: %s must hold one key made by `checkoutd processors key` (%s and 26 characters a-z, 2-7), and nothing else", path, processorKeyPrefix)
	}
	return key, nil
}

// validProcessorKey reports whether key has the shape newProcessorKey gives.
func validProcessorKey(key string) bool {
	rest, ok := strings.CutPrefix(key, processorKeyPrefix)
	if !ok || len(key) != processorKeyLen {
		return false
	}
	for _, c := range rest {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// loadOrCreateProcessorKey reads the sandbox processor's key, with the
// same checks as an operator's, making it (mode 0600, O_EXCL) on first
// start.
func loadOrCreateProcessorKey(path string) (string, error) {
	key, err := readProcessorKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key = newProcessorKey()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readProcessorKey(path) // another process made it first
	}
	if err != nil {
		return "", fmt.Errorf("processor key: %w", err)
	}
	_, err = f.WriteString(key + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // a short file would be refused at the next start
		return "", fmt.Errorf("processor key: %w", err)
	}
	return key, nil
}
