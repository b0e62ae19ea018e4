// Package web is the HTTP face of the checkout: the Gin router, the security
// middleware, the merchant JSON API, the shopper's payment page and its
// submission, the embed script, the public keys, templates, static files and
// message catalogs. Handlers bind, validate, call checkout.Service and render;
// every payment rule lives in package checkout.
package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

// Keys is what the web layer needs of the vault's keys. *vault.Vault
// implements it.
type Keys interface {
	// JWKSJSON returns the public result-signing keys as a JWK Set
	// document. Its errors are answered as 500 internal and logged.
	JWKSJSON() ([]byte, error)
	// MAC returns a keyed MAC of msg for purpose (domain separation), used
	// here for the CSRF token bound to a session id.
	MAC(purpose string, msg []byte) []byte
}

// Options configure the handler returned by New.
type Options struct {
	Service *checkout.Service // the checkout domain the handlers call
	Keys    Keys              // CSRF MACs and the JWKS
	// Risk serves the merchant API of fraud screening: settings, lists and
	// their audit log. Nil leaves those routes out (404).
	Risk *risk.Admin
	// Webhooks and Chargebacks serve webhook endpoints and their delivery
	// log, and chargebacks with the guarantee. Nil leaves those routes out.
	Webhooks    *checkout.Webhooks
	Chargebacks *checkout.Chargebacks
	// ProcessorKeyHash is the SHA-256 of the card processor's secret key,
	// which authenticates its chargeback notifications
	// (POST /v1/processor/payments/:id/chargebacks). Nil leaves that route
	// out: merchants never record their own chargebacks, since the
	// guarantee pays them for those.
	ProcessorKeyHash []byte
	// BaseURL is the checkout's public base URL, e.g. http://localhost:8080.
	// It builds session URLs and is the only Origin accepted on the card
	// submission.
	BaseURL string
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// (cmd/checkoutd validates them); empty trusts none.
	TrustedProxies []netip.Prefix
	// HSTS sends Strict-Transport-Security: set it when served over TLS.
	HSTS bool
	// Ready reports whether dependencies answer, for /readyz; nil means ready.
	Ready func(ctx context.Context) error
	// Log receives request logs and failures; nil means slog.Default().
	Log *slog.Logger
}

// server holds what the handlers share. It is immutable after New.
type server struct {
	svc         *checkout.Service
	keys        Keys
	risk        *risk.Admin
	webhooks    *checkout.Webhooks
	chargebacks *checkout.Chargebacks
	processor   []byte // SHA-256 of the processor's key; nil: no processor route
	baseURL     string // without a trailing slash
	selfOrigin  string // scheme://host[:port] of baseURL, as browsers send it in Origin
	proxies     []netip.Prefix
	hsts        bool
	ready       func(ctx context.Context) error
	log         *slog.Logger
	i18n        *catalog
	assets      *assetSet
	pages       pageSet
}

// New returns the checkout's HTTP handler. It panics when opts lack a
// Service or Keys or BaseURL is not an absolute http(s) URL: those are
// wiring mistakes that cmd/checkoutd validates before calling New.
func New(opts Options) http.Handler {
	s, err := newServer(opts)
	if err != nil {
		panic("web: " + err.Error())
	}
	return s.routes()
}

