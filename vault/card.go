package vault

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
)

// fingerprintKeyID is the id of the one fingerprint key. It is fixed so
// that two instances starting at once on an empty store race on one insert
// and the loser finds the winner's key.
const fingerprintKeyID = "fpk_v1"

// fingerprintKeySize is the size of the fingerprint HMAC key.
const fingerprintKeySize = 32

// macSalt is the HKDF salt of the keys MAC derives from the fingerprint key.
var macSalt = []byte("hostedcheckout/vault: mac v1")

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Tokenize encrypts a card number and stores it under a new random token.
// pan is the number's digits only; Tokenize neither keeps nor modifies it
// (the caller wipes it). The token is random, never derived from the number
// (PCI DSS 3.5.1: no way back from a token without the vault); the number is
// AES-256-GCM encrypted with the token as additional data, so that a
// ciphertext moved to another row does not decrypt.
// It refuses with ErrKEKUnavailable (wrapped) while the KEK reports itself
// unhealthy or cannot be reached, even when a data key is cached.
func (v *Vault) Tokenize(ctx context.Context, pan []byte, brand string, expMonth, expYear int) (Card, error) {
	if err := checkPAN(pan); err != nil {
		return Card{}, err
	}
	if err := v.checkOpen(); err != nil {
		return Card{}, err
	}
	if err := v.kekHealthy(); err != nil {
		return Card{}, fmt.Errorf("vault: tokenize: %w", err)
	}
	fp, err := v.fingerprint(pan)
	if err != nil {
		return Card{}, err
	}
	token := randomID("tok")
	dataKeyID, ciphertext, err := v.encrypt(ctx, pan, []byte(token))
	if err != nil {
		return Card{}, err
	}
	c := Card{
		Token:       token,
		Fingerprint: fp,
		Brand:       brand,
		BIN:         string(pan[:6]), // PCI DSS 3.4.1: first 6 and last 4 may be shown
		Last4:       string(pan[len(pan)-4:]),
		ExpMonth:    expMonth,
		ExpYear:     expYear,
	}
	err = v.store.InsertCard(ctx, StoredCard{
		Token:       c.Token,
		DataKeyID:   dataKeyID,
		Ciphertext:  ciphertext,
		Fingerprint: c.Fingerprint,
		Brand:       c.Brand,
		BIN:         c.BIN,
		Last4:       c.Last4,
		ExpMonth:    c.ExpMonth,
		ExpYear:     c.ExpYear,
		CreatedAt:   v.now(),
	})
	if err != nil {
		return Card{}, fmt.Errorf("vault: store card: %w", err)
	}
	return c, nil
}

// checkPAN refuses anything but 12 to 19 ASCII digits, without saying what
// it got: the input may be a card number.
func checkPAN(pan []byte) error {
	if len(pan) < 12 || len(pan) > 19 {
		return errors.New("vault: card number must be 12 to 19 digits")
	}
	for _, c := range pan {
		if c < '0' || c > '9' {
			return errors.New("vault: card number must be digits only")
		}
	}
	return nil
}

// Reveal returns the card number of a token. The caller wipes the result
// as soon as it is done with it. An unknown token is ErrNotFound (wrapped),
// one whose number was erased (its ciphertext emptied) ErrErased;
// an unhealthy or failing KEK is ErrKEKUnavailable (wrapped), even when the
// data key is cached; a ciphertext that does not authenticate (tampered, or
// moved from another token's row) is an error.
func (v *Vault) Reveal(ctx context.Context, token string) ([]byte, error) {
	if err := v.checkOpen(); err != nil {
		return nil, err
	}
	if err := v.kekHealthy(); err != nil {
		return nil, fmt.Errorf("vault: reveal: %w", err)
	}
	c, err := v.store.Card(ctx, token)
	if err != nil {
		return nil, fmt.Errorf("vault: reveal: %w", err)
	}
	if len(c.Ciphertext) == 0 {
		return nil, fmt.Errorf("vault: reveal: %w", ErrErased)
	}
	// The token asked for, not the row's, is the additional data: a row
	// served under another token fails to decrypt.
	pan, err := v.decrypt(ctx, c.DataKeyID, c.Ciphertext, []byte(token))
	if err != nil {
		return nil, fmt.Errorf("vault: reveal: %w", err)
	}
	return pan, nil
}

