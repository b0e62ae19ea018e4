package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
)

// The checkout answers on 127.0.0.1 and on localhost; its base URL is
// the first. In a real browser, a shopper who opens the page through the
// other name pays on the base URL, and a merchant page that loads
// checkout.js through the other name gets a frame on the base URL whose
// result reaches it.
func TestBrowserPaysThroughAnotherHostName(t *testing.T) {
	var session string
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/embed":
			fmt.Fprintf(w, `<!doctype html><title>shop</title><div id="pay"></div>
<script src="%s/v1/checkout.js"></script>
<script>Checkout.mount("#pay", {session: %q, onComplete: function (r) { document.title = "result:" + r.status; }});</script>`,
				r.URL.Query().Get("checkout"), session)
		default:
			fmt.Fprint(w, `<!doctype html><title>shop</title><p id="back">back at the shop</p>`)
		}
	}))
	defer shop.Close()
	dir := filepath.Join(t.TempDir(), "data")
	out, err := exec.Command(binary, "merchants", "create", "--data-dir", dir, "--name", "Tea Shop", "--origin", shop.URL).Output()
	var created struct {
		Key string `json:"secret_key"`
	}
	if err != nil || json.Unmarshal(out, &created) != nil {
		t.Fatalf("merchants create: %v %s", err, out)
	}
	p := mustStartIn(t, dir, "-demo-addr", "")
	p.Merchant.APIKey, p.Shop = created.Key, shop.URL
	if !strings.HasPrefix(p.BaseURL, "http://127.0.0.1:") {
		t.Fatalf("base URL %s", p.BaseURL)
	}
	other := strings.Replace(p.BaseURL, "127.0.0.1", "localhost", 1)
	ctx := mustBrowser(t)

	t.Run("full page", func(t *testing.T) {
		s := p.mustSession(t, "other-host-page")
		within(t, ctx, 30*time.Second, "open the page through localhost",
			chromedp.Navigate(other+"/pay/"+s.ID), chromedp.WaitVisible(chromedp.CSS("#number")))
		if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != p.BaseURL+"/pay/"+s.ID {
			t.Fatalf("the page is at %s, want %s", loc, p.BaseURL+"/pay/"+s.ID)
		}
		within(t, ctx, 30*time.Second, "pay and return to the shop",
			append(fillCard(sandbox.CardVisa, "1230", "TARO YAMADA", "123"), chromedp.WaitVisible(chromedp.CSS("#back")))...)
		if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasPrefix(loc, shop.URL+"/done") {
			t.Fatalf("after paying the shopper is at %s", loc)
		}
	})

	t.Run("checkout.js from another host", func(t *testing.T) {
		session = p.mustSession(t, "other-host-embed").ID
		within(t, ctx, 30*time.Second, "open the shop's page", chromedp.Navigate(shop.URL+"/embed?checkout="+other))
		frame := mustFrameNode(t, ctx, "#pay iframe")
		src, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#pay iframe").src`))
		if !strings.HasPrefix(src, p.BaseURL+"/pay/"+session+"?embed=1") {
			t.Fatalf("the frame is %s, want the base URL %s", src, p.BaseURL)
		}
		within(t, ctx, 30*time.Second, "pay inside the frame", fillCard(sandbox.CardVisa, "1230", "HANAKO SATO", "123", chromedp.FromNode(frame))...)
		within(t, ctx, 30*time.Second, "the shop hears the result", chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`document.title === "result:paid"`, chromedp.WithPollingTimeout(25*time.Second))(ctx, tgt)
			return err
		}))
	})
}
