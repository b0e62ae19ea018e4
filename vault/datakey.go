package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"time"
)

// dataKeySize is the size of a data key: AES-256.
const dataKeySize = 32

// maxCachedDataKeys bounds the unwrapped data key cache by count, on top of
// its bounds by age and uses: revealing many old cards must not fill memory
// with keys.
const maxCachedDataKeys = 256

// currentDataKey is the data key this instance encrypts with. Each instance
// makes its own on its first encryption and never continues one found in the
// store: it cannot know how many values others encrypted under it, and the
// use limit is what keeps random GCM nonces from colliding.
type currentDataKey struct {
	id        string
	createdAt time.Time
	uses      int
}

// cachedDataKey is an unwrapped data key held in memory, so that the KEK is
// not called once per card (the production KEK is over the network).
type cachedDataKey struct {
	aead     cipher.AEAD
	loadedAt time.Time
	uses     int
}

// newDataKeyAEAD returns AES-256-GCM under key with a random 96-bit nonce
// prepended to each ciphertext: nonce || ciphertext || tag.
func newDataKeyAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != dataKeySize {
		return nil, fmt.Errorf("vault: data key is %d bytes, want %d", len(key), dataKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("vault: data key: %w", err)
	}
	return cipher.NewGCMWithRandomNonce(block)
}

// encrypt seals plaintext under the current data key with additional data
// ad, making a new data key when the current one is used up or too old.
func (v *Vault) encrypt(ctx context.Context, plaintext, ad []byte) (dataKeyID string, ciphertext []byte, err error) {
	id, aead, err := v.currentKey(ctx)
	if err != nil {
		return "", nil, err
	}
	v.stats.encrypts.Add(1)
	return id, aead.Seal(nil, nil, plaintext, ad), nil
}

// decrypt opens ciphertext made by encrypt. The caller wipes the result.
func (v *Vault) decrypt(ctx context.Context, dataKeyID string, ciphertext, ad []byte) ([]byte, error) {
	aead, err := v.dataKey(ctx, dataKeyID)
	if err != nil {
		return nil, err
	}
	plaintext, err := aead.Open(nil, nil, ciphertext, ad)
	if err != nil {
		// Tampered, truncated, or moved to another row: GCM authenticates
		// the row's id as additional data.
		return nil, errors.New("vault: decrypt: ciphertext is damaged or belongs to another row")
	}
	v.stats.decrypts.Add(1)
	return plaintext, nil
}

// currentKey returns the data key to encrypt with, counting one use.
func (v *Vault) currentKey(ctx context.Context) (string, cipher.AEAD, error) {
	if err := v.checkOpen(); err != nil {
		return "", nil, err
	}
	v.curMu.Lock()
	now := v.now()
	c := v.cur
	if c == nil || c.uses >= v.opts.DataKeyMaxUses || now.Sub(c.createdAt) >= v.opts.DataKeyMaxAge {
		// Holding curMu across the KEK call is deliberate: every encryption
		// waits for the new key anyway, and only one key gets made.
		id, aead, err := v.newDataKey(ctx, now)
		if err != nil {
			v.curMu.Unlock()
			return "", nil, err
		}
		v.cur = &currentDataKey{id: id, createdAt: now, uses: 1}
		v.curMu.Unlock()
		return id, aead, nil
	}
	c.uses++
	id := c.id
	v.curMu.Unlock()
	aead, err := v.dataKey(ctx, id)
	return id, aead, err
}

