package vault

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

// reloadInterval is how often Sign and JWKS re-read the signing keys, to see
// the rotations of other instances.
const reloadInterval = 30 * time.Second

// retiredKeyGrace keeps a retired key in the JWKS a little past ResultTTL,
// for verifiers that accept expired tokens within a clock leeway (the
// verify package's default is 30s).
const retiredKeyGrace = time.Minute

// JWKS is a JSON Web Key Set (RFC 7517) of the result-signing public keys.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// JWK is one EC P-256 public key (RFC 7518 section 6.2).
type JWK struct {
	Kty string `json:"kty"` // "EC"
	Crv string `json:"crv"` // "P-256"
	X   string `json:"x"`   // base64url, no padding, 32 bytes
	Y   string `json:"y"`   // base64url, no padding, 32 bytes
	Kid string `json:"kid"`
	Use string `json:"use"` // "sig"
	Alg string `json:"alg"` // "ES256"
}

// signingKey is one key of the ring.
type signingKey struct {
	id         string
	priv       *ecdsa.PrivateKey // nil once retired: it will never sign again
	jwk        JWK
	activeFrom time.Time
	retiredAt  time.Time // zero while not retired
}

// activeAt reports whether k signs at t.
func (k *signingKey) activeAt(t time.Time) bool {
	return !t.Before(k.activeFrom) && !k.retiredBy(t)
}

// retiredBy reports whether k can no longer sign at t.
func (k *signingKey) retiredBy(t time.Time) bool {
	return !k.retiredAt.IsZero() && !t.Before(k.retiredAt)
}

// newerThan orders keys by ActiveFrom, then id: the newest active key signs,
// and every instance picks the same one.
func (k *signingKey) newerThan(o *signingKey) bool {
	if c := k.activeFrom.Compare(o.activeFrom); c != 0 {
		return c > 0
	}
	return k.id > o.id
}

