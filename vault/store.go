package vault

import (
	"context"
	"errors"
	"time"
)

// Errors a Store returns (wrapped or not).
var (
	ErrNotFound = errors.New("vault: not found")          // the row does not exist
	ErrConflict = errors.New("vault: changed under us")   // a compare-and-swap lost
	ErrErased   = errors.New("vault: card number erased") // the token remains, its number is gone (retention)
)

// DataKey is a data-encryption key as stored: only wrapped by the KEK.
type DataKey struct {
	ID        string // "dk_..."
	Wrapped   []byte // the KEK's ciphertext of the 32-byte AES key
	KEKID     string // which KeyEncrypter wrapped it (e.g. "local", "transit:transit/checkout")
	CreatedAt time.Time
}

// StoredCard is a tokenized card as stored. The number is only ciphertext;
// BIN, last 4, brand and expiry are plain metadata (PCI DSS 3.4.1 allows
// showing first 6 / last 4).
type StoredCard struct {
	Token       string // "tok_...", random, never derived from the number
	DataKeyID   string
	Ciphertext  []byte // nonce || AES-256-GCM(number), additional data = Token
	Fingerprint string // "fp_..." keyed HMAC of the number
	Brand       string
	BIN         string
	Last4       string
	ExpMonth    int
	ExpYear     int
	CreatedAt   time.Time
}

// Secret kinds kept in the secrets table.
const (
	SecretFingerprintKey = "fingerprint"
	SecretSigningKey     = "signing"
)

// StoredSecret is a key of the vault's own (the fingerprint HMAC key, a
// result-signing private key), encrypted under a data key.
type StoredSecret struct {
	ID         string // for signing keys, the JWT kid
	Kind       string // SecretFingerprintKey or SecretSigningKey
	DataKeyID  string
	Ciphertext []byte // nonce || AES-256-GCM(secret), additional data = ID
	Public     []byte // for signing keys: the PKIX DER public key; nil otherwise
	CreatedAt  time.Time
	ActiveFrom time.Time // a signing key signs from then (published before it signs)
	RetiredAt  time.Time // zero while active; kept in the JWKS until RetiredAt + token lifetime
}

// Store keeps the vault's rows. checkout/sqlite implements it; every method
// honours ctx and returns ErrNotFound (wrapped or not) for missing rows.
type Store interface {
	InsertDataKey(ctx context.Context, k DataKey) error
	DataKey(ctx context.Context, id string) (DataKey, error)
	// DataKeys returns up to limit data keys whose id sorts after afterID,
	// in id order: the cursor of a resumable rewrap.
	DataKeys(ctx context.Context, afterID string, limit int) ([]DataKey, error)
	// UpdateDataKeyWrapped replaces a data key's wrapped form only while it
	// still equals old (compare and swap), so that two rewraps running at
	// once cannot lose one another's work. ErrNotFound when the key is
	// missing; ErrConflict when it no longer equals old.
	UpdateDataKeyWrapped(ctx context.Context, id string, old, wrapped []byte) error

	InsertCard(ctx context.Context, c StoredCard) error
	Card(ctx context.Context, token string) (StoredCard, error)

	InsertSecret(ctx context.Context, s StoredSecret) error
	// Secrets returns every secret of a kind, oldest first.
	Secrets(ctx context.Context, kind string) ([]StoredSecret, error)
	// RetireSecret sets RetiredAt of one secret.
	RetireSecret(ctx context.Context, id string, at time.Time) error
}

// Card is what the vault tells about a tokenized card: never the number.
type Card struct {
	Token       string
	Fingerprint string
	Brand       string
	BIN         string
	Last4       string
	ExpMonth    int
	ExpYear     int
}
