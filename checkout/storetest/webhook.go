package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/webhook"
)

// FraudStore is what a store implements for webhooks and chargebacks: the
// endpoints, the outbox and its dispatcher's claims, chargebacks and the
// guarantee.
type FraudStore interface {
	Store
	checkout.WebhookStore
	webhook.Store
	checkout.ChargebackStore
	checkout.GuaranteeStore
}

// testWebhooksAndChargebacks runs the webhook and chargeback cases. They
// need more than Store, so each asks open's store for FraudStore.
func testWebhooksAndChargebacks(t *testing.T, open func(t *testing.T) Store) {
	openFraud := func(t *testing.T) FraudStore {
		t.Helper()
		s, ok := open(t).(FraudStore)
		if !ok {
			t.Fatal("the store does not implement storetest.FraudStore")
		}
		return s
	}
	t.Run("WebhookEndpoints", func(t *testing.T) { testWebhookEndpoints(t, openFraud) })
	t.Run("WebhookOutbox", func(t *testing.T) { testWebhookOutbox(t, openFraud) })
	t.Run("WebhookClaim", func(t *testing.T) { testWebhookClaim(t, openFraud) })
	t.Run("WebhookClaimConcurrent", func(t *testing.T) {
		a, b := openFraud(t), openFraud(t)
		if !sameStore(t, a, b) {
			// Each open is a store of its own (an SQLite file per test):
			// race the claims on one handle; the store's own tests race
			// two handles on one file with ClaimAcrossHandles.
			b = a
		}
		ClaimAcrossHandles(t, a, b)
	})
	t.Run("Chargebacks", func(t *testing.T) { testChargebacks(t, openFraud) })
	t.Run("ChargebackConcurrent", func(t *testing.T) {
		a, b := openFraud(t), openFraud(t)
		if !sameStore(t, a, b) {
			b = a
		}
		ChargebacksAcrossHandles(t, a, b)
	})
}

// sameStore reports whether two handles reach one database.
func sameStore(tb testing.TB, a, b FraudStore) bool {
	tb.Helper()
	m := mustMerchant(tb, a)
	_, err := b.Merchant(tb.Context(), m.ID)
	return err == nil
}

// farFuture is past every time the suite uses: claims at it find every
// pending delivery any earlier case left behind.
var farFuture = time.Date(2199, time.January, 1, 0, 0, 0, 0, time.UTC)

// drain leases every pending delivery left by earlier cases until long
// after any time the suite uses, so that a case's claims see only its own.
func drain(tb testing.TB, s FraudStore) {
	tb.Helper()
	for {
		jobs, err := s.ClaimWebhookDeliveries(tb.Context(), farFuture, farFuture.AddDate(1, 0, 0), 500)
		if err != nil {
			tb.Fatalf("drain: ClaimWebhookDeliveries: %v", err)
		}
		if len(jobs) == 0 {
			return
		}
	}
}

// endpointSeq spaces endpoints' creation times, so they list in the order made.
var endpointSeq atomic.Int64

func mustEndpoint(tb testing.TB, s FraudStore, m checkout.Merchant, events ...string) checkout.WebhookEndpoint {
	tb.Helper()
	e := checkout.WebhookEndpoint{
		ID: checkout.NewID("we"), MerchantID: m.ID, URL: "https://shop.example/hooks/" + checkout.NewID("h"),
		Events: events, CreatedAt: base.Add(time.Duration(endpointSeq.Add(1)) * time.Millisecond),
	}
	if err := s.CreateWebhookEndpoint(tb.Context(), e, checkout.MaxWebhookEndpoints); err != nil {
		tb.Fatalf("CreateWebhookEndpoint: %v", err)
	}
	return e
}

func newEvent(m checkout.Merchant, typ string, at time.Time) checkout.WebhookEvent {
	id := checkout.NewID("evt")
	return checkout.WebhookEvent{
		ID: id, Type: typ, MerchantID: m.ID, CreatedAt: at,
		Payload: []byte(fmt.Sprintf(`{"id":%q,"type":%q,"created":%d,"data":{"amount":1500,"note":"「テスト」"}}`, id, typ, at.Unix())),
	}
}

