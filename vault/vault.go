// Package vault keeps card data and keys: card numbers encrypted under data
// keys that a key-encryption key (KEK) wraps (envelope encryption), random
// tokens, keyed fingerprints, and the key ring that signs checkout results,
// published as a JWKS.
package vault

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by every method of a Vault after Close.
var ErrClosed = errors.New("vault: closed")

// Defaults of Options.
const (
	DefaultResultTTL      = 10 * time.Minute
	DefaultDataKeyMaxUses = 1 << 20
	DefaultDataKeyMaxAge  = 24 * time.Hour
	DefaultCacheTTL       = time.Hour
	DefaultCacheMaxUses   = 1 << 20
)

// maxDataKeyUses caps Options.DataKeyMaxUses: AES-GCM with random 96-bit
// nonces must not encrypt more than 2^32 messages under one key (NIST SP
// 800-38D section 8.3).
const maxDataKeyUses int64 = 1 << 32

// Options configure a Vault. Store and KEK are required.
type Options struct {
	Store Store        // where the vault's rows live
	KEK   KeyEncrypter // wraps the data keys

	// ResultTTL is how long result tokens live; a retired signing key stays
	// in the JWKS until every token it signed has expired, that is until
	// RetiredAt + ResultTTL (plus one minute for verifiers' clock leeway).
	// It must be at least the checkout's result token lifetime. Default 10m.
	ResultTTL time.Duration

	// PublishDelay is how long a new signing key is published in the JWKS
	// before it signs. Default 0, which suits tests; in production it must
	// exceed how long anyone may cache the JWKS (HTTP caches, verifiers'
	// refetch interval, and this vault's 30s reload across instances), so
	// that no verifier meets a kid it cannot find.
	PublishDelay time.Duration

	// Now returns the current time; default time.Now.
	Now func() time.Time

	// DataKeyMaxUses is how many values one data key encrypts before a new
	// one is made. Default 1<<20; at most 1<<32.
	DataKeyMaxUses int
	// DataKeyMaxAge is how long one data key encrypts before a new one is
	// made (PCI DSS 3.6.1.3: a defined cryptoperiod). Default 24h.
	DataKeyMaxAge time.Duration
	// CacheTTL bounds how long an unwrapped data key stays in memory before
	// it is unwrapped again through the KEK. Default 1h.
	CacheTTL time.Duration
	// CacheMaxUses bounds how many encryptions and decryptions one cached
	// unwrapped data key serves before it is unwrapped again. Default 1<<20.
	CacheMaxUses int
}

// Stats counts the vault's calls to the KEK and its AES-GCM operations, so
// that a benchmark or a metric can show KEK calls per card.
type Stats struct {
	KEKGenerate int64 // KeyEncrypter.GenerateDataKey calls
	KEKUnwrap   int64 // KeyEncrypter.UnwrapDataKey calls
	Encrypts    int64 // values encrypted under a data key (cards and the vault's own keys)
	Decrypts    int64 // values decrypted under a data key
}

// Vault keeps card numbers and the vault's keys. It is safe for concurrent
// use, and several Vaults (one per instance) may share one Store.
type Vault struct {
	store Store
	kek   KeyEncrypter
	opts  Options // with defaults filled in

	closed atomic.Bool
	stats  struct{ kekGenerate, kekUnwrap, encrypts, decrypts atomic.Int64 }

	curMu sync.Mutex
	cur   *currentDataKey // the data key this instance encrypts with

	cacheMu sync.Mutex
	cache   map[string]*cachedDataKey // unwrapped data keys by id

	keyMu sync.RWMutex
	fpKey []byte // fingerprint HMAC key; MAC keys derive from it

	reloadMu   sync.Mutex // serializes reloads of the signing keys
	ringMu     sync.RWMutex
	ring       []*signingKey // published signing keys, oldest first
	reloadedAt time.Time
}

// Open returns a Vault on opts.Store. On first start it creates the
// fingerprint key and the first signing key; several instances may start
// at once on one store: the loser of an insert race reloads the winner's key.
func Open(ctx context.Context, opts Options) (*Vault, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	v := &Vault{
		store: opts.Store,
		kek:   opts.KEK,
		opts:  opts,
		cache: make(map[string]*cachedDataKey),
	}
	if err := v.loadFingerprintKey(ctx); err != nil {
		v.Close()
		return nil, err
	}
	if err := v.ensureSigningKey(ctx); err != nil {
		v.Close()
		return nil, err
	}
	return v, nil
}

