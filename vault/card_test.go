package vault_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/vault"
)

func TestTokenizeReveal(t *testing.T) {
	v := MustOpen(t, vault.Options{})
	tests := []struct {
		name, pan, bin, last4 string
	}{
		{"12 digits", "501800000009", "501800", "0009"},
		{"16 digits", "4242424242424242", "424242", "4242"},
		{"19 digits", "6011000990139424123", "601100", "4123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pan := []byte(tt.pan)
			c, err := v.Tokenize(context.Background(), pan, "visa", 7, 2031)
			if err != nil {
				t.Fatal(err)
			}
			if string(pan) != tt.pan {
				t.Fatal("Tokenize modified its input")
			}
			want := vault.Card{Token: c.Token, Fingerprint: v.Fingerprint(pan), Brand: "visa", BIN: tt.bin, Last4: tt.last4, ExpMonth: 7, ExpYear: 2031}
			if c != want {
				t.Errorf("Tokenize = %+v, want %+v", c, want)
			}
			if got := MustReveal(t, v, c.Token); string(got) != tt.pan {
				t.Errorf("Reveal = %q, want %q", got, tt.pan)
			}
		})
	}
}

func TestTokenIsRandom(t *testing.T) {
	v := MustOpen(t, vault.Options{})
	const pan = "4242424242424242"
	a, b := MustTokenize(t, v, pan), MustTokenize(t, v, pan)
	if a.Token == b.Token {
		t.Errorf("one number tokenized twice gave one token %q", a.Token)
	}
	if a.Fingerprint != b.Fingerprint {
		t.Errorf("fingerprints differ for one number: %q, %q", a.Fingerprint, b.Fingerprint)
	}
	for _, tok := range []string{a.Token, b.Token} {
		// tok_ and at least 128 bits in base32 (26 characters).
		if !strings.HasPrefix(tok, "tok_") || len(tok) < 4+26 || strings.Contains(tok, "4242") {
			t.Errorf("token %q: want tok_ and >= 26 random base32 characters", tok)
		}
	}
	if !strings.HasPrefix(a.Fingerprint, "fp_") || len(a.Fingerprint) != 3+26 {
		t.Errorf("fingerprint %q: want fp_ and 26 base32 characters", a.Fingerprint)
	}
	if c := MustTokenize(t, v, "4000056655665556"); c.Fingerprint == a.Fingerprint {
		t.Error("two numbers share a fingerprint")
	}
	// Another vault (another store, another fingerprint key) fingerprints differently:
	// the fingerprint is keyed, not a plain hash (PCI DSS 3.5.1.1).
	if other := MustOpen(t, vault.Options{}); other.Fingerprint([]byte(pan)) == a.Fingerprint {
		t.Error("two vaults give one number the same fingerprint")
	}
}

func TestStoreHoldsNoPlaintext(t *testing.T) {
	store := newMemStore()
	v := MustOpen(t, vault.Options{Store: store})
	pans := []string{"4242424242424242", "5555555555554444", "378282246310005"}
	for _, pan := range pans {
		MustTokenize(t, v, pan)
	}
	rows := store.rows()
	for _, pan := range pans {
		// The middle digits are what the metadata never shows.
		if contains(rows, []byte(pan)) || contains(rows, []byte(pan[6:len(pan)-4])) {
			t.Errorf("a stored row contains the number %s or its middle digits", pan)
		}
	}
}

