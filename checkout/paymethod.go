package checkout

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

// PaymentMethodType is how a cardholder in Japan pays a card payment back
// (支払方法), chosen on the payment page and sent to the issuer with the
// authorization. Cards issued elsewhere, and payments in other currencies,
// are always MethodLumpSum.
type PaymentMethodType string

// Payment methods, with the JCCA (CAFIS) codes the issuer is sent: the
// codes Japan's card processors share (GMO-PG's Method 1-5 with PayTimes
// maps onto them one to one).
const (
	MethodLumpSum      PaymentMethodType = "lump_sum"       // 一括払い, code 10: the default
	MethodInstallments PaymentMethodType = "installments"   // 分割払い, code 61, with the count
	MethodBonusLumpSum PaymentMethodType = "bonus_lump_sum" // ボーナス一括払い, code 21
	MethodRevolving    PaymentMethodType = "revolving"      // リボ払い, code 80
)

// paymentMethodTypes in the order the page lists them.
var paymentMethodTypes = []PaymentMethodType{MethodLumpSum, MethodInstallments, MethodBonusLumpSum, MethodRevolving}

// installmentCounts are the counts Japanese issuers take for 分割払い.
var installmentCounts = []int{3, 5, 6, 10, 12, 15, 18, 20, 24}

// InstallmentCounts are the counts a merchant may allow, ascending.
func InstallmentCounts() []int { return slices.Clone(installmentCounts) }

func (t PaymentMethodType) known() bool { return slices.Contains(paymentMethodTypes, t) }

// PaymentMethod is one shopper's choice: a type and, for installments,
// the count. The zero value is lump sum.
type PaymentMethod struct {
	Type         PaymentMethodType
	Installments int
}

// Effective is m with its zero type read as lump sum.
func (m PaymentMethod) Effective() PaymentMethod {
	if m.Type == "" {
		return PaymentMethod{Type: MethodLumpSum}
	}
	return m
}

// JCCACode is the method's JCCA (CAFIS) payment-division code.
func (m PaymentMethod) JCCACode() string {
	switch m.Effective().Type {
	case MethodInstallments:
		return "61"
	case MethodBonusLumpSum:
		return "21"
	case MethodRevolving:
		return "80"
	}
	return "10"
}

// View is the method as the API, the signed result and webhooks show it.
func (m PaymentMethod) View() verify.PaymentMethod {
	m = m.Effective()
	return verify.PaymentMethod{Type: string(m.Type), Installments: m.Installments, JCCACode: m.JCCACode()}
}

// String is the method as logs show it: "installments/6", "lump_sum".
func (m PaymentMethod) String() string {
	m = m.Effective()
	if m.Type == MethodInstallments {
		return string(m.Type) + "/" + strconv.Itoa(m.Installments)
	}
	return string(m.Type)
}

// ParsePaymentMethod reads the page's choice: the form's payment_method
// (empty: lump sum) and, for installments, its installments count.
func ParsePaymentMethod(typ, count string) (PaymentMethod, error) {
	m := PaymentMethod{Type: PaymentMethodType(typ)}.Effective()
	if !m.Type.known() {
		return PaymentMethod{}, &Error{Code: EINVALID, Field: "payment_method", MsgID: "method.unknown",
			Message: `payment_method must be "lump_sum", "installments", "bonus_lump_sum" or "revolving"`}
	}
	if m.Type != MethodInstallments {
		if count != "" {
			return PaymentMethod{}, &Error{Code: EINVALID, Field: "installments", MsgID: "method.count_without_installments",
				Message: "installments is only for the installments payment method"}
		}
		return m, nil
	}
	n, err := strconv.Atoi(count)
	if err != nil || !slices.Contains(installmentCounts, n) {
		return PaymentMethod{}, &Error{Code: EINVALID, Field: "installments", MsgID: "method.count",
			Message: "choose the number of installments"}
	}
	m.Installments = n
	return m, nil
}

// PaymentMethodSet is a choice of methods: the types and, when installments
// is among them, the counts. Lump sum is always in a set that is used,
// whether it is listed or not: a shopper whose card takes nothing else
// must still be able to pay.
type PaymentMethodSet struct {
	Types             []PaymentMethodType `json:"types"`
	InstallmentCounts []int               `json:"installment_counts"`
}

// lumpSumOnly is the set of a checkout that offers no choice.
func lumpSumOnly() PaymentMethodSet {
	return PaymentMethodSet{Types: []PaymentMethodType{MethodLumpSum}, InstallmentCounts: []int{}}
}

// Allows reports whether m is in the set.
func (s PaymentMethodSet) Allows(m PaymentMethod) bool {
	m = m.Effective()
	if !slices.Contains(s.Types, m.Type) {
		return false
	}
	return m.Type != MethodInstallments || slices.Contains(s.InstallmentCounts, m.Installments)
}

// Choice reports whether the set offers anything besides lump sum.
func (s PaymentMethodSet) Choice() bool { return len(s.Types) > 1 }

