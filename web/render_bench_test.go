package web

import (
	"bytes"
	"testing"
)

// BenchmarkRenderPayPage renders the card form, the page every checkout
// opens, in each language (figures, not a timed assertion).
func BenchmarkRenderPayPage(b *testing.B) {
	c, err := newCatalog()
	if err != nil {
		b.Fatal(err)
	}
	assets, err := loadAssets()
	if err != nil {
		b.Fatal(err)
	}
	pages, err := parsePages(assets, c)
	if err != nil {
		b.Fatal(err)
	}
	for _, lang := range []string{"en", "ja"} {
		b.Run(lang, func(b *testing.B) {
			tr := c.translator(lang)
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
