package web

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/pelletier/go-toml/v2"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// briefIDs are the message ids of checkout errors the page must translate.
var briefIDs = []string{
	"card.number.required", "card.number.chars", "card.number.length", "card.number.length_brand",
	"card.number.length_brand_or", "card.number.length_brand_range",
	"card.number.brand", "card.number.luhn", "card.expiry.format", "card.expiry.month", "card.expiry.past",
	"card.expiry.far", "card.name.required", "card.cvc.required", "card.cvc.chars", "card.cvc.length_front",
	"card.cvc.length_back", "pay.expired", "pay.in_progress", "pay.unavailable", "pay.processing_error",
	"pay.declined", "pay.timeout", "pay.sign_failed", "pay.rate_limited", "pay.challenge",
}

var idLiteral = regexp.MustCompile(`"((?:card|pay|page|error|field|cvc|list|threeds|acs|method|saved|saved_card|save_card)\.[a-z_]+(?:\.[a-z_]+)*)"`)

// idsIn finds message-id literals in files; asset names are not ids.
func idsIn(tb testing.TB, pattern string, re *regexp.Regexp) []string {
	tb.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		tb.Fatalf("no files for %s: %v", pattern, err)
	}
	var ids []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			switch filepath.Ext(m[1]) {
			case ".js", ".css", ".html", ".svg":
				continue
			}
			ids = append(ids, m[1])
		}
	}
	return ids
}

func loadCatalogFile(tb testing.TB, lang string) map[string]string {
	tb.Helper()
	b, err := localesFS.ReadFile("locales/" + lang + ".toml")
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]string
	if err := toml.Unmarshal(b, &m); err != nil {
		tb.Fatalf("%s.toml: %v", lang, err)
	}
	return m
}

func TestMessageCatalogs(t *testing.T) {
	en, ja := loadCatalogFile(t, "en"), loadCatalogFile(t, "ja")

	// Both languages have the same ids, none empty.
	for id, s := range en {
		if strings.TrimSpace(s) == "" {
			t.Errorf("en %s is empty", id)
		}
		if strings.TrimSpace(ja[id]) == "" {
			t.Errorf("ja lacks %s", id)
		}
	}
	for id := range ja {
		if _, ok := en[id]; !ok {
			t.Errorf("en lacks %s (only in ja)", id)
		}
	}

	// Every id the code, the templates and the script use exists.
	used := map[string][]string{
		"the brief's list":  briefIDs,
		"checkout/*.go":     idsIn(t, "../checkout/*.go", idLiteral),
		"web/*.go":          idsIn(t, "*.go", idLiteral),
		"templates":         idsIn(t, "templates/*.html", regexp.MustCompile(`\.T "([^"]+)"`)),
		"clientMessageIDs":  clientMessageIDs,
		"static/pay.js":     idsIn(t, "static/pay.js", idLiteral),
		"error codes (web)": nil,
	}
	for code := range statusOf {
		used["error codes (web)"] = append(used["error codes (web)"], "error."+code)
	}
	for where, ids := range used {
		for _, id := range ids {
			if slices.Contains(checkout.WebhookEventTypes, id) {
				continue // card.updated is an event type, not a message
			}
			if _, ok := en[id]; !ok {
				t.Errorf("%s uses %s: missing from en.toml", where, id)
			}
			if _, ok := ja[id]; !ok {
				t.Errorf("%s uses %s: missing from ja.toml", where, id)
			}
		}
	}
	// The script can only show what the page passes it.
	for _, id := range used["static/pay.js"] {
		if !slices.Contains(clientMessageIDs, id) {
			t.Errorf("pay.js uses %s, which is not in clientMessageIDs", id)
		}
	}
	if len(used["checkout/*.go"]) < 15 {
		t.Errorf("found only %d message ids in checkout/*.go: the scan is broken", len(used["checkout/*.go"]))
	}

	// Every message renders in both languages through go-i18n (templates parse).
	cat, err := newCatalog()
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(en))
	for id := range en {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, lang := range []string{"en", "ja"} {
		tr := cat.translator(lang)
		for _, id := range ids {
			s, ok := tr.message(id, map[string]string{"Brand": "Visa", "Digits": "3", "Amount": "¥1", "Merchant": "M", "A": "1", "B": "2", "Count": "6", "Last4": "4242"})
			if !ok || s == "" || strings.Contains(s, "<no value>") || strings.Contains(s, "{{") {
				t.Errorf("%s %s renders %q", lang, id, s)
			}
		}
	}
}

func TestLanguageChoice(t *testing.T) {
	cat, err := newCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ locale, accept, want string }{
		{"ja", "en", "ja"},
		{"en", "ja", "en"},
		{"auto", "ja-JP", "ja"},
		{"", "da, en-GB;q=0.8, ja;q=0.7", "en"},
		{"auto", "zz-invalid-;;;", "en"},
		{"auto", strings.Repeat("ja,", 1000), "ja"},
	} {
		if got := cat.lang(tc.locale, tc.accept); got != tc.want {
			t.Errorf("lang(%q, %q) = %s, want %s", tc.locale, tc.accept, got, tc.want)
		}
	}
}

// Messages without parameters are rendered once per language and kept;
// what is kept is what go-i18n renders, each language its own, and a
// message with parameters is rendered afresh every time.
func TestPlainMessagesAreKeptPerLanguage(t *testing.T) {
	c, err := newCatalog()
	if err != nil {
		t.Fatal(err)
	}
	en, ja := c.translator("en"), c.translator("ja")
	for range 2 { // the second round reads what the first kept
		if got, want := en.T("pay.noscript"), localize(t, c, "en", "pay.noscript"); got != want {
			t.Errorf("en pay.noscript = %q; want %q", got, want)
		}
		if got, want := ja.T("pay.noscript"), localize(t, c, "ja", "pay.noscript"); got != want {
			t.Errorf("ja pay.noscript = %q; want %q", got, want)
		}
	}
	if en.T("pay.noscript") == ja.T("pay.noscript") {
		t.Error("both languages answer the same kept text")
	}
	if a, b := en.T("pay.title", "Merchant", "Shop A"), en.T("pay.title", "Merchant", "Shop B"); a == b || !strings.Contains(b, "Shop B") {
		t.Errorf("a message with parameters was kept: %q, %q", a, b)
	}
}

func localize(t *testing.T, c *catalog, lang, id string) string {
	t.Helper()
	s, err := i18n.NewLocalizer(c.bundle, lang).Localize(&i18n.LocalizeConfig{MessageID: id})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