func TestRevealRejects(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		tamper func(s *memStore, a, b vault.Card)
		is     error // when set, errors.Is must hold
	}{
		{"flipped ciphertext bit", func(s *memStore, a, _ vault.Card) {
			s.updateCard(a.Token, func(c *vault.StoredCard) { c.Ciphertext[len(c.Ciphertext)/2] ^= 1 })
		}, nil},
		{"flipped nonce bit", func(s *memStore, a, _ vault.Card) {
			s.updateCard(a.Token, func(c *vault.StoredCard) { c.Ciphertext[0] ^= 1 })
		}, nil},
		{"truncated ciphertext", func(s *memStore, a, _ vault.Card) {
			s.updateCard(a.Token, func(c *vault.StoredCard) { c.Ciphertext = c.Ciphertext[:10] })
		}, nil},
		{"ciphertext of another token", func(s *memStore, a, b vault.Card) {
			var other []byte
			s.updateCard(b.Token, func(c *vault.StoredCard) { other = c.Ciphertext })
			s.updateCard(a.Token, func(c *vault.StoredCard) { c.Ciphertext = other })
		}, nil},
		{"unknown data key", func(s *memStore, a, _ vault.Card) {
			s.updateCard(a.Token, func(c *vault.StoredCard) { c.DataKeyID = "dk_missing" })
		}, vault.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemStore()
			v := MustOpen(t, vault.Options{Store: store})
			a, b := MustTokenize(t, v, "4242424242424242"), MustTokenize(t, v, "4242424242424242")
			tt.tamper(store, a, b)
			pan, err := v.Reveal(ctx, a.Token)
			if err == nil || pan != nil {
				t.Fatalf("Reveal = %q, %v; want an error", pan, err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Reveal error %v, want errors.Is %v", err, tt.is)
			}
			if strings.Contains(err.Error(), "4242") {
				t.Errorf("error %q shows card digits", err)
			}
		})
	}

	t.Run("unknown token", func(t *testing.T) {
		v := MustOpen(t, vault.Options{})
		if _, err := v.Reveal(ctx, "tok_nosuchtoken"); !errors.Is(err, vault.ErrNotFound) {
			t.Errorf("Reveal(unknown) error %v, want ErrNotFound", err)
		}
	})
}

func TestTokenizeRejectsBadNumbers(t *testing.T) {
	v := MustOpen(t, vault.Options{})
	tests := []struct {
		name, pan string
	}{
		{"empty", ""},
		{"11 digits", "42424242424"},
		{"20 digits", "42424242424242424242"},
		{"spaces", "4242 4242 4242 4242"},
		{"letters", "42424242424242a2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Tokenize(context.Background(), []byte(tt.pan), "visa", 1, 2030)
			if err == nil || c != (vault.Card{}) {
				t.Fatalf("Tokenize = %+v, %v; want an error", c, err)
			}
			if tt.pan != "" && strings.Contains(err.Error(), tt.pan[:8]) {
				t.Errorf("error %q echoes the input", err)
			}
		})
	}
}

func TestKEKCallsBounded(t *testing.T) {
	v := MustOpen(t, vault.Options{})
	MustTokenize(t, v, randomPAN()) // warm up
	before := v.Stats()
	tokens := make([]string, 1000)
	for i := range tokens {
		tokens[i] = MustTokenize(t, v, randomPAN()).Token
	}
	for _, tok := range tokens {
		clear(MustReveal(t, v, tok))
	}
	d := v.Stats()
	d.KEKGenerate -= before.KEKGenerate
	d.KEKUnwrap -= before.KEKUnwrap
	d.Encrypts -= before.Encrypts
	d.Decrypts -= before.Decrypts
	if d.KEKGenerate != 0 || d.KEKUnwrap != 0 {
		t.Errorf("1000 tokenizations and reveals in steady state called the KEK: %d generate, %d unwrap; want 0", d.KEKGenerate, d.KEKUnwrap)
	}
	if d.Encrypts != 1000 || d.Decrypts != 1000 {
		t.Errorf("Stats counted %d encrypts, %d decrypts; want 1000 each", d.Encrypts, d.Decrypts)
	}
}

func TestDataKeyLimits(t *testing.T) {
	tests := []struct {
		name         string
		opts         vault.Options
		step         time.Duration // clock advance before each tokenization
		n            int
		wantGenerate int64 // KEK generate calls for the n tokenizations
		wantUnwrap   int64 // KEK unwrap calls for the n tokenizations
	}{
		{name: "steady", n: 100, wantGenerate: 0},
		{name: "max uses", opts: vault.Options{DataKeyMaxUses: 10}, n: 100, wantGenerate: 10},
		{name: "max age", opts: vault.Options{DataKeyMaxAge: time.Hour, CacheTTL: 2 * time.Hour}, step: 30 * time.Minute, n: 10, wantGenerate: 5},
		// The cache entry expires before the key does: the same key is unwrapped again.
		{name: "cache ttl", opts: vault.Options{CacheTTL: time.Hour}, step: 30 * time.Minute, n: 10, wantUnwrap: 5},
		{name: "cache max uses", opts: vault.Options{CacheMaxUses: 10}, n: 100, wantUnwrap: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			tt.opts.Now = clk.Now
			v := MustOpen(t, tt.opts)
			// Use up the data key Open made, so that every case starts on a fresh key.
			clk.Advance(25 * time.Hour)
			MustTokenize(t, v, randomPAN())
			before := v.Stats()
			var tokens []string
			for range tt.n {
				clk.Advance(tt.step)
				tokens = append(tokens, MustTokenize(t, v, randomPAN()).Token)
			}
			after := v.Stats()
			if got := after.KEKGenerate - before.KEKGenerate; got != tt.wantGenerate {
				t.Errorf("KEK generate calls = %d, want %d", got, tt.wantGenerate)
			}
			if got := after.KEKUnwrap - before.KEKUnwrap; got != tt.wantUnwrap {
				t.Errorf("KEK unwrap calls = %d, want %d", got, tt.wantUnwrap)
			}
			for _, tok := range tokens {
				clear(MustReveal(t, v, tok))
			}
		})
	}
}

