package checkout

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strings"
	"time"
)

// Merchant is a shop that may create checkout sessions. Its pages may embed
// the checkout, and its return URLs may point, only at its registered Origins.
type Merchant struct {
	ID         string
	Name       string
	Origins    []Origin
	APIKeyHash []byte // SHA-256 of the secret key; the key itself is shown once and never stored
	CreatedAt  time.Time
	// PaymentMethods are the methods its shoppers may choose in Japan
	// (DefaultPaymentMethodSettings until it saves its own).
	PaymentMethods PaymentMethodSettings
}

// MerchantStore keeps merchants.
type MerchantStore interface {
	// CreateMerchant stores a new merchant; ECONFLICT when the id exists.
	CreateMerchant(ctx context.Context, m Merchant) error
	// MerchantByAPIKeyHash finds the merchant owning a key; ENOTFOUND when none does.
	MerchantByAPIKeyHash(ctx context.Context, hash []byte) (Merchant, error)
	// Merchant returns one merchant; ENOTFOUND when missing.
	Merchant(ctx context.Context, id string) (Merchant, error)
}

// APIKeyRotator replaces a merchant's key hash (used for the demo merchant).
type APIKeyRotator interface {
	// SetMerchantAPIKeyHash replaces the key hash; ENOTFOUND when the merchant is missing.
	SetMerchantAPIKeyHash(ctx context.Context, merchantID string, hash []byte) error
}

// NewMerchant validates a name and origins and returns a merchant with a fresh
// id and secret key. The key is returned once, for the operator to hand over.
func NewMerchant(name string, origins []string, now time.Time) (Merchant, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len([]rune(name)) > 100 {
		return Merchant{}, "", &Error{Code: EINVALID, Field: "name", Message: "the merchant name must be 1 to 100 characters"}
	}
	if len(origins) == 0 {
		return Merchant{}, "", &Error{Code: EINVALID, Field: "origin", Message: "a merchant needs at least one origin"}
	}
	m := Merchant{ID: NewID("mer"), Name: name, CreatedAt: now.UTC()}
	for _, raw := range origins {
		o, err := ParseOrigin(raw)
		if err != nil {
			return Merchant{}, "", err
		}
		m.Origins = append(m.Origins, o)
	}
	key := NewAPIKey()
	m.APIKeyHash = HashAPIKey(key)
	return m, key, nil
}

// NewAPIKey returns a fresh secret API key.
func NewAPIKey() string { return "sk_test_" + randomString(32) }

// HashAPIKey hashes a secret key for storage and lookup. A plain SHA-256 is
// enough here: keys carry 160 bits of randomness, so they cannot be guessed
// from the hash (unlike card numbers, which need a keyed HMAC).
func HashAPIKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// APIKeyFingerprint names the merchant's current API key in audit logs
// without revealing it: "key_" and 12 hex digits of the stored SHA-256. A
// key carries 160 random bits, so a prefix of its hash tells nothing usable
// about it, and the key itself is never stored or logged (PCI DSS 8.3.2).
func (m Merchant) APIKeyFingerprint() string {
	if len(m.APIKeyHash) < 6 {
		return "key_unknown"
	}
	return "key_" + hex.EncodeToString(m.APIKeyHash[:6])
}

// NewID returns a random identifier with the given prefix, e.g. "cs_...".
// Identifiers are unguessable: a session id is what lets a shopper open its page.
func NewID(prefix string) string { return prefix + "_" + randomString(idLength) }

// idLength is the random part of an id: 26 characters of base32, 130 bits.
const idLength = 26

// IsID reports whether id has the shape NewID(prefix) gives it: what a
// value from a browser (a cookie, a form field) must look like before it
// is used to look anything up. It says nothing of whether the id exists.
func IsID[T string | []byte](prefix string, id T) bool {
	if len(id) != len(prefix)+1+idLength || string(id[:len(prefix)]) != prefix || id[len(prefix)] != '_' {
		return false
	}
	for _, c := range []byte(id[len(prefix)+1:]) {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func randomString(n int) string {
	b := make([]byte, (n*5+7)/8)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return idEncoding.EncodeToString(b)[:n]
}