// normalize puts the set in canonical form: lump sum first, types in the
// page's order, counts ascending, no repeats, and no counts without
// installments. prefix is the set's place in the request, for errors
// ("payment_methods." in a session); needCounts refuses installments
// without counts.
func (s PaymentMethodSet) normalize(prefix string, needCounts bool) (PaymentMethodSet, error) {
	invalid := func(field, msg string) error {
		return &Error{Code: EINVALID, Field: prefix + field, Message: prefix + field + ": " + msg}
	}
	out := lumpSumOnly()
	for _, t := range s.Types {
		if !t.known() {
			return PaymentMethodSet{}, invalid("types", fmt.Sprintf("%q is not a payment method: use lump_sum, installments, bonus_lump_sum, revolving", t))
		}
	}
	for _, t := range paymentMethodTypes[1:] {
		if slices.Contains(s.Types, t) {
			out.Types = append(out.Types, t)
		}
	}
	for _, n := range s.InstallmentCounts {
		if !slices.Contains(installmentCounts, n) {
			return PaymentMethodSet{}, invalid("installment_counts", fmt.Sprintf("%d is not a count issuers take: use 3, 5, 6, 10, 12, 15, 18, 20 or 24", n))
		}
		if !slices.Contains(out.InstallmentCounts, n) {
			out.InstallmentCounts = append(out.InstallmentCounts, n)
		}
	}
	slices.Sort(out.InstallmentCounts)
	hasInstallments := slices.Contains(out.Types, MethodInstallments)
	switch {
	case hasInstallments && needCounts && len(out.InstallmentCounts) == 0:
		return PaymentMethodSet{}, invalid("installment_counts", "name the counts shoppers may choose when installments is on")
	case !hasInstallments && len(out.InstallmentCounts) > 0:
		return PaymentMethodSet{}, invalid("installment_counts", "counts need installments among the types")
	}
	return out, nil
}

// within is the part of s that enabled also has. A set without counts
// takes enabled's (a session that allows installments without naming
// counts allows the merchant's).
func (s PaymentMethodSet) within(enabled PaymentMethodSet) PaymentMethodSet {
	out := PaymentMethodSet{Types: []PaymentMethodType{}, InstallmentCounts: []int{}}
	for _, t := range s.Types {
		if slices.Contains(enabled.Types, t) {
			out.Types = append(out.Types, t)
		}
	}
	counts := s.InstallmentCounts
	if len(counts) == 0 {
		counts = enabled.InstallmentCounts
	}
	if slices.Contains(out.Types, MethodInstallments) {
		for _, n := range counts {
			if slices.Contains(enabled.InstallmentCounts, n) {
				out.InstallmentCounts = append(out.InstallmentCounts, n)
			}
		}
		if len(out.InstallmentCounts) == 0 {
			out.Types = slices.DeleteFunc(out.Types, func(t PaymentMethodType) bool { return t == MethodInstallments })
		}
	}
	return out
}

// PaymentMethodSettings are the methods a merchant offers (its acquirer
// contract decides which it may), and the smallest amount, in yen, for
// which anything but lump sum is offered (0: any amount).
type PaymentMethodSettings struct {
	PaymentMethodSet
	MinimumAmount int64 `json:"minimum_amount"`
}

// DefaultPaymentMethodSettings are a merchant's until it saves its own:
// lump sum alone, as a merchant without an installments contract needs.
func DefaultPaymentMethodSettings() PaymentMethodSettings {
	return PaymentMethodSettings{PaymentMethodSet: lumpSumOnly()}
}

// Validate checks the settings and puts them in canonical form.
func (s *PaymentMethodSettings) Validate() error {
	set, err := s.PaymentMethodSet.normalize("", true)
	if err != nil {
		return err
	}
	if s.MinimumAmount < 0 || s.MinimumAmount > MaxAmount {
		return &Error{Code: EINVALID, Field: "minimum_amount", Message: fmt.Sprintf("minimum_amount must be from 0 to %d yen", MaxAmount)}
	}
	s.PaymentMethodSet = set
	return nil
}

// restrictFor checks a session's restriction against the merchant's
// settings: it needs JPY, and each type and count must be one the merchant
// offers. It returns the restriction in canonical form.
func (s PaymentMethodSet) restrictFor(currency string, enabled PaymentMethodSettings) (PaymentMethodSet, error) {
	if currency != "JPY" {
		return PaymentMethodSet{}, &Error{Code: EINVALID, Field: "payment_methods",
			Message: "payment_methods apply to JPY sessions only: other currencies are paid in one payment"}
	}
	// Without counts, installments take the merchant's.
	set, err := s.normalize("payment_methods.", false)
	if err != nil {
		return PaymentMethodSet{}, err
	}
	for _, t := range set.Types {
		if !slices.Contains(enabled.Types, t) {
			return PaymentMethodSet{}, &Error{Code: EINVALID, Field: "payment_methods.types",
				Message: fmt.Sprintf("payment_methods.types: %s is not enabled for this account (PUT /v1/payment_methods)", t)}
		}
	}
	for _, n := range set.InstallmentCounts {
		if !slices.Contains(enabled.InstallmentCounts, n) {
			return PaymentMethodSet{}, &Error{Code: EINVALID, Field: "payment_methods.installment_counts",
				Message: fmt.Sprintf("payment_methods.installment_counts: %d installments are not enabled for this account (PUT /v1/payment_methods)", n)}
		}
	}
	return set, nil
}