// Fingerprint returns "fp_" and 130 bits of HMAC-SHA256 of the card number
// under the vault's fingerprint key, in lower-case base32: equal numbers
// give equal fingerprints across instances and restarts. Keyed, never a
// plain hash, because card numbers are few enough to hash them all (PCI DSS
// 3.5.1.1). It panics after Close.
func (v *Vault) Fingerprint(pan []byte) string {
	fp, err := v.fingerprint(pan)
	if err != nil {
		panic(err)
	}
	return fp
}

func (v *Vault) fingerprint(pan []byte) (string, error) {
	v.keyMu.RLock()
	defer v.keyMu.RUnlock()
	if v.fpKey == nil {
		return "", ErrClosed
	}
	m := hmac.New(sha256.New, v.fpKey)
	m.Write(pan)
	return "fp_" + b32.EncodeToString(m.Sum(nil))[:26], nil
}

// MAC returns HMAC-SHA256 of msg under a key derived (HKDF-SHA256) from the
// fingerprint key for purpose, e.g. CSRF tokens bound to a session. Every
// instance sharing the store computes the same MAC; distinct purposes give
// independent keys, so that a MAC made for one purpose is never valid for
// another. Compare MACs with hmac.Equal. It panics after Close, rather than
// return a value a caller might compare equal to an empty input.
func (v *Vault) MAC(purpose string, msg []byte) []byte {
	v.keyMu.RLock()
	defer v.keyMu.RUnlock()
	if v.fpKey == nil {
		panic(ErrClosed)
	}
	key, err := hkdf.Key(sha256.New, v.fpKey, macSalt, "mac: "+purpose, 32)
	if err != nil {
		panic(fmt.Errorf("vault: derive MAC key: %w", err)) // only for impossible lengths
	}
	defer clear(key)
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// loadFingerprintKey loads the fingerprint key, creating it on first start.
func (v *Vault) loadFingerprintKey(ctx context.Context) error {
	key, found, err := v.readFingerprintKey(ctx)
	if err != nil {
		return err
	}
	if !found {
		if key, err = v.createFingerprintKey(ctx); err != nil {
			return err
		}
	}
	v.keyMu.Lock()
	v.fpKey = key
	v.keyMu.Unlock()
	return nil
}

func (v *Vault) createFingerprintKey(ctx context.Context) ([]byte, error) {
	key := make([]byte, fingerprintKeySize)
	rand.Read(key) // never fails (crypto/rand, Go 1.24+)
	s, err := v.sealSecret(ctx, StoredSecret{ID: fingerprintKeyID, Kind: SecretFingerprintKey, CreatedAt: v.now()}, key)
	if err == nil {
		err = v.store.InsertSecret(ctx, s)
	}
	if err == nil {
		return key, nil
	}
	clear(key)
	// Another instance may have inserted it first (the id is fixed, so the
	// store refused ours): use theirs.
	if theirs, found, rerr := v.readFingerprintKey(ctx); rerr == nil && found {
		return theirs, nil
	}
	return nil, fmt.Errorf("vault: create fingerprint key: %w", err)
}

// readFingerprintKey returns the oldest stored fingerprint key; found is
// false when there is none.
func (v *Vault) readFingerprintKey(ctx context.Context) (key []byte, found bool, err error) {
	secrets, err := v.store.Secrets(ctx, SecretFingerprintKey)
	if err != nil {
		return nil, false, fmt.Errorf("vault: load fingerprint key: %w", err)
	}
	if len(secrets) == 0 {
		return nil, false, nil
	}
	key, err = v.openSecret(ctx, secrets[0])
	if err != nil {
		return nil, false, err
	}
	if len(key) != fingerprintKeySize {
		clear(key)
		return nil, false, fmt.Errorf("vault: fingerprint key is %d bytes, want %d", len(key), fingerprintKeySize)
	}
	return key, true, nil
}