func newServer(opts Options) (*server, error) {
	if opts.Service == nil || opts.Keys == nil {
		return nil, errString("Options.Service and Options.Keys are required")
	}
	base, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.User != nil {
		return nil, errString("Options.BaseURL must be an absolute http(s) URL such as http://localhost:8080")
	}
	s := &server{
		svc:         opts.Service,
		keys:        opts.Keys,
		risk:        opts.Risk,
		webhooks:    opts.Webhooks,
		chargebacks: opts.Chargebacks,
		processor:   opts.ProcessorKeyHash,
		baseURL:     base.String(),
		selfOrigin:  originOf(base),
		proxies:     opts.TrustedProxies,
		hsts:        opts.HSTS,
		ready:       opts.Ready,
		log:         opts.Log,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.i18n, err = newCatalog(); err != nil {
		return nil, err
	}
	if s.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if err := s.assets.pinEmbedOrigin(s.selfOrigin); err != nil {
		return nil, err
	}
	if s.pages, err = parsePages(s.assets, s.i18n); err != nil {
		return nil, err
	}
	return s, nil
}

// originOf serializes a URL's origin as browsers send it in the Origin
// header: lower case, default port left out.
func originOf(u *url.URL) string {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		return u.Scheme + "://" + net.JoinHostPort(host, port)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return u.Scheme + "://" + host
}

type errString string

func (e errString) Error() string { return string(e) }

// routes builds the Gin engine. Middleware order: the stack is grown first
// (growStack), the request log sees the final status, recovery turns a
// panic into a 500 inside it, and the security headers are set before any
// handler writes.
func (s *server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New() // no gin.Logger: it would log query strings
	s.trustProxies(r)
	r.HandleMethodNotAllowed = false
	r.Use(growStack, s.requestLog, s.recoverPanic, s.securityHeaders, limitBody(maxAPIBody))

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/.well-known/jwks.json", s.jwks)
	r.GET("/v1/checkout.js", s.embedScript)
	r.GET("/static/:file", s.static)

	api := r.Group("/v1", s.requireMerchant)
	api.POST("/sessions", s.createSession)
	api.GET("/sessions/:id", s.getSession)
	api.GET("/sessions/:id/attempts", s.getAttempts)
	api.POST("/payments", s.createCharge)
	api.GET("/payments/:id", s.getPayment)
	api.POST("/payments/:id/capture", s.capturePayment)
	api.POST("/payments/:id/void", s.voidPayment)
	api.POST("/payments/:id/refunds", s.createRefund)
	api.GET("/payments/:id/refunds", s.listRefunds)
	api.GET("/payment_methods", s.getPaymentMethods)
	api.PUT("/payment_methods", s.putPaymentMethods)
	api.POST("/customers", s.createCustomer)
	api.GET("/customers", s.listCustomers)
	api.GET("/customers/:id", s.getCustomer)
	api.DELETE("/customers/:id", s.deleteCustomer)
	api.GET("/customers/:id/cards", s.listSavedCards)
	api.DELETE("/customers/:id/cards/:card", s.deleteSavedCard)
	if s.webhooks != nil {
		api.POST("/webhooks", s.createWebhook)
		api.GET("/webhooks", s.listWebhooks)
		api.DELETE("/webhooks/:id", s.deleteWebhook)
		api.GET("/webhooks/deliveries", s.listDeliveries)
	}
	if s.chargebacks != nil {
		api.GET("/chargebacks", s.listChargebacks)
		api.GET("/chargebacks/:id", s.getChargeback)
		api.GET("/guarantee", s.getGuarantee)
		if s.processor != nil {
			processor := r.Group("/v1/processor", s.requireProcessor)
			processor.POST("/payments/:id/chargebacks", s.recordChargeback)
			processor.POST("/cards/:token/updates", s.updateCard)
		}
	}
	if s.risk != nil {
		api.GET("/risk/settings", s.getRiskSettings)
		api.PUT("/risk/settings", s.putRiskSettings)
		api.GET("/risk/lists", s.getRiskLists)
		api.POST("/risk/lists", s.postRiskList)
		api.DELETE("/risk/lists/:kind/*value", s.deleteRiskList)
		api.GET("/risk/audit", s.getRiskAudit)
	}

	r.GET("/pay/:id", s.onBaseHost, s.payPage)
	r.POST("/pay/:id", s.paySubmit) // caps its body at maxPayBody itself, to answer in the shopper's language
	r.POST("/pay/:id/result", s.payResultAgain)
	r.POST("/pay/:id/saved_cards/:card/remove", s.removeSavedCard)
	if s.svc.Authenticator != nil {
		// 3-D Secure: the requestor's notification URL, and the sandbox
		// issuer's challenge window. A real issuer's ACS is on its own
		// origin; the sandbox's is served here (threeds.go).
		r.POST("/pay/:id/3ds/complete", s.threeDSComplete)
		r.GET("/sandbox/acs/:id", s.onBaseHost, s.acsPage)
		r.POST("/sandbox/acs/:id", s.acsAnswer)
	}

	r.NoRoute(func(c *gin.Context) {
		if isNavigation(c.Request) {
			// A shopper who followed a broken link reads a page in their language.
			tr := s.i18n.translator(s.i18n.lang("", c.GetHeader("Accept-Language")))
			s.messagePage(c, tr, http.StatusNotFound, "page.not_found.title", "page.not_found.body", nil)
			return
		}
		writeError(c, s.log, &checkout.Error{Code: checkout.ENOTFOUND, Message: "no such resource"})
	})
	return r
}

// trustProxies decides the client address every handler and the request
// log use (gin's ClientIP; clientIP in pay.go). It is logged and screened
// (velocity per IP, IP blocklists), so only the configured proxies may name
// it: from those peers, gin takes the right-most X-Forwarded-For entry that
// is not itself a trusted proxy; from any other peer the header is ignored
// and the address is the socket's peer, so a header anyone can send never
// lets a card tester choose its own address. X-Real-IP is not read.
func (s *server) trustProxies(r *gin.Engine) {
	r.ForwardedByClientIP = true
	r.RemoteIPHeaders = []string{"X-Forwarded-For"}
	var cidrs []string
	for _, p := range s.proxies {
		cidrs = append(cidrs, p.String())
	}
	if err := r.SetTrustedProxies(cidrs); err != nil {
		// cmd/checkoutd validated them: a wiring mistake.
		panic("web: trusted proxies: " + err.Error())
	}
}

// onBaseHost sends a shopper who opened a page through another host name
// of this server (127.0.0.1 for localhost, an instance's own address) to
// the same page on the base URL: a page served elsewhere would be refused
// on submit, since its Origin is not the base URL's, and the shopper would
// read "this page is out of date" instead of paying.
func (s *server) onBaseHost(c *gin.Context) {
	base, _ := url.Parse(s.baseURL)
	if sameHost(c.Request.Host, base) {
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusPermanentRedirect, s.baseURL+c.Request.URL.RequestURI())
	c.Abort()
}

// sameHost compares a request's Host with the base URL's host, without the
// scheme's default port and without case.
func sameHost(requestHost string, base *url.URL) bool {
	u := &url.URL{Scheme: base.Scheme, Host: requestHost}
	return originOf(u) == originOf(base)
}

// now is the Service's clock, so that statuses agree with the domain's.
func (s *server) now() time.Time {
	if s.svc.Now != nil {
		return s.svc.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *server) healthz(c *gin.Context) {
	writeJSON(c, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz asks the dependencies with a 2 s deadline. The failure's detail
// goes to the log only: a probe endpoint is public.
func (s *server) readyz(c *gin.Context) {
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			s.log.Warn("not ready", "err", err)
			writeJSON(c, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
	}
	writeJSON(c, http.StatusOK, map[string]string{"status": "ok"})
}

// jwks serves the public result-signing keys. They are public by design and
// may be cached briefly; a new key is published before it signs, so a
// minute of cache never rejects a fresh token.
func (s *server) jwks(c *gin.Context) {
	doc, err := s.keys.JWKSJSON()
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=60")
	c.Data(http.StatusOK, "application/json", doc)
}