func mustEnqueue(tb testing.TB, s FraudStore, e checkout.WebhookEvent, want int) {
	tb.Helper()
	n, err := s.EnqueueWebhookEvent(tb.Context(), e)
	if err != nil {
		tb.Fatalf("EnqueueWebhookEvent: %v", err)
	}
	if n != want {
		tb.Fatalf("EnqueueWebhookEvent(%s) made %d deliveries; want %d", e.Type, n, want)
	}
}

func mustDeliveries(tb testing.TB, s FraudStore, merchantID string, f checkout.DeliveryFilter) []checkout.Delivery {
	tb.Helper()
	if f.Limit == 0 {
		f.Limit = 100
	}
	ds, err := s.WebhookDeliveries(tb.Context(), merchantID, f)
	if err != nil {
		tb.Fatalf("WebhookDeliveries: %v", err)
	}
	for _, d := range ds {
		wantUTC(tb, d.CreatedAt, d.NextAttemptAt, d.CompletedAt)
		for _, a := range d.Attempts {
			wantUTC(tb, a.At)
		}
	}
	return ds
}

func testWebhookEndpoints(t *testing.T, open func(t *testing.T) FraudStore) {
	t.Run("CreateListDelete", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		// Stored in any order, listed in the API's order of types.
		a := mustEndpoint(t, s, m, checkout.EventChargebackCreated, checkout.EventPaymentAuthorized)
		b := mustEndpoint(t, s, m, checkout.EventPaymentVoided)
		mustEndpoint(t, s, mustMerchant(t, s), checkout.EventPaymentVoided) // another merchant's

		got, err := s.WebhookEndpoints(t.Context(), m.ID)
		if err != nil {
			t.Fatalf("WebhookEndpoints: %v", err)
		}
		a.Events = []string{checkout.EventPaymentAuthorized, checkout.EventChargebackCreated}
		norm := func(es []checkout.WebhookEndpoint) []checkout.WebhookEndpoint {
			out := slices.Clone(es)
			for i := range out {
				out[i].CreatedAt = utc(out[i].CreatedAt)
			}
			return out
		}
		for _, e := range got {
			wantUTC(t, e.CreatedAt)
		}
		wantEqual(t, "endpoints", got, []checkout.WebhookEndpoint{a, b}, norm)

		if err := s.DeleteWebhookEndpoint(t.Context(), m.ID, a.ID, base.Add(time.Hour)); err != nil {
			t.Fatalf("DeleteWebhookEndpoint: %v", err)
		}
		got, err = s.WebhookEndpoints(t.Context(), m.ID)
		if err != nil {
			t.Fatalf("WebhookEndpoints: %v", err)
		}
		wantEqual(t, "endpoints after delete", got, []checkout.WebhookEndpoint{b}, norm)
		err = s.DeleteWebhookEndpoint(t.Context(), m.ID, a.ID, base.Add(time.Hour))
		wantCode(t, err, checkout.ENOTFOUND, "no such webhook endpoint")
	})

	t.Run("OtherMerchantsEndpoint", func(t *testing.T) {
		s := open(t)
		m, other := mustMerchant(t, s), mustMerchant(t, s)
		e := mustEndpoint(t, s, m, checkout.EventPaymentAuthorized)
		err := s.DeleteWebhookEndpoint(t.Context(), other.ID, e.ID, base)
		wantCode(t, err, checkout.ENOTFOUND, "")
		if got, _ := s.WebhookEndpoints(t.Context(), m.ID); len(got) != 1 {
			t.Fatalf("another merchant's delete removed the endpoint: %v", got)
		}
	})

	t.Run("Limit", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		for range 3 {
			e := checkout.WebhookEndpoint{ID: checkout.NewID("we"), MerchantID: m.ID, URL: "https://shop.example/h",
				Events: []string{checkout.EventPaymentAuthorized}, CreatedAt: base}
			if err := s.CreateWebhookEndpoint(t.Context(), e, 3); err != nil {
				t.Fatalf("CreateWebhookEndpoint: %v", err)
			}
		}
		e := checkout.WebhookEndpoint{ID: checkout.NewID("we"), MerchantID: m.ID, URL: "https://shop.example/h",
			Events: []string{checkout.EventPaymentAuthorized}, CreatedAt: base}
		wantCode(t, s.CreateWebhookEndpoint(t.Context(), e, 3), checkout.ECONFLICT, "")
		// A deleted endpoint frees its place.
		got, _ := s.WebhookEndpoints(t.Context(), m.ID)
		if err := s.DeleteWebhookEndpoint(t.Context(), m.ID, got[0].ID, base); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateWebhookEndpoint(t.Context(), e, 3); err != nil {
			t.Fatalf("CreateWebhookEndpoint after a delete: %v", err)
		}
	})

	t.Run("UnknownMerchant", func(t *testing.T) {
		s := open(t)
		e := checkout.WebhookEndpoint{ID: checkout.NewID("we"), MerchantID: checkout.NewID("mer"), URL: "https://shop.example/h",
			Events: []string{checkout.EventPaymentAuthorized}, CreatedAt: base}
		wantCode(t, s.CreateWebhookEndpoint(t.Context(), e, 3), checkout.ENOTFOUND, "")
	})
}

