package risk

import (
	"strings"

	"golang.org/x/text/language"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// BINInfo is what the checkout knows of a card from its leading digits.
type BINInfo struct {
	Brand   checkout.Brand // from the networks' ranges (checkout.DetectBrand)
	Country string         // ISO 3166-1 alpha-2 of the issuer; "" when unknown
}

// binCountries maps BIN prefixes to the issuer's country, longest prefix
// first wins. It is deliberately small: an entry is only as good as its
// source, and a wrong country is a false signal against a real shopper.
//
// The networks' brand ranges (checkout.DetectBrand) are not in it: they say
// nothing about the issuing country. JCB, Diners Club and American Express
// all issue through banks abroad (a JCB card from a Taiwanese or Thai bank is
// common), so mapping "JCB" to JP would flag every such cardholder shipping
// home. Real issuer BINs (e.g. Japanese issuers') belong in a licensed BIN
// database behind the store, not in a hand-kept table: none is listed here
// because none could be sourced reliably.
var binCountries = []struct {
	prefix, country, source string
}{
	{"424242", "US", "sandbox test card: Visa (checkout/sandbox CardVisa)"},
	{"400000", "US", "sandbox test cards: Visa declines, CVC mismatch, slow, no code"},
	{"555555", "US", "sandbox test card: Mastercard"},
	{"353011", "JP", "sandbox test card: JCB"},
	{"305693", "US", "sandbox test card: Diners Club"},
	{"378282", "US", "sandbox test card: American Express"},
}

// LookupBIN returns the brand and, when the table knows it, the issuer
// country of a BIN (6 or 8 digits).
func LookupBIN(bin string) BINInfo {
	info := BINInfo{Brand: checkout.DetectBrand(bin)}
	best := 0
	for _, e := range binCountries {
		if len(e.prefix) > best && strings.HasPrefix(bin, e.prefix) {
			info.Country, best = e.country, len(e.prefix)
		}
	}
	return info
}

// CanonicalCountry returns the ISO 3166-1 alpha-2 code of a country as
// golang.org/x/text/language knows it (CLDR data, kept up to date with the
// module), with deprecated codes replaced ("UK" -> "GB"); ok is false for
// anything that is not an assigned country code ("EU", "ZZ", private use).
func CanonicalCountry(code string) (string, bool) {
	if len(code) != 2 {
		return "", false
	}
	r, err := language.ParseRegion(code)
	if err != nil || !r.IsCountry() || r.IsPrivateUse() {
		return "", false
	}
	return r.Canonicalize().String(), true
}

// ValidCountry reports whether code is a current, canonical ISO 3166-1
// alpha-2 country code, upper case.
func ValidCountry(code string) bool {
	c, ok := CanonicalCountry(code)
	return ok && c == code
}