func (o *Options) setDefaults() error {
	switch {
	case o.Store == nil:
		return errors.New("vault: Options.Store is required")
	case o.KEK == nil:
		return errors.New("vault: Options.KEK is required")
	case o.ResultTTL < 0, o.PublishDelay < 0, o.DataKeyMaxAge < 0, o.CacheTTL < 0:
		return errors.New("vault: Options durations must not be negative")
	case o.DataKeyMaxUses < 0 || int64(o.DataKeyMaxUses) > maxDataKeyUses:
		return fmt.Errorf("vault: Options.DataKeyMaxUses must be between 1 and %d (AES-GCM random nonce limit)", maxDataKeyUses)
	case o.CacheMaxUses < 0:
		return errors.New("vault: Options.CacheMaxUses must not be negative")
	}
	if o.ResultTTL == 0 {
		o.ResultTTL = DefaultResultTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DataKeyMaxUses == 0 {
		o.DataKeyMaxUses = DefaultDataKeyMaxUses
	}
	if o.DataKeyMaxAge == 0 {
		o.DataKeyMaxAge = DefaultDataKeyMaxAge
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.CacheMaxUses == 0 {
		o.CacheMaxUses = DefaultCacheMaxUses
	}
	return nil
}

func (v *Vault) now() time.Time { return v.opts.Now().UTC() }

// Stats returns the vault's counters since Open.
func (v *Vault) Stats() Stats {
	return Stats{
		KEKGenerate: v.stats.kekGenerate.Load(),
		KEKUnwrap:   v.stats.kekUnwrap.Load(),
		Encrypts:    v.stats.encrypts.Load(),
		Decrypts:    v.stats.decrypts.Load(),
	}
}

// Close wipes the fingerprint key and drops every unwrapped data key and
// private signing key, so that they do not outlive the process's use of
// them (PCI DSS 3.6.1). Go has no way to wipe an AES key schedule or an
// ECDSA scalar in place, so those are left unreferenced for the garbage
// collector. Every method afterwards returns ErrClosed; Fingerprint and MAC,
// which return no error, panic. Close is idempotent.
func (v *Vault) Close() error {
	v.closed.Store(true)
	v.keyMu.Lock()
	clear(v.fpKey)
	v.fpKey = nil
	v.keyMu.Unlock()

	v.curMu.Lock()
	v.cur = nil
	v.curMu.Unlock()

	v.cacheMu.Lock()
	clear(v.cache)
	v.cacheMu.Unlock()

	v.ringMu.Lock()
	v.ring = nil
	v.ringMu.Unlock()
	return nil
}

// Healthy reports whether the vault can encrypt and decrypt cards now: nil,
// ErrClosed, or the KEK's own health error when the KEK is a HealthReporter
// (matching ErrKEKUnavailable). For readiness probes.
func (v *Vault) Healthy() error {
	if err := v.checkOpen(); err != nil {
		return err
	}
	return v.kekHealthy()
}

// kekHealthy asks the KEK whether it can serve, when it can tell. Tokenize
// and Reveal call it even when the data key they need is cached: sealing
// Vault is the operator's kill switch and must stop card encryption at once
// (PCI DSS 3.6.1 / 12.10.1: keys can be withdrawn in an incident), not when
// the cache next expires.
func (v *Vault) kekHealthy() error {
	hr, ok := v.kek.(HealthReporter)
	if !ok {
		return nil
	}
	if err := hr.Healthy(); err != nil {
		return kekUnavailable(err)
	}
	return nil
}

// kekUnavailable wraps err so that it matches ErrKEKUnavailable, once.
func kekUnavailable(err error) error {
	if errors.Is(err, ErrKEKUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrKEKUnavailable, err)
}

func (v *Vault) checkOpen() error {
	if v.closed.Load() {
		return ErrClosed
	}
	return nil
}

// randomID returns prefix_ and 128 random bits in lower-case base32: ids
// and tokens are random, never derived from what they name.
func randomID(prefix string) string {
	return prefix + "_" + strings.ToLower(rand.Text())
}