// Sign returns claims as a compact JWS signed with ES256 by the newest
// active key, with the key's kid and typ verify.TokenType in the header
// (RFC 8725 section 3.11: explicit typing, so that a result cannot be
// replayed as another kind of token).
func (v *Vault) Sign(ctx context.Context, claims jwt.Claims) (string, error) {
	if err := v.checkOpen(); err != nil {
		return "", err
	}
	// A failed reload keeps the last good ring: the keys it holds stay
	// published for ResultTTL after any rotation, and the payment being
	// signed has already happened.
	rerr := v.maybeReload(ctx)
	now := v.now()
	var key *signingKey
	v.ringMu.RLock()
	for _, k := range v.ring {
		if k.priv != nil && k.activeAt(now) && (key == nil || k.newerThan(key)) {
			key = k
		}
	}
	v.ringMu.RUnlock()
	if key == nil {
		if rerr != nil {
			return "", fmt.Errorf("vault: sign: no active signing key: %w", rerr)
		}
		return "", errors.New("vault: sign: no active signing key")
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["kid"] = key.id
	t.Header["typ"] = verify.TokenType
	s, err := t.SignedString(key.priv)
	if err != nil {
		return "", fmt.Errorf("vault: sign: %w", err)
	}
	return s, nil
}

// JWKS returns the public keys a verifier needs: every key that signs or
// will sign, and every retired key until RetiredAt + ResultTTL (plus one
// minute of clock leeway), so that every unexpired token verifies. When the
// keys cannot be re-read from the store, the last good set is returned:
// withdrawing every key would fail every merchant.
func (v *Vault) JWKS() JWKS {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = v.maybeReload(ctx)
	now := v.now()
	set := JWKS{Keys: []JWK{}}
	v.ringMu.RLock()
	defer v.ringMu.RUnlock()
	for _, k := range v.ring {
		if v.published(k.retiredAt, now) {
			set.Keys = append(set.Keys, k.jwk)
		}
	}
	return set
}

// JWKSJSON returns JWKS() as JSON, for /.well-known/jwks.json.
func (v *Vault) JWKSJSON() ([]byte, error) {
	if err := v.checkOpen(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(v.JWKS())
	if err != nil {
		return nil, fmt.Errorf("vault: marshal JWKS: %w", err)
	}
	return b, nil
}

// published reports whether a key retired at retiredAt is in the JWKS at now.
func (v *Vault) published(retiredAt, now time.Time) bool {
	return retiredAt.IsZero() || now.Before(retiredAt.Add(v.opts.ResultTTL+retiredKeyGrace))
}

// RotateSigningKey makes a new signing key, published at once and active
// from now + Options.PublishDelay, and retires at that moment every key
// stored before it, so that one key signs at a time. Two instances rotating
// at once both retire the old keys but not each other's new one: both new
// keys stay valid, Sign everywhere picks the same (the later ActiveFrom,
// then the greater kid), and the next rotation retires the other. It
// returns the new key's kid.
func (v *Vault) RotateSigningKey(ctx context.Context) (kid string, err error) {
	if err := v.checkOpen(); err != nil {
		return "", err
	}
	// Listed before the new key exists: only keys it supersedes are retired,
	// whatever the clocks say, so that a rotation never leaves no key.
	older, err := v.store.Secrets(ctx, SecretSigningKey)
	if err != nil {
		return "", fmt.Errorf("vault: rotate signing key: %w", err)
	}
	now := v.now()
	k, err := v.createSigningKey(ctx, randomID("sig"), now, now.Add(v.opts.PublishDelay))
	if err != nil {
		return "", err
	}
	for _, s := range older {
		if !s.RetiredAt.IsZero() {
			continue
		}
		if err := v.store.RetireSecret(ctx, s.ID, k.ActiveFrom); err != nil {
			return "", fmt.Errorf("vault: retire signing key %s: %w", s.ID, err)
		}
	}
	if err := v.Reload(ctx); err != nil {
		return "", err
	}
	return k.ID, nil
}

// Reload re-reads the signing keys from the store, to see rotations made by
// other instances. Sign and JWKS call it every 30 seconds.
func (v *Vault) Reload(ctx context.Context) error {
	v.reloadMu.Lock()
	defer v.reloadMu.Unlock()
	return v.reloadLocked(ctx)
}

// maybeReload reloads when the ring is older than reloadInterval and no
// other reload is under way.
func (v *Vault) maybeReload(ctx context.Context) error {
	v.ringMu.RLock()
	due := v.now().Sub(v.reloadedAt) >= reloadInterval
	v.ringMu.RUnlock()
	if !due || !v.reloadMu.TryLock() {
		return nil
	}
	defer v.reloadMu.Unlock()
	return v.reloadLocked(ctx)
}

func (v *Vault) reloadLocked(ctx context.Context) error {
	if err := v.checkOpen(); err != nil {
		return err
	}
	secrets, err := v.store.Secrets(ctx, SecretSigningKey)
	if err != nil {
		return fmt.Errorf("vault: load signing keys: %w", err)
	}
	now := v.now()
	v.ringMu.RLock()
	loaded := make(map[string]*ecdsa.PrivateKey, len(v.ring))
	for _, k := range v.ring {
		if k.priv != nil {
			loaded[k.id] = k.priv
		}
	}
	v.ringMu.RUnlock()

	ring := make([]*signingKey, 0, len(secrets))
	for _, s := range secrets {
		if !v.published(s.RetiredAt, now) {
			continue
		}
		k := &signingKey{id: s.ID, activeFrom: s.ActiveFrom, retiredAt: s.RetiredAt}
		pub, err := parseSigningPublicKey(s.Public)
		if err != nil {
			return fmt.Errorf("vault: signing key %s: %w", s.ID, err)
		}
		k.jwk = newJWK(s.ID, pub)
		if !k.retiredBy(now) {
			// Only a key that may still sign needs its private half in memory.
			if k.priv = loaded[s.ID]; k.priv == nil {
				if k.priv, err = v.openSigningKey(ctx, s, pub); err != nil {
					return err
				}
			}
		}
		ring = append(ring, k)
	}
	v.ringMu.Lock()
	defer v.ringMu.Unlock()
	if v.closed.Load() {
		return ErrClosed
	}
	v.ring, v.reloadedAt = ring, now
	return nil
}

// ensureSigningKey loads the ring and, when no key can sign now or later,
// creates one. The first key of a store has an id derived from the
// fingerprint key, so that instances starting at once race on one insert.
func (v *Vault) ensureSigningKey(ctx context.Context) error {
	if err := v.Reload(ctx); err != nil {
		return err
	}
	if v.hasUsableKey() {
		return nil
	}
	stored, err := v.store.Secrets(ctx, SecretSigningKey)
	if err != nil {
		return fmt.Errorf("vault: load signing keys: %w", err)
	}
	kid := randomID("sig")
	if len(stored) == 0 {
		kid = "sig_" + b32.EncodeToString(v.MAC("initial signing key id", nil))[:26]
	}
	now := v.now()
	_, err = v.createSigningKey(ctx, kid, now, now)
	if rerr := v.Reload(ctx); rerr != nil {
		return rerr
	}
	if !v.hasUsableKey() {
		return fmt.Errorf("vault: create signing key: %w", cmp.Or(err, errors.New("no usable key after insert")))
	}
	return nil
}

// hasUsableKey reports whether some key in the ring can sign now or later.
func (v *Vault) hasUsableKey() bool {
	now := v.now()
	v.ringMu.RLock()
	defer v.ringMu.RUnlock()
	for _, k := range v.ring {
		if k.priv != nil && !k.retiredBy(now) {
			return true
		}
	}
	return false
}

// createSigningKey makes an ECDSA P-256 key and stores it, the private key
// encrypted under a data key with its kid as additional data.
func (v *Vault) createSigningKey(ctx context.Context, kid string, now, activeFrom time.Time) (StoredSecret, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return StoredSecret{}, fmt.Errorf("vault: generate signing key: %w", err)
	}
	raw, err := priv.Bytes()
	if err != nil {
		return StoredSecret{}, fmt.Errorf("vault: encode signing key: %w", err)
	}
	defer clear(raw)
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return StoredSecret{}, fmt.Errorf("vault: encode signing key: %w", err)
	}
	s, err := v.sealSecret(ctx, StoredSecret{
		ID:         kid,
		Kind:       SecretSigningKey,
		Public:     pub,
		CreatedAt:  now,
		ActiveFrom: activeFrom,
	}, raw)
	if err != nil {
		return StoredSecret{}, err
	}
	if err := v.store.InsertSecret(ctx, s); err != nil {
		return StoredSecret{}, fmt.Errorf("vault: store signing key: %w", err)
	}
	return s, nil
}

