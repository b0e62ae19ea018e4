package risk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// Per-merchant card-testing limits (issue 10). A merchant's rate limits are
// three layers, each over the one beneath:
//
//  1. the platform's, the operator's flags (-limit-ip, -limit-merchant, ...);
//  2. the operator's for this merchant (checkoutd limits set): each value
//     given replaces the platform's, looser or stricter;
//  3. the merchant's own (PUT /v1/risk/settings, card_testing): stricter
//     only. These limits protect issuers and the platform from card
//     testing through the merchant's page, like the guarantee they are the
//     platform's concern, so a merchant's key must never be able to loosen
//     or switch them off. In force is the stricter of the merchant's value
//     and the operator's, decided again at every read, so an operator who
//     tightens later is never undercut by an earlier merchant choice.
//
// The lockout (wrong security codes) is not part of it: it stays
// platform-wide, per card on every merchant.

// Audit actions of the card-testing limits. Their before and after are the
// layer changed, as JSON of LimitOverrides (null: none).
const (
	AuditLimitsSet    = "risk.limits.set"    // the operator set the merchant's limits
	AuditLimitsReset  = "risk.limits.reset"  // the operator put the merchant back on the platform's
	AuditLimitsUpdate = "risk.limits.update" // the merchant made its own stricter (PUT /v1/risk/settings)
)

// OperatorActor is the actor of changes the operator makes with checkoutd.
const OperatorActor = "operator"

// RateLimits are the card-testing defence's rate limits: the part of
// GuardSettings that may differ per merchant. Counts stay global (one IP is
// counted across every merchant); only the thresholds are the merchant's.
type RateLimits struct {
	Merchant Limit `json:"merchant"` // attempts at the merchant, all shoppers together
	IP       Limit `json:"ip"`       // attempts from one IP (an IPv6 /64)
	Session  Limit `json:"session"`  // attempts on one checkout session
	Card     Limit `json:"card"`     // attempts with one card
	Chunk    Limit `json:"chunk"`    // distinct numbers sharing their first 12 digits
}

// RateLimits returns the settings' rate limits.
func (s GuardSettings) RateLimits() RateLimits {
	return RateLimits{Merchant: s.Merchant, IP: s.IP, Session: s.Session, Card: s.Card, Chunk: s.Chunk}
}

// limitNames are the limits in the order they are reported, as the API
// spells them.
var limitNames = [...]string{"merchant", "ip", "session", "card", "chunk"}

func (r *RateLimits) at(name string) *Limit {
	switch name {
	case "merchant":
		return &r.Merchant
	case "ip":
		return &r.IP
	case "session":
		return &r.Session
	case "card":
		return &r.Card
	case "chunk":
		return &r.Chunk
	}
	panic("risk: no rate limit " + name)
}

// MarshalJSON writes a limit as the API shows it: {"max":120,"window":"1m"}.
func (l Limit) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Max    int      `json:"max"`
		Window Duration `json:"window"`
	}{l.Max, Duration(l.Window)})
}

// Ranges of a rate limit, as GuardSettings.Validate checks them. The
// merchant's limit is counted in time buckets (see Query.Bucket) and may be
// high; the others count exactly, up to MaxCount.
const (
	MaxLimit       = 1_000_000
	MinLimitWindow = time.Second
)

// LimitMax is the highest max the named limit may have.
func LimitMax(name string) int {
	if name == "merchant" {
		return MaxLimit
	}
	return MaxCount
}

// LimitOverride changes part of a Limit; a nil field keeps the value of the
// layer beneath.
type LimitOverride struct {
	Max    *int      `json:"max,omitempty"`
	Window *Duration `json:"window,omitempty"`
}

// LimitOverrides are one layer of a merchant's card-testing limits: the
// operator's or the merchant's own. The zero value changes nothing.
type LimitOverrides struct {
	Merchant LimitOverride `json:"merchant,omitzero"`
	IP       LimitOverride `json:"ip,omitzero"`
	Session  LimitOverride `json:"session,omitzero"`
	Card     LimitOverride `json:"card,omitzero"`
	Chunk    LimitOverride `json:"chunk,omitzero"`
}

func (o *LimitOverrides) at(name string) *LimitOverride {
	switch name {
	case "merchant":
		return &o.Merchant
	case "ip":
		return &o.IP
	case "session":
		return &o.Session
	case "card":
		return &o.Card
	case "chunk":
		return &o.Chunk
	}
	panic("risk: no rate limit " + name)
}

// IsZero reports whether the layer changes nothing.
func (o LimitOverrides) IsZero() bool {
	for _, n := range limitNames {
		if v := o.at(n); v.Max != nil || v.Window != nil {
			return false
		}
	}
	return true
}

