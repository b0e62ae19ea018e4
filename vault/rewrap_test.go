package vault_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/vault"
	"github.com/hostedcheckout/hostedcheckout/vault/vaulttest"
)

// snapshotCards returns a copy of every stored card by token.
func (m *memStore) snapshotCards() map[string]vault.StoredCard {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]vault.StoredCard, len(m.cards))
	for tok, c := range m.cards {
		c.Ciphertext = bytes.Clone(c.Ciphertext)
		out[tok] = c
	}
	return out
}

// allDataKeys returns every data key in id order.
func allDataKeys(tb testing.TB, s vault.Store) []vault.DataKey {
	tb.Helper()
	keys, err := s.DataKeys(context.Background(), "", 1<<20)
	if err != nil {
		tb.Fatalf("DataKeys: %v", err)
	}
	return keys
}

// versions counts data keys by Transit key version.
func versions(tr *vault.Transit, keys []vault.DataKey) map[int]int {
	out := map[int]int{}
	for _, k := range keys {
		out[tr.KeyVersion(k.Wrapped)]++
	}
	return out
}

// cardBook is a goroutine-safe token -> number record.
type cardBook struct {
	mu    sync.Mutex
	cards map[string]string
	order []string
}

func (b *cardBook) add(token, pan string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cards == nil {
		b.cards = map[string]string{}
	}
	b.cards[token] = pan
	b.order = append(b.order, token)
}

func (b *cardBook) random() (token, pan string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	token = b.order[rand.IntN(len(b.order))]
	return token, b.cards[token]
}

func (b *cardBook) all() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]string, len(b.cards))
	for k, v := range b.cards {
		out[k] = v
	}
	return out
}

