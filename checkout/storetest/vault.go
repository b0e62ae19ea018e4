package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

// mustDataKey stores a new data key.
func mustDataKey(tb testing.TB, s Store) vault.DataKey {
	tb.Helper()
	k := vault.DataKey{ID: checkout.NewID("dk"), Wrapped: randomBytes(60), KEKID: "local", CreatedAt: base}
	if err := s.InsertDataKey(tb.Context(), k); err != nil {
		tb.Fatalf("InsertDataKey: %v", err)
	}
	return k
}

func newCard(k vault.DataKey) vault.StoredCard {
	return vault.StoredCard{
		Token:       checkout.NewID("tok"),
		DataKeyID:   k.ID,
		Ciphertext:  randomBytes(12 + 16 + 16),
		Fingerprint: checkout.NewID("fp"),
		Brand:       string(checkout.BrandVisa),
		BIN:         "424242",
		Last4:       "4242",
		ExpMonth:    12,
		ExpYear:     2034,
		CreatedAt:   base,
	}
}

func newSecret(k vault.DataKey, kind string, created time.Time) vault.StoredSecret {
	s := vault.StoredSecret{
		ID:         checkout.NewID("key"),
		Kind:       kind,
		DataKeyID:  k.ID,
		Ciphertext: randomBytes(12 + 32 + 16),
		CreatedAt:  created,
	}
	if kind == vault.SecretSigningKey {
		s.Public = randomBytes(91) // the size of a P-256 PKIX public key
		s.ActiveFrom = created.Add(time.Hour)
	}
	return s
}

func normDataKey(k vault.DataKey) vault.DataKey { k.CreatedAt = utc(k.CreatedAt); return k }

func normCard(c vault.StoredCard) vault.StoredCard { c.CreatedAt = utc(c.CreatedAt); return c }

func normSecrets(ss []vault.StoredSecret) []vault.StoredSecret {
	out := make([]vault.StoredSecret, len(ss))
	for i, s := range ss {
		s.CreatedAt, s.ActiveFrom, s.RetiredAt = utc(s.CreatedAt), utc(s.ActiveFrom), utc(s.RetiredAt)
		out[i] = s
	}
	return out
}

// secretsOf returns the secrets of a kind that are among want, in the
// store's order, so that a shared store's other rows do not matter.
func secretsOf(tb testing.TB, s Store, kind string, want []vault.StoredSecret) []vault.StoredSecret {
	tb.Helper()
	all, err := s.Secrets(tb.Context(), kind)
	if err != nil {
		tb.Fatalf("Secrets(%q): %v", kind, err)
	}
	ours := map[string]bool{}
	for _, w := range want {
		ours[w.ID] = true
	}
	var got []vault.StoredSecret
	for _, sec := range all {
		if sec.Kind != kind {
			tb.Fatalf("Secrets(%q) returned a secret of kind %q", kind, sec.Kind)
		}
		wantUTC(tb, sec.CreatedAt, sec.ActiveFrom, sec.RetiredAt)
		if ours[sec.ID] {
			got = append(got, sec)
		}
	}
	return got
}

