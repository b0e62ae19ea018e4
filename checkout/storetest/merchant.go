package storetest

import (
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

func normMerchant(m checkout.Merchant) checkout.Merchant {
	m.CreatedAt = utc(m.CreatedAt)
	if m.PaymentMethods.Types == nil {
		m.PaymentMethods = checkout.DefaultPaymentMethodSettings()
	}
	return m
}

func testMerchant(t *testing.T, open func(t *testing.T) Store) {
	t.Run("CreateAndRead", func(t *testing.T) {
		s := open(t)
		want := mustMerchant(t, s)
		// A third origin shows that order is kept.
		want2 := checkout.Merchant{
			ID:   checkout.NewID("mer"),
			Name: "Three Origins",
			Origins: []checkout.Origin{
				{Scheme: "https", Host: "b.example", Port: 8443},
				{Scheme: "https", Host: "a.example", Port: 443},
				{Scheme: "http", Host: "::1", Port: 3000},
			},
			APIKeyHash: checkout.HashAPIKey(checkout.NewAPIKey()),
			CreatedAt:  base,
		}
		if err := s.CreateMerchant(t.Context(), want2); err != nil {
			t.Fatalf("CreateMerchant: %v", err)
		}
		for _, w := range []checkout.Merchant{want, want2} {
			got, err := s.Merchant(t.Context(), w.ID)
			if err != nil {
				t.Fatalf("Merchant: %v", err)
			}
			wantUTC(t, got.CreatedAt)
			wantEqual(t, "Merchant", got, w, normMerchant)

			got, err = s.MerchantByAPIKeyHash(t.Context(), w.APIKeyHash)
			if err != nil {
				t.Fatalf("MerchantByAPIKeyHash: %v", err)
			}
			wantEqual(t, "MerchantByAPIKeyHash", got, w, normMerchant)
		}
	})

	t.Run("DuplicateID", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		dup := m
		dup.Name = "Impostor"
		dup.APIKeyHash = checkout.HashAPIKey(checkout.NewAPIKey())
		wantCode(t, s.CreateMerchant(t.Context(), dup), checkout.ECONFLICT, "")
		got, err := s.Merchant(t.Context(), m.ID)
		if err != nil {
			t.Fatalf("Merchant: %v", err)
		}
		wantEqual(t, "merchant after a refused duplicate", got, m, normMerchant)
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		mustMerchant(t, s)
		_, err := s.Merchant(t.Context(), checkout.NewID("mer"))
		wantCode(t, err, checkout.ENOTFOUND, "no such merchant")
		_, err = s.MerchantByAPIKeyHash(t.Context(), checkout.HashAPIKey(checkout.NewAPIKey()))
		wantCode(t, err, checkout.ENOTFOUND, "no such merchant")
	})

	t.Run("RotateAPIKey", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		old, newHash := m.APIKeyHash, checkout.HashAPIKey(checkout.NewAPIKey())
		if err := s.SetMerchantAPIKeyHash(t.Context(), m.ID, newHash); err != nil {
			t.Fatalf("SetMerchantAPIKeyHash: %v", err)
		}
		got, err := s.MerchantByAPIKeyHash(t.Context(), newHash)
		if err != nil {
			t.Fatalf("MerchantByAPIKeyHash(new key): %v", err)
		}
		m.APIKeyHash = newHash
		wantEqual(t, "merchant found by its new key", got, m, normMerchant)
		// The old key stops working at once.
		_, err = s.MerchantByAPIKeyHash(t.Context(), old)
		wantCode(t, err, checkout.ENOTFOUND, "no such merchant")
	})

	t.Run("RotateNotFound", func(t *testing.T) {
		s := open(t)
		err := s.SetMerchantAPIKeyHash(t.Context(), checkout.NewID("mer"), checkout.HashAPIKey(checkout.NewAPIKey()))
		wantCode(t, err, checkout.ENOTFOUND, "no such merchant")
	})
}
