package risk

import (
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
)

func TestLookupBIN(t *testing.T) {
	tests := []struct {
		bin     string
		brand   checkout.Brand
		country string
	}{
		{sandbox.CardVisa[:6], checkout.BrandVisa, "US"},
		{sandbox.CardMastercard[:6], checkout.BrandMastercard, "US"},
		{sandbox.CardJCB[:6], checkout.BrandJCB, "JP"},
		{sandbox.CardDiners[:6], checkout.BrandDiners, "US"},
		{sandbox.CardAmex[:6], checkout.BrandAmex, "US"},
		{sandbox.CardDeclined[:6], checkout.BrandVisa, "US"},
		{"42424242", checkout.BrandVisa, "US"}, // 8-digit BIN
		{"450000", checkout.BrandVisa, ""},     // brand known, country not
		{sandbox.CardVisaJP[:6], checkout.BrandVisa, "JP"},
		{"352800", checkout.BrandJCB, ""}, // JCB issues abroad too: no default country
		{"999999", checkout.BrandUnknown, ""},
		{"", checkout.BrandUnknown, ""},
	}
	for _, tt := range tests {
		got := LookupBIN(tt.bin)
		if got.Brand != tt.brand || got.Country != tt.country {
			t.Errorf("LookupBIN(%q) = %+v, want brand %q country %q", tt.bin, got, tt.brand, tt.country)
		}
	}
}

func TestCanonicalCountry(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"JP", "JP", true}, {"US", "US", true}, {"GB", "GB", true},
		{"UK", "GB", true}, // exceptionally reserved, canonicalised
		{"jp", "JP", true},
		{"EU", "", false}, {"ZZ", "", false}, {"QO", "", false}, {"XK", "", false},
		{"JPN", "", false}, {"", "", false}, {"1", "", false},
	}
	for _, tt := range tests {
		got, ok := CanonicalCountry(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("CanonicalCountry(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if ValidCountry("UK") || ValidCountry("jp") || !ValidCountry("JP") {
		t.Error("ValidCountry accepts only canonical upper-case codes")
	}
}
