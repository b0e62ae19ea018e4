package checkout_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
)

func installments(n int) checkout.PaymentMethod {
	return checkout.PaymentMethod{Type: checkout.MethodInstallments, Installments: n}
}

var (
	lumpSum  = checkout.PaymentMethod{Type: checkout.MethodLumpSum}
	bonus    = checkout.PaymentMethod{Type: checkout.MethodBonusLumpSum}
	revolver = checkout.PaymentMethod{Type: checkout.MethodRevolving}
)

func TestParsePaymentMethod(t *testing.T) {
	tests := []struct {
		typ, count string
		want       checkout.PaymentMethod
		field      string // "" when valid
	}{
		{"", "", lumpSum, ""},
		{"lump_sum", "", lumpSum, ""},
		{"installments", "6", installments(6), ""},
		{"installments", "24", installments(24), ""},
		{"bonus_lump_sum", "", bonus, ""},
		{"revolving", "", revolver, ""},
		{"installments", "", checkout.PaymentMethod{}, "installments"},
		{"installments", "4", checkout.PaymentMethod{}, "installments"},
		{"installments", "36", checkout.PaymentMethod{}, "installments"},
		{"installments", "６", checkout.PaymentMethod{}, "installments"},
		{"lump_sum", "6", checkout.PaymentMethod{}, "installments"},
		{"split", "", checkout.PaymentMethod{}, "payment_method"},
		{"LUMP_SUM", "", checkout.PaymentMethod{}, "payment_method"},
	}
	for _, tt := range tests {
		got, err := checkout.ParsePaymentMethod(tt.typ, tt.count)
		var field string
		if e, ok := err.(*checkout.Error); ok {
			field = e.Field
		} else if err != nil {
			t.Fatalf("%q/%q: %v is not a *checkout.Error", tt.typ, tt.count, err)
		}
		if got != tt.want || field != tt.field {
			t.Errorf("ParsePaymentMethod(%q, %q) = %+v, field %q; want %+v, field %q", tt.typ, tt.count, got, field, tt.want, tt.field)
		}
	}
}

// FuzzParsePaymentMethod: the page's fields never panic the parser; what
// it accepts is a method every issuer takes, and what it refuses is an
// invalid error on one of the two fields.
func FuzzParsePaymentMethod(f *testing.F) {
	for _, s := range [][2]string{{"", ""}, {"installments", "6"}, {"installments", "06"}, {"installments", "+6"},
		{"revolving", ""}, {"bonus_lump_sum", "0"}, {"installments", "9999999999999999999999"}, {"\x00", "\xff"}} {
		f.Add(s[0], s[1])
	}
	all := checkout.PaymentMethodSet{Types: []checkout.PaymentMethodType{"lump_sum", "installments", "bonus_lump_sum", "revolving"},
		InstallmentCounts: checkout.InstallmentCounts()}
	f.Fuzz(func(t *testing.T, typ, count string) {
		m, err := checkout.ParsePaymentMethod(typ, count)
		if err != nil {
			if e, ok := err.(*checkout.Error); !ok || e.Code != checkout.EINVALID || (e.Field != "payment_method" && e.Field != "installments") {
				t.Fatalf("%q/%q: %v", typ, count, err)
			}
			return
		}
		if !all.Allows(m) || (m.Type == checkout.MethodInstallments) != (m.Installments > 0) {
			t.Fatalf("%q/%q accepted as %+v", typ, count, m)
		}
	})
}

func TestJCCACodes(t *testing.T) {
	for m, want := range map[checkout.PaymentMethod]string{
		{}: "10", lumpSum: "10", installments(6): "61", bonus: "21", revolver: "80",
	} {
		v := m.View()
		if v.JCCACode != want || m.JCCACode() != want {
			t.Errorf("%v: code %q / %q; want %q", m, v.JCCACode, m.JCCACode(), want)
		}
	}
	if v := installments(12).View(); v.Type != "installments" || v.Installments != 12 {
		t.Errorf("installments view: %+v", v)
	}
	b, _ := json.Marshal(checkout.PaymentMethod{}.View())
	if string(b) != `{"type":"lump_sum","jcca_code":"10"}` {
		t.Errorf("lump sum as JSON: %s", b)
	}
}

