package checkout

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// A chargeback is the card company refusing a payment after the fact,
// usually because the cardholder says it was fraud: the merchant loses the
// amount even though the goods have shipped. The chargeback guarantee covers
// merchants whose payment was screened OK, by the merchant's rules and by
// the platform's, up to a yearly cap.

// JST is the zone of the guarantee's year: a calendar year in Japan
// Standard Time (UTC+9 all year; Japan has no daylight saving time), as the
// merchant's contract reads it.
var JST = time.FixedZone("JST", 9*60*60)

// GuaranteeYear is the guarantee year t falls in.
func GuaranteeYear(t time.Time) int { return t.In(JST).Year() }

// GuaranteePeriod is the instant a guarantee year begins and the instant
// the next begins.
func GuaranteePeriod(year int) (from, to time.Time) {
	return time.Date(year, time.January, 1, 0, 0, 0, 0, JST).UTC(), time.Date(year+1, time.January, 1, 0, 0, 0, 0, JST).UTC()
}

// The default guarantee: what a merchant who has set nothing is covered for.
const (
	DefaultGuaranteeCap      = 100_000 // in the currency's minor unit: ¥100,000
	DefaultGuaranteeCurrency = "JPY"
	MaxGuaranteeCap          = 1_000_000_000_000
)

// Coverage reasons: why a chargeback was covered, or not.
const (
	CoverageScreenedOK     = "screened_ok"          // the payment was screened OK and the year's balance covered all of it
	CoveragePartial        = "partially_covered"    // screened OK, but the balance covered only part of it
	CoverageCapExhausted   = "cap_exhausted"        // screened OK, but nothing was left of the year's cap
	CoverageNotScreenedOK  = "not_screened_ok"      // the payment's verdict was REVIEW or NG, or it was not screened
	CoveragePlatformNotOK  = "platform_not_ok"      // the merchant's verdict was OK, but the platform's was REVIEW or NG, or there is none
	CoverageCurrency       = "currency_not_covered" // the payment's currency is not the guarantee's: there is no conversion
	CoverageLiabilityShift = "liability_shift"      // a fraud chargeback on a payment 3-D Secure authenticated: the issuer's loss, outside the cap
)

// Guarantee is a merchant's chargeback guarantee: a yearly cap in one
// currency.
type Guarantee struct {
	YearlyCap int64
	Currency  string
	Custom    bool // false: the merchant never set one, and the default applies
	UpdatedAt time.Time
}

// DefaultGuarantee is the guarantee of a merchant who has set none.
func DefaultGuarantee() Guarantee {
	return Guarantee{YearlyCap: DefaultGuaranteeCap, Currency: DefaultGuaranteeCurrency}
}

// Coverage is the guarantee's decision on one chargeback, made when it is
// recorded and never revised.
type Coverage struct {
	Covered       bool
	CoveredAmount int64  // in Currency; 0 when not covered
	Currency      string // the chargeback's
	Reason        string // one of the Coverage* reasons
	// LiabilityShift records whether a 3-D Secure liability shift applied.
	// 3-D Secure is not built yet, so it is always false today; when it
	// lands, such chargebacks are covered on that basis and do not count
	// against the cap (the issuer bears them, not the guarantee).
	LiabilityShift bool
	Year           int // the guarantee year (JST) it counts against
}

// Chargeback is a refused payment, linked to the payment and to the
// screening verdict the payment had when the chargeback came.
type Chargeback struct {
	ID          string // "cb_..."
	MerchantID  string
	PaymentID   string
	Amount      int64
	Currency    string // the payment's
	ReasonCode  string // the card scheme's code, e.g. Visa 10.4, Mastercard 4837
	Reason      string // free text from the processor
	RiskVerdict string // OK, REVIEW, NG; "" when the payment was not screened
	// PlatformVerdict is the payment's verdict under the platform's policy
	// (risk.PlatformSettings); "" when the payment has none (screened
	// before the platform verdict existed).
	PlatformVerdict string
	OccurredAt      time.Time
	CreatedAt       time.Time
	Coverage        Coverage
}

// ChargebackRequest is a chargeback as a processor notifies it.
type ChargebackRequest struct {
	Amount     int64  `json:"amount"`
	ReasonCode string `json:"reason_code"`
	Reason     string `json:"reason"`
	OccurredAt string `json:"occurred_at"` // RFC 3339; default now
}