// Offer is what a checkout may offer before the card is known: the
// merchant's methods as they are now, narrowed by the session's
// restriction, for a JPY session at or above the merchant's minimum;
// lump sum alone otherwise. ForCard narrows it to one card.
func (co Checkout) Offer() PaymentMethodSet {
	enabled, sess := co.Merchant.PaymentMethods, co.Session
	if sess.Currency != "JPY" || sess.Amount < enabled.MinimumAmount || !enabled.Choice() {
		return lumpSumOnly()
	}
	offer := enabled.PaymentMethodSet
	if sess.PaymentMethods != nil {
		offer = sess.PaymentMethods.within(enabled.PaymentMethodSet)
	}
	if !slices.Contains(offer.Types, MethodLumpSum) {
		offer.Types = append([]PaymentMethodType{MethodLumpSum}, offer.Types...)
	}
	return offer
}

// ForCard narrows an offer to what one card can take: nothing but lump sum
// unless it was issued in Japan (by its BIN, IssuerCountry), and only the
// methods, and counts up to the maximum, its brand's Japanese issuers offer
// (BrandRule.Methods). The payment page applies the same rule with the
// same tables while the shopper types.
func (s PaymentMethodSet) ForCard(brand Brand, issuerCountry string) PaymentMethodSet {
	rule, ok := brand.rule()
	if !ok || issuerCountry != "JP" {
		return lumpSumOnly()
	}
	out := lumpSumOnly()
	for _, t := range s.Types {
		if t != MethodLumpSum && slices.Contains(rule.Methods, t) {
			out.Types = append(out.Types, t)
		}
	}
	if slices.Contains(out.Types, MethodInstallments) {
		for _, n := range s.InstallmentCounts {
			if n <= rule.MaxInstallments {
				out.InstallmentCounts = append(out.InstallmentCounts, n)
			}
		}
	}
	return out
}

// checkMethod refuses a method the card cannot take here: what the page
// offered, checked again on the server, since the form can say anything.
func checkMethod(co Checkout, pan PAN, m PaymentMethod) error {
	if co.Offer().ForCard(pan.Brand(), IssuerCountry(pan.BIN())).Allows(m) {
		return nil
	}
	return &Error{Code: EINVALID, Field: "payment_method", MsgID: "method.unavailable",
		Message: "this card cannot be paid that way here: choose another payment method"}
}

// AuditPaymentMethodsUpdate is the audit action of a change to a
// merchant's payment methods.
const AuditPaymentMethodsUpdate = "payment_methods.update"

// PaymentMethodStore keeps the merchants' payment methods (read with the
// merchant: Merchant.PaymentMethods).
type PaymentMethodStore interface {
	// PutPaymentMethods replaces the merchant's settings with settings
	// (JSON) and appends a, with a.Before set to the JSON it replaced (nil
	// when there was none), in one transaction. ENOTFOUND when the
	// merchant does not exist.
	PutPaymentMethods(ctx context.Context, merchantID string, settings []byte, a AuditEntry) error
}

// PutPaymentMethods validates s and makes it the merchant's payment
// methods, audited as actor's change; EINVALID with Field naming the
// first setting at fault. Sessions already open offer the new settings.
func (s *Service) PutPaymentMethods(ctx context.Context, actor string, m Merchant, settings PaymentMethodSettings) (PaymentMethodSettings, error) {
	if err := settings.Validate(); err != nil {
		return PaymentMethodSettings{}, err
	}
	b, err := json.Marshal(settings)
	if err != nil {
		return PaymentMethodSettings{}, fmt.Errorf("checkout: encode payment methods: %w", err)
	}
	entry := AuditEntry{ID: NewID("aud"), MerchantID: m.ID, Actor: actor, Action: AuditPaymentMethodsUpdate, After: b, At: s.now()}
	if err := s.Store.PutPaymentMethods(ctx, m.ID, b, entry); err != nil {
		return PaymentMethodSettings{}, err
	}
	return settings, nil
}

// DecodePaymentMethods reads a merchant's stored settings: the defaults
// when it has saved none (empty).
func DecodePaymentMethods(b []byte) (PaymentMethodSettings, error) {
	if len(b) == 0 {
		return DefaultPaymentMethodSettings(), nil
	}
	var s PaymentMethodSettings
	if err := json.Unmarshal(b, &s); err != nil {
		return PaymentMethodSettings{}, fmt.Errorf("checkout: stored payment methods: %w", err)
	}
	return s, nil
}
