package web

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// Body caps. Every body is read through http.MaxBytesReader so that a client
// cannot make the server buffer without bound (OWASP API4:2023 Unrestricted
// Resource Consumption).
const (
	maxAPIBody = 16 << 10 // merchant JSON API (docs/API.md)
	maxPayBody = 4 << 10  // the card form: four short fields, an optional authentication id and payment method
)

const nonceKey = "web.csp-nonce"

// securityHeaders sets the headers every response carries, with the
// strictest policy as the default; the payment page loosens only what it
// must (form-action and frame-ancestors to the merchant's exact origins)
// through pagePolicy, before it writes.
func (s *server) securityHeaders(c *gin.Context) {
	nonce := newNonce()
	c.Set(nonceKey, nonce)
	h := c.Writer.Header()
	// OWASP CSP cheat sheet: per-response nonce, no inline script or style
	// attributes, no third-party origins, no framing unless the page says so.
	h.Set("Content-Security-Policy", contentSecurityPolicy(nonce, cspOptions{}))
	// OWASP Secure Headers: no MIME sniffing of JSON or uploads into script.
	h.Set("X-Content-Type-Options", "nosniff")
	// The path carries the session id, a capability: never send it onward.
	h.Set("Referrer-Policy", "no-referrer")
	// Payment data must not sit in browser or proxy caches (PCI DSS 3.2.1;
	// OWASP ASVS 8.2.1). Static files and the JWKS override this.
	h.Set("Cache-Control", "no-store")
	// Older browsers without frame-ancestors: no framing (clickjacking).
	h.Set("X-Frame-Options", "DENY")
	// No window.opener handle from or to other origins on the full page.
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if s.hsts {
		// PCI DSS 4.2.1: strong cryptography in transit; HSTS stops TLS stripping.
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
	c.Next()
}

// pagePolicy sets the payment page's CSP for its merchant: the result form
// may post to the merchant's origins, the embed variant may be framed by
// exactly those origins, and the page may frame the checkout's own pages
// (the 3-D Secure challenge window). It must be called before the page is
// written.
func pagePolicy(c *gin.Context, merchantOrigins []string, embed bool) {
	h := c.Writer.Header()
	ancestors := []string(nil)
	if embed {
		ancestors = merchantOrigins // none listed: stays 'none'
		// frame-ancestors governs framing; X-Frame-Options cannot list
		// origins, and COOP does not apply inside a frame.
		h.Del("X-Frame-Options")
		h.Del("Cross-Origin-Opener-Policy")
	}
	h.Set("Content-Security-Policy", contentSecurityPolicy(cspNonce(c), cspOptions{
		formAction:     merchantOrigins,
		frameAncestors: ancestors,
		// The challenge window is served by this origin (the sandbox issuer,
		// and the notification page it posts to); nothing else may be framed.
		framesSelf: true,
	}))
}

// challengePolicy is the CSP of the pages shown inside the payment page's
// challenge window: framable by the checkout's own page only. The payment
// page itself may be framed by its merchant, and frame-ancestors checks
// every ancestor (CSP Level 3, section 6.4.2), so the merchant's registered
// origins are listed too: without them the window would be blocked in the
// embed variant. Nothing else may frame it (clickjacking of the code entry).
func challengePolicy(c *gin.Context, merchantOrigins []string) {
	h := c.Writer.Header()
	// X-Frame-Options cannot say "this origin and the merchant's" (SAMEORIGIN
	// also checks the top window in some browsers); frame-ancestors does.
	h.Del("X-Frame-Options")
	h.Set("Content-Security-Policy", contentSecurityPolicy(cspNonce(c), cspOptions{
		framedBySelf:   true,
		frameAncestors: merchantOrigins,
	}))
}

// cspOptions are what a page loosens of the default policy.
type cspOptions struct {
	formAction     []string // origins a form may post to besides 'self'
	frameAncestors []string // origins that may frame the page; none and no framedBySelf: 'none'
	framedBySelf   bool     // frame-ancestors 'self'
	framesSelf     bool     // frame-src 'self'; else the default 'none'
}

// contentSecurityPolicy builds the policy. Origins are serialized origins;
// anything that does not look like one is left out, so that a stored value
// can never inject a directive.
func contentSecurityPolicy(nonce string, o cspOptions) string {
	var b strings.Builder
	b.WriteString("default-src 'none'; script-src 'nonce-")
	b.WriteString(nonce)
	b.WriteString("'; style-src 'self'; img-src 'self' data:; connect-src 'self'")
	if o.framesSelf {
		b.WriteString("; frame-src 'self'")
	}
	b.WriteString("; form-action 'self'")
	for _, origin := range o.formAction {
		if cspSourcePattern.MatchString(origin) {
			b.WriteString(" " + origin)
		}
	}
	b.WriteString("; frame-ancestors")
	n := 0
	if o.framedBySelf {
		b.WriteString(" 'self'")
		n++
	}
	for _, origin := range o.frameAncestors {
		if cspSourcePattern.MatchString(origin) {
			b.WriteString(" " + origin)
			n++
		}
	}
	if n == 0 {
		b.WriteString(" 'none'")
	}
	// base-uri: an injected <base> cannot redirect relative URLs (fetch, assets).
	// Trusted Types: the page's script uses no HTML sinks, so none are allowed
	// (OWASP DOM-based XSS prevention).
	b.WriteString("; base-uri 'none'; require-trusted-types-for 'script'; trusted-types 'none'")
	return b.String()
}

// cspSourcePattern matches a serialized origin as checkout.Origin.String
// writes it: scheme, host (or bracketed IPv6) and optional port.
var cspSourcePattern = regexp.MustCompile(`^https?://(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:[0-9]{1,5})?$`)

// newNonce returns 128 random bits, fresh for every response, so that an
// injected script cannot guess it (CSP Level 3, section 7.2). URL-safe
// base64 (allowed by the CSP grammar) needs no escaping in an attribute.
func newNonce() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func cspNonce(c *gin.Context) string {
	return c.GetString(nonceKey)
}

// cacheable replaces no-store for public, non-personal responses.
func cacheable(c *gin.Context, value string) {
	c.Header("Cache-Control", value)
}

// handlerStack is the stack a request's goroutine is grown to before its
// handler runs: more than a request through the store reaches (SQLite,
// pure Go, runs its statements on the caller's stack, some 20 KiB deep).
const handlerStack = 24 << 10

// growStack grows the request's goroutine stack to handlerStack while it is
// still shallow. net/http serves each connection on a new goroutine, whose
// stack starts small and doubled, copied frame by frame, each time a call
// into SQLite went deeper: 3.4% of checkoutd's CPU under load, against a
// copy of a few frames here (and a zeroed frame, 2 µs).
func growStack(c *gin.Context) {
	stackSink = deepFrame(len(c.Request.URL.Path))
	c.Next()
}

// stackSink keeps deepFrame's result, so that its frame is not optimized
// away.
var stackSink byte

//go:noinline
func deepFrame(i int) byte {
	var frame [handlerStack]byte
	frame[i%handlerStack] = byte(i)
	return frame[(7*i)%handlerStack]
}

// limitBody caps the request body. A declared length over the cap is refused
// before reading; an undeclared one stops at the cap (MaxBytesReader).
func limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > n {
			c.Header("Connection", "close")
			writeError(c, nil, tooLarge(n))
			c.Abort()
			return
		}
		if c.Request.Body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		}
		c.Next()
	}
}

