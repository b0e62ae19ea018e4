package checkout

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Origin is a web origin (scheme, host, port) a merchant registered: its pages
// there may embed the checkout, and its return URLs must point there.
type Origin struct {
	Scheme string // "https", or "http" for loopback hosts only
	Host   string // lower case; IPv6 without brackets
	Port   int    // explicit or the scheme's default
}

// String is the origin as browsers serialise it ("https://shop.example",
// "http://127.0.0.1:8081"): the form CSP frame-ancestors and postMessage use.
func (o Origin) String() string {
	host := o.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if o.Port == defaultPort(o.Scheme) {
		return o.Scheme + "://" + host
	}
	return o.Scheme + "://" + host + ":" + strconv.Itoa(o.Port)
}

func defaultPort(scheme string) int {
	if scheme == "http" {
		return 80
	}
	return 443
}

// isLoopback reports whether host names this machine, where plain http is
// acceptable for development.
func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseOrigin reads an origin a merchant registers: scheme, host and optional
// port, nothing else (no path, query, user info or wildcard).
func ParseOrigin(raw string) (Origin, error) {
	bad := func(msg string) (Origin, error) {
		return Origin{}, &Error{Code: EINVALID, Field: "origin", Message: msg}
	}
	if raw != strings.TrimSpace(raw) || strings.ContainsAny(raw, "\\*") || !printable(raw) {
		return bad("an origin is scheme://host[:port], without spaces, backslashes or wildcards")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return bad("an origin is scheme://host[:port] with nothing after it")
	}
	return originOf(u, "origin")
}

// originOf checks and normalises the scheme, host and port of a parsed URL.
func originOf(u *url.URL, field string) (Origin, error) {
	bad := func(msg string) (Origin, error) {
		return Origin{}, &Error{Code: EINVALID, Field: field, Message: msg}
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if host == "" || strings.ContainsAny(host, "%@\\/ ") {
		return bad(field + " must have a plain host name")
	}
	switch {
	case scheme == "https":
	case scheme == "http" && isLoopback(host):
	case scheme == "http":
		return bad(field + " must use https (plain http only on localhost)")
	default:
		return bad(field + " must be an https URL")
	}
	port := defaultPort(scheme)
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
			return bad(field + " has an invalid port")
		}
		port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return bad(field + " has an invalid port")
	}
	return Origin{Scheme: scheme, Host: host, Port: port}, nil
}

// CheckReturnURL parses a success or cancel URL and accepts it only if it is
// an absolute URL on one of the merchant's origins. The raw text is inspected
// before parsing, because browsers and url.Parse disagree about backslashes,
// control characters and scheme-relative forms ("//evil", "/\evil"), and
// such disagreements are how open redirects get through (OWASP Unvalidated
// Redirects and Forwards).
func CheckReturnURL(field, raw string, origins []Origin) (*url.URL, error) {
	bad := func(msg string) (*url.URL, error) {
		return nil, &Error{Code: EINVALID, Field: field, Message: msg}
	}
	if raw == "" {
		return bad(field + " is required")
	}
	if len(raw) > 2048 {
		return bad(field + " must be at most 2048 characters")
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f || r == '\\' || r > 0x7e {
			return bad(field + " must be a plain absolute URL: no spaces, control characters, backslashes or non-ASCII characters (percent-encode them)")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad(field + " is not a valid URL")
	}
	if !u.IsAbs() || u.Opaque != "" || !strings.HasPrefix(strings.ToLower(raw), strings.ToLower(u.Scheme)+"://") {
		return bad(field + " must be an absolute https URL such as https://shop.example/done")
	}
	if u.User != nil {
		return bad(field + " must not contain user info (an @ before the host)")
	}
	// The authority must be exactly host[:port]: anything percent-encoded
	// there is a trick, not a host.
	authority := raw[len(u.Scheme)+3:]
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if strings.ContainsAny(authority, "%@") {
		return bad(field + " must have a plain host name")
	}
	o, err := originOf(u, field)
	if err != nil {
		return nil, err
	}
	for _, allowed := range origins {
		if o == allowed {
			u.Scheme, u.Host = o.Scheme, strings.TrimPrefix(o.String(), o.Scheme+"://")
			return u, nil
		}
	}
	return bad(field + " must be on one of your registered origins")
}
