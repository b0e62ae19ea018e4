package checkout

import (
	"slices"
	"testing"

	"golang.org/x/text/language"
)

func TestBINTable(t *testing.T) {
	for _, e := range binCountries {
		if r, err := language.ParseRegion(e.country); err != nil || !r.IsCountry() || r.Canonicalize().String() != e.country {
			t.Errorf("%s: %q is not a current ISO 3166-1 country code", e.prefix, e.country)
		}
		if DetectBrand(e.prefix) == BrandUnknown {
			t.Errorf("%s: outside every brand's range", e.prefix)
		}
		if e.source == "" {
			t.Errorf("%s: no source", e.prefix)
		}
	}
}

func TestIssuerPrefixesAreWhatIssuerCountryMaps(t *testing.T) {
	jp := IssuerPrefixes("JP")
	if len(jp) == 0 {
		t.Fatal("no prefix issued in Japan")
	}
	for _, e := range binCountries {
		if got := IssuerCountry(e.prefix + "0000000000"); (got == "JP") != slices.Contains(jp, e.prefix) {
			t.Errorf("%s: IssuerCountry %q, in IssuerPrefixes(JP) %v", e.prefix, got, slices.Contains(jp, e.prefix))
		}
	}
}