func tooLarge(n int64) *checkout.Error {
	return &checkout.Error{Code: checkout.ETOOLARGE, Message: fmt.Sprintf("the request body is over %d KiB", n>>10), MsgID: "error.too_large"}
}

// requestLog writes one line per request: method, path without the query
// string, route, status, size and duration. Query strings and bodies are
// never logged: they may carry card data typed into the wrong place
// (PCI DSS 3.3.1, 10.2); long digit runs in the path are masked for the same
// reason.
func (s *server) requestLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	status := c.Writer.Status()
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	s.log.LogAttrs(c.Request.Context(), level, "request",
		slog.String("method", c.Request.Method),
		slog.String("path", maskDigitRuns(c.Request.URL.EscapedPath())),
		slog.String("route", c.FullPath()),
		slog.Int("status", status),
		slog.Int("bytes", max(c.Writer.Size(), 0)),
		slog.Duration("duration", time.Since(start)),
		slog.String("remote", c.ClientIP()),
	)
}

// maskDigitRuns replaces PAN-shaped digit runs, so that a card number pasted
// into a URL does not reach the logs (PCI DSS 3.4.1). Percent-encoding is
// undone first (up to three layers), so that "%20" or "%2B" between the
// digits, or digits encoded as "%34", hide nothing.
func maskDigitRuns(s string) string {
	if len(s) > 512 {
		s = s[:512] + "…"
	}
	for range 3 {
		decoded := percentDecode(s)
		if decoded == s {
			break
		}
		s = decoded
	}
	return checkout.CardNumberShaped.ReplaceAllString(s, "[digits]")
}

// percentDecode undoes every well-formed %XX and leaves the rest as it is
// (url.PathUnescape gives up on the first malformed escape).
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(hexValue(s[i+1])<<4 | hexValue(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func hexValue(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// recoverPanic turns a panic into a 500. It logs the route, the panic's type
// and the stack, never the panic's value or the request: either may hold
// card data (PCI DSS 3.3.1, 10.2).
func (s *server) recoverPanic(c *gin.Context) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if r == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
			panic(r)
		}
		s.log.Error("panic in handler",
			"route", c.FullPath(), "method", c.Request.Method,
			"panic_type", fmt.Sprintf("%T", r), "stack", string(debug.Stack()))
		if !c.Writer.Written() {
			c.Header("Cache-Control", "no-store")
			writeJSON(c, http.StatusInternalServerError, errorBody{Error: errorJSON{Code: checkout.EINTERNAL, Message: "internal error"}})
		}
		c.Abort()
	}()
	c.Next()
}
