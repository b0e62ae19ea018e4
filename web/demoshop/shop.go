// Package demoshop is a small demo merchant shop. It plays the merchant's
// server the way a merchant's own code would: it creates checkout sessions
// through the public JSON API with the merchant's secret key, and it verifies
// the signed result against the checkout's JWKS with package checkout/verify.
// It uses nothing else of this repository, so it reads as an integration
// example.
//
// checkoutd serves it on a second port, an origin different from the
// checkout's, so that the iframe embed, postMessage and CSP frame-ancestors
// behave as they do for a real merchant. The browser test drives it.
//
// It is built on net/http's ServeMux rather than Gin (the product's router):
// merchants copy from a demo, and the standard library is the one router
// every Go merchant already has.
package demoshop

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

// Options configures the demo shop. Every string field is required.
type Options struct {
	// CheckoutURL is the checkout's base URL as both the shopper's browser
	// and this server reach it, e.g. http://localhost:8080. It is also the
	// result's expected issuer.
	CheckoutURL string
	// MerchantID is the demo merchant's id (mer_...), the result's expected
	// audience.
	MerchantID string
	// APIKey is the demo merchant's secret key (sk_...).
	APIKey string
	// ShopURL is this shop's own base URL, e.g. http://localhost:8081. It
	// must be one of the merchant's registered origins, or the checkout
	// refuses the return URLs and the iframe embed.
	ShopURL string
	// HTTPClient calls the checkout's API and JWKS; nil means a client with
	// a 10 second timeout.
	HTTPClient *http.Client
	// Log receives the shop's logs; nil discards them.
	Log *slog.Logger
}

// product is the one thing the shop sells.
type product struct {
	Name     string
	Amount   int64  // minor units of Currency (JPY has none)
	Currency string // ISO 4217
}

// greenTea is the shop's catalogue.
var greenTea = product{Name: "Green tea", Amount: 1500, Currency: "JPY"}

// Price is the product's price for display, e.g. "¥1,500".
func (p product) Price() string { return formatAmount(p.Amount, p.Currency) }

// shop holds the state behind the handler New returns.
type shop struct {
	checkoutURL    string // without a trailing slash
	checkoutOrigin string // scheme://host[:port], for the CSP
	merchantID     string
	apiKey         string
	shopURL        string // without a trailing slash
	client         *http.Client
	log            *slog.Logger
	verifier       *verify.Verifier
	csp            string
	pages          pages

	// orders the shop created: a result is accepted only for one of them,
	// with the amount and currency the shop asked for.
	orders *memo[product]
	// seen holds the payment id (sub) of every result accepted, with its
	// order: no payment is acted on twice, and the shop captures or
	// refunds only payments it accepted.
	seen *memo[string]
}

// New returns the demo shop's HTTP handler. It fails if an option is missing
// or malformed.
func New(opts Options) (http.Handler, error) {
	s, err := newShop(opts)
	if err != nil {
		return nil, err
	}
	return s.routes(), nil
}

func newShop(opts Options) (*shop, error) {
	checkoutURL, checkoutOrigin, err := baseURL("CheckoutURL", opts.CheckoutURL)
	if err != nil {
		return nil, err
	}
	shopURL, _, err := baseURL("ShopURL", opts.ShopURL)
	if err != nil {
		return nil, err
	}
	if opts.MerchantID == "" {
		return nil, errors.New("demoshop: MerchantID is required")
	}
	// No default key: a shop that calls the API unauthenticated only
	// produces confusing 401s.
	if opts.APIKey == "" {
		return nil, errors.New("demoshop: APIKey is required")
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v, err := verify.New(verify.Options{
		JWKSURL:    checkoutURL + "/.well-known/jwks.json",
		Issuer:     checkoutURL,
		Audience:   opts.MerchantID,
		HTTPClient: client,
	})
	if err != nil {
		return nil, fmt.Errorf("demoshop: result verifier: %w", err)
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &shop{
		checkoutURL:    checkoutURL,
		checkoutOrigin: checkoutOrigin,
		merchantID:     opts.MerchantID,
		apiKey:         opts.APIKey,
		shopURL:        shopURL,
		client:         client,
		log:            log,
		verifier:       v,
		csp:            contentSecurityPolicy(checkoutOrigin),
		pages:          p,
		orders:         newMemo[product](),
		seen:           newMemo[string](),
	}, nil
}

// baseURL checks that raw is an absolute http(s) URL with nothing after the
// path, and returns it without a trailing slash, and its origin.
func baseURL(name, raw string) (base, origin string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("demoshop: %s: %w", name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("demoshop: %s must be an absolute http(s) base URL like http://localhost:8080, got %q", name, raw)
	}
	return strings.TrimSuffix(u.String(), "/"), u.Scheme + "://" + u.Host, nil
}

// routes is the shop's whole URL space.
func (s *shop) routes() http.Handler {
	mux := http.NewServeMux()
	// A page on another site must not make this shop spend its API key or
	// its replay set: the buy and verify calls are refused unless they come
	// from the shop's own pages (Sec-Fetch-Site / Origin, Go's
	// CrossOriginProtection). /done is left open on purpose: the checkout
	// posts the result to it from its own origin, and the signed token is
	// what authenticates that request.
	sameOrigin := http.NewCrossOriginProtection()
	mux.HandleFunc("GET /{$}", s.index)
	mux.Handle("POST /buy/redirect", sameOrigin.Handler(http.HandlerFunc(s.buyRedirect)))
	mux.Handle("POST /buy/iframe", sameOrigin.Handler(http.HandlerFunc(s.buyIframe)))
	mux.HandleFunc("GET /done", s.done)
	mux.HandleFunc("POST /done", s.done)
	mux.Handle("POST /verify", sameOrigin.Handler(http.HandlerFunc(s.verifyJSON)))
	mux.Handle("POST /orders/capture", sameOrigin.Handler(http.HandlerFunc(s.capture)))
	mux.Handle("POST /orders/refund", sameOrigin.Handler(http.HandlerFunc(s.refund)))
	mux.HandleFunc("GET /static/shop.js", serveStatic("shop.js"))
	mux.HandleFunc("GET /static/shop.css", serveStatic("shop.css"))
	return s.securityHeaders(mux)
}

// contentSecurityPolicy allows scripts only from this shop and the checkout
// (checkout.js), frames only from the checkout, and nothing inline: the shop
// is an example of a CSP-clean merchant page. form-action lists the
// checkout because browsers apply it to the redirect that follows the buy
// form's POST.
func contentSecurityPolicy(checkoutOrigin string) string {
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self' " + checkoutOrigin,
		"frame-src " + checkoutOrigin,
		"connect-src 'self'",
		"style-src 'self'",
		"img-src 'self'",
		"form-action 'self' " + checkoutOrigin,
		"base-uri 'none'",
		"frame-ancestors 'none'", // nobody needs to frame the shop: no clickjacking
	}, "; ")
}

// securityHeaders sets the headers every response carries.
func (s *shop) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", s.csp)
		h.Set("X-Content-Type-Options", "nosniff")
		// Order and payment ids stay out of other sites' logs.
		h.Set("Referrer-Policy", "no-referrer")
		// Pages show payment results: no cache, shared or private, keeps them.
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
