package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

// RiskStore is what a store implements for fraud screening: the velocity
// counters, the blocklists, each merchant's settings and the audit log.
type RiskStore interface {
	risk.Counters
	risk.Lists
	risk.SettingsStore
	risk.ListStore
	risk.AuditLog
	risk.CardLocks
	risk.LockoutBudget
}

func testRisk(t *testing.T, open func(t *testing.T) Store) {
	t.Run("PaymentDecision", func(t *testing.T) { testPaymentDecision(t, open) })
	t.Run("MovePayment", func(t *testing.T) { testMovePayment(t, open) })
	t.Run("DueAuthorizations", func(t *testing.T) { testDueAuthorizations(t, open) })
	t.Run("Refunds", func(t *testing.T) { testRefunds(t, open) })
	t.Run("Counters", func(t *testing.T) { testCounters(t, open) })
	t.Run("CounterBounds", func(t *testing.T) { CounterBounds(t, open(t)) })
	t.Run("Settings", func(t *testing.T) { testSettings(t, open) })
	t.Run("Lists", func(t *testing.T) { testLists(t, open) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open) })
	t.Run("CardLocks", func(t *testing.T) { testCardLocks(t, open) })
	t.Run("LockoutSlots", func(t *testing.T) { testLockoutSlots(t, open) })
}

func decision(v checkout.Verdict, rules ...string) *checkout.RiskDecision {
	d := &checkout.RiskDecision{Verdict: v, Reasons: []checkout.RiskReason{}}
	for _, r := range rules {
		d.Reasons = append(d.Reasons, checkout.RiskReason{Rule: r, Message: "Fired: " + r + " (「テスト」)", Score: 30})
		d.Score += 30
	}
	// The platform's verdict: the same rules, scored apart.
	d.Platform = &checkout.PlatformDecision{Verdict: v, Score: 2 * d.Score, Reasons: []checkout.RiskReason{}}
	for _, r := range d.Reasons {
		r.Score *= 2
		d.Platform.Reasons = append(d.Platform.Reasons, r)
	}
	return d
}

// testPaymentDecision: the screening decision round-trips on payments and
// attempts; rows without one read back as nil.
func testPaymentDecision(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	sess := mustSession(t, s, mustMerchant(t, s))
	now := base.Add(time.Minute)
	mustBegin(t, s, sess.ID, now)
	blocked := newAttempt(sess, 1, checkout.AttemptBlocked, now)
	blocked.Risk = decision(checkout.VerdictNG, "velocity.ip_cards", "cvc.illegible", "amount.review")
	blocked.ThreeDS = threeDS(checkout.ThreeDSRejected, "07")
	blocked.ThreeDS.ChallengeRequested, blocked.ThreeDS.Challenged = false, false
	if err := s.FinishAttempt(t.Context(), blocked, nil); err != nil {
		t.Fatalf("FinishAttempt(blocked): %v", err)
	}
	mustBegin(t, s, sess.ID, now.Add(time.Second))
	unscreened := newAttempt(sess, 2, checkout.AttemptError, now.Add(time.Second))
	if err := s.FinishAttempt(t.Context(), unscreened, nil); err != nil {
		t.Fatalf("FinishAttempt(error): %v", err)
	}
	mustBegin(t, s, sess.ID, now.Add(2*time.Second))
	held := newAttempt(sess, 3, checkout.AttemptApproved, now.Add(2*time.Second))
	held.Risk = decision(checkout.VerdictReview, "cvc.illegible")
	held.ThreeDS = threeDS(checkout.ThreeDSAuthenticated, "05")
	p := newPayment(sess, held, now.Add(2*time.Second))
	p.Status, p.Risk, p.ThreeDS = checkout.PaymentHeld, held.Risk, held.ThreeDS
	if err := s.FinishAttempt(t.Context(), held, &p); err != nil {
		t.Fatalf("FinishAttempt(held): %v", err)
	}

	got, err := s.Payment(t.Context(), p.ID)
	if err != nil {
		t.Fatalf("Payment: %v", err)
	}
	wantEqual(t, "payment", got, p, normPayment)

	attempts, err := s.Attempts(t.Context(), sess.ID)
	if err != nil {
		t.Fatalf("Attempts: %v", err)
	}
	wantEqual(t, "attempts", attempts, []checkout.Attempt{blocked, unscreened, held}, normAttempts)

	// An empty list of reasons reads back empty, not null.
	sess2 := mustSession(t, s, mustMerchant(t, s))
	mustBegin(t, s, sess2.ID, now)
	ok := newAttempt(sess2, 1, checkout.AttemptApproved, now)
	ok.Risk = &checkout.RiskDecision{Verdict: checkout.VerdictOK}
	p2 := newPayment(sess2, ok, now)
	p2.Risk = ok.Risk
	if err := s.FinishAttempt(t.Context(), ok, &p2); err != nil {
		t.Fatalf("FinishAttempt: %v", err)
	}
	if got, err := s.Payment(t.Context(), p2.ID); err != nil || got.Risk == nil || got.Risk.Reasons == nil || len(got.Risk.Reasons) != 0 {
		t.Fatalf("payment with no reasons: %+v, %v; want reasons [] (not null)", got.Risk, err)
	} else if got.ThreeDS != nil {
		t.Fatalf("payment without 3-D Secure reads back with %s; want nil", show(got.ThreeDS))
	}
	if as, err := s.Attempts(t.Context(), checkout.NewID("cs")); err != nil || len(as) != 0 {
		t.Fatalf("Attempts of a missing session: %v, %v; want none", as, err)
	}
}