func TestRotateRewrapUnderLoad(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	tr := MustRootTransit(t, srv)
	ctx := context.Background()
	store := newMemStore()
	// Few cards per data key, so that there are many data keys to rewrap.
	v := MustOpen(t, vault.Options{Store: store, KEK: tr, DataKeyMaxUses: 4})

	book := &cardBook{}
	for range 60 {
		pan := randomPAN()
		book.add(MustTokenize(t, v, pan).Token, pan)
	}
	before := store.snapshotCards()
	oldKeys := allDataKeys(t, store)
	if vs := versions(tr, oldKeys); vs[1] != len(oldKeys) || len(oldKeys) < 15 {
		t.Fatalf("before rotation: versions %v of %d keys, want all v1 and at least 15", vs, len(oldKeys))
	}

	// Payments go on throughout: tokenize, and reveal a random earlier card.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var ops atomic.Int64
	errs := make(chan error, 64)
	for range 3 {
		wg.Go(func() {
			for loadCtx.Err() == nil {
				pan := randomPAN()
				c, err := v.Tokenize(ctx, []byte(pan), "visa", 12, 2030)
				if err != nil {
					errs <- err
					return
				}
				book.add(c.Token, pan)
				token, want := book.random()
				got, err := v.Reveal(ctx, token)
				if err != nil || string(got) != want {
					errs <- errors.Join(errors.New("reveal during rotation"), err)
					return
				}
				ops.Add(1)
				time.Sleep(time.Millisecond)
			}
		})
	}
	time.Sleep(200 * time.Millisecond)

	latest, err := tr.Rotate(ctx)
	if err != nil || latest != 2 {
		t.Fatalf("Rotate = %d, %v; want 2", latest, err)
	}
	time.Sleep(100 * time.Millisecond)
	// Two rewraps at once (say, two operators): compare-and-swap keeps
	// either from undoing the other's work.
	var p1, p2 vault.RewrapProgress
	var e1, e2 error
	var progressCalls atomic.Int64
	progress := func(vault.RewrapProgress) { progressCalls.Add(1) }
	var rw sync.WaitGroup
	rw.Go(func() { p1, e1 = vault.Rewrap(ctx, store, tr, vault.RewrapOptions{BatchSize: 5, Progress: progress}) })
	rw.Go(func() { p2, e2 = vault.Rewrap(ctx, store, tr, vault.RewrapOptions{BatchSize: 7}) })
	rw.Wait()
	time.Sleep(200 * time.Millisecond)
	stopLoad()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("payments during rotation: %v", err)
	}
	if e1 != nil || e2 != nil || !p1.Finished || !p2.Finished {
		t.Fatalf("Rewrap: %+v, %v; %+v, %v", p1, e1, p2, e2)
	}
	t.Logf("rewraps: %+v and %+v, %d progress reports; %d tokenize+reveal pairs ran alongside", p1, p2, progressCalls.Load(), ops.Load())
	if p1.Rewrapped+p2.Rewrapped < len(oldKeys) {
		t.Errorf("rewrapped %d + %d, want at least the %d keys from before the rotation", p1.Rewrapped, p2.Rewrapped, len(oldKeys))
	}

	// Every data key is at the new version; card rows are untouched.
	keys := allDataKeys(t, store)
	if vs := versions(tr, keys); vs[latest] != len(keys) {
		t.Errorf("after rewrap: versions %v of %d keys, want all v%d", vs, len(keys), latest)
	}
	for token, old := range before {
		now := store.snapshotCards()[token]
		if !bytes.Equal(now.Ciphertext, old.Ciphertext) || now.DataKeyID != old.DataKeyID {
			t.Fatalf("card %s changed in the rewrap", token)
		}
	}
	cards := book.all()
	for token, pan := range cards {
		if got := MustReveal(t, v, token); string(got) != pan {
			t.Fatalf("Reveal(%s) after rewrap = %q, want %q", token, got, pan)
		}
	}

	// Retire version 1. A fresh instance (new KEK client, empty cache, the
	// same store) still reveals every card ever tokenized...
	if err := tr.SetMinDecryptionVersion(ctx, latest); err != nil {
		t.Fatalf("SetMinDecryptionVersion: %v", err)
	}
	tr2 := MustRootTransit(t, srv)
	v2 := MustOpen(t, vault.Options{Store: store, KEK: tr2})
	for token, pan := range cards {
		if got := MustReveal(t, v2, token); string(got) != pan {
			t.Fatalf("fresh instance: Reveal(%s) = %q, want %q", token, got, pan)
		}
	}
	t.Logf("fresh instance revealed %d cards with %+v", len(cards), v2.Stats())
	// ...while a data key still wrapped under version 1 no longer unwraps.
	if _, err := tr2.UnwrapDataKey(ctx, oldKeys[0].Wrapped); err == nil {
		t.Error("a v1 wrapped key still unwraps after min_decryption_version was raised")
	} else {
		t.Logf("v1 after retirement: %v", err)
	}
}

// cancellingRewrapper cancels its context after its n-th rewrap, to
// interrupt a Rewrap half way.
type cancellingRewrapper struct {
	*vault.Transit
	calls  atomic.Int64
	n      int64
	cancel context.CancelFunc
}

func (c *cancellingRewrapper) RewrapDataKey(ctx context.Context, wrapped []byte) ([]byte, error) {
	out, err := c.Transit.RewrapDataKey(ctx, wrapped)
	if c.calls.Add(1) == c.n {
		c.cancel()
	}
	return out, err
}

