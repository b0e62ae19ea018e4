package web

import (
	"bytes"
	"encoding/json"
	"html/template"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"text/template/parse"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// The templates with their messages written in render every page exactly
// as the templates that look each message up do, in each language, with
// text that needs escaping where it stands.
func TestWrittenMessagesRenderAsLookedUp(t *testing.T) {
	c, assets, written := mustPages(t)
	lookedUp := template.Must(template.New("").Funcs(template.FuncMap{"asset": assets.url}).ParseFS(templatesFS, "templates/*.html"))

	hostile := `<script>alert("x")</script> & 'quoted' +1`
	for lang := range c.translators {
		if _, ok := written[lang]; !ok {
			t.Fatalf("no pages in %s", lang)
		}
		tr := c.translator(lang)
		page := func(state string, embed bool) *pageData {
			return &pageData{
				translator: tr, Nonce: "bm9uY2U", State: state, Embed: embed, SessionID: "cs_x",
				MerchantName: hostile, Amount: "¥1,200", OrderID: hostile, CancelURL: "https://shop.example/cancel?a=1&b=2",
				Title: hostile, Body: hostile,
				Client: &clientData{State: state, Session: "cs_x", PayURL: "/pay/cs_x", CSRF: "t", Messages: tr.clientMessages()},
			}
		}
		challenge := func(over bool, errText string) *challengeData {
			return &challengeData{pageData: page(stateForm, true), AuthenticationID: "3ds_x", Over: over,
				ActionURL: "/pay/cs_x/3ds/acs", CSRF: "t", Error: errText, NotifyURL: "/pay/cs_x/3ds/complete", CRes: "eyJ"}
		}
		for _, tc := range []struct {
			name string
			data localized
		}{
			{"pay.html", page(stateForm, false)},
			{"pay.html", page(stateForm, true)},
			{"pay.html", page(statePaid, false)},
			{"message.html", page(stateMessage, false)},
			{"acs.html", challenge(false, "")},
			{"acs.html", challenge(false, hostile)},
			{"acs.html", challenge(true, "")},
			{"acs_cres.html", challenge(false, "")},
			{"threeds_complete.html", challenge(false, "")},
		} {
			var got, want bytes.Buffer
			if err := written[lang].ExecuteTemplate(&got, tc.name, tc.data); err != nil {
				t.Fatalf("%s %s: %v", lang, tc.name, err)
			}
			if err := lookedUp.ExecuteTemplate(&want, tc.name, tc.data); err != nil {
				t.Fatalf("%s %s looked up: %v", lang, tc.name, err)
			}
			if got.String() != want.String() {
				t.Errorf("%s %s differs from the looked-up rendering:\n%s\nwant:\n%s", lang, tc.name, got.String(), want.String())
			}
			if strings.Contains(got.String(), "<script>alert") {
				t.Errorf("%s %s: the merchant's text is not escaped", lang, tc.name)
			}
		}
	}
}

// mustPages is the catalog, the assets and the page templates as the
// server parses them.
func mustPages(tb testing.TB) (*catalog, *assetSet, pageSet) {
	tb.Helper()
	c, err := newCatalog()
	if err != nil {
		tb.Fatal(err)
	}
	assets, err := loadAssets()
	if err != nil {
		tb.Fatal(err)
	}
	pages, err := parsePages(assets, c)
	if err != nil {
		tb.Fatal(err)
	}
	return c, assets, pages
}

// BenchmarkRenderPayPage renders the card form, the page every checkout
// opens, in each language (figures, not a timed assertion).
func BenchmarkRenderPayPage(b *testing.B) {
	c, _, pages := mustPages(b)
	for lang, tr := range c.translators {
		b.Run(lang, func(b *testing.B) {
			var buf bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				data := &pageData{
					translator: tr, Nonce: "bm9uY2Vub25jZW5vbmNl", State: stateForm,
					Title: tr.T("pay.title", "Merchant", "Demo Shop"), SessionID: "cs_x",
					MerchantName: "Demo Shop", Amount: "¥1,200", OrderID: "order-1", CancelURL: "https://shop.example/cancel",
					Client: &clientData{State: stateForm, Session: "cs_x", PayURL: "/pay/cs_x", CSRF: "csrf", Messages: tr.clientMessages()},
				}
				buf.Reset()
				if err := pages[lang].ExecuteTemplate(&buf, "pay.html", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A message the catalog lacks stops the server at start, naming it,
// instead of showing its id to shoppers.
func TestMissingMessageIsRefusedAtParse(t *testing.T) {
	c, err := newCatalog()
	if err != nil {
		t.Fatal(err)
	}
	_, err = writeMessages(`<p>{{.T "pay.noscript"}}</p><p>{{.T "no.such.message"}}</p>`, c.translator("ja"))
	if err == nil || !strings.Contains(err.Error(), "no.such.message") {
		t.Fatalf("writeMessages = %v; want an error naming no.such.message", err)
	}
	out, err := writeMessages(`<p>{{- .T "pay.noscript" -}}</p>`, c.translator("en"))
	if err != nil || strings.Contains(out, ".T") {
		t.Fatalf("writeMessages = %q, %v; want the text written in", out, err)
	}
}

// The data block is the client data with the language's messages and the
// card brands' table, valid JSON that no text can break out of.
func TestDataBlockCarriesTheMessages(t *testing.T) {
	c, err := newCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for lang, tr := range c.translators {
		d := &clientData{State: stateForm, Session: "cs_x", PayURL: "/pay/cs_x", CSRF: "</script><script>", Parent: "https://a.example", Messages: tr.clientMessages()}
		js, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(js), "</script") {
			t.Errorf("%s: the data block can close its element: %s", lang, js)
		}
		var got struct {
			CSRF     string               `json:"csrf"`
			Parent   string               `json:"parent"`
			Messages map[string]string    `json:"messages"`
			Brands   []checkout.BrandRule `json:"brands"`
		}
		if err := json.Unmarshal([]byte(js), &got); err != nil {
			t.Fatalf("%s: %v in %s", lang, err, js)
		}
		if want := tr.renderClientMessages(); !maps.Equal(got.Messages, want) || len(want) != len(clientMessageIDs) {
			t.Errorf("%s messages = %v; want %v", lang, got.Messages, want)
		}
		if want := checkout.BrandRules(); !reflect.DeepEqual(got.Brands, want) {
			t.Errorf("%s brands = %+v; want the checkout's table %+v", lang, got.Brands, want)
		}
		if got.CSRF != d.CSRF || got.Parent != d.Parent {
			t.Errorf("%s: fields = %+v", lang, got)
		}
	}
}

// A constant is written in as text where html/template escapes it for text
// or a quoted attribute, or where it is an asset's URL in an attribute, and
// renders exactly as escaped; one in a script or another URL, or holding a
// '+', keeps its escapers.
func TestConstantsFoldIntoText(t *testing.T) {
	_, assets, _ := mustPages(t)
	const src = `{{define "p.html"}}<p title="{{"it's \"quoted\""}}">{{"Tom & Jerry <3"}}{{"plain"}}</p>` +
		`<textarea>{{"a 'b'"}}</textarea><a href="/x?q={{"a b"}}">{{"1+1"}}</a>` +
		`<link href="{{asset "pay.css"}}"><a href="{{"https://shop.example/a"}}">x</a>` +
		`<script>var s = {{"in a script"}};</script>{{end}}`
	build := func() *template.Template {
		return template.Must(template.New("").Funcs(template.FuncMap{"asset": assets.url}).Parse(src))
	}
	folded, plain := build(), build()
	foldConstants(folded, assets)

	var got, want bytes.Buffer
	if err := folded.ExecuteTemplate(&got, "p.html", nil); err != nil {
		t.Fatal(err)
	}
	if err := plain.ExecuteTemplate(&want, "p.html", nil); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("folded page:\n%s\nwant:\n%s", got.String(), want.String())
	}
	if !strings.Contains(got.String(), assets.url("pay.css")) {
		t.Errorf("the asset's URL is not in the page:\n%s", got.String())
	}
	var left []string
	for _, n := range folded.Lookup("p.html").Tree.Root.Nodes {
		if a, ok := n.(*parse.ActionNode); ok {
			left = append(left, a.Pipe.Cmds[0].String())
		}
	}
	if want := []string{`"a b"`, `"1+1"`, `"https://shop.example/a"`, `"in a script"`}; !slices.Equal(left, want) {
		t.Errorf("constants left as actions: %v; want %v", left, want)
	}
}