// testMovePayment: a conditional move, of which one of many racing callers
// wins, carrying what the payment has captured and until when it may be.
func testMovePayment(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	m := mustMerchant(t, s)
	sess := newSession(m, base)
	sess.CaptureMethod, sess.AuthorizationDays = checkout.CaptureManual, 30
	if err := s.CreateSession(t.Context(), sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if got := mustGet(t, s, sess.ID); got.CaptureMethod != checkout.CaptureManual || got.AuthorizationDays != 30 {
		t.Fatalf("a manual session of 30 days reads back as %q, %d days", got.CaptureMethod, got.AuthorizationDays)
	}
	now := base.Add(time.Minute)
	mustBegin(t, s, sess.ID, now)
	a := newAttempt(sess, 1, checkout.AttemptApproved, now)
	p := newPayment(sess, a, now)
	p.Status, p.Risk = checkout.PaymentAuthorized, decision(checkout.VerdictOK)
	p.CaptureMethod, p.AmountCaptured, p.AuthorizedUntil = checkout.CaptureManual, 0, now.Add(30*24*time.Hour)
	p.ThreeDS = threeDS(checkout.ThreeDSUnavailable, "07")
	if err := s.FinishAttempt(t.Context(), a, &p); err != nil {
		t.Fatalf("FinishAttempt: %v", err)
	}
	if got, err := s.Payment(t.Context(), p.ID); err != nil {
		t.Fatal(err)
	} else {
		wantEqual(t, "authorized payment", got, p, normPayment)
	}

	const n = 10
	results := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range results {
		move := checkout.PaymentMove{ID: p.ID, From: checkout.PaymentAuthorized, To: checkout.PaymentCaptured, AmountCaptured: int64(1000 + i)}
		if i%2 == 1 {
			move = checkout.PaymentMove{ID: p.ID, From: checkout.PaymentAuthorized, To: checkout.PaymentVoided}
		}
		wg.Go(func() {
			<-start
			_, results[i] = s.MovePayment(t.Context(), move)
		})
	}
	close(start)
	wg.Wait()
	won, winner := 0, -1
	for i, err := range results {
		switch checkout.ErrorCode(err) {
		case "":
			won, winner = won+1, i
		case checkout.ECONFLICT:
		default:
			t.Fatalf("MovePayment: %v; want success or ECONFLICT", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d racing MovePayment calls won; want exactly 1", won, n)
	}
	got, err := s.Payment(t.Context(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := p
	want.AuthorizedUntil = time.Time{}
	want.Status, want.AmountCaptured = checkout.PaymentVoided, 0
	if winner%2 == 0 {
		want.Status, want.AmountCaptured = checkout.PaymentCaptured, int64(1000+winner)
	}
	wantEqual(t, "payment after the race", got, want, normPayment)

	back := checkout.PaymentMove{ID: p.ID, From: got.Status, To: checkout.PaymentHeld, AuthorizedUntil: p.AuthorizedUntil}
	moved, err := s.MovePayment(t.Context(), back)
	if err != nil {
		t.Fatalf("MovePayment back to held: %+v, %v", moved, err)
	}
	want.Status, want.AmountCaptured, want.AuthorizedUntil = checkout.PaymentHeld, 0, p.AuthorizedUntil
	wantEqual(t, "payment MovePayment returns", moved, want, normPayment)
	_, err = s.MovePayment(t.Context(), checkout.PaymentMove{ID: checkout.NewID("pay"), From: checkout.PaymentHeld, To: checkout.PaymentCaptured})
	wantCode(t, err, checkout.ENOTFOUND, "no such payment")
}

// testCounters: events counted by key over a window, distinct members, and
// a batch recorded all at once.
func testCounters(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	key, other := checkout.NewID("ip"), checkout.NewID("card")
	at := base.Add(time.Hour)
	events := []risk.Event{
		{Key: key, Member: "card_a", At: at.Add(-2 * time.Hour)}, // outside the window below
		{Key: key, Member: "card_a", At: at.Add(-30 * time.Minute)},
		{Key: key, Member: "card_b", At: at.Add(-time.Minute)},
		{Key: key, Member: "card_b", At: at},
		{Key: key, Member: "", At: at}, // not a member
		{Key: other, At: at},
	}
	if err := s.Record(t.Context(), events); err != nil {
		t.Fatalf("Record: %v", err)
	}
	if err := s.Record(t.Context(), nil); err != nil {
		t.Fatalf("Record(nil): %v", err)
	}
	since := at.Add(-time.Hour)
	got, err := s.Count(t.Context(), []risk.Query{
		{Key: key, Since: since},
		{Key: key, Since: since, Distinct: true},
		{Key: other, Since: since},
		{Key: key, Since: at.Add(-3 * time.Hour), Distinct: true},
		{Key: checkout.NewID("nothing"), Since: since, Distinct: true},
		{Key: key, Since: at}, // at the instant: included
		{Key: key, Since: at.Add(time.Microsecond)},
	})
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	// An event with a member counts toward the distinct count only.
	if want := []int{1, 2, 1, 2, 0, 1, 0}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Count = %v; want %v", got, want)
	}
	if got, err := s.Count(t.Context(), nil); err != nil || len(got) != 0 {
		t.Fatalf("Count(nil) = %v, %v", got, err)
	}

	// A store that records and counts in one round trip counts the events
	// it just recorded, as Record then Count would.
	rc, ok := s.(risk.RecordCounter)
	if !ok {
		return
	}
	fresh := checkout.NewID("ip")
	got, err = rc.RecordAndCount(t.Context(), []risk.Event{
		{Key: fresh, Member: "card_a", At: at},
		{Key: fresh, Member: "card_b", At: at},
		{Key: fresh, Member: "card_b", At: at},
		{Key: fresh, At: at},
	}, []risk.Query{{Key: fresh, Since: since}, {Key: fresh, Since: since, Distinct: true}, {Key: key, Since: since}})
	if err != nil {
		t.Fatalf("RecordAndCount: %v", err)
	}
	if want := []int{1, 2, 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("RecordAndCount = %v; want %v", got, want)
	}
	if got, err := rc.RecordAndCount(t.Context(), nil, nil); err != nil || len(got) != 0 {
		t.Fatalf("RecordAndCount(nil, nil) = %v, %v", got, err)
	}
	if got, err := s.Count(t.Context(), []risk.Query{{Key: fresh, Since: since, Distinct: true}}); err != nil || got[0] != 2 {
		t.Fatalf("Count after RecordAndCount = %v, %v; want the events kept", got, err)
	}
}

// RunShared checks that two handles on one database (two instances) see
// each other's counter events at once, and that concurrent records from
// both are all counted: the velocity rules hold across instances; and
// that of lockout reservations racing on both, exactly the budget wins.
func RunShared(t *testing.T, a, b RiskStore) {
	t.Helper()
	key := checkout.NewID("ip")
	at := base.Add(time.Hour)
	if err := a.Record(t.Context(), []risk.Event{{Key: key, Member: "card_1", At: at}}); err != nil {
		t.Fatalf("Record on the first: %v", err)
	}
	if got, err := b.Count(t.Context(), []risk.Query{{Key: key, Since: at.Add(-time.Minute), Distinct: true}}); err != nil || got[0] != 1 {
		t.Fatalf("the second counts %v (%v); want the first's event", got, err)
	}
	const n = 40
	attempts := checkout.NewID("card")
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		s := []RiskStore{a, b}[i%2]
		wg.Go(func() {
			errs[i] = s.Record(t.Context(), []risk.Event{{Key: key, Member: checkout.NewID("card"), At: at}, {Key: attempts, At: at}})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Record: %v", err)
		}
	}
	for name, s := range map[string]RiskStore{"first": a, "second": b} {
		got, err := s.Count(t.Context(), []risk.Query{{Key: attempts, Since: at.Add(-time.Minute)}, {Key: key, Since: at.Add(-time.Minute), Distinct: true}})
		if err != nil || got[0] != n || got[1] != n+1 {
			t.Fatalf("the %s counts %v (%v); want %d events and %d cards", name, got, err, n, n+1)
		}
	}
	// Blocklists too: an entry added through one is matched through the other.
	m := checkout.NewID("mer")
	k := risk.ListKey{Kind: risk.ListIP, Value: "203.0.113.0/24"}
	if _, _, err := a.AddListEntry(t.Context(), m, risk.ListEntry{ListKey: k, CreatedAt: at}, audit(m, risk.AuditListAdd, at)); err != nil {
		t.Fatalf("AddListEntry: %v", err)
	}
	if got, err := b.Match(t.Context(), m, []risk.ListKey{k}); err != nil || len(got) != 1 {
		t.Fatalf("the second matches %v (%v); want the first's entry", got, err)
	}
	// The lockout's budget: reservations racing on both hold to it.
	raceSlots(t, []risk.LockoutBudget{a, b}, at)
}

func audit(merchantID, action string, at time.Time) checkout.AuditEntry {
	return checkout.AuditEntry{ID: checkout.NewID("aud"), MerchantID: merchantID, Actor: merchantID + "/key_0123456789ab",
		Action: action, At: at}
}

// sameJSON compares two JSON documents by value (PostgreSQL's jsonb does
// not keep the text as written).
func sameJSON(tb testing.TB, what string, got, want json.RawMessage) {
	tb.Helper()
	if (got == nil) != (want == nil) {
		tb.Fatalf("%s = %s; want %s", what, got, want)
	}
	if got == nil {
		return
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		tb.Fatalf("%s is not JSON: %v: %s", what, err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		tb.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		tb.Fatalf("%s = %s; want %s", what, got, want)
	}
}

func testSettings(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	m := mustMerchant(t, s)
	if got, err := s.RiskSettings(t.Context(), m.ID); err != nil || got != nil {
		t.Fatalf("RiskSettings of a new merchant = %s, %v; want nil (the defaults)", got, err)
	}
	first, second := []byte(`{"review_score":40,"ng_score":80}`), []byte(`{"review_score":50,"ng_score":90,"note":"「二」"}`)
	a1 := audit(m.ID, risk.AuditSettingsUpdate, base)
	a1.After = first
	if err := s.PutRiskSettings(t.Context(), m.ID, first, a1); err != nil {
		t.Fatalf("PutRiskSettings: %v", err)
	}
	a2 := audit(m.ID, risk.AuditSettingsUpdate, base.Add(time.Second))
	a2.After = second
	if err := s.PutRiskSettings(t.Context(), m.ID, second, a2); err != nil {
		t.Fatalf("PutRiskSettings: %v", err)
	}
	got, err := s.RiskSettings(t.Context(), m.ID)
	if err != nil {
		t.Fatalf("RiskSettings: %v", err)
	}
	sameJSON(t, "settings", got, second)

	entries, err := s.AuditEntries(t.Context(), m.ID, "", 10)
	if err != nil || len(entries) != 2 {
		t.Fatalf("AuditEntries: %d, %v; want 2", len(entries), err)
	}
	// Newest first; each records what it replaced.
	if entries[0].ID != a2.ID || entries[1].ID != a1.ID {
		t.Fatalf("audit order: %s, %s; want %s, %s", entries[0].ID, entries[1].ID, a2.ID, a1.ID)
	}
	sameJSON(t, "second before", entries[0].Before, first)
	sameJSON(t, "second after", entries[0].After, second)
	sameJSON(t, "first before", entries[1].Before, nil)
	if e := entries[1]; e.Actor != a1.Actor || e.Action != risk.AuditSettingsUpdate || e.MerchantID != m.ID || !e.At.Equal(a1.At) {
		t.Fatalf("audit entry = %+v; want %+v", e, a1)
	}
	wantUTC(t, entries[0].At, entries[1].At)

	err = s.PutRiskSettings(t.Context(), checkout.NewID("mer"), first, audit("mer_x", risk.AuditSettingsUpdate, base))
	wantCode(t, err, checkout.ENOTFOUND, "no such merchant")
	_, err = s.RiskSettings(t.Context(), checkout.NewID("mer"))
	wantCode(t, err, checkout.ENOTFOUND, "no such merchant")
}

func testLists(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	m, other := checkout.NewID("mer"), checkout.NewID("mer")
	at := base
	add := func(merchant string, kind risk.ListKind, value string) risk.ListEntry {
		t.Helper()
		e := risk.ListEntry{ListKey: risk.ListKey{Kind: kind, Value: value}, CreatedAt: at}
		a := audit(merchant, risk.AuditListAdd, at)
		stored, created, err := s.AddListEntry(t.Context(), merchant, e, a)
		if err != nil || !created {
			t.Fatalf("AddListEntry(%s %s): created %v, %v", kind, value, created, err)
		}
		wantEqual(t, "entry", stored, e, func(e risk.ListEntry) risk.ListEntry { e.CreatedAt = utc(e.CreatedAt); return e })
		return e
	}
	addr := add(m, risk.ListAddress, "JP|1500002|渋谷1-2-3")
	ip := add(m, risk.ListIP, "203.0.113.0/24")
	bin1 := add(m, risk.ListBIN, "4242")
	bin2 := add(m, risk.ListBIN, "353011")
	add(other, risk.ListEmail, "taro@example.jp")
	// The platform's own list: merchant ''. A random value keeps this test
	// from matching another test's platform entries in a shared database.
	platformCard := checkout.NewID("fp")
	add("", risk.ListCard, platformCard)

	// Adding again changes nothing and is not audited.
	at = base.Add(time.Hour)
	stored, created, err := s.AddListEntry(t.Context(), m, risk.ListEntry{ListKey: ip.ListKey, CreatedAt: at}, audit(m, risk.AuditListAdd, at))
	if err != nil || created || !stored.CreatedAt.Equal(ip.CreatedAt) {
		t.Fatalf("AddListEntry again: %+v created %v, %v; want the first entry, not created", stored, created, err)
	}

	candidates := []risk.ListKey{
		{Kind: risk.ListIP, Value: "203.0.113.0/24"}, {Kind: risk.ListIP, Value: "203.0.0.0/16"},
		{Kind: risk.ListBIN, Value: "4242"}, {Kind: risk.ListBIN, Value: "424242"},
		{Kind: risk.ListEmail, Value: "taro@example.jp"}, // the other merchant's
		{Kind: risk.ListCard, Value: platformCard},
		{Kind: risk.ListAddress, Value: "JP|1500002|渋谷1-2-3"},
		{Kind: risk.ListCard, Value: "203.0.113.0/24"}, // right value, wrong kind
	}
	want := map[risk.ListMatch]bool{
		{ListKey: ip.ListKey}: true, {ListKey: bin1.ListKey}: true, {ListKey: addr.ListKey}: true,
		{ListKey: risk.ListKey{Kind: risk.ListCard, Value: platformCard}, Platform: true}: true,
	}
	wantMatches := func(what string, matches []risk.ListMatch) {
		t.Helper()
		got := map[risk.ListMatch]bool{}
		for _, x := range matches {
			got[x] = true
		}
		if !reflect.DeepEqual(got, want) || len(matches) != len(want) {
			t.Fatalf("%s = %v; want %v", what, matches, want)
		}
	}
	matches, err := s.Match(t.Context(), m, candidates)
	if err != nil {
		t.Fatalf("Match: %v", err)
	}
	wantMatches("Match", matches)
	if got, err := s.Match(t.Context(), m, nil); err != nil || len(got) != 0 {
		t.Fatalf("Match(nil) = %v, %v", got, err)
	}

	// A store that answers a submission's Round in one round trip finds what
	// Match finds and counts what it records; for a locked card it records
	// nothing.
	if rt, ok := s.(risk.RoundTripper); ok {
		key := checkout.NewID("ip")
		since := at.Add(-time.Minute)
		round := risk.Round{Card: checkout.NewID("fp"), At: at, Events: []risk.Event{{Key: key, At: at}},
			Queries: []risk.Query{{Key: key, Since: since}}, MerchantID: m, Keys: candidates}
		ans, err := rt.RoundTrip(t.Context(), round)
		if err != nil {
			t.Fatalf("RoundTrip: %v", err)
		}
		if ans.Locked || !reflect.DeepEqual(ans.Counts, []int{1}) {
			t.Fatalf("RoundTrip: locked %v, counted %v; want unlocked and [1]", ans.Locked, ans.Counts)
		}
		wantMatches("RoundTrip", ans.Matches)
		if ans, err := rt.RoundTrip(t.Context(), risk.Round{Card: round.Card, At: at, MerchantID: m}); err != nil || ans.Locked || len(ans.Counts) != 0 || len(ans.Matches) != 0 {
			t.Fatalf("RoundTrip of nothing = %+v, %v", ans, err)
		}

		if err := s.LockCard(t.Context(), round.Card, at.Add(-time.Hour), at.Add(time.Hour)); err != nil {
			t.Fatalf("LockCard: %v", err)
		}
		round.Events = []risk.Event{{Key: key, At: at}, {Key: checkout.NewID("ip"), Member: "card_x", At: at},
			{Key: checkout.NewID("mer"), At: at, Bucket: time.Second}}
		if ans, err := rt.RoundTrip(t.Context(), round); err != nil || !ans.Locked {
			t.Fatalf("RoundTrip of a locked card = %+v, %v; want locked", ans, err)
		}
		queries := []risk.Query{{Key: key, Since: since}, {Key: round.Events[1].Key, Since: since, Distinct: true},
			{Key: round.Events[2].Key, Since: since, Bucket: time.Second}}
		if got, err := s.Count(t.Context(), queries); err != nil || !reflect.DeepEqual(got, []int{1, 0, 0}) {
			t.Fatalf("counts after a locked card's round = %v, %v; want [1 0 0]: nothing of it recorded", got, err)
		}
	}

	// Listing: by kind then value, paged from a key, filtered by kind.
	all, err := s.ListEntries(t.Context(), m, "", risk.ListKey{}, 100)
	if err != nil {
		t.Fatalf("ListEntries: %v", err)
	}
	keys := func(es []risk.ListEntry) []risk.ListKey {
		out := []risk.ListKey{}
		for _, e := range es {
			out = append(out, e.ListKey)
		}
		return out
	}
	if want := []risk.ListKey{addr.ListKey, bin2.ListKey, bin1.ListKey, ip.ListKey}; !reflect.DeepEqual(keys(all), want) {
		t.Fatalf("ListEntries = %v; want %v", keys(all), want)
	}
	page, err := s.ListEntries(t.Context(), m, "", bin2.ListKey, 2)
	if err != nil || !reflect.DeepEqual(keys(page), []risk.ListKey{bin1.ListKey, ip.ListKey}) {
		t.Fatalf("ListEntries after %v = %v, %v", bin2.ListKey, keys(page), err)
	}
	bins, err := s.ListEntries(t.Context(), m, risk.ListBIN, risk.ListKey{}, 100)
	if err != nil || !reflect.DeepEqual(keys(bins), []risk.ListKey{bin2.ListKey, bin1.ListKey}) {
		t.Fatalf("ListEntries(bin) = %v, %v", keys(bins), err)
	}
	wantUTC(t, all[0].CreatedAt)

	// Removing: audited; a second removal is ENOTFOUND and not audited.
	if err := s.RemoveListEntry(t.Context(), m, ip.ListKey, audit(m, risk.AuditListRemove, at)); err != nil {
		t.Fatalf("RemoveListEntry: %v", err)
	}
	wantCode(t, s.RemoveListEntry(t.Context(), m, ip.ListKey, audit(m, risk.AuditListRemove, at)), checkout.ENOTFOUND, "")
	wantCode(t, s.RemoveListEntry(t.Context(), other, bin1.ListKey, audit(other, risk.AuditListRemove, at)), checkout.ENOTFOUND, "")
	if got, err := s.Match(t.Context(), m, []risk.ListKey{ip.ListKey}); err != nil || len(got) != 0 {
		t.Fatalf("Match after removal = %v, %v", got, err)
	}
	entries, err := s.AuditEntries(t.Context(), m, "", 100)
	if err != nil || len(entries) != 5 { // four adds and one removal
		t.Fatalf("AuditEntries: %d entries, %v; want 5", len(entries), err)
	}
	if entries[0].Action != risk.AuditListRemove {
		t.Fatalf("newest entry is %s; want the removal", entries[0].Action)
	}
}

func testAudit(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	m, other := mustMerchant(t, s), mustMerchant(t, s)
	var ids []string
	for i := range 5 {
		a := audit(m.ID, risk.AuditSettingsUpdate, base.Add(time.Duration(i)*time.Second))
		a.After = json.RawMessage(`{"n":` + string(rune('0'+i)) + `}`)
		if err := s.PutRiskSettings(t.Context(), m.ID, a.After, a); err != nil {
			t.Fatalf("PutRiskSettings: %v", err)
		}
		ids = append(ids, a.ID)
	}
	if err := s.PutRiskSettings(t.Context(), other.ID, []byte(`{}`), audit(other.ID, risk.AuditSettingsUpdate, base)); err != nil {
		t.Fatalf("PutRiskSettings: %v", err)
	}
	first, err := s.AuditEntries(t.Context(), m.ID, "", 2)
	if err != nil || len(first) != 2 || first[0].ID != ids[4] || first[1].ID != ids[3] {
		t.Fatalf("first page: %v, %v", first, err)
	}
	rest, err := s.AuditEntries(t.Context(), m.ID, first[1].ID, 10)
	if err != nil || len(rest) != 3 || rest[0].ID != ids[2] || rest[2].ID != ids[0] {
		t.Fatalf("next page: %v, %v", rest, err)
	}
	// Another merchant's entry is no cursor here.
	others, err := s.AuditEntries(t.Context(), other.ID, "", 10)
	if err != nil || len(others) != 1 {
		t.Fatalf("other merchant's log: %v, %v", others, err)
	}
	_, err = s.AuditEntries(t.Context(), m.ID, others[0].ID, 10)
	wantCode(t, err, checkout.ENOTFOUND, "")
}

// testCardLocks: the security-code lockout's locks, in UTC, a later lock
// kept, unlock ending it and remembered.
func testCardLocks(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	ctx := t.Context()
	fp := "fp_" + checkout.NewID("x")
	if _, found, err := s.CardLock(ctx, fp); err != nil || found {
		t.Fatalf("CardLock of a card never locked: found %v, %v", found, err)
	}
	until := base.Add(24 * time.Hour)
	if err := s.LockCard(ctx, fp, base, until); err != nil {
		t.Fatal(err)
	}
	// An earlier end does not shorten the lock.
	if err := s.LockCard(ctx, fp, base.Add(time.Minute), base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	l, found, err := s.CardLock(ctx, fp)
	if err != nil || !found || !l.LockedUntil.Equal(until) || !l.LockedAt.Equal(base) || l.LockedUntil.Location() != time.UTC || !l.UnlockedAt.IsZero() {
		t.Fatalf("CardLock = %+v, %v, %v; want locked from %v until %v", l, found, err, base, until)
	}
	locked, err := s.LockedCards(ctx, base.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	has := func(ls []risk.CardLock) bool {
		for _, l := range ls {
			if l.Fingerprint == fp {
				return true
			}
		}
		return false
	}
	if !has(locked) {
		t.Fatalf("LockedCards does not list %s", fp)
	}
	if ok, err := s.UnlockCard(ctx, fp, base.Add(2*time.Hour)); err != nil || !ok {
		t.Fatalf("UnlockCard = %v, %v; want true", ok, err)
	}
	if ok, err := s.UnlockCard(ctx, fp, base.Add(3*time.Hour)); err != nil || ok {
		t.Fatalf("UnlockCard again = %v, %v; want false", ok, err)
	}
	l, _, _ = s.CardLock(ctx, fp)
	if !l.UnlockedAt.Equal(base.Add(2*time.Hour)) || l.LockedUntil.After(base.Add(2*time.Hour)) {
		t.Fatalf("after unlock: %+v", l)
	}
	if locked, _ := s.LockedCards(ctx, base.Add(3*time.Hour)); has(locked) {
		t.Fatal("LockedCards lists an unlocked card")
	}
	// Locked again later: a new lock from then.
	if err := s.LockCard(ctx, fp, base.Add(5*time.Hour), base.Add(29*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if l, _, _ = s.CardLock(ctx, fp); !l.LockedAt.Equal(base.Add(5*time.Hour)) || !l.LockedUntil.Equal(base.Add(29*time.Hour)) {
		t.Fatalf("locked again: %+v", l)
	}
}

// CounterBounds checks that a key keeps a bounded state and that counts stay exact up
// to risk.KeepPerKey whatever traffic came before (risk.Counters).
func CounterBounds(t *testing.T, s risk.Counters) {
	at := base.Add(time.Hour)
	count := func(q risk.Query) int {
		t.Helper()
		got, err := s.Count(t.Context(), []risk.Query{q})
		if err != nil {
			t.Fatalf("Count: %v", err)
		}
		return got[0]
	}
	record := func(events ...risk.Event) {
		t.Helper()
		if err := s.Record(t.Context(), events); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}

	// Far more events than a key keeps: the latest are counted exactly,
	// a window holding more answers the cap.
	key := checkout.NewID("card")
	const n = risk.KeepPerKey + 60
	var events []risk.Event
	for i := range n {
		events = append(events, risk.Event{Key: key, At: at.Add(time.Duration(i) * time.Second)})
	}
	record(events[:n/2]...)
	record(events[n/2:]...)
	last := at.Add((n - 1) * time.Second)
	for _, tc := range []struct {
		since     time.Time
		cap, want int
	}{
		{at, 0, risk.KeepPerKey},
		{at, 6, 6},
		{last.Add(-2 * time.Second), 0, 3},
		{last.Add(-2 * time.Second), 6, 3},
		{last.Add(-(risk.KeepPerKey - 1) * time.Second), 0, risk.KeepPerKey},
		{last.Add(time.Microsecond), 0, 0}, // PostgreSQL keeps microseconds
	} {
		if got := count(risk.Query{Key: key, Since: tc.since, Cap: tc.cap}); got != tc.want {
			t.Errorf("events since %s, cap %d: %d; want %d", tc.since.Sub(at), tc.cap, got, tc.want)
		}
	}

	// One member repeated does not push the others out: a device cycling
	// through 5 cards and then repeating one stays at 5 distinct cards.
	device := checkout.NewID("device")
	for i := range 5 {
		record(risk.Event{Key: device, Member: fmt.Sprintf("card_%d", i), At: at})
	}
	for i := range 2 * risk.KeepPerKey {
		record(risk.Event{Key: device, Member: "card_0", At: at.Add(time.Duration(i+1) * time.Millisecond)})
	}
	if got := count(risk.Query{Key: device, Since: at, Distinct: true}); got != 5 {
		t.Errorf("distinct cards after one repeated: %d; want 5", got)
	}
	// More distinct members than a key keeps: the cap.
	ip := checkout.NewID("ip")
	events = events[:0]
	for i := range risk.KeepPerKey + 30 {
		events = append(events, risk.Event{Key: ip, Member: fmt.Sprintf("card_%d", i), At: at.Add(time.Duration(i) * time.Millisecond)})
	}
	record(events...)
	if got := count(risk.Query{Key: ip, Since: at, Distinct: true}); got != risk.KeepPerKey {
		t.Errorf("distinct cards of a flooded key: %d; want the cap %d", got, risk.KeepPerKey)
	}
	if got := count(risk.Query{Key: ip, Since: at.Add((risk.KeepPerKey + 27) * time.Millisecond), Distinct: true}); got != 3 {
		t.Errorf("the latest distinct cards of a flooded key: %d; want 3", got)
	}

	// Buckets: counts far above the cap, one bucket of error at most, and
	// only the buckets a window can still reach are kept.
	merchant := checkout.NewID("mer")
	const width = time.Second
	events = events[:0]
	for i := range 300 { // 3 a second for 100 s
		events = append(events, risk.Event{Key: merchant, At: at.Add(time.Duration(i) * width / 3), Bucket: width})
	}
	record(events...)
	end := at.Add(100 * width)
	for _, tc := range []struct {
		since     time.Time
		low, high int // the true count, and it plus one bucket
	}{
		{end.Add(-60 * width), 180, 180},         // aligned: exact
		{end.Add(-60*width + width/2), 178, 181}, // mid-bucket: up to one bucket more
		{end.Add(-30 * width), 90, 90},
	} {
		got := count(risk.Query{Key: merchant, Since: tc.since, Bucket: width})
		if got < tc.low || got > tc.high {
			t.Errorf("bucketed count since %s: %d; want %d to %d", end.Sub(tc.since), got, tc.low, tc.high)
		}
	}
	if got := count(risk.Query{Key: merchant, Since: at, Bucket: width}); got > 3*(risk.BucketsPerWindow+2) {
		t.Errorf("bucketed count over 100 buckets: %d; want the buckets past the window's reach deleted", got)
	}
}

// CounterRowsStayBounded checks that a key flooded with events and members
// keeps risk.KeepPerKey rows in each counter table; rows counts a key's
// rows in a table (risk_occurrences, risk_members).
func CounterRowsStayBounded(t *testing.T, s risk.Counters, rows func(table, key string) (int, error)) {
	at := base.Add(time.Hour)
	cards, attempts := checkout.NewID("ip"), checkout.NewID("card")
	var events []risk.Event
	for i := range 3 * risk.KeepPerKey {
		when := at.Add(time.Duration(i) * time.Millisecond)
		events = append(events, risk.Event{Key: cards, Member: fmt.Sprintf("card_%d", i), At: when}, risk.Event{Key: attempts, At: when})
	}
	for chunk := range slices.Chunk(events, 50) {
		if err := s.Record(t.Context(), chunk); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	for table, key := range map[string]string{"risk_occurrences": attempts, "risk_members": cards} {
		n, err := rows(table, key)
		if err != nil {
			t.Fatal(err)
		}
		if n != risk.KeepPerKey {
			t.Errorf("%s holds %d rows of the key; want %d", table, n, risk.KeepPerKey)
		}
	}
}