func TestRewrapResumable(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	tr := MustRootTransit(t, srv)
	store := newMemStore()
	v := MustOpen(t, vault.Options{Store: store, KEK: tr, DataKeyMaxUses: 1})
	book := &cardBook{}
	for range 30 {
		pan := randomPAN()
		book.add(MustTokenize(t, v, pan).Token, pan)
	}
	total := len(allDataKeys(t, store))
	if _, err := tr.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Interrupted after 10 keys.
	ctx, cancel := context.WithCancel(context.Background())
	rw := &cancellingRewrapper{Transit: tr, n: 10, cancel: cancel}
	var reports []vault.RewrapProgress
	p, err := vault.Rewrap(ctx, store, rw, vault.RewrapOptions{BatchSize: 4, Progress: func(p vault.RewrapProgress) { reports = append(reports, p) }})
	if !errors.Is(err, context.Canceled) || p.Finished || p.Rewrapped != 10 || p.Cursor == "" {
		t.Fatalf("interrupted Rewrap = %+v, %v; want 10 rewrapped, a cursor, and context.Canceled", p, err)
	}
	for i := 1; i < len(reports); i++ {
		if reports[i].Done < reports[i-1].Done {
			t.Errorf("progress went backwards: %+v then %+v", reports[i-1], reports[i])
		}
	}
	for _, k := range allDataKeys(t, store) {
		if got := tr.KeyVersion(k.Wrapped); (k.ID <= p.Cursor) != (got == 2) {
			t.Errorf("data key %s (cursor %s) is at v%d", k.ID, p.Cursor, got)
		}
	}

	// Resumed from the cursor: finishes the rest, and no more.
	p2, err := vault.Rewrap(context.Background(), store, tr, vault.RewrapOptions{BatchSize: 4, After: p.Cursor})
	if err != nil || !p2.Finished || p2.Rewrapped != total-10 || p2.Latest != 2 {
		t.Fatalf("resumed Rewrap = %+v, %v; want %d rewrapped", p2, err, total-10)
	}
	// Run again from scratch: nothing to do, and not one call to Vault.
	again := &cancellingRewrapper{Transit: tr, n: -1, cancel: func() {}}
	p3, err := vault.Rewrap(context.Background(), store, again, vault.RewrapOptions{})
	if err != nil || !p3.Finished || p3.Rewrapped != 0 || p3.Skipped != total || again.calls.Load() != 0 {
		t.Fatalf("third Rewrap = %+v, %v with %d rewrap calls; want all %d skipped, no calls", p3, err, again.calls.Load(), total)
	}
	v2 := MustOpen(t, vault.Options{Store: store, KEK: MustRootTransit(t, srv)})
	for token, pan := range book.all() {
		if got := MustReveal(t, v2, token); string(got) != pan {
			t.Fatalf("Reveal(%s) = %q, want %q", token, got, pan)
		}
	}
}

// racingStore rewraps each data key itself just before the Rewrap under
// test writes it, so that every compare-and-swap of the test loses once.
type racingStore struct {
	*memStore
	tr    *vault.Transit
	raced map[string]bool
}

func (s *racingStore) UpdateDataKeyWrapped(ctx context.Context, id string, old, wrapped []byte) error {
	if !s.raced[id] {
		s.raced[id] = true
		theirs, err := s.tr.RewrapDataKey(ctx, old)
		if err != nil {
			return err
		}
		if err := s.memStore.UpdateDataKeyWrapped(ctx, id, old, theirs); err != nil {
			return err
		}
	}
	return s.memStore.UpdateDataKeyWrapped(ctx, id, old, wrapped)
}

func TestRewrapConflict(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	tr := MustRootTransit(t, srv)
	mem := newMemStore()
	v := MustOpen(t, vault.Options{Store: mem, KEK: tr, DataKeyMaxUses: 1})
	for range 5 {
		MustTokenize(t, v, randomPAN())
	}
	// A key wrapped by another KEK is left alone, not failed on.
	local := MustLocalKEK(t)
	_, wrapped, _ := local.GenerateDataKey(context.Background())
	if err := mem.InsertDataKey(context.Background(), vault.DataKey{ID: "dk_local", Wrapped: wrapped, KEKID: local.ID(), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	total := len(allDataKeys(t, mem))
	if _, err := tr.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	store := &racingStore{memStore: mem, tr: tr, raced: map[string]bool{}}
	p, err := vault.Rewrap(context.Background(), store, tr, vault.RewrapOptions{BatchSize: 2})
	if err != nil || !p.Finished || p.Rewrapped != 0 || p.Skipped != total-1 || p.Foreign != 1 {
		t.Fatalf("Rewrap losing every race = %+v, %v; want %d skipped (the winner's work kept) and 1 foreign", p, err, total-1)
	}
	for _, k := range allDataKeys(t, mem) {
		if k.KEKID == tr.ID() && tr.KeyVersion(k.Wrapped) != 2 {
			t.Errorf("data key %s at v%d, want v2", k.ID, tr.KeyVersion(k.Wrapped))
		}
	}
}