// ChargebackBasis is what the store reads, under its locks, for a new
// chargeback to be decided on.
type ChargebackBasis struct {
	Payment         Payment
	RiskVerdict     string           // the payment's screening verdict; "" when none
	PlatformVerdict string           // the payment's verdict under the platform's policy; "" when none
	Charged         int64            // earlier chargebacks on the payment
	Guarantee       Guarantee        // as the merchant set it; Custom false when never set
	Used            map[string]int64 // covered amounts in the year, by currency (liability shifts excluded)
}

// ChargebackFilter narrows a chargeback list.
type ChargebackFilter struct {
	PaymentID string // one payment's
	Year      int    // one guarantee year's; 0 for all
	Limit     int    // newest first; 1 to 500
}

// ChargebackStore keeps chargebacks.
type ChargebackStore interface {
	// CreateChargeback reads the basis for a chargeback on the merchant's
	// payment, calls decide with it, and stores the chargeback and the
	// event decide returns (with its deliveries, as EnqueueWebhookEvent
	// does) in one transaction. The payment and the merchant's guarantee
	// are locked until it commits, so that concurrent chargebacks neither
	// exceed the payment nor overspend the cap. ENOTFOUND when the
	// merchant has no such payment; decide's error is returned as is.
	CreateChargeback(ctx context.Context, merchantID, paymentID string, year int,
		decide func(ChargebackBasis) (Chargeback, WebhookEvent, error)) (Chargeback, error)
	// Chargeback returns one of the merchant's chargebacks; ENOTFOUND
	// when missing or another merchant's.
	Chargeback(ctx context.Context, merchantID, id string) (Chargeback, error)
	// Chargebacks lists the merchant's chargebacks, newest first.
	Chargebacks(ctx context.Context, merchantID string, f ChargebackFilter) ([]Chargeback, error)
}

// GuaranteeStore keeps merchants' guarantee settings.
type GuaranteeStore interface {
	// Guarantee returns the merchant's guarantee (Custom false when never
	// set) and the amounts covered in year, by currency.
	Guarantee(ctx context.Context, merchantID string, year int) (Guarantee, map[string]int64, error)
	// LiabilityShifted sums the chargebacks of year that a 3-D Secure
	// liability shift covered (the issuers', outside the cap), by currency.
	LiabilityShifted(ctx context.Context, merchantID string, year int) (map[string]int64, error)
	// SetGuarantee stores the merchant's guarantee.
	SetGuarantee(ctx context.Context, merchantID string, g Guarantee) error
}

// Chargebacks records chargebacks and decides, for each, what the
// guarantee covers.
type Chargebacks struct {
	Store interface {
		ChargebackStore
		GuaranteeStore
		// Payment finds the merchant of a payment the processor names.
		Payment(ctx context.Context, id string) (Payment, error)
	}
	// Default is the guarantee of merchants who set none; zero means
	// DefaultGuarantee().
	Default Guarantee
	// Enqueued, when set, is called after a chargeback (and its webhook
	// deliveries) committed, to wake the local dispatcher.
	Enqueued func()
	Now      func() time.Time
}

func (c *Chargebacks) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

// effective is the guarantee in force: the merchant's, or the default.
func (c *Chargebacks) effective(g Guarantee) Guarantee {
	if g.Custom {
		return g
	}
	d := c.Default
	if d.Currency == "" {
		d = DefaultGuarantee()
	}
	d.Custom, d.UpdatedAt = false, time.Time{}
	return d
}

var reasonCodePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)

// Limits of a chargeback request.
const (
	maxChargebackReason = 500
	// chargebackSkew is how far in the future occurred_at may lie: the
	// processor's clock may run a little ahead of ours.
	chargebackSkew = 5 * time.Minute
)

// Record is a chargeback as the card processor notifies it: against a
// payment of any merchant, named by its id (Create then decides it).
// ENOTFOUND when there is no such payment.
func (c *Chargebacks) Record(ctx context.Context, paymentID string, req ChargebackRequest) (Chargeback, error) {
	p, err := c.Store.Payment(ctx, paymentID)
	if err != nil {
		return Chargeback{}, err
	}
	return c.Create(ctx, Merchant{ID: p.MerchantID}, paymentID, req)
}