// newDataKey makes a data key through the KEK, stores it wrapped, and caches
// it unwrapped.
func (v *Vault) newDataKey(ctx context.Context, now time.Time) (string, cipher.AEAD, error) {
	v.stats.kekGenerate.Add(1)
	// Every KEK failure is ErrKEKUnavailable to callers: whatever the cause,
	// no data key came back, and the shopper can only try again later.
	plaintext, wrapped, err := v.kek.GenerateDataKey(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("vault: generate data key: %w", kekUnavailable(err))
	}
	aead, err := newDataKeyAEAD(plaintext)
	clear(plaintext) // the cipher holds its own schedule; keep no other copy
	if err != nil {
		return "", nil, err
	}
	dk := DataKey{ID: randomID("dk"), Wrapped: wrapped, KEKID: v.kek.ID(), CreatedAt: now}
	// The row is stored before anything is encrypted under it, so that no
	// ciphertext ever names a key that cannot be found.
	if err := v.store.InsertDataKey(ctx, dk); err != nil {
		return "", nil, fmt.Errorf("vault: store data key: %w", err)
	}
	v.cacheMu.Lock()
	v.putLocked(dk.ID, &cachedDataKey{aead: aead, loadedAt: now, uses: 1})
	v.cacheMu.Unlock()
	return dk.ID, aead, nil
}

// dataKey returns the unwrapped data key id from the cache, or loads and
// unwraps it through the KEK, counting one use.
func (v *Vault) dataKey(ctx context.Context, id string) (cipher.AEAD, error) {
	if err := v.checkOpen(); err != nil {
		return nil, err
	}
	now := v.now()
	v.cacheMu.Lock()
	if e := v.cache[id]; e != nil {
		if now.Sub(e.loadedAt) < v.opts.CacheTTL && e.uses < v.opts.CacheMaxUses {
			e.uses++
			aead := e.aead
			v.cacheMu.Unlock()
			return aead, nil
		}
		delete(v.cache, id)
	}
	v.cacheMu.Unlock()

	// Unwrap without holding the cache lock: the KEK may be slow, and
	// other keys' users must not wait. Two callers may both unwrap one key;
	// that is rare and harmless.
	dk, err := v.store.DataKey(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("vault: load data key: %w", err)
	}
	if dk.KEKID != v.kek.ID() {
		return nil, fmt.Errorf("vault: data key %s was wrapped by KEK %q but this vault uses %q", id, dk.KEKID, v.kek.ID())
	}
	v.stats.kekUnwrap.Add(1)
	plaintext, err := v.kek.UnwrapDataKey(ctx, dk.Wrapped)
	if err != nil {
		return nil, fmt.Errorf("vault: unwrap data key: %w", kekUnavailable(err))
	}
	aead, err := newDataKeyAEAD(plaintext)
	clear(plaintext)
	if err != nil {
		return nil, err
	}
	v.cacheMu.Lock()
	v.putLocked(id, &cachedDataKey{aead: aead, loadedAt: now, uses: 1})
	v.cacheMu.Unlock()
	return aead, v.checkOpen()
}

// putLocked caches e under id, evicting expired entries and then the
// oldest when the cache is full. The caller holds cacheMu.
func (v *Vault) putLocked(id string, e *cachedDataKey) {
	if v.closed.Load() {
		return
	}
	if len(v.cache) >= maxCachedDataKeys {
		var oldest string
		for k, c := range v.cache {
			if e.loadedAt.Sub(c.loadedAt) >= v.opts.CacheTTL || c.uses >= v.opts.CacheMaxUses {
				delete(v.cache, k)
				continue
			}
			if oldest == "" || c.loadedAt.Before(v.cache[oldest].loadedAt) {
				oldest = k
			}
		}
		if len(v.cache) >= maxCachedDataKeys {
			delete(v.cache, oldest)
		}
	}
	v.cache[id] = e
}

// sealSecret encrypts secret as s.Ciphertext under the current data key
// with additional data s.ID, and sets s.DataKeyID.
func (v *Vault) sealSecret(ctx context.Context, s StoredSecret, secret []byte) (StoredSecret, error) {
	id, ct, err := v.encrypt(ctx, secret, []byte(s.ID))
	if err != nil {
		return StoredSecret{}, err
	}
	s.DataKeyID, s.Ciphertext = id, ct
	return s, nil
}

// openSecret decrypts a stored secret. The caller wipes the result.
func (v *Vault) openSecret(ctx context.Context, s StoredSecret) ([]byte, error) {
	secret, err := v.decrypt(ctx, s.DataKeyID, s.Ciphertext, []byte(s.ID))
	if err != nil {
		return nil, fmt.Errorf("vault: open secret %s: %w", s.ID, err)
	}
	return secret, nil
}
