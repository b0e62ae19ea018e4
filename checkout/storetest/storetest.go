// Package storetest is the conformance suite of the checkout's stores: every
// implementation of checkout.Store and vault.Store (checkout/sqlite today,
// PostgreSQL next) runs Run from its own tests, against a real database.
//
// The suite is store-agnostic. It creates every row under fresh random ids
// and never assumes the store is empty, so open may hand out a fresh store
// per test or one shared store. Its times are in a zone other than UTC, to
// check that stores answer in UTC, and have whole microseconds, the precision
// of PostgreSQL's timestamptz.
package storetest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

// Store is what a store under test implements: everything the checkout,
// its fraud screening and the vault keep.
type Store interface {
	checkout.Store
	vault.Store
	RiskStore
	risk.LimitStore
}

// Run runs the suite. open returns the store for one test; it registers
// its own cleanup with t.
func Run(t *testing.T, open func(t *testing.T) Store) {
	t.Run("Merchant", func(t *testing.T) { testMerchant(t, open) })
	t.Run("PaymentMethods", func(t *testing.T) { testPaymentMethods(t, open) })
	t.Run("Customers", func(t *testing.T) { testCustomers(t, open) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, open) })
	t.Run("Session", func(t *testing.T) { testSession(t, open) })
	t.Run("Idempotency", func(t *testing.T) { testIdempotency(t, open) })
	t.Run("BeginAttempt", func(t *testing.T) { testBeginAttempt(t, open) })
	t.Run("RoundBegins", func(t *testing.T) { testRoundBegins(t, open) })
	t.Run("FinishAttempt", func(t *testing.T) { testFinishAttempt(t, open) })
	t.Run("Payment", func(t *testing.T) { testPayment(t, open) })
	t.Run("Authentication", func(t *testing.T) { testAuthentication(t, open) })
	t.Run("Risk", func(t *testing.T) { testRisk(t, open) })
	t.Run("MerchantLimits", func(t *testing.T) { testMerchantLimits(t, open) })
	t.Run("WebhooksAndChargebacks", func(t *testing.T) { testWebhooksAndChargebacks(t, open) })
	t.Run("Vault", func(t *testing.T) { testVault(t, open) })
	t.Run("Context", func(t *testing.T) { testContext(t, open) })
}

// base is the suite's clock: stores take every time from their callers.
var base = time.Date(2031, time.May, 6, 7, 8, 9, 123456000, time.FixedZone("JST", 9*60*60))

// mustMerchant stores a new merchant with two origins.
func mustMerchant(tb testing.TB, s Store) checkout.Merchant {
	tb.Helper()
	m := checkout.Merchant{
		ID:   checkout.NewID("mer"),
		Name: "Storetest Shop",
		Origins: []checkout.Origin{
			{Scheme: "https", Host: "shop.example", Port: 443},
			{Scheme: "http", Host: "127.0.0.1", Port: 8081},
		},
		APIKeyHash: checkout.HashAPIKey(checkout.NewAPIKey()),
		CreatedAt:  base,
	}
	if err := s.CreateMerchant(tb.Context(), m); err != nil {
		tb.Fatalf("CreateMerchant: %v", err)
	}
	return m
}

// newSession is an open session of m created at now, not yet stored.
func newSession(m checkout.Merchant, now time.Time) checkout.Session {
	return checkout.Session{
		ID:                checkout.NewID("cs"),
		MerchantID:        m.ID,
		Amount:            1500,
		Currency:          "JPY",
		OrderID:           "order-" + checkout.NewID("o"),
		SuccessURL:        "https://shop.example/done",
		CancelURL:         "https://shop.example/cart",
		Locale:            "ja",
		ResultDelivery:    checkout.DeliverPost,
		Status:            checkout.SessionOpen,
		CreatedAt:         now,
		ExpiresAt:         now.Add(30 * time.Minute),
		CaptureMethod:     checkout.CaptureAutomatic,
		AuthorizationDays: checkout.DefaultAuthorizationDays,
	}
}

// mustSession stores an open session of m created at base.
func mustSession(tb testing.TB, s Store, m checkout.Merchant) checkout.Session {
	tb.Helper()
	sess := newSession(m, base)
	if err := s.CreateSession(tb.Context(), sess); err != nil {
		tb.Fatalf("CreateSession: %v", err)
	}
	return sess
}

