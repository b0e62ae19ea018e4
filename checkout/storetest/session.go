package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

func testSession(t *testing.T, open func(t *testing.T) Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		want := newSession(m, base)
		want.Amount = 12345
		want.Currency = "USD"
		want.Locale = "en"
		want.ResultDelivery = checkout.DeliverQuery
		want.CustomerEmail = "shopper@example.com"
		want.Shipping = &checkout.Address{
			Name: "山田 太郎", Line1: "1-2-3 Chiyoda", Line2: "Room 4", City: "Chiyoda-ku",
			State: "Tokyo", PostalCode: "100-0001", Country: "JP",
		}
		if err := s.CreateSession(t.Context(), want); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		wantSession(t, mustGet(t, s, want.ID), want)
	})

	t.Run("NilShipping", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		want := newSession(m, base)
		want.CancelURL = ""
		if err := s.CreateSession(t.Context(), want); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		got := mustGet(t, s, want.ID)
		if got.Shipping != nil {
			t.Fatalf("Shipping = %+v; want nil", *got.Shipping)
		}
		wantSession(t, got, want)
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		_, err := s.Session(t.Context(), checkout.NewID("cs"))
		wantCode(t, err, checkout.ENOTFOUND, "no such session")
	})

	// Checkout is the session and its merchant with every origin, in
	// order, as Session and Merchant read them apart; a merchant without
	// origins has none.
	t.Run("Checkout", func(t *testing.T) {
		s := open(t)
		bare := checkout.Merchant{ID: checkout.NewID("mer"), Name: "No Origins",
			APIKeyHash: checkout.HashAPIKey(checkout.NewAPIKey()), CreatedAt: base}
		if err := s.CreateMerchant(t.Context(), bare); err != nil {
			t.Fatalf("CreateMerchant: %v", err)
		}
		for _, m := range []checkout.Merchant{mustMerchant(t, s), bare} {
			want := newSession(m, base)
			want.Shipping = &checkout.Address{Name: "Taro", Line1: "1-2-3", City: "Chiyoda-ku", PostalCode: "100-0001", Country: "JP"}
			if err := s.CreateSession(t.Context(), want); err != nil {
				t.Fatalf("CreateSession: %v", err)
			}
			co, err := s.Checkout(t.Context(), want.ID)
			if err != nil {
				t.Fatalf("Checkout: %v", err)
			}
			wantSession(t, co.Session, want)
			wantMerchant, err := s.Merchant(t.Context(), m.ID)
			if err != nil {
				t.Fatalf("Merchant: %v", err)
			}
			wantEqual(t, "Checkout's merchant", co.Merchant, wantMerchant, normMerchant)
			if len(co.Merchant.Origins) != len(m.Origins) {
				t.Fatalf("Checkout's merchant has %d origins; want %d", len(co.Merchant.Origins), len(m.Origins))
			}
		}
		_, err := s.Checkout(t.Context(), checkout.NewID("cs"))
		wantCode(t, err, checkout.ENOTFOUND, "no such session")
	})

	t.Run("UnknownMerchant", func(t *testing.T) {
		s := open(t)
		sess := newSession(checkout.Merchant{ID: checkout.NewID("mer")}, base)
		if err := s.CreateSession(t.Context(), sess); err == nil {
			t.Fatal("CreateSession for a merchant that does not exist succeeded")
		}
	})
}