func TestRevealAfterCacheExpiry(t *testing.T) {
	clk := newClock()
	v := MustOpen(t, vault.Options{Now: clk.Now, DataKeyMaxUses: 10})
	var tokens []string
	for range 30 {
		tokens = append(tokens, MustTokenize(t, v, randomPAN()).Token)
	}
	clk.Advance(2 * time.Hour) // past CacheTTL: every cached key is dropped
	before := v.Stats()
	for _, tok := range tokens {
		clear(MustReveal(t, v, tok))
	}
	// Open's 2 secrets and 30 cards at 10 per key are 4 data keys; the cards use all 4.
	if got := v.Stats().KEKUnwrap - before.KEKUnwrap; got != 4 {
		t.Errorf("revealing 30 cards under 4 data keys unwrapped %d times, want 4", got)
	}
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	store, kek := newMemStore(), MustLocalKEK(t)
	v1 := MustOpen(t, vault.Options{Store: store, KEK: kek})
	c := MustTokenize(t, v1, "4242424242424242")
	mac := v1.MAC("csrf", []byte("cs_1"))
	kid := v1.JWKS().Keys[0].Kid
	v1.Close()

	v2 := MustOpen(t, vault.Options{Store: store, KEK: kek})
	if got := MustReveal(t, v2, c.Token); string(got) != "4242424242424242" {
		t.Errorf("reopened Reveal = %q", got)
	}
	if fp := v2.Fingerprint([]byte("4242424242424242")); fp != c.Fingerprint {
		t.Errorf("reopened fingerprint %q, want %q", fp, c.Fingerprint)
	}
	if got := v2.MAC("csrf", []byte("cs_1")); !bytes.Equal(got, mac) {
		t.Error("reopened MAC differs")
	}
	if keys := v2.JWKS().Keys; len(keys) != 1 || keys[0].Kid != kid {
		t.Errorf("reopened JWKS %+v, want the one key %s", keys, kid)
	}

	t.Run("another KEK", func(t *testing.T) {
		v, err := vault.Open(ctx, vault.Options{Store: store, KEK: MustLocalKEK(t)})
		if err == nil {
			v.Close()
			t.Fatal("Open with another KEK succeeded")
		}
	})
}

// hidingStore hides the rows of one kind until a first insert of that kind
// fails: it plays an instance that read an empty store just before another
// instance wrote its keys.
type hidingStore struct {
	*memStore
	mu     sync.Mutex
	hidden map[string]bool
}

func (h *hidingStore) Secrets(ctx context.Context, kind string) ([]vault.StoredSecret, error) {
	h.mu.Lock()
	hide := h.hidden[kind]
	h.mu.Unlock()
	if hide {
		return nil, nil
	}
	return h.memStore.Secrets(ctx, kind)
}

func (h *hidingStore) InsertSecret(ctx context.Context, s vault.StoredSecret) error {
	err := h.memStore.InsertSecret(ctx, s)
	if err != nil {
		h.mu.Lock()
		h.hidden[s.Kind] = false
		h.mu.Unlock()
	}
	return err
}