func testVault(t *testing.T, open func(t *testing.T) Store) {
	t.Run("DataKey", func(t *testing.T) {
		s := open(t)
		want := mustDataKey(t, s)
		got, err := s.DataKey(t.Context(), want.ID)
		if err != nil {
			t.Fatalf("DataKey: %v", err)
		}
		wantUTC(t, got.CreatedAt)
		wantEqual(t, "data key", got, want, normDataKey)

		_, err = s.DataKey(t.Context(), checkout.NewID("dk"))
		wantNotFound(t, err)
	})

	// Replacing a wrapped key would make everything under it unreadable.
	t.Run("DataKeyNotReplaced", func(t *testing.T) {
		s := open(t)
		want := mustDataKey(t, s)
		dup := want
		dup.Wrapped = randomBytes(60)
		if err := s.InsertDataKey(t.Context(), dup); err == nil {
			t.Fatal("InsertDataKey with an existing id succeeded")
		}
		got, err := s.DataKey(t.Context(), want.ID)
		if err != nil {
			t.Fatalf("DataKey: %v", err)
		}
		wantEqual(t, "data key after a refused duplicate", got, want, normDataKey)
	})

	// The cursor of a resumable rewrap: every key once, in id order.
	t.Run("DataKeysPaged", func(t *testing.T) {
		s := open(t)
		ours := map[string]bool{}
		for range 5 {
			ours[mustDataKey(t, s).ID] = true
		}
		seen := map[string]bool{}
		after := ""
		for pages := 0; ; pages++ {
			if pages > 1000 {
				t.Fatal("DataKeys never ends")
			}
			page, err := s.DataKeys(t.Context(), after, 2)
			if err != nil {
				t.Fatalf("DataKeys: %v", err)
			}
			if len(page) > 2 {
				t.Fatalf("DataKeys(limit 2) returned %d keys", len(page))
			}
			if len(page) == 0 {
				break
			}
			for _, k := range page {
				if k.ID <= after || seen[k.ID] {
					t.Fatalf("DataKeys after %q returned %q: out of order or repeated", after, k.ID)
				}
				seen[k.ID] = true
				after = k.ID
			}
		}
		for id := range ours {
			if !seen[id] {
				t.Errorf("DataKeys never returned %s", id)
			}
		}
	})

	t.Run("UpdateDataKeyWrapped", func(t *testing.T) {
		s := open(t)
		k := mustDataKey(t, s)
		rewrapped := randomBytes(60)
		if err := s.UpdateDataKeyWrapped(t.Context(), k.ID, k.Wrapped, rewrapped); err != nil {
			t.Fatalf("UpdateDataKeyWrapped: %v", err)
		}
		got, err := s.DataKey(t.Context(), k.ID)
		if err != nil || !bytes.Equal(got.Wrapped, rewrapped) {
			t.Fatalf("after rewrap: %x, %v", got.Wrapped, err)
		}
		// A second rewrap from the stale form loses, and changes nothing.
		err = s.UpdateDataKeyWrapped(t.Context(), k.ID, k.Wrapped, randomBytes(60))
		if !errors.Is(err, vault.ErrConflict) {
			t.Fatalf("stale compare-and-swap: %v, want vault.ErrConflict", err)
		}
		if got, _ := s.DataKey(t.Context(), k.ID); !bytes.Equal(got.Wrapped, rewrapped) {
			t.Fatal("a lost compare-and-swap changed the key")
		}
		err = s.UpdateDataKeyWrapped(t.Context(), checkout.NewID("dk"), k.Wrapped, rewrapped)
		wantNotFound(t, err)
	})

	t.Run("Card", func(t *testing.T) {
		s := open(t)
		want := newCard(mustDataKey(t, s))
		if err := s.InsertCard(t.Context(), want); err != nil {
			t.Fatalf("InsertCard: %v", err)
		}
		got, err := s.Card(t.Context(), want.Token)
		if err != nil {
			t.Fatalf("Card: %v", err)
		}
		wantUTC(t, got.CreatedAt)
		wantEqual(t, "card", got, want, normCard)

		_, err = s.Card(t.Context(), checkout.NewID("tok"))
		wantNotFound(t, err)
	})

	t.Run("CardNotReplaced", func(t *testing.T) {
		s := open(t)
		want := newCard(mustDataKey(t, s))
		if err := s.InsertCard(t.Context(), want); err != nil {
			t.Fatalf("InsertCard: %v", err)
		}
		dup := want
		dup.Ciphertext = randomBytes(len(want.Ciphertext))
		if err := s.InsertCard(t.Context(), dup); err == nil {
			t.Fatal("InsertCard with an existing token succeeded")
		}
		got, err := s.Card(t.Context(), want.Token)
		if err != nil {
			t.Fatalf("Card: %v", err)
		}
		if !bytes.Equal(got.Ciphertext, want.Ciphertext) {
			t.Fatal("a duplicate InsertCard replaced the card's ciphertext")
		}
	})

	t.Run("SecretsOldestFirst", func(t *testing.T) {
		s := open(t)
		k := mustDataKey(t, s)
		// Inserted out of order; Secrets answers oldest first.
		newest := newSecret(k, vault.SecretSigningKey, base.Add(2*time.Minute))
		oldest := newSecret(k, vault.SecretSigningKey, base)
		middle := newSecret(k, vault.SecretSigningKey, base.Add(time.Minute))
		fp := newSecret(k, vault.SecretFingerprintKey, base.Add(-time.Minute))
		for _, sec := range []vault.StoredSecret{newest, oldest, fp, middle} {
			if err := s.InsertSecret(t.Context(), sec); err != nil {
				t.Fatalf("InsertSecret: %v", err)
			}
		}
		signing := []vault.StoredSecret{oldest, middle, newest}
		wantEqual(t, "signing secrets", secretsOf(t, s, vault.SecretSigningKey, signing), signing, normSecrets)

		got := secretsOf(t, s, vault.SecretFingerprintKey, []vault.StoredSecret{fp})
		wantEqual(t, "fingerprint secrets", got, []vault.StoredSecret{fp}, normSecrets)
		if got[0].Public != nil {
			t.Fatalf("Public = %x; want nil for a fingerprint key", got[0].Public)
		}
	})

	t.Run("SecretsOfUnknownKind", func(t *testing.T) {
		s := open(t)
		got, err := s.Secrets(t.Context(), "storetest-"+checkout.NewID("kind"))
		if err != nil || len(got) != 0 {
			t.Fatalf("Secrets of a kind nobody stored = %d secrets, %v; want none", len(got), err)
		}
	})

	t.Run("RetireSecret", func(t *testing.T) {
		s := open(t)
		k := mustDataKey(t, s)
		a := newSecret(k, vault.SecretSigningKey, base)
		b := newSecret(k, vault.SecretSigningKey, base.Add(time.Minute))
		for _, sec := range []vault.StoredSecret{a, b} {
			if err := s.InsertSecret(t.Context(), sec); err != nil {
				t.Fatalf("InsertSecret: %v", err)
			}
		}
		at := base.Add(48 * time.Hour)
		if err := s.RetireSecret(t.Context(), a.ID, at); err != nil {
			t.Fatalf("RetireSecret: %v", err)
		}
		a.RetiredAt = at
		want := []vault.StoredSecret{a, b}
		wantEqual(t, "secrets after retiring one", secretsOf(t, s, vault.SecretSigningKey, want), want, normSecrets)

		wantNotFound(t, s.RetireSecret(t.Context(), checkout.NewID("key"), at))
	})
}

// testContext checks that stores honour a cancelled context.
func testContext(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	m := mustMerchant(t, s)
	sess := mustSession(t, s, m)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	wantCanceled := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v; want context.Canceled", what, err)
		}
	}
	_, err := s.Session(ctx, sess.ID)
	wantCanceled("Session", err)
	_, err = s.Merchant(ctx, m.ID)
	wantCanceled("Merchant", err)
	_, err = s.BeginAttempt(ctx, sess.ID, base, base)
	wantCanceled("BeginAttempt", err)
	other := newSession(m, base)
	_, _, err = s.CreateSessionIdempotent(ctx, other, checkout.NewID("idem"), hashOf("x"))
	wantCanceled("CreateSessionIdempotent", err)
	wantCanceled("InsertDataKey", s.InsertDataKey(ctx, vault.DataKey{ID: checkout.NewID("dk"), Wrapped: []byte{1}, KEKID: "local", CreatedAt: base}))

	// Nothing was changed.
	wantSession(t, mustGet(t, s, sess.ID), sess)
	if _, err := s.Session(t.Context(), other.ID); checkout.ErrorCode(err) != checkout.ENOTFOUND {
		t.Fatalf("session created under a cancelled context (err %v)", err)
	}
}