// Over is base with every value o gives in its place: the operator's layer.
func (o LimitOverrides) Over(base RateLimits) RateLimits {
	out := base
	for _, n := range limitNames {
		v, l := o.at(n), out.at(n)
		if v.Max != nil {
			l.Max = *v.Max
		}
		if v.Window != nil {
			l.Window = time.Duration(*v.Window)
		}
	}
	return out
}

// Within is the stricter, value by value, of o and ceiling: the merchant's
// layer under the operator's. A lower max is stricter, 0 (off) the loosest;
// a longer window is stricter. Against a limit the ceiling has off, any of
// the merchant's values is stricter.
func (o LimitOverrides) Within(ceiling RateLimits) RateLimits {
	out := ceiling
	for _, n := range limitNames {
		v, c, l := o.at(n), ceiling.at(n), out.at(n)
		if v.Max != nil && *v.Max > 0 && (!c.on() || *v.Max < c.Max) {
			l.Max = *v.Max
		}
		if v.Window != nil && (!c.on() || time.Duration(*v.Window) > c.Window) {
			l.Window = time.Duration(*v.Window)
		}
	}
	return out
}

// field names a value of the card_testing object, in the API's spelling;
// the operator's command maps it to its flag (card_testing.ip.max: -ip-max).
func field(name, part string) string { return "card_testing." + name + "." + part }

// validate checks every value the layer gives against the ranges of
// GuardSettings.Validate; EINVALID naming the first at fault.
func (o LimitOverrides) validate() error {
	for _, n := range limitNames {
		v := o.at(n)
		if v.Max != nil && (*v.Max < 0 || *v.Max > LimitMax(n)) {
			f := field(n, "max")
			return invalid(f, "%s must be from 0 (off) to %d", f, LimitMax(n))
		}
		if v.Window != nil && (time.Duration(*v.Window) < MinLimitWindow || time.Duration(*v.Window) > MaxWindow) {
			f := field(n, "window")
			return invalid(f, "%s must be from %s to %s", f, Duration(MinLimitWindow), Duration(MaxWindow))
		}
	}
	return nil
}

// validate checks limits in force: a limit that is on needs a window in
// range (a layer may turn on a limit the platform has off, whose window the
// operator's flags never had to set).
func (r RateLimits) validate() error {
	for _, n := range limitNames {
		l := r.at(n)
		if l.Max < 0 || l.Max > LimitMax(n) {
			f := field(n, "max")
			return invalid(f, "%s must be from 0 (off) to %d", f, LimitMax(n))
		}
		if l.on() && (l.Window < MinLimitWindow || l.Window > MaxWindow) {
			f := field(n, "window")
			return invalid(f, "%s must be from %s to %s when %s.max is on", f, Duration(MinLimitWindow), Duration(MaxWindow), "card_testing."+n)
		}
	}
	return nil
}

// stricterOnly refuses a merchant's value looser than ceiling's (EINVALID
// naming it) and returns the layer to keep: values equal to the ceiling's
// are dropped, so they follow the operator's from then on (a merchant that
// sends back what GET showed it chose nothing of its own).
func (o LimitOverrides) stricterOnly(ceiling RateLimits) (LimitOverrides, error) {
	var keep LimitOverrides
	for _, n := range limitNames {
		v, c, k := o.at(n), ceiling.at(n), keep.at(n)
		if v.Max != nil {
			switch m := *v.Max; {
			case c.on() && (m == 0 || m > c.Max):
				f := field(n, "max")
				return LimitOverrides{}, invalid(f, "%s must be from 1 to %d: the platform's limit for this shop may be made stricter, not looser or off", f, c.Max)
			case m != c.Max:
				k.Max = v.Max
			}
		}
		if v.Window != nil {
			switch w := time.Duration(*v.Window); {
			case c.on() && w < c.Window:
				f := field(n, "window")
				return LimitOverrides{}, invalid(f, "%s must be at least %s: the platform's limit for this shop may be made stricter, not looser", f, Duration(c.Window))
			case w != c.Window:
				k.Window = v.Window
			}
		}
	}
	return keep, nil
}

// Layers of a merchant's limits, as the store names them.
const (
	LayerOperator = "operator" // the operator's, over the platform's
	LayerMerchant = "merchant" // the merchant's own, stricter only
)