// openSigningKey decrypts a stored private key and checks it against the
// stored public key, so that a row whose halves were swapped is refused
// rather than publishing a key that does not verify.
func (v *Vault) openSigningKey(ctx context.Context, s StoredSecret, pub *ecdsa.PublicKey) (*ecdsa.PrivateKey, error) {
	raw, err := v.openSecret(ctx, s)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
	if err != nil {
		return nil, fmt.Errorf("vault: signing key %s: %w", s.ID, err)
	}
	if !priv.PublicKey.Equal(pub) {
		return nil, fmt.Errorf("vault: signing key %s: private key does not match its public key", s.ID)
	}
	return priv, nil
}

func parseSigningPublicKey(der []byte) (*ecdsa.PublicKey, error) {
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	pub, ok := key.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("public key is not ECDSA P-256")
	}
	return pub, nil
}

func newJWK(kid string, pub *ecdsa.PublicKey) JWK {
	// Uncompressed point: 0x04 || X || Y, each fixed at 32 bytes as RFC
	// 7518 section 6.2.1.2 requires (big.Int.Bytes would drop leading zeros).
	b, err := pub.Bytes()
	if err != nil {
		panic(fmt.Errorf("vault: encode public key %s: %w", kid, err)) // parsed P-256 keys always encode
	}
	return JWK{
		Kty: "EC",
		Crv: "P-256",
		X:   base64.RawURLEncoding.EncodeToString(b[1:33]),
		Y:   base64.RawURLEncoding.EncodeToString(b[33:65]),
		Kid: kid,
		Use: "sig",
		Alg: "ES256",
	}
}
