package storetest

import (
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

// testMerchantLimits: each merchant's two layers of card-testing limits
// round-trip apart, each change is audited with what it replaced in the
// same transaction, a removed layer reads as none, and the settings and
// the merchant's layer change together.
func testMerchantLimits(t *testing.T, open func(t *testing.T) Store) {
	s := open(t)
	ctx := t.Context()
	m, other := mustMerchant(t, s), mustMerchant(t, s)
	wantLayers := func(what, merchantID string, operator, merchant []byte) {
		t.Helper()
		o, mm, err := s.MerchantLimits(ctx, merchantID)
		if err != nil {
			t.Fatalf("%s: MerchantLimits: %v", what, err)
		}
		sameJSON(t, what+": operator layer", o, operator)
		sameJSON(t, what+": merchant layer", mm, merchant)
	}
	wantLayers("new merchant", m.ID, nil, nil)
	wantLayers("unknown merchant", checkout.NewID("mer"), nil, nil)

	op1 := []byte(`{"merchant":{"max":600,"window":"2m"}}`)
	op2 := []byte(`{"merchant":{"max":1000000},"ip":{"max":20,"window":"1h"}}`)
	a1 := audit(m.ID, risk.AuditLimitsSet, base)
	a1.Actor, a1.After = risk.OperatorActor, op1
	if err := s.PutMerchantLimits(ctx, m.ID, risk.LayerOperator, op1, a1); err != nil {
		t.Fatalf("PutMerchantLimits: %v", err)
	}
	a2 := audit(m.ID, risk.AuditLimitsSet, base.Add(time.Second))
	a2.Actor, a2.After = risk.OperatorActor, op2
	if err := s.PutMerchantLimits(ctx, m.ID, risk.LayerOperator, op2, a2); err != nil {
		t.Fatalf("PutMerchantLimits (replace): %v", err)
	}
	wantLayers("after the operator's two sets", m.ID, op2, nil)
	wantLayers("another merchant", other.ID, nil, nil)

	// The merchant's own layer, with its settings, in one transaction.
	settings, mine := []byte(`{"review_score":40,"ng_score":80}`), []byte(`{"merchant":{"max":300}}`)
	sa := audit(m.ID, risk.AuditSettingsUpdate, base.Add(2*time.Second))
	sa.After = settings
	la := audit(m.ID, risk.AuditLimitsUpdate, base.Add(2*time.Second))
	la.After = mine
	if err := s.PutRiskSettingsAndLimits(ctx, m.ID, settings, sa, mine, la); err != nil {
		t.Fatalf("PutRiskSettingsAndLimits: %v", err)
	}
	wantLayers("after the merchant's", m.ID, op2, mine)
	if got, err := s.RiskSettings(ctx, m.ID); err != nil {
		t.Fatalf("RiskSettings: %v", err)
	} else {
		sameJSON(t, "settings", got, settings)
	}

	// The operator's reset removes its layer only.
	a3 := audit(m.ID, risk.AuditLimitsReset, base.Add(3*time.Second))
	a3.Actor = risk.OperatorActor
	if err := s.PutMerchantLimits(ctx, m.ID, risk.LayerOperator, nil, a3); err != nil {
		t.Fatalf("PutMerchantLimits (reset): %v", err)
	}
	wantLayers("after the reset", m.ID, nil, mine)

	entries, err := s.AuditEntries(ctx, m.ID, "", 10)
	if err != nil || len(entries) != 5 {
		t.Fatalf("AuditEntries: %d, %v; want 5", len(entries), err)
	}
	for i, want := range []struct {
		a             checkout.AuditEntry
		before, after []byte
	}{
		{a3, op2, nil}, {la, nil, mine}, {sa, nil, settings}, {a2, op1, op2}, {a1, nil, op1},
	} {
		e := entries[i]
		if e.ID != want.a.ID || e.Action != want.a.Action || e.Actor != want.a.Actor || e.MerchantID != m.ID || !e.At.Equal(want.a.At) {
			t.Fatalf("audit entry %d = %+v; want %+v", i, e, want.a)
		}
		sameJSON(t, e.Action+" before", e.Before, want.before)
		sameJSON(t, e.Action+" after", e.After, want.after)
		wantUTC(t, e.At)
	}

	// No merchant: ENOTFOUND, nothing written, nothing audited.
	ghost := checkout.NewID("mer")
	err = s.PutMerchantLimits(ctx, ghost, risk.LayerOperator, op1, audit(ghost, risk.AuditLimitsSet, base))
	wantCode(t, err, checkout.ENOTFOUND, "no such merchant")
	err = s.PutRiskSettingsAndLimits(ctx, ghost, settings, audit(ghost, risk.AuditSettingsUpdate, base), mine, audit(ghost, risk.AuditLimitsUpdate, base))
	wantCode(t, err, checkout.ENOTFOUND, "no such merchant")
	wantLayers("unknown merchant after refused puts", ghost, nil, nil)
	if got, err := s.AuditEntries(ctx, ghost, "", 10); err != nil || len(got) != 0 {
		t.Fatalf("audit of an unknown merchant: %d, %v", len(got), err)
	}
	// A layer that is neither is refused.
	if err := s.PutMerchantLimits(ctx, m.ID, "platform", op1, audit(m.ID, risk.AuditLimitsSet, base)); err == nil {
		t.Fatal("PutMerchantLimits accepted layer \"platform\"")
	}
	wantLayers("after a refused layer", m.ID, nil, mine)
}
