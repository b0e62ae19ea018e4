package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// axeVersion is the axe-core that .ci/deps.sh installs from npm.
const axeVersion = "4.11.0"

// mustAxe reads axe-core's script (AXE_JS, default the copy .ci/deps.sh
// installs). A missing copy fails the test: the README's test command
// installs it.
func mustAxe(tb testing.TB) string {
	tb.Helper()
	path := os.Getenv("AXE_JS")
	if path == "" {
		home, _ := os.UserCacheDir()
		path = filepath.Join(home, "hostedcheckout", "axe-core-"+axeVersion, "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("axe-core not found at %s (run `make deps`): %v", path, err)
	}
	return string(b)
}

// axeViolation is one rule axe-core found broken, with the elements at fault.
type axeViolation struct {
	ID    string `json:"id"`
	Help  string `json:"help"`
	Nodes []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// wantAccessible runs axe-core's WCAG 2.1 A and AA rules on the page as it
// is now, and fails the test with every violation. The script goes in
// through the DevTools protocol, which the page's CSP does not govern; the
// page's own scripts stay under it.
func wantAccessible(t *testing.T, ctx context.Context, axe, what string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](axe+";true")); err != nil {
		t.Fatalf("%s: load axe-core: %v", what, err)
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "tag",
		values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}).then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: axe.run: %v", what, err)
	}
	var violations []axeViolation
	if err := json.Unmarshal([]byte(out), &violations); err != nil {
		t.Fatalf("%s: axe's answer: %v: %s", what, err, out)
	}
	for _, v := range violations {
		var targets []string
		for _, n := range v.Nodes {
			targets = append(targets, fmt.Sprint(n.Target...))
		}
		t.Errorf("%s: %s (%s) at %s", what, v.ID, v.Help, strings.Join(targets, ", "))
	}
}

// The shopper's page passes axe-core's WCAG 2.1 AA rules in both
// languages, full page and iframe, as it opens (with the offer to save the
// card, or the notice that it will be), with the payment methods of a card
// issued in Japan shown, and with every field's error shown;
// and the check itself finds a field without a label.
func TestBrowserPageIsAccessible(t *testing.T) {
	p := mustStart(t)
	ctx := mustBrowser(t)
	axe := mustAxe(t)
	var cus struct {
		ID string `json:"id"`
	}
	p.api(t, "POST", "/v1/customers", map[string]any{}, &cus)
	for _, locale := range []string{"en", "ja"} {
		for _, embed := range []bool{false, true} {
			// The full page offers to save the card, the iframe says it will.
			save := map[bool]string{false: "optional", true: "required"}[embed]
			var s session
			p.api(t, "POST", "/v1/sessions", map[string]any{"amount": 30000, "currency": "JPY", "order_id": "a11y-" + locale,
				"locale": locale, "success_url": p.Shop + "/done", "customer": cus.ID, "save_card": save}, &s)
			page := s.URL
			if embed {
				page += "?embed=1&parent=" + url.QueryEscape(p.Shop)
			}
			what := fmt.Sprintf("%s, embed %v", locale, embed)
			within(t, ctx, 30*time.Second, "open the page", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#number")))
			wantAccessible(t, ctx, axe, what+", as it opens")
			within(t, ctx, 30*time.Second, "type a card issued in Japan and pay with nothing else",
				chromedp.SendKeys(chromedp.CSS("#number"), "3530111333300000"),
				chromedp.WaitVisible(chromedp.CSS("#method")),
				chromedp.Click(chromedp.CSS("#pay-button")),
				chromedp.WaitVisible(chromedp.CSS("#expiry-error")))
			wantAccessible(t, ctx, axe, what+", payment methods and errors shown")
		}
	}

	// The control: axe finds what it is run for.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("pay-form").appendChild(document.createElement("input")) && true`)); err != nil {
		t.Fatal(err)
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "rule", values: ["label"]}}).then(r => JSON.stringify(r.violations.map(v => v.id)))`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.Contains(out, "label") {
		t.Fatalf("axe did not find an input without a label: %s, %v", out, err)
	}
}