func testWebhookOutbox(t *testing.T, open func(t *testing.T) FraudStore) {
	t.Run("OneDeliveryPerSubscriber", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		both := mustEndpoint(t, s, m, checkout.EventPaymentAuthorized, checkout.EventChargebackCreated)
		auth := mustEndpoint(t, s, m, checkout.EventPaymentAuthorized)
		mustEndpoint(t, s, m, checkout.EventPaymentVoided)
		gone := mustEndpoint(t, s, m, checkout.EventPaymentAuthorized)
		if err := s.DeleteWebhookEndpoint(t.Context(), m.ID, gone.ID, base); err != nil {
			t.Fatal(err)
		}
		mustEndpoint(t, s, mustMerchant(t, s), checkout.EventPaymentAuthorized) // another merchant's

		e := newEvent(m, checkout.EventPaymentAuthorized, base.Add(time.Minute))
		mustEnqueue(t, s, e, 2)
		// The same event again (a retried Notify) sends nothing twice.
		mustEnqueue(t, s, e, 0)
		mustEnqueue(t, s, newEvent(m, checkout.EventChargebackCreated, base.Add(2*time.Minute)), 1)
		mustEnqueue(t, s, newEvent(m, checkout.EventReviewRequired, base.Add(3*time.Minute)), 0)

		ds := mustDeliveries(t, s, m.ID, checkout.DeliveryFilter{EventID: e.ID})
		var endpoints []string
		for _, d := range ds {
			endpoints = append(endpoints, d.EndpointID)
			if d.Status != checkout.DeliveryPending || d.EventType != e.Type || !d.NextAttemptAt.Equal(e.CreatedAt) ||
				!d.CreatedAt.Equal(e.CreatedAt) || len(d.Attempts) != 0 || !d.CompletedAt.IsZero() {
				t.Errorf("new delivery: %s", show(d))
			}
		}
		slices.Sort(endpoints)
		want := []string{both.ID, auth.ID}
		slices.Sort(want)
		if !slices.Equal(endpoints, want) {
			t.Fatalf("deliveries to %v; want %v", endpoints, want)
		}
		if ds := mustDeliveries(t, s, m.ID, checkout.DeliveryFilter{EventType: checkout.EventChargebackCreated}); len(ds) != 1 || ds[0].EndpointID != both.ID || ds[0].URL != both.URL {
			t.Fatalf("chargeback deliveries: %s", show(ds))
		}
		if ds := mustDeliveries(t, s, m.ID, checkout.DeliveryFilter{EndpointID: auth.ID}); len(ds) != 1 {
			t.Fatalf("deliveries of one endpoint: %s", show(ds))
		}
		// Newest first, and the limit holds.
		ds = mustDeliveries(t, s, m.ID, checkout.DeliveryFilter{})
		if len(ds) != 3 || ds[0].EventType != checkout.EventChargebackCreated {
			t.Fatalf("all deliveries: %s", show(ds))
		}
		if ds := mustDeliveries(t, s, m.ID, checkout.DeliveryFilter{Limit: 2}); len(ds) != 2 {
			t.Fatalf("limit 2: %d deliveries", len(ds))
		}
	})

	t.Run("NoSubscribers", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		mustEnqueue(t, s, newEvent(m, checkout.EventPaymentCaptured, base), 0)
		if ds := mustDeliveries(t, s, m.ID, checkout.DeliveryFilter{}); len(ds) != 0 {
			t.Fatalf("deliveries without subscribers: %s", show(ds))
		}
	})

	t.Run("UnknownMerchant", func(t *testing.T) {
		s := open(t)
		_, err := s.EnqueueWebhookEvent(t.Context(), newEvent(checkout.Merchant{ID: checkout.NewID("mer")}, checkout.EventPaymentAuthorized, base))
		wantCode(t, err, checkout.ENOTFOUND, "")
	})

	// A payment's event is written in the payment's own transaction: it
	// exists if and only if the change it describes was committed.
	t.Run("WithThePaymentChange", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		mustEndpoint(t, s, m, checkout.EventPaymentAuthorized, checkout.EventReviewRequired, checkout.EventPaymentCaptured)
		sess := newSession(m, base)
		if err := s.CreateSession(t.Context(), sess); err != nil {
			t.Fatal(err)
		}
		now := base.Add(time.Minute)
		mustBegin(t, s, sess.ID, now)
		a := newAttempt(sess, 1, checkout.AttemptApproved, now)
		p := newPayment(sess, a, now)
		p.Status = checkout.PaymentHeld
		held := newEvent(m, checkout.EventReviewRequired, now)
		if err := s.FinishAttempt(t.Context(), a, &p, held); err != nil {
			t.Fatal(err)
		}
		if ds := mustDeliveries(t, s, m.ID, checkout.DeliveryFilter{EventID: held.ID}); len(ds) != 1 {
			t.Fatalf("deliveries of the payment's event: %s", show(ds))
		}
		// Refused (the session is paid): neither the payment nor its event.
		refused := newEvent(m, checkout.EventPaymentAuthorized, now)
		again := newPayment(sess, a, now)
		wantCode(t, s.FinishAttempt(t.Context(), a, &again, refused), checkout.ECONFLICT, "")
		if ds := mustDeliveries(t, s, m.ID, checkout.DeliveryFilter{EventID: refused.ID}); len(ds) != 0 {
			t.Fatalf("deliveries of a refused payment's event: %s", show(ds))
		}

		captured := newEvent(m, checkout.EventPaymentCaptured, now)
		capture := checkout.PaymentMove{ID: p.ID, From: checkout.PaymentHeld, To: checkout.PaymentCaptured, AmountCaptured: p.Amount}
		if _, err := s.MovePayment(t.Context(), capture, captured); err != nil {
			t.Fatal(err)
		}
		if ds := mustDeliveries(t, s, m.ID, checkout.DeliveryFilter{EventID: captured.ID}); len(ds) != 1 {
			t.Fatalf("deliveries of the capture's event: %s", show(ds))
		}
		lost := newEvent(m, checkout.EventPaymentCaptured, now)
		_, err := s.MovePayment(t.Context(), capture, lost)
		wantCode(t, err, checkout.ECONFLICT, "")
		if ds := mustDeliveries(t, s, m.ID, checkout.DeliveryFilter{EventID: lost.ID}); len(ds) != 0 {
			t.Fatalf("deliveries of a move that lost the race: %s", show(ds))
		}
	})

	// An event written with its change that no endpoint subscribes to is
	// not kept (nothing would read it): once an endpoint subscribes, the
	// same event enqueued is new, with its delivery. One enqueued on its
	// own is kept, and is not new again.
	t.Run("UnsubscribedWithTheChange", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		sess := mustSession(t, s, m)
		now := base.Add(time.Minute)
		mustBegin(t, s, sess.ID, now)
		a := newAttempt(sess, 1, checkout.AttemptApproved, now)
		p := newPayment(sess, a, now)
		authorized := newEvent(m, checkout.EventPaymentAuthorized, now)
		if err := s.FinishAttempt(t.Context(), a, &p, authorized); err != nil {
			t.Fatal(err)
		}
		alone := newEvent(m, checkout.EventPaymentAuthorized, now)
		mustEnqueue(t, s, alone, 0)
		mustEndpoint(t, s, m, checkout.EventPaymentAuthorized)
		mustEnqueue(t, s, authorized, 1)
		mustEnqueue(t, s, alone, 0)
	})

	t.Run("DeleteCancelsPending", func(t *testing.T) {
		s := open(t)
		m := mustMerchant(t, s)
		e := mustEndpoint(t, s, m, checkout.EventPaymentAuthorized)
		mustEnqueue(t, s, newEvent(m, checkout.EventPaymentAuthorized, base), 1)
		at := base.Add(time.Hour)
		if err := s.DeleteWebhookEndpoint(t.Context(), m.ID, e.ID, at); err != nil {
			t.Fatal(err)
		}
		ds := mustDeliveries(t, s, m.ID, checkout.DeliveryFilter{})
		if len(ds) != 1 || ds[0].Status != checkout.DeliveryCanceled || !ds[0].NextAttemptAt.IsZero() || !ds[0].CompletedAt.Equal(at) {
			t.Fatalf("after delete: %s", show(ds))
		}
	})
}