// LimitStore keeps each merchant's card-testing limits (table
// merchant_limits): one row per merchant and layer, JSON of LimitOverrides.
type LimitStore interface {
	// MerchantLimits returns the merchant's layers, nil where it has none
	// (both nil for a merchant unknown to the store).
	MerchantLimits(ctx context.Context, merchantID string) (operator, merchant []byte, err error)
	// PutMerchantLimits replaces the merchant's layer (LayerOperator or
	// LayerMerchant) with limits (nil removes it) and appends a, with
	// a.Before set to the layer it replaced (nil when none), in one
	// transaction. ENOTFOUND when the merchant does not exist.
	PutMerchantLimits(ctx context.Context, merchantID, layer string, limits []byte, a checkout.AuditEntry) error
	// PutRiskSettingsAndLimits is PutRiskSettings(settings, sa) and
	// PutMerchantLimits(LayerMerchant, limits, la) in one transaction.
	// ENOTFOUND when the merchant does not exist.
	PutRiskSettingsAndLimits(ctx context.Context, merchantID string, settings []byte, sa checkout.AuditEntry, limits []byte, la checkout.AuditEntry) error
}

// Limits decide each merchant's card-testing rate limits over the
// platform's. The Guard reads them through an in-process cache, so a
// checkout makes no extra database round trip: a merchant's limits are
// read at most once per TTL per instance. A change made through this
// Limits (the merchant's PUT on this instance) takes effect here at once;
// another instance, or the operator's command (another process), is seen
// within TTL. The cache holds at most Size merchants; past that an
// arbitrary entry makes room (it is read again when next needed).
// It is safe for concurrent use.
type Limits struct {
	Store LimitStore
	// Platform are the operator's flags: the limits of every merchant that
	// has no layer of its own.
	Platform RateLimits
	TTL      time.Duration    // 0: DefaultLimitsTTL
	Size     int              // 0: DefaultLimitsSize
	Now      func() time.Time // nil: time.Now

	cache merchantCache[RateLimits]
}

func (l *Limits) now() time.Time {
	if l.Now != nil {
		return l.Now().UTC()
	}
	return time.Now().UTC()
}

// For returns the merchant's limits in force, from the cache while they
// are younger than TTL. Concurrent callers for a merchant not cached wait
// for one read. Errors are the store's (not cached): the Guard fails
// closed.
func (l *Limits) For(ctx context.Context, merchantID string) (RateLimits, error) {
	return l.cache.get(ctx, merchantID, l.now(), l.TTL, l.Size, func(ctx context.Context) (RateLimits, error) {
		return l.Load(ctx, merchantID)
	})
}

// Forget drops the merchant's cached limits: the next For reads them again.
func (l *Limits) Forget(merchantID string) { l.cache.forget(merchantID) }

// Layers reads the merchant's two layers from the store, uncached.
func (l *Limits) Layers(ctx context.Context, merchantID string) (operator, merchant LimitOverrides, err error) {
	ob, mb, err := l.Store.MerchantLimits(ctx, merchantID)
	if err != nil {
		return LimitOverrides{}, LimitOverrides{}, fmt.Errorf("risk: read merchant limits: %w", err)
	}
	for _, p := range []struct {
		b   []byte
		dst *LimitOverrides
	}{{ob, &operator}, {mb, &merchant}} {
		if p.b == nil {
			continue
		}
		if err := json.Unmarshal(p.b, p.dst); err != nil {
			return LimitOverrides{}, LimitOverrides{}, fmt.Errorf("risk: merchant limits: %w", err)
		}
	}
	return operator, merchant, nil
}

// Load returns the merchant's limits in force from the store, uncached.
func (l *Limits) Load(ctx context.Context, merchantID string) (RateLimits, error) {
	operator, merchant, err := l.Layers(ctx, merchantID)
	if err != nil {
		return RateLimits{}, err
	}
	return merchant.Within(operator.Over(l.Platform)), nil
}

// SetOperator makes o the operator's layer for the merchant (replacing the
// previous one whole: what o leaves out is the platform's) and audits it.
// EINVALID, naming the value, when one is out of range; nothing changes.
func (l *Limits) SetOperator(ctx context.Context, actor, merchantID string, o LimitOverrides) (RateLimits, error) {
	if o.IsZero() {
		return RateLimits{}, &checkout.Error{Code: checkout.EINVALID, Message: "give at least one limit to set"}
	}
	if err := o.validate(); err != nil {
		return RateLimits{}, err
	}
	_, merchant, err := l.Layers(ctx, merchantID)
	if err != nil {
		return RateLimits{}, err
	}
	if err := o.Over(l.Platform).validate(); err != nil {
		return RateLimits{}, err
	}
	b, err := json.Marshal(o)
	if err != nil {
		return RateLimits{}, fmt.Errorf("risk: encode limits: %w", err)
	}
	a := checkout.AuditEntry{ID: checkout.NewID("aud"), MerchantID: merchantID, Actor: actor, Action: AuditLimitsSet, After: b, At: l.now()}
	if err := l.Store.PutMerchantLimits(ctx, merchantID, LayerOperator, b, a); err != nil {
		return RateLimits{}, err
	}
	l.Forget(merchantID)
	return merchant.Within(o.Over(l.Platform)), nil
}