// mustBegin starts an attempt that must succeed.
func mustBegin(tb testing.TB, s Store, id string, now time.Time) checkout.Session {
	tb.Helper()
	before, err := s.BeginAttempt(tb.Context(), id, now, now.Add(-time.Minute))
	if err != nil {
		tb.Fatalf("BeginAttempt: %v", err)
	}
	return before
}

// mustGet reads a session that must exist.
func mustGet(tb testing.TB, s Store, id string) checkout.Session {
	tb.Helper()
	sess, err := s.Session(tb.Context(), id)
	if err != nil {
		tb.Fatalf("Session: %v", err)
	}
	return sess
}

func newAttempt(sess checkout.Session, n int, outcome string, now time.Time) checkout.Attempt {
	return checkout.Attempt{
		SessionID:   sess.ID,
		N:           n,
		Outcome:     outcome,
		CVCCheck:    checkout.CVCPass,
		CardToken:   checkout.NewID("tok"),
		Fingerprint: checkout.NewID("fp"),
		Brand:       checkout.BrandVisa,
		Last4:       "4242",
		CreatedAt:   now,
	}
}

func newPayment(sess checkout.Session, a checkout.Attempt, now time.Time) checkout.Payment {
	return checkout.Payment{
		ID:             checkout.NewID("pay"),
		SessionID:      sess.ID,
		MerchantID:     sess.MerchantID,
		OrderID:        sess.OrderID,
		Amount:         sess.Amount,
		Currency:       sess.Currency,
		Status:         checkout.PaymentSucceeded,
		CardToken:      a.CardToken,
		Brand:          a.Brand,
		Last4:          a.Last4,
		ExpMonth:       12,
		ExpYear:        2034,
		Fingerprint:    a.Fingerprint,
		CVCCheck:       a.CVCCheck,
		AuthCode:       "A1B2C3",
		CreatedAt:      now,
		CaptureMethod:  checkout.CaptureAutomatic,
		AmountCaptured: sess.Amount,
	}
}

func hashOf(body string) []byte {
	sum := sha256.Sum256([]byte(body))
	return sum[:]
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// wantCode fails unless err carries the checkout error code (and, when msg
// is not empty, that user-visible message).
func wantCode(tb testing.TB, err error, code, msg string) {
	tb.Helper()
	if got := checkout.ErrorCode(err); got != code {
		tb.Fatalf("error = %v; want code %q", err, code)
	}
	if msg != "" {
		if got := checkout.ErrorMessage(err); got != msg {
			tb.Fatalf("error message = %q; want %q", got, msg)
		}
	}
}

// wantNotFound fails unless err is vault.ErrNotFound, wrapped or not.
func wantNotFound(tb testing.TB, err error) {
	tb.Helper()
	if !errors.Is(err, vault.ErrNotFound) {
		tb.Fatalf("error = %v; want vault.ErrNotFound", err)
	}
}

// wantUTC fails unless every non-zero time is in UTC.
func wantUTC(tb testing.TB, times ...time.Time) {
	tb.Helper()
	for i, tm := range times {
		if !tm.IsZero() && tm.Location() != time.UTC {
			tb.Errorf("time %d = %v; want it in UTC", i, tm)
		}
	}
}

// utc is t as a store returns it: UTC, no monotonic reading; zero stays zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Round(0)
}

// wantEqual compares after normalize, which brings the times of both sides
// to UTC, so that equal instants compare equal.
func wantEqual[T any](tb testing.TB, what string, got, want T, normalize func(T) T) {
	tb.Helper()
	g, w := normalize(got), normalize(want)
	if !reflect.DeepEqual(g, w) {
		tb.Fatalf("%s:\n got %s\nwant %s", what, show(g), show(w))
	}
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func normSession(s checkout.Session) checkout.Session {
	s.CreatedAt, s.ExpiresAt, s.ProcessingSince = utc(s.CreatedAt), utc(s.ExpiresAt), utc(s.ProcessingSince)
	return s
}

func wantSession(tb testing.TB, got, want checkout.Session) {
	tb.Helper()
	wantUTC(tb, got.CreatedAt, got.ExpiresAt, got.ProcessingSince)
	wantEqual(tb, "session", got, want, normSession)
}
