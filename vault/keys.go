package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyEncrypter is the key-encryption key (KEK): it makes data keys and
// unwraps them. The vault never sees the KEK itself, so that a network KEK
// (HashiCorp Vault Transit, a cloud KMS) drops in without other changes
// (PCI DSS 3.6.1: key-encrypting keys stored apart from data-encrypting keys).
type KeyEncrypter interface {
	// ID names the KEK in stored rows (e.g. "local"); a Transit
	// implementation comes next and must drop in.
	ID() string
	// GenerateDataKey returns a fresh 32-byte AES key and its wrapped form.
	// The caller wipes plaintext when done with it.
	GenerateDataKey(ctx context.Context) (plaintext, wrapped []byte, err error)
	// UnwrapDataKey returns the plaintext of a key GenerateDataKey wrapped;
	// it fails on anything else. The caller wipes the result.
	UnwrapDataKey(ctx context.Context, wrapped []byte) ([]byte, error)
}

// ErrKEKUnavailable is returned (wrapped) when the key-encryption key cannot
// serve: it reports itself unhealthy (e.g. Vault sealed, unreachable or
// slow) or a call to it failed. Callers answer "try again later"; the cause
// stays in the error chain for the logs.
var ErrKEKUnavailable = errors.New("vault: key-encryption key unavailable")

// HealthReporter is implemented by a KeyEncrypter that can tell whether it
// is able to serve (Transit does; LocalKEK, always able, does not). The
// Vault asks it before every Tokenize and Reveal and fails closed, so that
// sealing the KEK's server stops card encryption and decryption even while
// unwrapped data keys sit in the cache.
type HealthReporter interface {
	// Healthy returns nil when the KEK can serve, or an error saying why
	// not; the error matches ErrKEKUnavailable.
	Healthy() error
}

// LocalKEKID is the ID of a LocalKEK, as stored in DataKey.KEKID.
const LocalKEKID = "local"

// localKEKSize is the size of the key in a LocalKEK file: AES-256.
const localKEKSize = 32

// dataKeyAD is the additional data of a wrapped data key: it names the
// purpose, so that a LocalKEK ciphertext made for anything else never
// unwraps as a data key.
var dataKeyAD = []byte("hostedcheckout/vault: data key v1")

// LocalKEK is a KeyEncrypter whose key is 32 bytes in a local file. It is
// for development only: the key sits on the same disk as the data it
// protects, which does not meet PCI DSS 3.6.1 (keys stored in the fewest
// possible locations, apart from the data). The caller prints the loud
// warning; production uses HashiCorp Vault Transit.
type LocalKEK struct {
	aead cipher.AEAD // AES-256-GCM with random nonces prepended
}

var _ KeyEncrypter = (*LocalKEK)(nil)

// LoadOrCreateLocalKEK reads the KEK file at path, or creates it when it is
// missing (mode 0600, created with O_EXCL so that two processes starting at
// once cannot both write one; a missing parent directory is made with mode
// 0700). created reports whether this call made the file. A file readable or
// writable by group or others, owned by another user, or not exactly 32
// bytes, is refused rather than repaired (ReadKeyFile): each means someone
// else may have the key.
func LoadOrCreateLocalKEK(path string) (k *LocalKEK, created bool, err error) {
	key, err := readLocalKEK(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createLocalKEK(path)
		created = err == nil
		if errors.Is(err, fs.ErrExist) {
			// Another process created it between our read and our create.
			key, err = readLocalKEK(path)
			created = false
		}
	}
	if err != nil {
		return nil, false, err
	}
	defer clear(key)
	k, err = newLocalKEK(key)
	if err != nil {
		return nil, false, err
	}
	return k, created, nil
}

func newLocalKEK(key []byte) (*LocalKEK, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("vault: local KEK: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("vault: local KEK: %w", err)
	}
	return &LocalKEK{aead: aead}, nil
}

func readLocalKEK(path string) ([]byte, error) {
	key, err := ReadKeyFile(path, localKEKSize, localKEKSize)
	if err != nil {
		return nil, fmt.Errorf("vault: local KEK file: %w", err)
	}
	return key, nil
}

func createLocalKEK(path string) (key []byte, err error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("vault: create local KEK directory: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("vault: create local KEK file: %w", err)
	}
	key = make([]byte, localKEKSize)
	rand.Read(key) // never fails (crypto/rand, Go 1.24+)
	_, err = f.Write(key)
	if err == nil {
		err = f.Sync() // the key must be on disk before anything is encrypted under it
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		clear(key)
		os.Remove(path) // a short file would be refused at the next start
		return nil, fmt.Errorf("vault: write local KEK file: %w", err)
	}
	return key, nil
}

// ID returns LocalKEKID.
func (k *LocalKEK) ID() string { return LocalKEKID }

// GenerateDataKey returns a random 32-byte key and nonce || AES-256-GCM of
// it under the KEK, with additional data naming the purpose.
func (k *LocalKEK) GenerateDataKey(ctx context.Context) (plaintext, wrapped []byte, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("vault: local KEK: %w", err)
	}
	plaintext = make([]byte, dataKeySize)
	rand.Read(plaintext)
	return plaintext, k.aead.Seal(nil, nil, plaintext, dataKeyAD), nil
}

// UnwrapDataKey returns the plaintext of a data key GenerateDataKey wrapped.
func (k *LocalKEK) UnwrapDataKey(ctx context.Context, wrapped []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("vault: local KEK: %w", err)
	}
	plaintext, err := k.aead.Open(nil, nil, wrapped, dataKeyAD)
	if err != nil {
		return nil, errors.New("vault: local KEK: wrapped data key is damaged or was wrapped by another KEK")
	}
	if len(plaintext) != dataKeySize {
		clear(plaintext)
		return nil, fmt.Errorf("vault: local KEK: unwrapped data key is %d bytes, want %d", len(plaintext), dataKeySize)
	}
	return plaintext, nil
}