func testIdempotency(t *testing.T, open func(t *testing.T) Store) {
	t.Run("ReadWithoutMaking", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		key, hash := checkout.NewID("idem"), hashOf(`{"amount":980}`)
		if _, found, err := s.IdempotentSession(t.Context(), m.ID, key, hash, base); err != nil || found {
			t.Fatalf("a key never used: found %v, %v", found, err)
		}
		first := newSession(m, base)
		if _, _, err := s.CreateSessionIdempotent(t.Context(), first, key, hash); err != nil {
			t.Fatal(err)
		}
		stored, found, err := s.IdempotentSession(t.Context(), m.ID, key, hash, base.Add(time.Minute))
		if err != nil || !found {
			t.Fatalf("the key just used: found %v, %v", found, err)
		}
		wantSession(t, stored, first)
		_, _, err = s.IdempotentSession(t.Context(), m.ID, key, hashOf(`{"amount":1000}`), base.Add(time.Minute))
		wantCode(t, err, checkout.EIDEMPOTENCY, "")
		if _, found, err := s.IdempotentSession(t.Context(), mustMerchant(t, s).ID, key, hash, base.Add(time.Minute)); err != nil || found {
			t.Fatalf("another merchant's key: found %v, %v", found, err)
		}
		if _, found, err := s.IdempotentSession(t.Context(), m.ID, key, hash, base.Add(checkout.IdempotencyKeyTTL+time.Minute)); err != nil || found {
			t.Fatalf("a key past its TTL: found %v, %v", found, err)
		}
	})

	t.Run("SameKeySameBody", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		key, hash := checkout.NewID("idem"), hashOf(`{"amount":1500}`)
		first := newSession(m, base)
		stored, created, err := s.CreateSessionIdempotent(t.Context(), first, key, hash)
		if err != nil || !created {
			t.Fatalf("first CreateSessionIdempotent = created %v, %v; want created", created, err)
		}
		wantSession(t, stored, first)

		again := newSession(m, base.Add(time.Minute))
		stored, created, err = s.CreateSessionIdempotent(t.Context(), again, key, hash)
		if err != nil || created {
			t.Fatalf("repeat CreateSessionIdempotent = created %v, %v; want the first session", created, err)
		}
		wantSession(t, stored, first)
		// The repeat's own session was not stored.
		_, err = s.Session(t.Context(), again.ID)
		wantCode(t, err, checkout.ENOTFOUND, "")
	})

	t.Run("SameKeyOtherBody", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		key := checkout.NewID("idem")
		first := newSession(m, base)
		if _, _, err := s.CreateSessionIdempotent(t.Context(), first, key, hashOf("a")); err != nil {
			t.Fatalf("CreateSessionIdempotent: %v", err)
		}
		other := newSession(m, base.Add(time.Minute))
		_, _, err := s.CreateSessionIdempotent(t.Context(), other, key, hashOf("b"))
		wantCode(t, err, checkout.EIDEMPOTENCY, "this Idempotency-Key was used with a different request body")
		_, err = s.Session(t.Context(), other.ID)
		wantCode(t, err, checkout.ENOTFOUND, "")
	})

	t.Run("MerchantsMayShareKey", func(t *testing.T) {
		s := open(t)
		m1, m2 := mustMerchant(t, s), mustMerchant(t, s)
		key, hash := checkout.NewID("idem"), hashOf("same body")
		for _, m := range []checkout.Merchant{m1, m2} {
			sess := newSession(m, base)
			stored, created, err := s.CreateSessionIdempotent(t.Context(), sess, key, hash)
			if err != nil || !created {
				t.Fatalf("CreateSessionIdempotent for %s = created %v, %v; want created", m.ID, created, err)
			}
			wantSession(t, stored, sess)
		}
	})

	t.Run("KeysLast24Hours", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		key := checkout.NewID("idem")
		first := newSession(m, base)
		if _, _, err := s.CreateSessionIdempotent(t.Context(), first, key, hashOf("a")); err != nil {
			t.Fatalf("CreateSessionIdempotent: %v", err)
		}
		// Just inside 24 hours the key still holds.
		late := newSession(m, base.Add(checkout.IdempotencyKeyTTL-time.Second))
		_, _, err := s.CreateSessionIdempotent(t.Context(), late, key, hashOf("b"))
		wantCode(t, err, checkout.EIDEMPOTENCY, "")
		stored, created, err := s.CreateSessionIdempotent(t.Context(), late, key, hashOf("a"))
		if err != nil || created {
			t.Fatalf("CreateSessionIdempotent at 24h-1s = created %v, %v; want the first session", created, err)
		}
		wantSession(t, stored, first)

		// Past 24 hours the key is free again, for any body.
		later := newSession(m, base.Add(checkout.IdempotencyKeyTTL+time.Second))
		stored, created, err = s.CreateSessionIdempotent(t.Context(), later, key, hashOf("b"))
		if err != nil || !created {
			t.Fatalf("CreateSessionIdempotent after 24h = created %v, %v; want created", created, err)
		}
		wantSession(t, stored, later)
		// And now answers with the new session.
		again := newSession(m, later.CreatedAt.Add(time.Minute))
		stored, created, err = s.CreateSessionIdempotent(t.Context(), again, key, hashOf("b"))
		if err != nil || created {
			t.Fatalf("repeat after renewal = created %v, %v; want the renewed session", created, err)
		}
		wantSession(t, stored, later)
		// The first session itself is untouched.
		wantSession(t, mustGet(t, s, first.ID), first)
	})

	t.Run("Race", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		key, hash := checkout.NewID("idem"), hashOf("racing body")
		const n = 50
		type result struct {
			candidate checkout.Session
			stored    checkout.Session
			created   bool
			err       error
		}
		results := make([]result, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range results {
			results[i].candidate = newSession(m, base)
			wg.Go(func() {
				<-start
				r := &results[i]
				r.stored, r.created, r.err = s.CreateSessionIdempotent(t.Context(), r.candidate, key, hash)
			})
		}
		close(start)
		wg.Wait()

		var winner string
		for _, r := range results {
			if r.err != nil {
				t.Fatalf("CreateSessionIdempotent: %v", r.err)
			}
			if r.created {
				if winner != "" {
					t.Fatalf("two sessions created under one key: %s and %s", winner, r.stored.ID)
				}
				winner = r.stored.ID
			}
		}
		if winner == "" {
			t.Fatal("no goroutine created the session")
		}
		for _, r := range results {
			if r.stored.ID != winner {
				t.Fatalf("a goroutine got session %s; want the winner %s", r.stored.ID, winner)
			}
			if r.candidate.ID != winner {
				if _, err := s.Session(t.Context(), r.candidate.ID); checkout.ErrorCode(err) != checkout.ENOTFOUND {
					t.Fatalf("losing candidate %s was stored (err %v)", r.candidate.ID, err)
				}
			}
		}
	})
}