// ResetOperator removes the operator's layer: the merchant is back on the
// platform's limits (and its own stricter ones). changed is false, and
// nothing is audited, when there was none.
func (l *Limits) ResetOperator(ctx context.Context, actor, merchantID string) (limits RateLimits, changed bool, err error) {
	operator, merchant, err := l.Layers(ctx, merchantID)
	if err != nil {
		return RateLimits{}, false, err
	}
	if !operator.IsZero() {
		a := checkout.AuditEntry{ID: checkout.NewID("aud"), MerchantID: merchantID, Actor: actor, Action: AuditLimitsReset, At: l.now()}
		if err := l.Store.PutMerchantLimits(ctx, merchantID, LayerOperator, nil, a); err != nil {
			return RateLimits{}, false, err
		}
		l.Forget(merchantID)
		changed = true
	}
	return merchant.Within(l.Platform), changed, nil
}

// merchantLayer checks the merchant's requested layer o against the
// operator's (stricter only: a looser value is EINVALID naming it) and
// returns the layer to store (nil for none), the one it replaces, and the
// limits then in force.
func (l *Limits) merchantLayer(ctx context.Context, merchantID string, o LimitOverrides) (next, prev []byte, in RateLimits, err error) {
	if err := o.validate(); err != nil {
		return nil, nil, RateLimits{}, err
	}
	operator, merchant, err := l.Layers(ctx, merchantID)
	if err != nil {
		return nil, nil, RateLimits{}, err
	}
	ceiling := operator.Over(l.Platform)
	keep, err := o.stricterOnly(ceiling)
	if err != nil {
		return nil, nil, RateLimits{}, err
	}
	in = keep.Within(ceiling)
	if err := in.validate(); err != nil {
		return nil, nil, RateLimits{}, err
	}
	if !keep.IsZero() {
		if next, err = json.Marshal(keep); err != nil {
			return nil, nil, RateLimits{}, fmt.Errorf("risk: encode limits: %w", err)
		}
	}
	if !merchant.IsZero() {
		if prev, err = json.Marshal(merchant); err != nil {
			return nil, nil, RateLimits{}, fmt.Errorf("risk: encode limits: %w", err)
		}
	}
	return next, prev, in, nil
}

// errNoLimits is a misconfiguration: Admin without Limits cannot take
// card_testing.
var errNoLimits = errors.New("risk: Admin has no Limits")

// CardTesting returns the card-testing limits in force for the merchant,
// read from the store (not the Guard's cache): what the merchant sees is
// what every instance applies within the cache's TTL.
func (a *Admin) CardTesting(ctx context.Context, merchantID string) (RateLimits, error) {
	if a.Limits == nil {
		return RateLimits{}, errNoLimits
	}
	return a.Limits.Load(ctx, merchantID)
}

// PutSettingsAndLimits is PutSettings with the merchant's card-testing
// limits ct: values it leaves out follow the operator's, values it gives
// may only be stricter (a looser one is EINVALID naming it, e.g.
// card_testing.merchant.max, and nothing changes). Settings and limits are
// written in one transaction; a change of the limits is audited
// (AuditLimitsUpdate) beside the settings' entry, and seen by this
// instance's Guard at once.
func (a *Admin) PutSettingsAndLimits(ctx context.Context, actor, merchantID string, s Settings, ct LimitOverrides) (Settings, RateLimits, error) {
	if a.Limits == nil {
		return Settings{}, RateLimits{}, errNoLimits
	}
	if err := s.Validate(); err != nil {
		return Settings{}, RateLimits{}, err
	}
	next, prev, in, err := a.Limits.merchantLayer(ctx, merchantID, ct)
	if err != nil {
		return Settings{}, RateLimits{}, err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return Settings{}, RateLimits{}, fmt.Errorf("risk: encode settings: %w", err)
	}
	now := a.now()
	sa := checkout.AuditEntry{ID: checkout.NewID("aud"), MerchantID: merchantID, Actor: actor,
		Action: AuditSettingsUpdate, After: b, At: now}
	if bytes.Equal(next, prev) {
		if err := a.Settings.PutRiskSettings(ctx, merchantID, b, sa); err != nil {
			return Settings{}, RateLimits{}, err
		}
		a.Cached.Forget(merchantID)
		return s, in, nil
	}
	la := checkout.AuditEntry{ID: checkout.NewID("aud"), MerchantID: merchantID, Actor: actor,
		Action: AuditLimitsUpdate, After: next, At: now}
	if err := a.Limits.Store.PutRiskSettingsAndLimits(ctx, merchantID, b, sa, next, la); err != nil {
		return Settings{}, RateLimits{}, err
	}
	a.Limits.Forget(merchantID)
	a.Cached.Forget(merchantID)
	return s, in, nil
}