func settings(types []checkout.PaymentMethodType, counts []int, minimum int64) checkout.PaymentMethodSettings {
	return checkout.PaymentMethodSettings{
		PaymentMethodSet: checkout.PaymentMethodSet{Types: types, InstallmentCounts: counts}, MinimumAmount: minimum}
}

var allTypes = []checkout.PaymentMethodType{checkout.MethodInstallments, checkout.MethodBonusLumpSum, checkout.MethodRevolving}

func TestPaymentMethodSettingsValidate(t *testing.T) {
	tests := []struct {
		name  string
		in    checkout.PaymentMethodSettings
		want  checkout.PaymentMethodSettings
		field string
	}{
		{"empty is lump sum alone", settings(nil, nil, 0),
			settings([]checkout.PaymentMethodType{"lump_sum"}, []int{}, 0), ""},
		{"canonical order, no repeats", settings([]checkout.PaymentMethodType{"revolving", "installments", "lump_sum", "revolving"}, []int{12, 3, 12}, 10000),
			settings([]checkout.PaymentMethodType{"lump_sum", "installments", "revolving"}, []int{3, 12}, 10000), ""},
		{"unknown type", settings([]checkout.PaymentMethodType{"ribo"}, nil, 0), checkout.PaymentMethodSettings{}, "types"},
		{"count issuers do not take", settings(allTypes, []int{3, 4}, 0), checkout.PaymentMethodSettings{}, "installment_counts"},
		{"installments without counts", settings(allTypes, nil, 0), checkout.PaymentMethodSettings{}, "installment_counts"},
		{"counts without installments", settings([]checkout.PaymentMethodType{"revolving"}, []int{3}, 0), checkout.PaymentMethodSettings{}, "installment_counts"},
		{"negative minimum", settings(nil, nil, -1), checkout.PaymentMethodSettings{}, "minimum_amount"},
		{"minimum past the largest amount", settings(nil, nil, checkout.MaxAmount+1), checkout.PaymentMethodSettings{}, "minimum_amount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in
			err := got.Validate()
			if tt.field != "" {
				if e, ok := err.(*checkout.Error); !ok || e.Code != checkout.EINVALID || e.Field != tt.field {
					t.Fatalf("Validate: %v; want EINVALID on %s", err, tt.field)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Validate: %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// everything is a merchant that offers every method and count above ¥10,000.
func everything(t *testing.T) checkout.Merchant {
	t.Helper()
	s := settings(allTypes, checkout.InstallmentCounts(), 10000)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return checkout.Merchant{ID: "mer_jp", Origins: []checkout.Origin{{Scheme: "https", Host: "shop.example", Port: 443}}, PaymentMethods: s}
}

// The page offers a choice only where it can apply; the server answers a
// submission with the same rule.
func TestOfferForCard(t *testing.T) {
	m := everything(t)
	all := []checkout.PaymentMethod{lumpSum, installments(3), installments(24), bonus, revolver}
	tests := []struct {
		name     string
		merchant checkout.Merchant
		session  checkout.Session
		brand    checkout.Brand
		country  string
		allowed  []checkout.PaymentMethod
	}{
		{"JCB issued in Japan", m, checkout.Session{Currency: "JPY", Amount: 30000}, checkout.BrandJCB, "JP", all},
		{"Visa issued in Japan", m, checkout.Session{Currency: "JPY", Amount: 30000}, checkout.BrandVisa, "JP", all},
		{"American Express: no installments", m, checkout.Session{Currency: "JPY", Amount: 30000}, checkout.BrandAmex, "JP",
			[]checkout.PaymentMethod{lumpSum, bonus, revolver}},
		{"UnionPay: lump sum", m, checkout.Session{Currency: "JPY", Amount: 30000}, checkout.BrandUnionPay, "JP", []checkout.PaymentMethod{lumpSum}},
		{"issued abroad", m, checkout.Session{Currency: "JPY", Amount: 30000}, checkout.BrandVisa, "US", []checkout.PaymentMethod{lumpSum}},
		{"issuer unknown", m, checkout.Session{Currency: "JPY", Amount: 30000}, checkout.BrandJCB, "", []checkout.PaymentMethod{lumpSum}},
		{"not yen", m, checkout.Session{Currency: "USD", Amount: 30000}, checkout.BrandVisa, "JP", []checkout.PaymentMethod{lumpSum}},
		{"under the merchant's minimum", m, checkout.Session{Currency: "JPY", Amount: 9999}, checkout.BrandVisa, "JP", []checkout.PaymentMethod{lumpSum}},
		{"at the merchant's minimum", m, checkout.Session{Currency: "JPY", Amount: 10000}, checkout.BrandVisa, "JP", all},
		{"merchant offers lump sum alone", checkout.Merchant{PaymentMethods: checkout.DefaultPaymentMethodSettings()},
			checkout.Session{Currency: "JPY", Amount: 30000}, checkout.BrandVisa, "JP", []checkout.PaymentMethod{lumpSum}},
		{"session restricted to 3 and 6 installments", m, checkout.Session{Currency: "JPY", Amount: 30000,
			PaymentMethods: &checkout.PaymentMethodSet{Types: []checkout.PaymentMethodType{"lump_sum", "installments"}, InstallmentCounts: []int{3, 6}}},
			checkout.BrandVisa, "JP", []checkout.PaymentMethod{lumpSum, installments(3), installments(6)}},
		{"session allows installments without counts: the merchant's", m, checkout.Session{Currency: "JPY", Amount: 30000,
			PaymentMethods: &checkout.PaymentMethodSet{Types: []checkout.PaymentMethodType{"installments"}}},
			checkout.BrandVisa, "JP", []checkout.PaymentMethod{lumpSum, installments(3), installments(24)}},
		{"session restricted to lump sum", m, checkout.Session{Currency: "JPY", Amount: 30000,
			PaymentMethods: &checkout.PaymentMethodSet{Types: []checkout.PaymentMethodType{"lump_sum"}}},
			checkout.BrandVisa, "JP", []checkout.PaymentMethod{lumpSum}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			co := checkout.Checkout{Session: tt.session, Merchant: tt.merchant}
			offer := co.Offer().ForCard(tt.brand, tt.country)
			for _, method := range all {
				want := false
				for _, a := range tt.allowed {
					want = want || a == method
				}
				if got := offer.Allows(method); got != want {
					t.Errorf("%v allowed: %v; want %v (offer %+v)", method, got, want, offer)
				}
			}
			if offer.Allows(installments(4)) {
				t.Error("4 installments allowed: not a count issuers take")
			}
		})
	}
}

// A session's restriction is checked against the merchant's methods when
// it is created, and in force when it is paid.
func TestSessionRestrictsPaymentMethods(t *testing.T) {
	m := everything(t)
	m.PaymentMethods.InstallmentCounts = []int{3, 6, 12}
	request := func(currency string, set *checkout.PaymentMethodSet) checkout.SessionRequest {
		return checkout.SessionRequest{Amount: 30000, Currency: currency, OrderID: "o-1", SuccessURL: "https://shop.example/done", PaymentMethods: set}
	}
	bad := []struct {
		name  string
		req   checkout.SessionRequest
		field string
	}{
		{"not yen", request("USD", &checkout.PaymentMethodSet{Types: []checkout.PaymentMethodType{"installments"}}), "payment_methods"},
		{"unknown type", request("JPY", &checkout.PaymentMethodSet{Types: []checkout.PaymentMethodType{"bonus"}}), "payment_methods.types"},
		{"count the merchant does not offer", request("JPY", &checkout.PaymentMethodSet{Types: []checkout.PaymentMethodType{"installments"}, InstallmentCounts: []int{24}}), "payment_methods.installment_counts"},
		{"counts without installments", request("JPY", &checkout.PaymentMethodSet{Types: []checkout.PaymentMethodType{"revolving"}, InstallmentCounts: []int{3}}), "payment_methods.installment_counts"},
	}
	for _, tt := range bad {
		err := tt.req.Validate(m)
		if e, ok := err.(*checkout.Error); !ok || e.Code != checkout.EINVALID || e.Field != tt.field {
			t.Errorf("%s: %v; want EINVALID on %s", tt.name, err, tt.field)
		}
	}
	off := checkout.Merchant{Origins: m.Origins, PaymentMethods: checkout.DefaultPaymentMethodSettings()}
	req := request("JPY", &checkout.PaymentMethodSet{Types: []checkout.PaymentMethodType{"revolving"}})
	if err := req.Validate(off); checkout.ErrorCode(err) != checkout.EINVALID {
		t.Errorf("revolving for a merchant that offers lump sum alone: %v; want EINVALID", err)
	}
	req = request("JPY", &checkout.PaymentMethodSet{Types: []checkout.PaymentMethodType{"installments", "lump_sum"}, InstallmentCounts: []int{6, 3}})
	if err := req.Validate(m); err != nil {
		t.Fatal(err)
	}
	want := checkout.PaymentMethodSet{Types: []checkout.PaymentMethodType{"lump_sum", "installments"}, InstallmentCounts: []int{3, 6}}
	if !reflect.DeepEqual(*req.PaymentMethods, want) {
		t.Errorf("restriction stored as %+v; want %+v", *req.PaymentMethods, want)
	}
}

// jpShopper pays sessionID with a card issued in Japan, by the method given.
func jpShopper(sessionID, number, cvc string, m checkout.PaymentMethod) checkout.PayRequest {
	req := newShopper(sessionID)
	req.Number, req.CVC, req.Method = []byte(number), []byte(cvc), m
	return req
}

// The method the shopper chose travels to the issuer, and is in the
// payment, its view and the signed result; one the card cannot take is
// refused before anything begins, and the issuer's refusal says so.
func TestPayWithAJapanesePaymentMethod(t *testing.T) {
	h := mustHarness(t)
	ctx := context.Background()
	if _, err := h.svc.PutPaymentMethods(ctx, checkout.APIActor(h.merchant), h.merchant, settings(allTypes, []int{3, 6, 12}, 0)); err != nil {
		t.Fatal(err)
	}
	m, err := h.svc.Store.Merchant(ctx, h.merchant.ID)
	if err != nil || !m.PaymentMethods.Allows(installments(6)) {
		t.Fatalf("merchant as stored: %+v, %v", m.PaymentMethods, err)
	}
	h.merchant = m

	sess := h.mustSession(t)
	res, err := h.svc.Pay(ctx, jpShopper(sess.ID, sandbox.CardJCB, sandbox.CorrectCode, installments(6)))
	if err != nil {
		t.Fatalf("Pay in 6 installments: %v", err)
	}
	if res.Payment.Method != installments(6) {
		t.Errorf("payment's method: %+v", res.Payment.Method)
	}
	if sent, ok := h.issuer.Method(sess.ID + ":1"); !ok || sent != installments(6) {
		t.Errorf("the issuer was asked with %+v (%v); want 6 installments", sent, ok)
	}
	stored, err := h.svc.Payment(ctx, h.merchant, res.Payment.ID)
	if err != nil || stored.Method != installments(6) || stored.View().PaymentMethod.JCCACode != "61" {
		t.Errorf("stored payment's method: %+v, %v", stored.Method, err)
	}
	claims, err := h.verifier(t).Verify(ctx, res.Token)
	if err != nil {
		t.Fatal(err)
	}
	if pm := claims.PaymentMethod; pm.Type != "installments" || pm.Installments != 6 || pm.JCCACode != "61" || claims.Initiator != "customer" {
		t.Errorf("signed result's payment_method: %+v", pm)
	}

	refused := []struct {
		name, number, cvc string
		method            checkout.PaymentMethod
	}{
		{"a card issued abroad", sandbox.CardVisa, sandbox.CorrectCode, revolver},
		{"installments on American Express", sandbox.CardAmexJP, sandbox.CorrectAmexCode, installments(3)},
		{"a count the merchant does not offer", sandbox.CardJCB, sandbox.CorrectCode, installments(24)},
	}
	for _, tt := range refused {
		sess := h.mustSession(t)
		_, err := h.svc.Pay(ctx, jpShopper(sess.ID, tt.number, tt.cvc, tt.method))
		if e, ok := err.(*checkout.Error); !ok || e.Code != checkout.EINVALID || e.Field != "payment_method" {
			t.Errorf("%s: %v; want EINVALID on payment_method", tt.name, err)
		}
		if attempts, _ := h.svc.Attempts(ctx, h.merchant, sess.ID); len(attempts) != 0 {
			t.Errorf("%s: %d attempts began; want none", tt.name, len(attempts))
		}
	}
	sess = h.mustSession(t)
	if res, err := h.svc.Pay(ctx, jpShopper(sess.ID, sandbox.CardAmexJP, sandbox.CorrectAmexCode, bonus)); err != nil || res.Payment.Method != bonus {
		t.Errorf("bonus lump sum on American Express issued in Japan: %+v, %v", res.Payment.Method, err)
	}

	sess = h.mustSession(t)
	_, err = h.svc.Pay(ctx, jpShopper(sess.ID, sandbox.CardMethodRefused, sandbox.CorrectCode, installments(3)))
	if e, ok := err.(*checkout.Error); !ok || e.Code != checkout.EDECLINED || e.MsgID != "pay.method_refused" {
		t.Fatalf("installments on a card whose issuer refuses them: %v; want EDECLINED pay.method_refused", err)
	}
	res, err = h.svc.Pay(ctx, jpShopper(sess.ID, sandbox.CardMethodRefused, sandbox.CorrectCode, checkout.PaymentMethod{}))
	if err != nil || res.Payment.Method != lumpSum || res.Payment.View().PaymentMethod.JCCACode != "10" {
		t.Fatalf("the same card in one payment: %+v, %v", res.Payment.Method, err)
	}
}

// A merchant's change of payment methods is audited with what it replaced.
func TestPutPaymentMethodsIsAudited(t *testing.T) {
	h := mustHarness(t)
	ctx := context.Background()
	actor := checkout.APIActor(h.merchant)
	if _, err := h.svc.PutPaymentMethods(ctx, actor, h.merchant, settings(allTypes, nil, 0)); checkout.ErrorCode(err) != checkout.EINVALID {
		t.Fatalf("installments without counts: %v; want EINVALID", err)
	}
	first, err := h.svc.PutPaymentMethods(ctx, actor, h.merchant, settings([]checkout.PaymentMethodType{"revolving"}, nil, 5000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.PutPaymentMethods(ctx, actor, h.merchant, checkout.DefaultPaymentMethodSettings()); err != nil {
		t.Fatal(err)
	}
	log, err := h.db.AuditEntries(ctx, h.merchant.ID, "", 10)
	if err != nil || len(log) != 2 {
		t.Fatalf("audit log: %d entries, %v; want 2", len(log), err)
	}
	firstJSON, _ := json.Marshal(first)
	if e := log[0]; e.Action != checkout.AuditPaymentMethodsUpdate || e.Actor != actor || string(e.Before) != string(firstJSON) {
		t.Errorf("second change audited as %s by %s, before %s; want before %s", e.Action, e.Actor, e.Before, firstJSON)
	}
	if e := log[1]; e.Before != nil || string(e.After) != string(firstJSON) {
		t.Errorf("first change audited with before %s, after %s; want null, %s", e.Before, e.After, firstJSON)
	}
	if _, err := h.svc.PutPaymentMethods(ctx, actor, checkout.Merchant{ID: "mer_missing"}, checkout.DefaultPaymentMethodSettings()); checkout.ErrorCode(err) != checkout.ENOTFOUND {
		t.Errorf("a merchant that does not exist: %v; want ENOTFOUND", err)
	}
}