func TestOpenRace(t *testing.T) {
	store, kek := newMemStore(), MustLocalKEK(t)
	first := MustOpen(t, vault.Options{Store: store, KEK: kek})
	late := &hidingStore{memStore: store, hidden: map[string]bool{
		vault.SecretFingerprintKey: true,
		vault.SecretSigningKey:     true,
	}}
	second := MustOpen(t, vault.Options{Store: late, KEK: kek})

	pan := []byte("4242424242424242")
	if first.Fingerprint(pan) != second.Fingerprint(pan) {
		t.Error("instances that raced at first start have different fingerprint keys")
	}
	a, b := first.JWKS().Keys, second.JWKS().Keys
	if len(a) != 1 || len(b) != 1 || a[0] != b[0] {
		t.Errorf("instances that raced publish %+v and %+v, want one shared key", a, b)
	}

	// And truly concurrently, on a fresh store.
	store = newMemStore()
	var wg sync.WaitGroup
	vs := make([]*vault.Vault, 4)
	errs := make([]error, len(vs))
	for i := range vs {
		wg.Go(func() { vs[i], errs[i] = vault.Open(context.Background(), vault.Options{Store: store, KEK: kek}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Open: %v", err)
		}
		t.Cleanup(func() { vs[i].Close() })
	}
	for _, v := range vs[1:] {
		if v.Fingerprint(pan) != vs[0].Fingerprint(pan) || v.JWKS().Keys[0] != vs[0].JWKS().Keys[0] {
			t.Error("concurrently opened instances disagree on keys")
		}
	}
}

func TestMAC(t *testing.T) {
	v := MustOpen(t, vault.Options{})
	m := v.MAC("csrf", []byte("cs_1"))
	if len(m) != 32 || !bytes.Equal(m, v.MAC("csrf", []byte("cs_1"))) {
		t.Fatal("MAC is not a deterministic 32-byte value")
	}
	for name, other := range map[string][]byte{
		"other message": v.MAC("csrf", []byte("cs_2")),
		"other purpose": v.MAC("unsubscribe", []byte("cs_1")),
		"other vault":   MustOpen(t, vault.Options{}).MAC("csrf", []byte("cs_1")),
	} {
		if bytes.Equal(m, other) {
			t.Errorf("%s gives the same MAC", name)
		}
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	v := MustOpen(t, vault.Options{})
	c := MustTokenize(t, v, "4242424242424242")
	v.Close()
	v.Close() // idempotent
	if _, err := v.Tokenize(ctx, []byte("4242424242424242"), "visa", 1, 2030); !errors.Is(err, vault.ErrClosed) {
		t.Errorf("Tokenize after Close: %v, want ErrClosed", err)
	}
	if _, err := v.Reveal(ctx, c.Token); !errors.Is(err, vault.ErrClosed) {
		t.Errorf("Reveal after Close: %v, want ErrClosed", err)
	}
	if _, err := v.Sign(ctx, nil); !errors.Is(err, vault.ErrClosed) {
		t.Errorf("Sign after Close: %v, want ErrClosed", err)
	}
	for name, f := range map[string]func(){
		"Fingerprint": func() { v.Fingerprint([]byte("4242424242424242")) },
		"MAC":         func() { v.MAC("csrf", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s after Close did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestOpenOptions(t *testing.T) {
	ctx := context.Background()
	kek := MustLocalKEK(t)
	tests := []struct {
		name string
		opts vault.Options
	}{
		{"no store", vault.Options{KEK: kek}},
		{"no KEK", vault.Options{Store: newMemStore()}},
		{"negative TTL", vault.Options{Store: newMemStore(), KEK: kek, ResultTTL: -time.Second}},
		{"negative uses", vault.Options{Store: newMemStore(), KEK: kek, DataKeyMaxUses: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := vault.Open(ctx, tt.opts); err == nil {
				v.Close()
				t.Error("Open succeeded")
			}
		})
	}
}

func BenchmarkTokenize(b *testing.B) {
	v := MustOpen(b, vault.Options{})
	pan := []byte(randomPAN())
	before := v.Stats()
	for b.Loop() {
		if _, err := v.Tokenize(context.Background(), pan, "visa", 12, 2030); err != nil {
			b.Fatal(err)
		}
	}
	s := v.Stats()
	calls := s.KEKGenerate - before.KEKGenerate + s.KEKUnwrap - before.KEKUnwrap
	b.ReportMetric(float64(calls)/float64(b.N), "kek-calls/card")
}
