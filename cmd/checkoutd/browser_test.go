package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

// mustBrowser starts Debian's headless Chromium (CHROME_PATH, default
// /usr/bin/chromium) with a fresh profile. A missing browser fails the test:
// the README's test command installs it.
func mustBrowser(tb testing.TB) context.Context {
	tb.Helper()
	path := os.Getenv("CHROME_PATH")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		tb.Fatalf("Chromium not found at %s (run `make deps`): %v", path, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1024, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	tb.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		tb.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// within runs actions with a deadline, on a context that has already run
// once (a deadline on the first run would stop the whole browser).
func within(tb testing.TB, ctx context.Context, d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}

func fillCard(number, expiry, name, cvc string, opts ...chromedp.QueryOption) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.WaitVisible(chromedp.CSS("#number"), opts...),
		chromedp.SendKeys(chromedp.CSS("#number"), number, opts...),
		chromedp.SendKeys(chromedp.CSS("#expiry"), expiry, opts...),
		chromedp.SendKeys(chromedp.CSS("#name"), name, opts...),
		chromedp.SendKeys(chromedp.CSS("#cvc"), cvc, opts...),
		chromedp.Click(chromedp.CSS("#pay-button"), opts...),
	}
}

// The shopper's whole journey in a real browser: the demo shop (another
// loopback origin) pays once through the redirect and once through the
// iframe, and verifies each signed result against the JWKS.
func TestBrowserPaysThroughRedirectAndIframe(t *testing.T) {
	p := mustStart(t)
	ctx := mustBrowser(t)

	t.Run("redirect", func(t *testing.T) {
		within(t, ctx, 30*time.Second, "open the shop and choose redirect",
			chromedp.Navigate(p.DemoURL+"/"),
			chromedp.Click(chromedp.CSS("#buy-redirect")),
			chromedp.WaitVisible(chromedp.CSS("#number")),
		)
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		if !strings.HasPrefix(loc, p.BaseURL+"/pay/cs_") {
			t.Fatalf("redirected to %s, want the hosted page", loc)
		}
		// The brand shows as the number is typed, and the AMEX/back-of-card help follows it.
		within(t, ctx, 30*time.Second, "pay", fillCard("4242424242424242", "1230", "TARO YAMADA", "123")...)
		within(t, ctx, 30*time.Second, "back at the shop", chromedp.WaitVisible(chromedp.CSS("#outcome")))
		outcome, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#outcome")))
		last4, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#last4")))
		loc, _ = chromedp.Run(ctx, chromedp.Location())
		if !strings.Contains(outcome, "Payment verified") || strings.TrimSpace(last4) != "4242" || !strings.HasPrefix(loc, p.DemoURL+"/done") {
			t.Fatalf("at %s outcome %q last4 %q", loc, outcome, last4)
		}
		if strings.Contains(loc, "checkout_result") {
			t.Fatalf("the result token travelled in the URL: %s", loc)
		}
	})

	t.Run("iframe", func(t *testing.T) {
		within(t, ctx, 30*time.Second, "open the shop and choose iframe",
			chromedp.Navigate(p.DemoURL+"/"),
			chromedp.Click(chromedp.CSS("#buy-iframe")),
			chromedp.WaitVisible(chromedp.CSS("#pay iframe")),
		)
		frame := mustFrameNode(t, ctx, "#pay iframe")
		in := chromedp.FromNode(frame)
		// Typing an American Express number moves the security-code hint to
		// the front of the card, as the source documents describe.
		within(t, ctx, 10*time.Second, "type an AMEX number", chromedp.SendKeys(chromedp.CSS("#number"), "378282", in))
		within(t, ctx, 10*time.Second, "brand and hint follow the number",
			chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
				deadline := time.Now().Add(5 * time.Second)
				for {
					brand, _ := chromedp.Text(chromedp.CSS("#number-brand"), in)(ctx, tgt)
					hint, _ := chromedp.Text(chromedp.CSS("#cvc-hint"), in)(ctx, tgt)
					if strings.Contains(brand, "American Express") && strings.Contains(hint, "4 digits on the front") {
						return nil
					}
					if time.Now().After(deadline) {
						return fmt.Errorf("brand %q, hint %q", brand, hint)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}))
		steps := fillCard("246310005", "1230", "HANAKO SATO", "1234", in)
		within(t, ctx, 30*time.Second, "pay inside the iframe", steps...)
		waitVerified := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`(document.querySelector('#outcome')||{}).textContent?.includes('verified') || false`,
				chromedp.WithPollingTimeout(25*time.Second))(ctx, t)
			return err
		})
		within(t, ctx, 30*time.Second, "verified by the shop", waitVerified)
		outcome, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#outcome")))
		last4, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#last4")))
		if !strings.Contains(outcome, "Payment verified") || strings.TrimSpace(last4) != "0005" {
			t.Fatalf("outcome %q last4 %q", outcome, last4)
		}
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		if !strings.HasPrefix(loc, p.DemoURL) {
			t.Fatalf("the shopper left the shop's page: %s", loc)
		}
	})

	// The page checks numbers with the server's brand table, from its data
	// block: Discover's run of lengths, and UnionPay's numbers that need
	// not pass the Luhn check, paid like any other.
	t.Run("discover and unionpay", func(t *testing.T) {
		within(t, ctx, 30*time.Second, "type 15 digits of a Discover number and leave the field",
			chromedp.Navigate(p.mustSession(t, "new-brands-discover").URL),
			chromedp.WaitVisible(chromedp.CSS("#number")),
			chromedp.SendKeys(chromedp.CSS("#number"), "601111111111111"),
			chromedp.Click(chromedp.CSS("#expiry")),
		)
		waitText(t, ctx, "#number-brand", "Discover")
		waitText(t, ctx, "#number-error", "Discover card numbers have 16 to 19 digits.")
		unionpay := p.mustSession(t, "new-brands-unionpay")
		within(t, ctx, 30*time.Second, "pay with a UnionPay number that fails the Luhn check",
			chromedp.Navigate(unionpay.URL),
			chromedp.WaitVisible(chromedp.CSS("#number")),
			chromedp.SendKeys(chromedp.CSS("#number"), "6200000000000001"),
		)
		waitText(t, ctx, "#number-brand", "UnionPay")
		within(t, ctx, 30*time.Second, "pay", fillCard("", "1230", "TARO YAMADA", "123")...)
		// The demo shop verifies only its own orders: ask the API.
		if got := p.mustPaid(t, unionpay.ID); got.Card.Brand != "unionpay" || got.Card.Last4 != "0001" {
			t.Fatalf("the UnionPay session's payment: %+v", got)
		}
	})

	// The demo shop ships later: the checkout only authorizes, and the
	// shop captures the payment, then refunds it, through the API.
	t.Run("ship later: capture and refund", func(t *testing.T) {
		within(t, ctx, 30*time.Second, "buy, shipping later",
			chromedp.Navigate(p.DemoURL+"/"),
			chromedp.Click(chromedp.CSS("#ship-later")),
			chromedp.Click(chromedp.CSS("#buy-redirect")),
			chromedp.WaitVisible(chromedp.CSS("#number")),
		)
		within(t, ctx, 30*time.Second, "pay", fillCard("4242424242424242", "1230", "TARO YAMADA", "123")...)
		waitText(t, ctx, "#outcome", "Payment verified")
		waitText(t, ctx, "#status", "authorized")
		within(t, ctx, 30*time.Second, "ship: capture", chromedp.Click(chromedp.CSS("#capture")))
		waitText(t, ctx, "#action", "Payment captured")
		waitText(t, ctx, "#captured", "¥1,500")
		within(t, ctx, 30*time.Second, "take it back: refund", chromedp.Click(chromedp.CSS("#refund")))
		waitText(t, ctx, "#action", "Payment refunded")
		waitText(t, ctx, "#status", "refunded")
		waitText(t, ctx, "#refunded", "¥1,500")
	})

	t.Run("unregistered origin cannot frame", func(t *testing.T) {
		s := p.mustSession(t, "framed-by-stranger")
		registered, _ := url.Parse(p.DemoURL)
		stranger := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			// It even claims to be the registered shop in the iframe URL:
			// only frame-ancestors stands in the way.
			fmt.Fprintf(w, `<!doctype html><title>stranger</title><iframe id="evil" src="%s/pay/%s?embed=1&parent=%s"></iframe>`,
				p.BaseURL, s.ID, url.QueryEscape(registered.Scheme+"://"+registered.Host))
		}))
		defer stranger.Close()
		within(t, ctx, 30*time.Second, "open the stranger's page",
			chromedp.Navigate(stranger.URL),
			chromedp.WaitReady(chromedp.CSS("#evil")),
			chromedp.Sleep(2*time.Second), // let the frame's navigation finish or be blocked
		)
		child := childFrameURLs(t, ctx)
		if len(child) != 1 {
			t.Fatalf("child frames: %v", child)
		}
		if strings.HasPrefix(child[0], p.BaseURL) {
			t.Fatalf("the checkout rendered inside an unregistered origin's page: %v", child)
		}
		t.Logf("the stranger's frame shows %q", child[0])

		// The control: the same check sees the checkout framed on the registered shop.
		within(t, ctx, 30*time.Second, "open the shop's iframe",
			chromedp.Navigate(p.DemoURL+"/"),
			chromedp.Click(chromedp.CSS("#buy-iframe")),
			chromedp.WaitVisible(chromedp.CSS("#pay iframe")),
		)
		mustFrameNode(t, ctx, "#pay iframe")
		if child := childFrameURLs(t, ctx); len(child) != 1 || !strings.HasPrefix(child[0], p.BaseURL+"/pay/") {
			t.Fatalf("control: child frames on the registered shop: %v", child)
		}
	})
}