// Create records a chargeback against one of the merchant's payments and
// decides its coverage against the year's remaining balance, atomically,
// and records chargeback.created for the merchant's webhooks in the same
// transaction. Another merchant's payment is ENOTFOUND; an amount over what
// is left of the payment after earlier chargebacks is EINVALID.
func (c *Chargebacks) Create(ctx context.Context, m Merchant, paymentID string, req ChargebackRequest) (Chargeback, error) {
	now := c.now()
	occurred, err := req.check(now)
	if err != nil {
		return Chargeback{}, err
	}
	year := GuaranteeYear(now)
	cb, err := c.Store.CreateChargeback(ctx, m.ID, paymentID, year, func(b ChargebackBasis) (Chargeback, WebhookEvent, error) {
		p := b.Payment
		if p.AmountCaptured == 0 {
			// Only money that moved can be charged back: an authorized or
			// held payment is not captured yet, a voided or expired one
			// was reversed.
			return Chargeback{}, WebhookEvent{}, &Error{Code: ECONFLICT, Message: "a " + p.Status + " payment was never captured, so it cannot be charged back"}
		}
		// What was captured and not refunded (pending refunds included):
		// a refunded amount is back on the card already.
		if left := p.Remaining(b.Charged); req.Amount > left {
			msg := fmt.Sprintf("amount must be at most %d: the %d captured less %d refunded and %d in earlier chargebacks",
				left, p.AmountCaptured, p.AmountRefunded, b.Charged)
			if left <= 0 {
				msg = "nothing of this payment remains to charge back: it was charged back or refunded in full"
			}
			return Chargeback{}, WebhookEvent{}, &Error{Code: EINVALID, Field: "amount", Message: msg}
		}
		if occurred.IsZero() {
			occurred = now
		}
		if occurred.Before(p.CreatedAt.Truncate(time.Second)) {
			return Chargeback{}, WebhookEvent{}, &Error{Code: EINVALID, Field: "occurred_at", Message: "occurred_at must not be before the payment was made"}
		}
		cb := Chargeback{
			ID:              NewID("cb"),
			MerchantID:      m.ID,
			PaymentID:       p.ID,
			Amount:          req.Amount,
			Currency:        p.Currency,
			ReasonCode:      req.ReasonCode,
			Reason:          req.Reason,
			RiskVerdict:     b.RiskVerdict,
			PlatformVerdict: b.PlatformVerdict,
			OccurredAt:      occurred,
			CreatedAt:       now,
		}
		shift := p.LiabilityShift() && FraudReasonCode(cb.ReasonCode)
		cb.Coverage = DecideCoverage(c.effective(b.Guarantee), b.Used, cb, shift, year)
		e, err := NewWebhookEvent(Event{Type: EventChargebackCreated, MerchantID: m.ID, Data: cb.View(), CreatedAt: now}, now)
		if err != nil {
			return Chargeback{}, WebhookEvent{}, err
		}
		return cb, e, nil
	})
	if err != nil {
		return Chargeback{}, err
	}
	if c.Enqueued != nil {
		c.Enqueued()
	}
	return cb, nil
}

// check validates the request and returns occurred_at (zero when absent).
func (r ChargebackRequest) check(now time.Time) (time.Time, error) {
	if r.Amount < 1 || r.Amount > MaxAmount {
		return time.Time{}, &Error{Code: EINVALID, Field: "amount", Message: fmt.Sprintf("amount must be an integer from 1 to %d in the payment currency's minor unit", MaxAmount)}
	}
	if !reasonCodePattern.MatchString(r.ReasonCode) {
		return time.Time{}, &Error{Code: EINVALID, Field: "reason_code", Message: "reason_code must be the card scheme's code: 1 to 32 characters of A-Z a-z 0-9 . _ - (for example 10.4 or 4837)"}
	}
	if utf8.RuneCountInString(r.Reason) > maxChargebackReason || !printable(r.Reason) {
		return time.Time{}, &Error{Code: EINVALID, Field: "reason", Message: fmt.Sprintf("reason must be at most %d printable characters", maxChargebackReason)}
	}
	if CardNumberShaped.MatchString(r.Reason) {
		return time.Time{}, &Error{Code: EINVALID, Field: "reason", Message: "reason must not hold a card number (12 or more digits in a row)"}
	}
	if r.OccurredAt == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, r.OccurredAt)
	if err != nil {
		return time.Time{}, &Error{Code: EINVALID, Field: "occurred_at", Message: "occurred_at must be an RFC 3339 time such as 2026-04-01T09:30:00+09:00"}
	}
	if t.After(now.Add(chargebackSkew)) {
		return time.Time{}, &Error{Code: EINVALID, Field: "occurred_at", Message: "occurred_at must not be in the future"}
	}
	return t.UTC(), nil
}

