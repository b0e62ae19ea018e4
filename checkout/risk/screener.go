package risk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

var (
	_ checkout.Screener          = (*Screener)(nil)
	_ checkout.AdmittingScreener = (*Screener)(nil)
)

// SettingsSource gives each merchant's screening settings. The stores
// implement it (a JSON column per merchant).
type SettingsSource interface {
	// RiskSettings returns the merchant's stored settings as JSON, or nil
	// when it has stored none (DefaultSettings apply). Errors are the
	// store's (EUNAVAILABLE when it is down); the caller fails closed.
	RiskSettings(ctx context.Context, merchantID string) ([]byte, error)
}

// LoadSettings returns the merchant's settings: what it stored, read over
// DefaultSettings so that a setting added after it last saved takes its
// default, or DefaultSettings when it stored none.
func LoadSettings(ctx context.Context, src SettingsSource, merchantID string) (Settings, error) {
	raw, err := src.RiskSettings(ctx, merchantID)
	if err != nil {
		return Settings{}, fmt.Errorf("risk: load settings: %w", err)
	}
	s := DefaultSettings()
	if raw == nil {
		return s, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return Settings{}, fmt.Errorf("risk: stored settings of %s do not decode: %w", merchantID, err)
	}
	return s, nil
}

// Screener is the checkout's fraud screening: Screen and Rescreen with each
// merchant's settings over shared counters and blocklists. With the store's
// Counters and Lists (PostgreSQL), every instance counts every other
// instance's attempts, so a card tester spreading requests over instances
// is still counted once per attempt.
type Screener struct {
	Settings SettingsSource
	Counters Counters
	Lists    Lists
}

func (sc *Screener) check() error {
	if sc == nil || sc.Settings == nil || sc.Counters == nil || sc.Lists == nil {
		return errors.New("risk: Screener needs Settings, Counters and Lists")
	}
	return nil
}

// Screen judges a payment before authorization (see the package function
// Screen) with the merchant's settings. Any error is no decision.
func (sc *Screener) Screen(ctx context.Context, in Input) (Decision, error) {
	if err := sc.check(); err != nil {
		return Decision{}, err
	}
	s, err := LoadSettings(ctx, sc.Settings, in.MerchantID)
	if err != nil {
		return Decision{}, err
	}
	return Screen(ctx, in, s, sc.Counters, sc.Lists)
}

// AdmitAndScreen is g.Admit(gin) and, for an admitted submission,
// Screen(in), in one round trip of the store when it keeps the counters,
// the card locks and the blocklists (RoundTripper: one write on SQLite,
// one batch on PostgreSQL): the card's lock, the guard's and screening's
// events and counts, the lists. A locked card is neither counted nor
// screened. Otherwise screening's events are recorded with the guard's, so
// a submission a rate limit refuses counts towards the velocity rules too,
// as it does towards the limits. An error is no decision of either.
//
// A guard other than a *Guard is asked first, then screening runs on its
// own.
func (sc *Screener) AdmitAndScreen(ctx context.Context, guard checkout.Guard, gin checkout.GuardInput, in Input) (checkout.GuardVerdict, Decision, error) {
	if err := sc.check(); err != nil {
		return checkout.GuardVerdict{}, Decision{}, err
	}
	g, ok := guard.(*Guard)
	if !ok {
		return checkout.AdmitThenScreen(ctx, guard, gin, in, sc.Screen)
	}
	_, _, v, d, err := sc.admitAndScreen(ctx, nil, nil, g, gin, in)
	return v, d, err
}

// CanBegin says whether BeginAdmitAndScreen can: guard is a *Guard, and
// the Counters are a RoundTripper that keeps its locks and the lists too.
func (sc *Screener) CanBegin(guard checkout.Guard) bool {
	g, ok := guard.(*Guard)
	if !ok || sc.check() != nil {
		return false
	}
	_, rt := sc.Counters.(RoundTripper)
	return rt && sameStore(sc.Counters, g.Locks) && sameStore(sc.Counters, sc.Lists)
}