// Japan's payment methods in a real browser, on a checkout of their own
// (a shopper trying a fifth card on one device is screened, rightly): the
// choice appears once a card issued in Japan is recognised (and only
// then), the shopper picks 6 installments on the page and in the iframe,
// and the shop's verified result says so.
func TestBrowserPaysInInstallments(t *testing.T) {
	p := mustStart(t)
	ctx := mustBrowser(t)

	installmentsIn := func(t *testing.T, choose string, in ...chromedp.QueryOption) {
		t.Helper()
		within(t, ctx, 10*time.Second, "type a Visa number issued abroad", chromedp.SendKeys(chromedp.CSS("#number"), "4242424242424242", in...))
		waitText(t, ctx, "#number-brand", "Visa", in...)
		if visible := methodFieldShown(t, ctx, in...); visible {
			t.Fatal("the payment methods show for a card issued abroad")
		}
		within(t, ctx, 10*time.Second, "type a JCB number issued in Japan",
			chromedp.SetValue(chromedp.CSS("#number"), "", in...),
			chromedp.SendKeys(chromedp.CSS("#number"), "3530111333300000", in...))
		for deadline := time.Now().Add(10 * time.Second); !methodFieldShown(t, ctx, in...); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the payment methods do not show for a JCB card issued in Japan")
			}
		}
		// Announced to screen readers, and in the shopper's language.
		note, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#method-note"), in...))
		options, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#method"), in...))
		if !strings.Contains(note, "installments") || !strings.Contains(options, "6 installments") || strings.Contains(options, "36") {
			t.Fatalf("announced %q; options %q", note, options)
		}
		within(t, ctx, 30*time.Second, "choose 6 installments and pay",
			chromedp.SetValue(chromedp.CSS("#method"), choose, in...),
			chromedp.SendKeys(chromedp.CSS("#expiry"), "1230", in...),
			chromedp.SendKeys(chromedp.CSS("#name"), "TARO YAMADA", in...),
			chromedp.SendKeys(chromedp.CSS("#cvc"), "123", in...),
			chromedp.Click(chromedp.CSS("#pay-button"), in...))
		waitText(t, ctx, "#outcome", "Payment verified")
		waitText(t, ctx, "#payment-method", "installments × 6 (JCCA 61)")
		claims, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#claims")))
		if !strings.Contains(claims, `"installments": 6`) || !strings.Contains(claims, `"jcca_code": "61"`) {
			t.Fatalf("the verified claims do not carry 6 installments: %s", claims)
		}
	}
	t.Run("installments on the page", func(t *testing.T) {
		within(t, ctx, 30*time.Second, "open the shop and choose redirect",
			chromedp.Navigate(p.DemoURL+"/"),
			chromedp.Click(chromedp.CSS("#buy-redirect")),
			chromedp.WaitVisible(chromedp.CSS("#number")),
		)
		installmentsIn(t, "installments:6")
	})
	t.Run("installments in the iframe", func(t *testing.T) {
		within(t, ctx, 30*time.Second, "open the shop and choose iframe",
			chromedp.Navigate(p.DemoURL+"/"),
			chromedp.Click(chromedp.CSS("#buy-iframe")),
			chromedp.WaitVisible(chromedp.CSS("#pay iframe")),
		)
		installmentsIn(t, "installments:6", chromedp.FromNode(mustFrameNode(t, ctx, "#pay iframe")))
	})

	// In Japanese, on a session that allows only 3 or 6 installments: the
	// issuer refuses installments on this card, the page says so next to
	// the choice, and the same card paid in one payment goes through.
	t.Run("installments refused, in Japanese", func(t *testing.T) {
		var s session
		p.api(t, "POST", "/v1/sessions", map[string]any{
			"amount": 30000, "currency": "JPY", "order_id": "installments-refused", "locale": "ja",
			"success_url":     p.Shop + "/done",
			"payment_methods": map[string]any{"types": []string{"installments"}, "installment_counts": []int{3, 6}},
		}, &s)
		within(t, ctx, 30*time.Second, "open the page and type a card issued in Japan",
			chromedp.Navigate(s.URL),
			chromedp.WaitVisible(chromedp.CSS("#number")),
			chromedp.SendKeys(chromedp.CSS("#number"), "4111110000000062"),
		)
		for deadline := time.Now().Add(10 * time.Second); !methodFieldShown(t, ctx); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the payment methods do not show")
			}
		}
		options, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#method")))
		if !strings.Contains(options, "一括払い") || !strings.Contains(options, "分割払い（3回）") || !strings.Contains(options, "分割払い（6回）") ||
			strings.Contains(options, "12回") || strings.Contains(options, "リボ払い") {
			t.Fatalf("options %q; want 一括 and 3 or 6 installments only", options)
		}
		within(t, ctx, 30*time.Second, "choose 3 installments and pay",
			chromedp.SetValue(chromedp.CSS("#method"), "installments:3"),
			chromedp.SendKeys(chromedp.CSS("#expiry"), "1230"),
			chromedp.SendKeys(chromedp.CSS("#name"), "TARO YAMADA"),
			chromedp.SendKeys(chromedp.CSS("#cvc"), "123"),
			chromedp.Click(chromedp.CSS("#pay-button")))
		waitText(t, ctx, "#method-error", "カード発行会社")
		within(t, ctx, 30*time.Second, "choose a single payment and pay again",
			chromedp.SetValue(chromedp.CSS("#method"), "lump_sum"),
			chromedp.Click(chromedp.CSS("#pay-button")))
		if got := p.mustPaid(t, s.ID); got.PaymentMethod.Type != "lump_sum" || got.PaymentMethod.JCCACode != "10" {
			t.Fatalf("the session's payment: %+v", got)
		}
	})

}