// FraudReasonCode reports whether a chargeback reason code is one of the
// networks' fraud codes, the chargebacks a 3-D Secure liability shift moves
// to the issuer: Visa's category 10 (10.1 to 10.5), Mastercard's 4837,
// 4840, 4849, 4863, 4870 and 4871, American Express's F24, F29, FR2, FR4
// and FR6. A dispute (goods not received, a duplicate) stays the merchant's
// whatever the authentication.
func FraudReasonCode(code string) bool {
	if strings.HasPrefix(code, "10.") && len(code) == 4 && code[3] >= '1' && code[3] <= '5' {
		return true
	}
	switch strings.ToUpper(code) {
	case "4837", "4840", "4849", "4863", "4870", "4871", "F24", "F29", "FR2", "FR4", "FR6":
		return true
	}
	return false
}

// DecideCoverage is the guarantee's rule for one chargeback: a payment
// screened OK by its merchant's rules and by the platform's is covered, in
// the guarantee's currency, up to what is left of the year's cap (used
// holds the year's covered amounts by currency); anything else is not. The
// platform's verdict is the one no merchant setting loosens: a merchant
// that switched its rules off still gets OK payments, but not the
// platform's money for them. liabilityShift (a fraud chargeback on a payment
// 3-D Secure authenticated) covers it outside the cap: the issuer bears it.
func DecideCoverage(g Guarantee, used map[string]int64, cb Chargeback, liabilityShift bool, year int) Coverage {
	cov := Coverage{Currency: cb.Currency, LiabilityShift: liabilityShift, Year: year}
	switch {
	case liabilityShift:
		cov.Covered, cov.CoveredAmount, cov.Reason = true, cb.Amount, CoverageLiabilityShift
		return cov
	case cb.RiskVerdict != string(VerdictOK):
		cov.Reason = CoverageNotScreenedOK
		return cov
	case cb.PlatformVerdict != string(VerdictOK):
		cov.Reason = CoveragePlatformNotOK
		return cov
	case cb.Currency != g.Currency:
		cov.Reason = CoverageCurrency
		return cov
	}
	remaining := max(g.YearlyCap-used[g.Currency], 0)
	switch {
	case remaining == 0:
		cov.Reason = CoverageCapExhausted
	case cb.Amount <= remaining:
		cov.Covered, cov.CoveredAmount, cov.Reason = true, cb.Amount, CoverageScreenedOK
	default:
		cov.Covered, cov.CoveredAmount, cov.Reason = true, remaining, CoveragePartial
	}
	return cov
}

// Chargeback returns one of the merchant's chargebacks.
func (c *Chargebacks) Chargeback(ctx context.Context, m Merchant, id string) (Chargeback, error) {
	return c.Store.Chargeback(ctx, m.ID, id)
}

// List returns the merchant's chargebacks, newest first; with a payment
// id, that payment's.
func (c *Chargebacks) List(ctx context.Context, m Merchant, f ChargebackFilter) ([]Chargeback, error) {
	if f.Limit == 0 {
		f.Limit = 50
	}
	if f.Limit < 1 || f.Limit > 100 {
		return nil, &Error{Code: EINVALID, Field: "limit", Message: "limit must be an integer from 1 to 100"}
	}
	return c.Store.Chargebacks(ctx, m.ID, f)
}

// GuaranteeStatus is a merchant's guarantee in the current year: the cap,
// what was used and what is left, and the year's chargebacks with the
// coverage decided for each.
type GuaranteeStatus struct {
	Guarantee Guarantee
	Year      int
	From, To  time.Time // the year, as instants
	Used      int64     // covered in the guarantee's currency this year
	Remaining int64
	// LiabilityShifted is what 3-D Secure liability shifts covered this
	// year, by currency: the issuers' to bear, counted apart from the cap.
	LiabilityShifted map[string]int64
	Chargebacks      []Chargeback // newest first, at most GuaranteeListLimit
	HasMore          bool
}

// GuaranteeListLimit caps the chargebacks GuaranteeStatus lists.
const GuaranteeListLimit = 100

// Status returns the merchant's guarantee for the current year (JST).
func (c *Chargebacks) Status(ctx context.Context, m Merchant) (GuaranteeStatus, error) {
	year := GuaranteeYear(c.now())
	g, used, err := c.Store.Guarantee(ctx, m.ID, year)
	if err != nil {
		return GuaranteeStatus{}, err
	}
	cbs, err := c.Store.Chargebacks(ctx, m.ID, ChargebackFilter{Year: year, Limit: GuaranteeListLimit + 1})
	if err != nil {
		return GuaranteeStatus{}, err
	}
	shifted, err := c.Store.LiabilityShifted(ctx, m.ID, year)
	if err != nil {
		return GuaranteeStatus{}, err
	}
	st := GuaranteeStatus{Guarantee: c.effective(g), Year: year, Chargebacks: cbs, LiabilityShifted: shifted}
	st.From, st.To = GuaranteePeriod(year)
	st.Used = used[st.Guarantee.Currency]
	st.Remaining = max(st.Guarantee.YearlyCap-st.Used, 0)
	if len(st.Chargebacks) > GuaranteeListLimit {
		st.Chargebacks, st.HasMore = st.Chargebacks[:GuaranteeListLimit], true
	}
	return st, nil
}

