package checkout

import "strings"

// binCountries maps BIN prefixes to the issuer's country, longest prefix
// first wins. It is deliberately small: an entry is only as good as its
// source, and a wrong country is a false signal against a real shopper (in
// screening) or a payment method offered to a card that cannot take it.
//
// The networks' brand ranges (DetectBrand) are not in it: they say nothing
// about the issuing country. JCB, Diners Club and American Express all
// issue through banks abroad (a JCB card from a Taiwanese or Thai bank is
// common), so mapping "JCB" to JP would flag every such cardholder shipping
// home, and offer Japanese installments to cards that have none. Real
// issuer BINs belong in a licensed BIN database behind the store, not in a
// hand-kept table: none is listed here because none could be sourced
// reliably. The sandbox's test cards are.
var binCountries = []struct {
	prefix, country, source string
}{
	{"424242", "US", "sandbox test card: Visa (checkout/sandbox CardVisa)"},
	{"400000", "US", "sandbox test cards: Visa declines, CVC mismatch, slow, no code"},
	{"555555", "US", "sandbox test card: Mastercard"},
	{"353011", "JP", "sandbox test card: JCB"},
	{"305693", "US", "sandbox test card: Diners Club"},
	{"378282", "US", "sandbox test card: American Express"},
	{"411111", "JP", "sandbox test cards: Visa issued in Japan (CardVisaJP, CardMethodRefused)"},
	{"378734", "JP", "sandbox test card: American Express issued in Japan (CardAmexJP)"},
}

// IssuerCountry is the ISO 3166-1 alpha-2 country of the issuer of a card
// by its BIN (its first 6 digits), when the table knows it; "" otherwise.
func IssuerCountry(bin string) string {
	country, best := "", 0
	for _, e := range binCountries {
		if len(e.prefix) > best && strings.HasPrefix(bin, e.prefix) {
			country, best = e.country, len(e.prefix)
		}
	}
	return country
}

// IssuerPrefixes are the BIN prefixes IssuerCountry maps to country, for
// the payment page, which offers Japan's payment methods to a card issued
// there as soon as it recognises the number.
func IssuerPrefixes(country string) []string {
	var out []string
	for _, e := range binCountries {
		if e.country == country {
			out = append(out, e.prefix)
		}
	}
	return out
}