// BeginAdmitAndScreen begins the attempt (checkout.Store's BeginAttempt) and
// admits and screens it (AdmitAndScreen) in one round trip of the store:
// the Round's Begin (checkout.BeginningScreener). Only when CanBegin.
//
// With nearLimit, a session or an IP one attempt from its limit (the
// Guard's NearLimit) refuses the round before anything of it is done:
// checkout.ErrNearLimit, and the attempt has not begun.
func (sc *Screener) BeginAdmitAndScreen(ctx context.Context, b checkout.AttemptBegin, guard checkout.Guard, gin checkout.GuardInput, in Input, nearLimit bool) (checkout.Session, bool, checkout.GuardVerdict, Decision, error) {
	if !sc.CanBegin(guard) {
		return checkout.Session{}, false, checkout.GuardVerdict{}, Decision{}, errors.New("risk: this screener cannot begin attempts")
	}
	g := guard.(*Guard)
	var wires []Tripwire
	if nearLimit {
		var err error
		if wires, err = g.nearLimit(ctx, gin); err != nil {
			return checkout.Session{}, false, checkout.GuardVerdict{}, Decision{}, err
		}
	}
	return sc.admitAndScreen(ctx, &b, wires, g, gin, in)
}

// admitAndScreen is AdmitAndScreen's work, beginning the attempt in its
// round when b is set, unless one of wires trips. begun says whether it
// did (always false without b).
func (sc *Screener) admitAndScreen(ctx context.Context, b *checkout.AttemptBegin, wires []Tripwire, g *Guard, gin checkout.GuardInput, in Input) (before checkout.Session, begun bool, v checkout.GuardVerdict, d Decision, err error) {
	a, err := g.admission(ctx, gin)
	if err != nil {
		return checkout.Session{}, false, v, d, err
	}
	s, err := LoadSettings(ctx, sc.Settings, in.MerchantID)
	if err != nil {
		return checkout.Session{}, false, v, d, err
	}
	p, err := planScreening(in, s)
	if err != nil {
		return checkout.Session{}, false, v, d, err
	}
	r := a.round(gin)
	r.Begin, r.Tripwires = b, wires
	r.Events = append(slices.Clip(a.events), p.events...)
	r.Queries = append(slices.Clip(a.queries), p.queries...)
	r.Keys = p.listKeys()
	ans, err := roundTrip(ctx, sc.Counters, sc.Lists, g.Locks, r)
	if err != nil {
		return checkout.Session{}, false, v, d, err
	}
	before, begun = ans.Before, b != nil
	if v, err = a.decide(ans); err != nil || v.Rule != "" {
		return before, begun, v, d, err
	}
	d, err = p.decide(ans.Counts[len(a.queries):], ans.Matches)
	return before, begun, v, d, err
}

// Rescreen judges the payment again with the issuer's answer and counts a
// decline against the card (RecordOutcome). An error is no decision.
func (sc *Screener) Rescreen(ctx context.Context, prev Decision, in Input, out AuthOutcome) (Decision, error) {
	if err := sc.check(); err != nil {
		return Decision{}, err
	}
	if !answerScored(in, out) {
		// Most payments: nothing in the answer scores, so the decision
		// stands, without a round trip for the settings.
		return prev, nil
	}
	s, err := LoadSettings(ctx, sc.Settings, in.MerchantID)
	if err != nil {
		return Decision{}, err
	}
	if err := RecordOutcome(ctx, sc.Counters, in, out); err != nil {
		return Decision{}, err
	}
	return Rescreen(ctx, prev, in, out, s), nil
}

// RecordExpired counts a card refused for having expired long ago, when the
// merchant's settings say it is long expired (RecordExpiredCard).
func (sc *Screener) RecordExpired(ctx context.Context, in Input) error {
	if err := sc.check(); err != nil {
		return err
	}
	s, err := LoadSettings(ctx, sc.Settings, in.MerchantID)
	if err != nil {
		return err
	}
	return RecordExpiredCard(ctx, sc.Counters, in, s)
}