// Card on file in a real browser: a session for a customer offers to
// save the card (unticked); the shopper ticks it and pays, on the hosted
// page and in the iframe, and the customer has the card saved once. With
// an American Express saved as well, later sessions list both (passing
// the accessibility check) and each is paid by its security code alone.
func TestBrowserSavesACard(t *testing.T) {
	p := mustStart(t)
	ctx := mustBrowser(t)
	axe := mustAxe(t)
	var cus struct {
		ID string `json:"id"`
	}
	p.api(t, "POST", "/v1/customers", map[string]any{"reference": "browser-1"}, &cus)
	for _, embed := range []bool{false, true} {
		var s session
		p.api(t, "POST", "/v1/sessions", map[string]any{"amount": 1500, "currency": "JPY", "order_id": "save-card",
			"locale": "en", "success_url": p.Shop + "/done", "customer": cus.ID, "save_card": "optional"}, &s)
		page := s.URL
		if embed {
			page += "?embed=1&parent=" + url.QueryEscape(p.Shop)
		}
		within(t, ctx, 30*time.Second, "open the page", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#save-card")))
		label, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`label[for="save-card"]`)))
		checked, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("save-card").checked`))
		if !strings.Contains(label, "Save this card") || checked {
			t.Fatalf("the offer to save: %q, ticked %v; want it unticked", label, checked)
		}
		// From the second time on, the card saved the first is offered:
		// this shopper types it again instead.
		useAnother := chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(document.getElementById("saved-new") || {click() {}}).click() || true`)(ctx, tgt)
			return err
		})
		steps := append([]chromedp.Action[chromedp.Void]{useAnother, chromedp.Click(chromedp.CSS("#save-card"))},
			fillCard("4242424242424242", "1230", "TARO YAMADA", "123")...)
		within(t, ctx, 30*time.Second, "tick it and pay", steps...)
		p.mustPaid(t, s.ID)
	}
	var cards struct {
		Data []struct {
			Last4 string `json:"last4"`
		} `json:"data"`
	}
	p.api(t, "GET", "/v1/customers/"+cus.ID+"/cards", nil, &cards)
	if len(cards.Data) != 1 || cards.Data[0].Last4 != "4242" {
		t.Fatalf("the customer's saved cards: %+v; want the one card, once", cards.Data)
	}

	// An American Express saved too, then each paid by its security code
	// alone: the most recently saved is chosen as the page opens.
	var s session
	p.api(t, "POST", "/v1/sessions", map[string]any{"amount": 1500, "currency": "JPY", "order_id": "save-amex",
		"locale": "en", "success_url": p.Shop + "/done", "customer": cus.ID, "save_card": "required"}, &s)
	within(t, ctx, 30*time.Second, "pay with a new American Express, saved",
		append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(s.URL), chromedp.WaitVisible(chromedp.CSS("#save-card-note")),
			chromedp.Click(chromedp.CSS("#saved-new")), chromedp.WaitVisible(chromedp.CSS("#number"))},
			fillCard("378282246310005", "1230", "HANAKO SATO", "1234")...)...)
	p.mustPaid(t, s.ID)
	for _, tc := range []struct {
		embed       bool
		last4, code string
	}{{false, "0005", "1234"}, {true, "4242", "123"}} {
		var s session
		p.api(t, "POST", "/v1/sessions", map[string]any{"amount": 1500, "currency": "JPY", "order_id": "pay-saved",
			"locale": "en", "success_url": p.Shop + "/done", "customer": cus.ID}, &s)
		page := s.URL
		if tc.embed {
			page += "?embed=1&parent=" + url.QueryEscape(p.Shop)
		}
		within(t, ctx, 30*time.Second, "open the page with the saved cards", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#saved-cards")))
		hidden, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("number-field").hidden`))
		if !hidden {
			t.Fatal("the card number is asked for with a saved card chosen")
		}
		wantAccessible(t, ctx, axe, fmt.Sprintf("saved cards listed, embed %v", tc.embed))
		rows, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#saved-cards")))
		if !strings.Contains(rows, "American Express •••• 0005") || !strings.Contains(rows, "Visa •••• 4242") || strings.Contains(rows, "4242424242424242") {
			t.Fatalf("the saved cards as listed: %q", rows)
		}
		clickCard := chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			found, err := chromedp.Evaluate[bool](`(() => { for (const r of document.querySelectorAll('input[name="card-choice"]')) {
				if (r.labels[0].textContent.includes("`+tc.last4+`")) { r.click(); return true } } return false })()`)(ctx, tgt)
			if err == nil && !found {
				err = fmt.Errorf("no saved card ending %s", tc.last4)
			}
			return err
		})
		within(t, ctx, 30*time.Second, "choose the saved card and type its code",
			clickCard, chromedp.SendKeys(chromedp.CSS("#cvc"), tc.code), chromedp.Click(chromedp.CSS("#pay-button")))
		if got := p.mustPaid(t, s.ID); got.Card.Last4 != tc.last4 {
			t.Fatalf("paid with %s; want the saved %s", got.Card.Last4, tc.last4)
		}
	}

	// The shopper removes the Visa from the page: gone from the list, and
	// from the customer's cards.
	var last session
	p.api(t, "POST", "/v1/sessions", map[string]any{"amount": 1500, "currency": "JPY", "order_id": "remove-saved",
		"locale": "en", "success_url": p.Shop + "/done", "customer": cus.ID}, &last)
	within(t, ctx, 30*time.Second, "remove the saved Visa",
		chromedp.Navigate(last.URL), chromedp.WaitVisible(chromedp.CSS("#saved-cards")),
		chromedp.Click(chromedp.CSS(`button[aria-label="Remove the Visa card ending 4242"]`)))
	waitText(t, ctx, "#pay-status", "The card was removed.")
	rows, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#saved-cards")))
	p.api(t, "GET", "/v1/customers/"+cus.ID+"/cards", nil, &cards)
	if strings.Contains(rows, "4242") || len(cards.Data) != 1 || cards.Data[0].Last4 != "0005" {
		t.Fatalf("after the removal: the page lists %q, the customer has %+v", rows, cards.Data)
	}
}

// mustPaid waits up to 15 s for the session to be paid, as the API answers
// it, and returns its payment.
func (p *process) mustPaid(tb testing.TB, sessionID string) checkout.PaymentView {
	tb.Helper()
	var got struct {
		Status  string                `json:"status"`
		Payment *checkout.PaymentView `json:"payment"`
	}
	for deadline := time.Now().Add(15 * time.Second); got.Status != "paid" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		p.api(tb, "GET", "/v1/sessions/"+sessionID, nil, &got)
	}
	if got.Status != "paid" || got.Payment == nil {
		tb.Fatalf("the session is %q with payment %+v; want paid", got.Status, got.Payment)
	}
	return *got.Payment
}

// methodFieldShown reports whether the page shows its payment methods.
func methodFieldShown(tb testing.TB, ctx context.Context, opts ...chromedp.QueryOption) bool {
	tb.Helper()
	var hidden bool
	within(tb, ctx, 10*time.Second, "read the payment methods' field",
		chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			attrs, err := chromedp.Attributes(chromedp.CSS("#method-field"), opts...)(ctx, tgt)
			_, hidden = attrs["hidden"]
			return err
		}))
	return !hidden
}

// waitText waits up to 10 s for the element's text to contain want.
func waitText(tb testing.TB, ctx context.Context, sel, want string, opts ...chromedp.QueryOption) {
	tb.Helper()
	within(tb, ctx, 15*time.Second, "wait for "+sel+" to read "+want,
		chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			deadline := time.Now().Add(10 * time.Second)
			for {
				tctx, cancel := context.WithTimeout(ctx, time.Second)
				got, _ := chromedp.Text(chromedp.CSS(sel), opts...)(tctx, tgt)
				cancel()
				if strings.Contains(got, want) {
					return nil
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("%s reads %q, want %q", sel, got, want)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}))
}

// mustFrameNode waits until the iframe's document is the hosted page with
// its form, and returns the iframe's node for FromNode queries.
func mustFrameNode(tb testing.TB, ctx context.Context, sel string) *chromedp.Node {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		nodes, err := chromedp.Run(qctx, chromedp.Nodes(chromedp.CSS(sel), chromedp.Populate(-1, true)))
		cancel()
		if err == nil && len(nodes) > 0 && nodes[0].ContentDocument != nil {
			qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err = chromedp.Do(qctx, chromedp.WaitVisible(chromedp.CSS("#number"), chromedp.FromNode(nodes[0])))
			cancel()
			if err == nil {
				return nodes[0]
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	tb.Fatalf("the checkout form did not appear in %s", sel)
	return nil
}

// childFrameURLs lists the URL of each frame of the page (blocked frames
// show Chromium's error page instead of the URL they asked for).
func childFrameURLs(tb testing.TB, ctx context.Context) []string {
	tb.Helper()
	tree, err := chromedp.Call(ctx, page.GetFrameTree, cdp.Empty{})
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, c := range tree.FrameTree.ChildFrames {
		out = append(out, c.Frame.URL)
	}
	return out
}

// After two declines on one session the page must solve the proof-of-work
// challenge: pay.js does it with crypto.subtle under the strict CSP and
// sends the form again, and the shopper is back at the shop without
// noticing more than a moment's wait.
func TestBrowserSolvesChallenge(t *testing.T) {
	p := mustStart(t, "-challenge-bits", "14")
	ctx := mustBrowser(t)
	within(t, ctx, 30*time.Second, "open the shop and choose redirect",
		chromedp.Navigate(p.DemoURL+"/"),
		chromedp.Click(chromedp.CSS("#buy-redirect")),
		chromedp.WaitVisible(chromedp.CSS("#number")),
	)
	declineOnce := func(what string) {
		clearCard(t, ctx)
		within(t, ctx, 30*time.Second, what,
			fillCard("4000000000000002", "1230", "TARO YAMADA", "123")...,
		)
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := chromedp.Run(pctx, chromedp.Poll[bool](`document.getElementById("form-error").textContent.length > 0 && !document.getElementById("pay-button").disabled`)); err != nil {
			t.Fatalf("%s: no decline shown: %v", what, err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`document.getElementById("form-error").textContent = ""; 0`)); err != nil {
			t.Fatal(err)
		}
	}
	declineOnce("first decline")
	declineOnce("second decline")
	clearCard(t, ctx)
	began := time.Now()
	within(t, ctx, 30*time.Second, "pay with a good card",
		append(fillCard("4242424242424242", "1230", "TARO YAMADA", "123"), chromedp.WaitVisible(chromedp.CSS("#outcome")))...,
	)
	outcome, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#outcome")))
	if !strings.Contains(outcome, "Payment verified") {
		t.Fatalf("outcome %q\n%s", outcome, p.Output())
	}
	if !strings.Contains(string(p.Output()), `"status":428`) {
		t.Fatalf("no challenge was asked:\n%s", p.Output())
	}
	t.Logf("challenge (14 bits) solved and paid in %v", time.Since(began))
}

// clearCard empties the card form, as a shopper retyping it would.
func clearCard(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`["number","expiry","name","cvc"].forEach(function (f) { document.getElementById(f).value = ""; }); 0`)); err != nil {
		t.Fatal(err)
	}
}

// 3-D Secure in a real browser: the issuer's challenge window appears in the
// payment page at the EMV size, the shopper types the sandbox's one-time
// code in it, and the page sends the card again and lands at the shop with
// a verified, authenticated result. Once in the full page, once in the
// shop's iframe (the window is then a frame in a frame).
func TestBrowserPaysThroughThreeDSChallenge(t *testing.T) {
	p := mustStart(t)
	ctx := mustBrowser(t)

	t.Run("redirect", func(t *testing.T) {
		within(t, ctx, 30*time.Second, "open the shop and choose redirect",
			chromedp.Navigate(p.DemoURL+"/"),
			chromedp.Click(chromedp.CSS("#buy-redirect")),
			chromedp.WaitVisible(chromedp.CSS("#number")),
		)
		within(t, ctx, 30*time.Second, "submit the challenge card", fillCard(sandbox.Card3DSChallenge, "1230", "TARO YAMADA", "123")...)
		acs := mustChallengeFrame(t, ctx)
		// The window's document fits the EMV window without scrolling.
		size, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`(function () {
			var d = document.querySelector("#threeds-window iframe").contentDocument.documentElement;
			return [d.scrollWidth, d.scrollHeight];
		})()`))
		if err != nil || len(size) != 2 || size[0] > 390 || size[1] > 400 {
			t.Errorf("the challenge page scrolls: %v %v", size, err)
		}
		// The card fields stay read-only while the window is open.
		if ro, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("number").readOnly && document.getElementById("cvc").readOnly`)); !ro {
			t.Errorf("card fields editable while the challenge is open")
		}
		answerChallenge(t, ctx, acs)
		within(t, ctx, 30*time.Second, "back at the shop", chromedp.WaitVisible(chromedp.CSS("#outcome")))
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		if !strings.HasPrefix(loc, p.DemoURL+"/done") {
			t.Fatalf("at %s", loc)
		}
		mustAuthenticatedResult(t, ctx, "3063")
	})

	t.Run("iframe", func(t *testing.T) {
		within(t, ctx, 30*time.Second, "open the shop and choose iframe",
			chromedp.Navigate(p.DemoURL+"/"),
			chromedp.Click(chromedp.CSS("#buy-iframe")),
			chromedp.WaitVisible(chromedp.CSS("#pay iframe")),
		)
		checkoutFrame := mustFrameNode(t, ctx, "#pay iframe")
		in := chromedp.FromNode(checkoutFrame)
		before, _ := chromedp.Run(ctx, chromedp.JavascriptAttribute[float64](chromedp.CSS("#pay iframe"), "clientHeight"))
		within(t, ctx, 30*time.Second, "submit the AMEX challenge card",
			fillCard(sandbox.Card3DSChallengeAmex, "1230", "HANAKO SATO", "1234", in)...)
		acs := mustChallengeFrame(t, ctx, in)
		// The shop's iframe grew to show the window (the page's resize messages).
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := chromedp.Run(pctx, chromedp.Poll[bool](fmt.Sprintf(
			`document.querySelector("#pay iframe").clientHeight > %d + 400`, int(before)))); err != nil {
			after, _ := chromedp.Run(ctx, chromedp.JavascriptAttribute[float64](chromedp.CSS("#pay iframe"), "clientHeight"))
			t.Errorf("the shop's iframe did not grow to fit the window: %v -> %v", before, after)
		}
		answerChallenge(t, ctx, acs)
		within(t, ctx, 30*time.Second, "verified by the shop", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`(document.querySelector('#outcome')||{}).textContent?.includes('verified') || false`,
				chromedp.WithPollingTimeout(25*time.Second))(ctx, t)
			return err
		}))
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		if !strings.HasPrefix(loc, p.DemoURL) {
			t.Fatalf("the shopper left the shop's page: %s", loc)
		}
		mustAuthenticatedResult(t, ctx, "0009")
	})
}

