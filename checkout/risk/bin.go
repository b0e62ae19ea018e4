package risk

import (
	"golang.org/x/text/language"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// BINInfo is what the checkout knows of a card from its leading digits.
type BINInfo struct {
	Brand   checkout.Brand // from the networks' ranges (checkout.DetectBrand)
	Country string         // ISO 3166-1 alpha-2 of the issuer; "" when unknown
}

// LookupBIN returns the brand and, when checkout.IssuerCountry knows it, the issuer
// country of a BIN (6 or 8 digits).
func LookupBIN(bin string) BINInfo {
	return BINInfo{Brand: checkout.DetectBrand(bin), Country: checkout.IssuerCountry(bin)}
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