// GuaranteeRequest sets a merchant's guarantee.
type GuaranteeRequest struct {
	YearlyCap int64  `json:"yearly_cap"`
	Currency  string `json:"currency"`
}

// SetGuarantee changes the merchant's yearly cap. It applies to chargebacks
// recorded from now on; those already decided keep their coverage. What
// was covered this year in the guarantee's currency counts against the new
// cap; amounts covered in another currency (before a change of currency)
// do not.
func (c *Chargebacks) SetGuarantee(ctx context.Context, m Merchant, req GuaranteeRequest) (GuaranteeStatus, error) {
	if req.YearlyCap < 0 || req.YearlyCap > MaxGuaranteeCap {
		return GuaranteeStatus{}, &Error{Code: EINVALID, Field: "yearly_cap", Message: fmt.Sprintf("yearly_cap must be an integer from 0 to %d in the currency's minor unit", int64(MaxGuaranteeCap))}
	}
	if _, ok := LookupCurrency(req.Currency); !ok {
		return GuaranteeStatus{}, &Error{Code: EINVALID, Field: "currency", Message: "currency must be one of JPY, USD, EUR, GBP (ISO 4217, upper case)"}
	}
	g := Guarantee{YearlyCap: req.YearlyCap, Currency: req.Currency, Custom: true, UpdatedAt: c.now()}
	if err := c.Store.SetGuarantee(ctx, m.ID, g); err != nil {
		return GuaranteeStatus{}, err
	}
	return c.Status(ctx, m)
}

// ChargebackView is a chargeback as the API and the chargeback.created
// webhook show it.
type ChargebackView struct {
	ID          string  `json:"id"`
	Object      string  `json:"object"`
	PaymentID   string  `json:"payment_id"`
	Amount      int64   `json:"amount"`
	Currency    string  `json:"currency"`
	ReasonCode  string  `json:"reason_code"`
	Reason      string  `json:"reason"`
	RiskVerdict *string `json:"risk_verdict"` // null when the payment was not screened
	// PlatformVerdict is the payment's verdict under the platform's policy,
	// which decides coverage with RiskVerdict; null when it has none.
	PlatformVerdict *string      `json:"platform_verdict"`
	OccurredAt      string       `json:"occurred_at"`
	CreatedAt       string       `json:"created_at"`
	Coverage        CoverageView `json:"coverage"`
}

// CoverageView is a coverage decision as the API shows it.
type CoverageView struct {
	Covered        bool   `json:"covered"`
	CoveredAmount  int64  `json:"covered_amount"`
	Currency       string `json:"currency"`
	Reason         string `json:"reason"`
	LiabilityShift bool   `json:"liability_shift"`
	Year           int    `json:"guarantee_year"`
}

// View is the chargeback as the API shows it.
func (c Chargeback) View() ChargebackView {
	v := ChargebackView{
		ID:         c.ID,
		Object:     "chargeback",
		PaymentID:  c.PaymentID,
		Amount:     c.Amount,
		Currency:   c.Currency,
		ReasonCode: c.ReasonCode,
		Reason:     c.Reason,
		OccurredAt: apiTime(c.OccurredAt),
		CreatedAt:  apiTime(c.CreatedAt),
		Coverage: CoverageView{
			Covered:        c.Coverage.Covered,
			CoveredAmount:  c.Coverage.CoveredAmount,
			Currency:       c.Coverage.Currency,
			Reason:         c.Coverage.Reason,
			LiabilityShift: c.Coverage.LiabilityShift,
			Year:           c.Coverage.Year,
		},
	}
	if c.RiskVerdict != "" {
		verdict := c.RiskVerdict
		v.RiskVerdict = &verdict
	}
	if c.PlatformVerdict != "" {
		verdict := c.PlatformVerdict
		v.PlatformVerdict = &verdict
	}
	return v
}

// apiTime is a time as the API writes it: RFC 3339 in UTC, whole seconds.
func apiTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }
