package vault_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/vault"
)

// memStore is an in-memory vault.Store for these tests; checkout/sqlite
// tests the real one. Like a database, it copies byte slices in and out
// and refuses a second row with the same id.
type memStore struct {
	mu       sync.Mutex
	dataKeys map[string]vault.DataKey
	cards    map[string]vault.StoredCard
	secrets  []vault.StoredSecret // insertion order: oldest first
}

var _ vault.Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{dataKeys: map[string]vault.DataKey{}, cards: map[string]vault.StoredCard{}}
}

func (m *memStore) InsertDataKey(ctx context.Context, k vault.DataKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.dataKeys[k.ID]; ok {
		return fmt.Errorf("memstore: data key %s exists", k.ID)
	}
	k.Wrapped = bytes.Clone(k.Wrapped)
	m.dataKeys[k.ID] = k
	return nil
}

func (m *memStore) DataKey(ctx context.Context, id string) (vault.DataKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.dataKeys[id]
	if !ok {
		return vault.DataKey{}, fmt.Errorf("memstore: data key: %w", vault.ErrNotFound)
	}
	k.Wrapped = bytes.Clone(k.Wrapped)
	return k, nil
}

func (m *memStore) DataKeys(ctx context.Context, afterID string, limit int) ([]vault.DataKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []vault.DataKey
	for id, k := range m.dataKeys {
		if id > afterID {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b vault.DataKey) int { return strings.Compare(a.ID, b.ID) })
	return out[:min(limit, len(out))], nil
}

func (m *memStore) UpdateDataKeyWrapped(ctx context.Context, id string, old, wrapped []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.dataKeys[id]
	if !ok {
		return vault.ErrNotFound
	}
	if !bytes.Equal(k.Wrapped, old) {
		return vault.ErrConflict
	}
	k.Wrapped = bytes.Clone(wrapped)
	m.dataKeys[id] = k
	return nil
}

func (m *memStore) InsertCard(ctx context.Context, c vault.StoredCard) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cards[c.Token]; ok {
		return fmt.Errorf("memstore: card %s exists", c.Token)
	}
	c.Ciphertext = bytes.Clone(c.Ciphertext)
	m.cards[c.Token] = c
	return nil
}

func (m *memStore) Card(ctx context.Context, token string) (vault.StoredCard, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.cards[token]
	if !ok {
		return vault.StoredCard{}, fmt.Errorf("memstore: card: %w", vault.ErrNotFound)
	}
	c.Ciphertext = bytes.Clone(c.Ciphertext)
	return c, nil
}

func (m *memStore) InsertSecret(ctx context.Context, s vault.StoredSecret) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.secrets {
		if o.ID == s.ID {
			return fmt.Errorf("memstore: secret %s exists", s.ID)
		}
	}
	s.Ciphertext, s.Public = bytes.Clone(s.Ciphertext), bytes.Clone(s.Public)
	m.secrets = append(m.secrets, s)
	return nil
}

func (m *memStore) Secrets(ctx context.Context, kind string) ([]vault.StoredSecret, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []vault.StoredSecret
	for _, s := range m.secrets {
		if s.Kind == kind {
			s.Ciphertext, s.Public = bytes.Clone(s.Ciphertext), bytes.Clone(s.Public)
			out = append(out, s)
		}
	}
	return out, nil
}

func (m *memStore) RetireSecret(ctx context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.secrets {
		if m.secrets[i].ID == id {
			m.secrets[i].RetiredAt = at
			return nil
		}
	}
	return fmt.Errorf("memstore: secret: %w", vault.ErrNotFound)
}

// updateCard lets a test tamper with a stored card.
func (m *memStore) updateCard(token string, f func(*vault.StoredCard)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.cards[token]
	f(&c)
	m.cards[token] = c
}

// rows returns every byte the store holds, for searching for plaintext.
func (m *memStore) rows() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out [][]byte
	for _, k := range m.dataKeys {
		out = append(out, k.Wrapped)
	}
	for _, c := range m.cards {
		out = append(out, c.Ciphertext, []byte(c.Fingerprint))
	}
	for _, s := range m.secrets {
		out = append(out, s.Ciphertext)
	}
	return out
}

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// MustLocalKEK returns a LocalKEK in a fresh temporary directory.
func MustLocalKEK(tb testing.TB) *vault.LocalKEK {
	tb.Helper()
	k, created, err := vault.LoadOrCreateLocalKEK(filepath.Join(tb.TempDir(), "kek"))
	if err != nil || !created {
		tb.Fatalf("LoadOrCreateLocalKEK: created %v, err %v", created, err)
	}
	return k
}

// MustOpen opens a Vault on store with opts; Store and KEK default to a new
// memStore and LocalKEK. The vault is closed when the test ends.
func MustOpen(tb testing.TB, opts vault.Options) *vault.Vault {
	tb.Helper()
	if opts.Store == nil {
		opts.Store = newMemStore()
	}
	if opts.KEK == nil {
		opts.KEK = MustLocalKEK(tb)
	}
	v, err := vault.Open(context.Background(), opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { v.Close() })
	return v
}

// MustTokenize tokenizes pan as a Visa card expiring 12/2030.
func MustTokenize(tb testing.TB, v *vault.Vault, pan string) vault.Card {
	tb.Helper()
	c, err := v.Tokenize(context.Background(), []byte(pan), "visa", 12, 2030)
	if err != nil {
		tb.Fatalf("Tokenize: %v", err)
	}
	return c
}

// MustReveal reveals token.
func MustReveal(tb testing.TB, v *vault.Vault, token string) []byte {
	tb.Helper()
	pan, err := v.Reveal(context.Background(), token)
	if err != nil {
		tb.Fatalf("Reveal: %v", err)
	}
	return pan
}

// randomPAN returns 16 random digits.
func randomPAN() string {
	b := make([]byte, 16)
	rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

func contains(haystack [][]byte, needle []byte) bool {
	return slices.ContainsFunc(haystack, func(h []byte) bool { return bytes.Contains(h, needle) })
}