// mine returns the jobs of merchant m, failing on any that are not.
func mine(tb testing.TB, jobs []checkout.WebhookJob, m checkout.Merchant) []checkout.WebhookJob {
	tb.Helper()
	for _, j := range jobs {
		if j.MerchantID != m.ID {
			tb.Fatalf("claimed another case's delivery %s (merchant %s)", j.DeliveryID, j.MerchantID)
		}
	}
	return jobs
}

func mustClaim(tb testing.TB, s FraudStore, now, until time.Time, limit int) []checkout.WebhookJob {
	tb.Helper()
	jobs, err := s.ClaimWebhookDeliveries(tb.Context(), now, until, limit)
	if err != nil {
		tb.Fatalf("ClaimWebhookDeliveries: %v", err)
	}
	return jobs
}

func testWebhookClaim(t *testing.T, open func(t *testing.T) FraudStore) {
	t.Run("LeaseRetryFinish", func(t *testing.T) {
		s := open(t)
		drain(t, s)
		m := mustMerchant(t, s)
		ep := mustEndpoint(t, s, m, checkout.EventPaymentAuthorized)
		e := newEvent(m, checkout.EventPaymentAuthorized, base)
		mustEnqueue(t, s, e, 1)

		// Not due before it was created.
		if jobs := mustClaim(t, s, base.Add(-time.Second), base.Add(time.Minute), 10); len(jobs) != 0 {
			t.Fatalf("claimed before due: %s", show(jobs))
		}
		now := base.Add(time.Second)
		jobs := mine(t, mustClaim(t, s, now, now.Add(time.Minute), 10), m)
		if len(jobs) != 1 {
			t.Fatalf("claimed %d; want 1", len(jobs))
		}
		j := jobs[0]
		if j.EventID != e.ID || j.EventType != e.Type || j.EndpointID != ep.ID || j.URL != ep.URL ||
			string(j.Payload) != string(e.Payload) || j.Attempts != 0 || j.LeaseToken == "" {
			t.Fatalf("job: %s", show(j))
		}
		// Leased: nobody else gets it until the lease ends...
		if jobs := mustClaim(t, s, now.Add(30*time.Second), now.Add(2*time.Minute), 10); len(jobs) != 0 {
			t.Fatalf("claimed a leased delivery: %s", show(jobs))
		}
		// ...and then someone does (the first dispatcher died).
		retaken := mine(t, mustClaim(t, s, now.Add(time.Minute), now.Add(2*time.Minute), 10), m)
		if len(retaken) != 1 || retaken[0].LeaseToken == j.LeaseToken {
			t.Fatalf("after the lease: %s", show(retaken))
		}
		// The first holder's outcome is logged but moves nothing; the
		// attempts are numbered in the order they are logged.
		first := checkout.WebhookOutcome{
			Attempt: checkout.DeliveryAttempt{N: 1, At: now, StatusCode: 500, Latency: 1500 * time.Microsecond, Error: "HTTP 500"},
			Status:  checkout.DeliveryPending, NextAttemptAt: now.Add(time.Hour),
		}
		wantCode(t, s.FinishWebhookAttempt(t.Context(), j, first), checkout.ECONFLICT, "")

		// The holder records a failure with a retry in five minutes.
		at := now.Add(time.Minute)
		retry := checkout.WebhookOutcome{
			Attempt: checkout.DeliveryAttempt{N: 2, At: at, StatusCode: 0, Latency: 10 * time.Second, Error: "no answer within 10s"},
			Status:  checkout.DeliveryPending, NextAttemptAt: at.Add(5 * time.Minute),
		}
		if err := s.FinishWebhookAttempt(t.Context(), retaken[0], retry); err != nil {
			t.Fatalf("FinishWebhookAttempt: %v", err)
		}
		if jobs := mustClaim(t, s, at.Add(5*time.Minute-time.Second), at.Add(time.Hour), 10); len(jobs) != 0 {
			t.Fatalf("claimed before its retry time: %s", show(jobs))
		}
		again := mine(t, mustClaim(t, s, at.Add(5*time.Minute), at.Add(6*time.Minute), 10), m)
		if len(again) != 1 || again[0].Attempts != 2 {
			t.Fatalf("at its retry time: %s", show(again))
		}
		done := checkout.WebhookOutcome{
			Attempt: checkout.DeliveryAttempt{N: 3, At: at.Add(5 * time.Minute), StatusCode: 204, Latency: 40 * time.Millisecond},
			Status:  checkout.DeliverySucceeded,
		}
		if err := s.FinishWebhookAttempt(t.Context(), again[0], done); err != nil {
			t.Fatalf("FinishWebhookAttempt: %v", err)
		}
		if jobs := mustClaim(t, s, farFuture.Add(-time.Hour), farFuture.Add(-time.Minute), 10); len(jobs) != 0 {
			t.Fatalf("claimed a delivered delivery: %s", show(jobs))
		}

		ds := mustDeliveries(t, s, m.ID, checkout.DeliveryFilter{EventID: e.ID})
		if len(ds) != 1 {
			t.Fatalf("deliveries: %s", show(ds))
		}
		d := ds[0]
		if d.Status != checkout.DeliverySucceeded || !d.NextAttemptAt.IsZero() || !d.CompletedAt.Equal(utc(done.Attempt.At.Add(done.Attempt.Latency))) {
			t.Fatalf("delivery: %s", show(d))
		}
		wantAttempts := []checkout.DeliveryAttempt{first.Attempt, retry.Attempt, done.Attempt}
		for i := range wantAttempts {
			wantAttempts[i].At = utc(wantAttempts[i].At)
		}
		wantEqual(t, "attempts", d.Attempts, wantAttempts, func(as []checkout.DeliveryAttempt) []checkout.DeliveryAttempt { return as })
	})

	// Retention: an old event whose deliveries are all over goes, with its
	// deliveries and attempts; a pending one stays, and so does a recent one.
	t.Run("Prune", func(t *testing.T) {
		s := open(t)
		drain(t, s)
		m := mustMerchant(t, s)
		mustEndpoint(t, s, m, checkout.EventPaymentAuthorized)
		old := base.Add(-48 * time.Hour)
		deliver := func(e checkout.WebhookEvent, at time.Time) {
			t.Helper()
			mustEnqueue(t, s, e, 1)
			for _, j := range mine(t, mustClaim(t, s, at, at.Add(time.Minute), 10), m) {
				if j.EventID != e.ID {
					continue
				}
				done := checkout.WebhookOutcome{Attempt: checkout.DeliveryAttempt{N: 1, At: at, StatusCode: 200}, Status: checkout.DeliverySucceeded}
				if err := s.FinishWebhookAttempt(t.Context(), j, done); err != nil {
					t.Fatal(err)
				}
			}
		}
		delivered := newEvent(m, checkout.EventPaymentAuthorized, old)
		deliver(delivered, old.Add(time.Second))
		pending := newEvent(m, checkout.EventPaymentAuthorized, old)
		mustEnqueue(t, s, pending, 1)
		unsubscribed := newEvent(m, checkout.EventPaymentVoided, old) // no deliveries at all
		mustEnqueue(t, s, unsubscribed, 0)
		recent := newEvent(m, checkout.EventPaymentAuthorized, base)
		deliver(recent, base.Add(time.Second))

		n, err := s.PruneWebhookEvents(t.Context(), base.Add(-24*time.Hour), 10_000)
		if err != nil || n < 2 {
			t.Fatalf("PruneWebhookEvents: %d, %v; want at least the delivered and the unsubscribed", n, err)
		}
		for e, want := range map[string]int{delivered.ID: 0, pending.ID: 1, recent.ID: 1} {
			if ds := mustDeliveries(t, s, m.ID, checkout.DeliveryFilter{EventID: e}); len(ds) != want {
				t.Errorf("deliveries of %s after pruning: %s; want %d", e, show(ds), want)
			}
		}
		// The pruned events themselves are gone: the same ids are new again.
		mustEndpoint(t, s, m, checkout.EventPaymentVoided)
		mustEnqueue(t, s, unsubscribed, 1)
		mustEnqueue(t, s, pending, 0) // still there: not enqueued twice
		if n, err := s.PruneWebhookEvents(t.Context(), base.Add(-24*time.Hour), 0); err != nil || n != 0 {
			t.Fatalf("PruneWebhookEvents with limit 0: %d, %v", n, err)
		}
	})

	t.Run("GivesUp", func(t *testing.T) {
		s := open(t)
		drain(t, s)
		m := mustMerchant(t, s)
		mustEndpoint(t, s, m, checkout.EventPaymentVoided)
		mustEnqueue(t, s, newEvent(m, checkout.EventPaymentVoided, base), 1)
		j := mine(t, mustClaim(t, s, base, base.Add(time.Minute), 10), m)[0]
		long := strings.Repeat("x", 500)
		failed := checkout.WebhookOutcome{
			Attempt: checkout.DeliveryAttempt{N: 1, At: base, StatusCode: 410, Error: "HTTP 410 " + long},
			Status:  checkout.DeliveryFailed,
		}
		if err := s.FinishWebhookAttempt(t.Context(), j, failed); err != nil {
			t.Fatalf("FinishWebhookAttempt: %v", err)
		}
		if jobs := mustClaim(t, s, farFuture.Add(-time.Hour), farFuture.Add(-time.Minute), 10); len(jobs) != 0 {
			t.Fatalf("claimed a failed delivery: %s", show(jobs))
		}
		d := mustDeliveries(t, s, m.ID, checkout.DeliveryFilter{})[0]
		if d.Status != checkout.DeliveryFailed || len(d.Attempts) != 1 || len(d.Attempts[0].Error) != checkout.MaxAttemptError {
			t.Fatalf("failed delivery: %s", show(d))
		}
	})

	t.Run("DeletedWhileInFlight", func(t *testing.T) {
		s := open(t)
		drain(t, s)
		m := mustMerchant(t, s)
		ep := mustEndpoint(t, s, m, checkout.EventPaymentCaptured)
		mustEnqueue(t, s, newEvent(m, checkout.EventPaymentCaptured, base), 1)
		j := mine(t, mustClaim(t, s, base, base.Add(time.Minute), 10), m)[0]
		if err := s.DeleteWebhookEndpoint(t.Context(), m.ID, ep.ID, base.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		o := checkout.WebhookOutcome{Attempt: checkout.DeliveryAttempt{N: 1, At: base, StatusCode: 200}, Status: checkout.DeliverySucceeded}
		wantCode(t, s.FinishWebhookAttempt(t.Context(), j, o), checkout.ECONFLICT, "")
		d := mustDeliveries(t, s, m.ID, checkout.DeliveryFilter{})[0]
		if d.Status != checkout.DeliveryCanceled || len(d.Attempts) != 1 {
			t.Fatalf("delivery: %s", show(d))
		}
	})
}

// ClaimAcrossHandles races dispatchers on two handles of one store (or
// one handle twice): every due delivery is claimed by exactly one of them,
// none twice while its lease runs.
func ClaimAcrossHandles(t *testing.T, a, b FraudStore) {
	drain(t, a)
	m := mustMerchant(t, a)
	mustEndpoint(t, a, m, checkout.EventPaymentAuthorized)
	mustEndpoint(t, a, m, checkout.EventPaymentAuthorized)
	const events = 30
	for i := range events {
		mustEnqueue(t, a, newEvent(m, checkout.EventPaymentAuthorized, base.Add(time.Duration(i)*time.Millisecond)), 2)
	}
	now := base.Add(time.Minute)
	var mu sync.Mutex
	claims := map[string]int{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 8 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			<-start
			for {
				jobs, err := s.ClaimWebhookDeliveries(t.Context(), now, now.Add(time.Hour), 3)
				if err != nil {
					t.Errorf("ClaimWebhookDeliveries: %v", err)
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					claims[j.DeliveryID]++
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if len(claims) != 2*events {
		t.Errorf("%d deliveries claimed; want %d", len(claims), 2*events)
	}
	for id, n := range claims {
		if n != 1 {
			t.Errorf("delivery %s claimed %d times under one lease", id, n)
		}
	}
}