// mustChallengeFrame waits for the issuer's window in the payment page (in
// the frame in, if given), checks its size and returns its node.
func mustChallengeFrame(tb testing.TB, ctx context.Context, in ...chromedp.QueryOption) *chromedp.Node {
	tb.Helper()
	const sel = "#threeds-window iframe"
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		nodes, err := chromedp.Run(qctx, chromedp.Nodes(chromedp.CSS(sel), append(in[:len(in):len(in)], chromedp.Populate(-1, true))...))
		cancel()
		if err == nil && len(nodes) > 0 && nodes[0].ContentDocument != nil {
			qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err = chromedp.Do(qctx, chromedp.WaitVisible(chromedp.CSS("#code"), chromedp.FromNode(nodes[0])))
			cancel()
			if err == nil {
				w, err1 := chromedp.Run(ctx, chromedp.JavascriptAttribute[float64](chromedp.CSS(sel), "clientWidth", in...))
				h, err2 := chromedp.Run(ctx, chromedp.JavascriptAttribute[float64](chromedp.CSS(sel), "clientHeight", in...))
				title, _ := chromedp.Run(ctx, chromedp.JavascriptAttribute[string](chromedp.CSS(sel), "title", in...))
				if err1 != nil || err2 != nil || w != 390 || h != 400 || title == "" {
					tb.Errorf("challenge window %vx%v (want 390x400), title %q: %v %v", w, h, title, err1, err2)
				}
				return nodes[0]
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	tb.Fatalf("the challenge window did not appear")
	return nil
}

// answerChallenge types the sandbox's one-time code in the window.
func answerChallenge(tb testing.TB, ctx context.Context, acs *chromedp.Node) {
	tb.Helper()
	in := chromedp.FromNode(acs)
	within(tb, ctx, 20*time.Second, "type the one-time code",
		chromedp.SendKeys(chromedp.CSS("#code"), sandbox.ChallengeCode, in),
		chromedp.Click(chromedp.CSS("#acs-submit"), in),
	)
}

// mustAuthenticatedResult reads the shop's verified claims.
func mustAuthenticatedResult(tb testing.TB, ctx context.Context, last4 string) {
	tb.Helper()
	outcome, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#outcome")))
	claims, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#claims")))
	if err != nil {
		tb.Fatal(err)
	}
	var r verify.Result
	if err := json.Unmarshal([]byte(claims), &r); err != nil {
		tb.Fatalf("claims %q: %v", claims, err)
	}
	if !strings.Contains(outcome, "Payment verified") || r.Card.Last4 != last4 || r.ThreeDS == nil ||
		r.ThreeDS.Status != "Y" || !r.ThreeDS.Challenged || !r.ThreeDS.LiabilityShift || r.ThreeDS.ECI != "05" {
		tb.Fatalf("outcome %q, claims %s", outcome, claims)
	}
}

// The proof-of-work challenge and 3-D Secure together: a suspicious session
// solves the work, meets the issuer's challenge, and the card sent again
// with the authentication (solving the work again if asked) pays.
func TestBrowserSolvesChallengeThenThreeDS(t *testing.T) {
	p := mustStart(t, "-challenge-bits", "12")
	ctx := mustBrowser(t)
	within(t, ctx, 30*time.Second, "open the shop and choose redirect",
		chromedp.Navigate(p.DemoURL+"/"),
		chromedp.Click(chromedp.CSS("#buy-redirect")),
		chromedp.WaitVisible(chromedp.CSS("#number")),
	)
	for _, what := range []string{"first decline", "second decline"} {
		clearCard(t, ctx)
		within(t, ctx, 30*time.Second, what, fillCard("4000000000000002", "1230", "TARO YAMADA", "123")...)
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := chromedp.Run(pctx, chromedp.Poll[bool](`document.getElementById("form-error").textContent.length > 0 && !document.getElementById("pay-button").disabled`))
		cancel()
		if err != nil {
			t.Fatalf("%s: no decline shown: %v", what, err)
		}
	}
	clearCard(t, ctx)
	within(t, ctx, 30*time.Second, "submit the challenge card", fillCard(sandbox.Card3DSChallengeMastercard, "1230", "TARO YAMADA", "123")...)
	answerChallenge(t, ctx, mustChallengeFrame(t, ctx))
	within(t, ctx, 30*time.Second, "back at the shop", chromedp.WaitVisible(chromedp.CSS("#outcome")))
	out := string(p.Output())
	// Both the first submission and the one sent again with the
	// authentication had to prove work: the second carried the field
	// through the solve (else it would have met a fresh challenge).
	if n := strings.Count(out, `"status":428`); n < 2 {
		t.Fatalf("%d proofs of work asked, want 2:\n%s", n, out)
	}
	claims, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#claims")))
	var r verify.Result
	if err := json.Unmarshal([]byte(claims), &r); err != nil || r.ThreeDS == nil || r.ThreeDS.ECI != "02" || !r.ThreeDS.LiabilityShift {
		t.Fatalf("claims %s: %v", claims, err)
	}
}

// A shopper who types the card and clicks Pay (or presses Enter) before
// pay.js has loaded sends the card nowhere (issue 9): the button is
// disabled until the script attaches, and even a form submitted anyway (a
// browser or extension that ignores that) has no method, action or field
// names to carry the card. pay.js is held back by the browser's request
// interception, then released, and the page pays.
func TestBrowserClickBeforeScriptSendsNothing(t *testing.T) {
	p := mustStart(t)
	ctx := mustBrowser(t)

	type sent struct {
		method, url string
		body        bool
	}
	var mu sync.Mutex
	var requests []sent
	held := make(chan fetch.RequestID, 8)
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			mu.Lock()
			requests = append(requests, sent{ev.Request.Method, ev.Request.URL, ev.Request.HasPostData})
			mu.Unlock()
		case *fetch.EventRequestPaused:
			held <- ev.RequestID
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: p.BaseURL + "/static/pay.*.js", ResourceType: network.ResourceTypeScript},
	}}); err != nil {
		t.Fatal(err)
	}
	var ids []fetch.RequestID
	waitHeld := func() {
		t.Helper()
		select {
		case id := <-held:
			ids = append(ids, id)
		case <-time.After(20 * time.Second):
			t.Fatal("pay.js was never requested")
		}
	}
	mark := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(requests)
	}
	// cardLeft reports the requests since mark that carried anything of the
	// card or posted a body.
	cardLeft := func(from int) {
		t.Helper()
		mu.Lock()
		since := append([]sent(nil), requests[from:]...)
		mu.Unlock()
		for _, r := range since {
			if r.method != "GET" || r.body || strings.Contains(r.url, "4242") || strings.Contains(r.url, "TARO") || strings.Contains(r.url, "1230") {
				t.Errorf("the card left the page before pay.js: %+v", r)
			}
		}
	}
	typeCard := []chromedp.Action[chromedp.Void]{
		chromedp.SendKeys(chromedp.CSS("#number"), "4242424242424242"),
		chromedp.SendKeys(chromedp.CSS("#expiry"), "1230"),
		chromedp.SendKeys(chromedp.CSS("#name"), "TARO YAMADA"),
		chromedp.SendKeys(chromedp.CSS("#cvc"), "123"),
	}

	within(t, ctx, 30*time.Second, "open the shop and choose redirect",
		chromedp.Navigate(p.DemoURL+"/"),
		chromedp.Click(chromedp.CSS("#buy-redirect")),
		chromedp.WaitVisible(chromedp.CSS("#number")),
	)
	waitHeld()
	loc, _ := chromedp.Run(ctx, chromedp.Location())

	// The card typed, Pay clicked, Enter pressed, all before pay.js.
	from := mark()
	within(t, ctx, 30*time.Second, "type and submit before the script", append(typeCard,
		chromedp.Click(chromedp.CSS("#pay-button")),
		chromedp.SendKeys(chromedp.CSS("#cvc"), kb.Enter),
		chromedp.Sleep(1500*time.Millisecond),
	)...)
	cardLeft(from)
	if after, _ := chromedp.Run(ctx, chromedp.Location()); after != loc {
		t.Errorf("the page moved from %s to %s", loc, after)
	}

	// Submitted anyway: nothing of the card goes, and the shopper is on a
	// page (the payment page again), never raw JSON.
	from = mark()
	within(t, ctx, 30*time.Second, "submit the form natively anyway",
		chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			_, err := chromedp.Evaluate[any](`document.getElementById("pay-button").disabled = false; 0`)(ctx, tgt)
			return err
		}),
		chromedp.Click(chromedp.CSS("#pay-button")),
		chromedp.Sleep(1500*time.Millisecond),
	)
	cardLeft(from)
	if ct, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.contentType`)); ct != "text/html" {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("the shopper sees %s, not a page: %s", ct, body)
	}
	within(t, ctx, 20*time.Second, "the payment page again", chromedp.WaitVisible(chromedp.CSS("#number")))
	// The reloaded page asked for pay.js again, if it reloaded at all.
	select {
	case id := <-held:
		ids = append(ids, id)
	case <-time.After(2 * time.Second):
	}

	// The control: released, the script enables the button and the form
	// pays.
	for _, id := range ids {
		// The first one's document may be gone (the native submission
		// reloaded the page); only the live one matters.
		_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id})
	}
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(pctx, chromedp.Poll[bool](`!document.getElementById("pay-button").disabled`)); err != nil {
		t.Fatalf("pay.js did not enable the button once released: %v", err)
	}
	clearCard(t, ctx)
	within(t, ctx, 30*time.Second, "pay once the script runs", append(fillCard("4242424242424242", "1230", "TARO YAMADA", "123"),
		chromedp.WaitVisible(chromedp.CSS("#outcome")),
	)...)
	if outcome, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#outcome"))); !strings.Contains(outcome, "Payment verified") {
		t.Fatalf("outcome %q", outcome)
	}
}
