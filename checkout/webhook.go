package checkout

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// WebhookEventTypes are the event types an endpoint may subscribe to, in
// the order the API lists them.
var WebhookEventTypes = []string{
	EventPaymentAuthorized,
	EventReviewRequired,
	EventPaymentCaptured,
	EventPaymentVoided,
	EventPaymentExpired,
	EventRefundSucceeded,
	EventRefundFailed,
	EventChargebackCreated,
	EventCardUpdated,
}

// Limits of webhook endpoints.
const (
	MaxWebhookEndpoints = 16   // per merchant: each one multiplies every event's deliveries
	maxWebhookURL       = 2048 // as return URLs
)

// WebhookEndpoint is a URL of the merchant's that receives signed events.
// It holds no secret: the signing secret is derived from the id (see
// WebhookSecret), so nothing an attacker could read from the store signs.
type WebhookEndpoint struct {
	ID         string // "we_..."
	MerchantID string
	URL        string
	Events     []string // subscribed types, in WebhookEventTypes order
	CreatedAt  time.Time
}

// Delivery states.
const (
	DeliveryPending   = "pending"   // waiting for its next attempt
	DeliverySucceeded = "succeeded" // the endpoint answered 2xx
	DeliveryFailed    = "failed"    // gave up after the last attempt
	DeliveryCanceled  = "canceled"  // the endpoint was deleted first
)

// WebhookEvent is an event as stored for delivery: Payload is the exact
// JSON body every endpoint receives, {id, type, created, data}, fixed when
// the event is recorded so that every retry signs the same bytes.
type WebhookEvent struct {
	ID         string
	Type       string
	MerchantID string
	Payload    []byte
	CreatedAt  time.Time
}

// Delivery is one event on its way to one endpoint, with its attempts: the
// delivery log merchants read. It never holds the body the endpoint
// answered, only its status code and our error text.
type Delivery struct {
	ID            string // "whd_..."
	EventID       string
	EventType     string
	EndpointID    string
	URL           string
	Status        string // one of the Delivery* states
	Attempts      []DeliveryAttempt
	NextAttemptAt time.Time // zero unless pending
	CreatedAt     time.Time
	CompletedAt   time.Time // when it succeeded, failed or was canceled
}

// DeliveryAttempt is one POST of a delivery.
type DeliveryAttempt struct {
	N          int // 1 for the first
	At         time.Time
	StatusCode int           // 0 when no answer came
	Latency    time.Duration // until the status line, or until the failure
	Error      string        // our description of a failure, at most MaxAttemptError bytes; "" on 2xx
}

// MaxAttemptError caps the error text kept per attempt.
const MaxAttemptError = 200

// WebhookJob is a delivery claimed for sending: everything the dispatcher
// needs, under a lease that keeps other instances off it until LeaseUntil.
type WebhookJob struct {
	DeliveryID string
	LeaseToken string // proves the claim when the outcome is recorded
	EventID    string
	EventType  string
	MerchantID string
	EndpointID string
	URL        string
	Payload    []byte
	Attempts   int // made so far; this one is Attempts+1
}

// WebhookOutcome is the result of one attempt, for the store to log and to
// move the delivery on.
type WebhookOutcome struct {
	// Attempt is what happened. Its N is the dispatcher's count; the store
	// numbers its log itself, so that the attempts of a dispatcher whose
	// lease ran out and of its successor are both kept, in order.
	Attempt DeliveryAttempt
	// Status is DeliverySucceeded, DeliveryFailed (no attempts left) or
	// DeliveryPending (retry at NextAttemptAt).
	Status        string
	NextAttemptAt time.Time
}

// DeliveryFilter narrows the delivery log.
type DeliveryFilter struct {
	EventID    string // one event's deliveries
	EventType  string // one type's
	EndpointID string // one endpoint's
	Limit      int    // newest first; 1 to 100
}

// WebhookStore keeps endpoints, the outbox of events and the delivery log.
type WebhookStore interface {
	// CreateWebhookEndpoint stores e unless its merchant already has max
	// live endpoints (ECONFLICT).
	CreateWebhookEndpoint(ctx context.Context, e WebhookEndpoint, max int) error
	// WebhookEndpoints lists a merchant's live endpoints, oldest first.
	WebhookEndpoints(ctx context.Context, merchantID string) ([]WebhookEndpoint, error)
	// DeleteWebhookEndpoint removes one of the merchant's endpoints and
	// cancels its pending deliveries; ENOTFOUND when the merchant has no
	// such live endpoint.
	DeleteWebhookEndpoint(ctx context.Context, merchantID, id string, now time.Time) error
	// EnqueueWebhookEvent stores the event and one pending delivery, due
	// at once, per live endpoint of its merchant subscribed to its type, in
	// one transaction. An event id already stored is not enqueued again
	// (deliveries 0, no error), so a retried Notify sends nothing twice.
	EnqueueWebhookEvent(ctx context.Context, e WebhookEvent) (deliveries int, err error)
	// WebhookDeliveries reads the merchant's delivery log, newest first.
	WebhookDeliveries(ctx context.Context, merchantID string, f DeliveryFilter) ([]Delivery, error)
}

// WebhookKeys derives webhook signing secrets. vault.Vault implements it.
type WebhookKeys interface {
	// MAC returns HMAC-SHA256 of msg under a key derived for purpose from
	// the vault's stored key: the same on every instance.
	MAC(purpose string, msg []byte) []byte
}

// WebhookSecret is the signing secret of an endpoint: "whsec_" and the
// base64url of MAC("webhook-secret", merchant id NUL endpoint id). It is
// derived, not stored: the store holds nothing that signs (PCI DSS 3.6:
// keys are protected by the key hierarchy; here by the KEK through the
// vault's stored MAC key), every instance derives the same value, and a
// database dump alone cannot forge webhooks. A new endpoint id is a new
// secret, which is how a merchant rotates one.
func WebhookSecret(keys WebhookKeys, merchantID, endpointID string) string {
	mac := keys.MAC("webhook-secret", []byte(merchantID+"\x00"+endpointID))
	return "whsec_" + base64.RawURLEncoding.EncodeToString(mac)
}

// Webhooks manages merchants' webhook endpoints and records events for
// delivery. The Service and Chargebacks store their events in the
// transaction of the change they describe, and tell Webhooks (the
// Notifier) afterwards, which wakes the dispatcher. Delivery itself is
// checkout/webhook's Dispatcher.
type Webhooks struct {
	Store WebhookStore
	Keys  WebhookKeys
	// AllowLoopback admits endpoints on this machine (localhost, 127.0.0.1,
	// ::1), over plain http too, for development and tests. Off in
	// production: a merchant's URL must never reach our own services.
	AllowLoopback bool
	// Enqueued, when set, is called after an event was stored with at
	// least one delivery, to wake the local dispatcher (others poll).
	Enqueued func()
	Now      func() time.Time
}

var _ Notifier = (*Webhooks)(nil)

func (w *Webhooks) now() time.Time {
	if w.Now != nil {
		return w.Now().UTC()
	}
	return time.Now().UTC()
}

// WebhookRequest is what a merchant sends to register an endpoint.
type WebhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// CreateEndpoint validates and stores an endpoint and returns it with its
// signing secret, which the merchant sees this once.
func (w *Webhooks) CreateEndpoint(ctx context.Context, m Merchant, req WebhookRequest) (WebhookEndpoint, string, error) {
	u, err := CheckWebhookURL(req.URL, w.AllowLoopback)
	if err != nil {
		return WebhookEndpoint{}, "", err
	}
	events, err := checkEventTypes(req.Events)
	if err != nil {
		return WebhookEndpoint{}, "", err
	}
	e := WebhookEndpoint{ID: NewID("we"), MerchantID: m.ID, URL: u.String(), Events: events, CreatedAt: w.now()}
	if err := w.Store.CreateWebhookEndpoint(ctx, e, MaxWebhookEndpoints); err != nil {
		return WebhookEndpoint{}, "", err
	}
	return e, WebhookSecret(w.Keys, m.ID, e.ID), nil
}

// Endpoints lists the merchant's endpoints (without secrets).
func (w *Webhooks) Endpoints(ctx context.Context, m Merchant) ([]WebhookEndpoint, error) {
	return w.Store.WebhookEndpoints(ctx, m.ID)
}

// DeleteEndpoint removes an endpoint; its pending deliveries are canceled.
// Another merchant's id is ENOTFOUND.
func (w *Webhooks) DeleteEndpoint(ctx context.Context, m Merchant, id string) error {
	return w.Store.DeleteWebhookEndpoint(ctx, m.ID, id, w.now())
}

// Deliveries reads the merchant's delivery log.
func (w *Webhooks) Deliveries(ctx context.Context, m Merchant, f DeliveryFilter) ([]Delivery, error) {
	if f.Limit == 0 {
		f.Limit = 50
	}
	if f.Limit < 1 || f.Limit > 100 {
		return nil, &Error{Code: EINVALID, Field: "limit", Message: "limit must be an integer from 1 to 100"}
	}
	if f.EventType != "" && !slices.Contains(WebhookEventTypes, f.EventType) {
		return nil, &Error{Code: EINVALID, Field: "event", Message: "event must be an event id (evt_...) or one of " + strings.Join(WebhookEventTypes, ", ")}
	}
	return w.Store.WebhookDeliveries(ctx, m.ID, f)
}

// webhookPayload is the JSON body of every webhook.
type webhookPayload struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"` // Unix seconds
	Data    any    `json:"data"`
}

// Stored wakes the local dispatcher for events just committed with their
// change (other instances' dispatchers poll).
func (w *Webhooks) Stored(events []WebhookEvent) {
	if len(events) > 0 && w.Enqueued != nil {
		w.Enqueued()
	}
}

// Notify stores an event on its own, with its deliveries; it never waits
// on a merchant's server. The body is fixed here, so every attempt sends
// the same bytes. An event without an id gets one.
func (w *Webhooks) Notify(ctx context.Context, e Event) error {
	we, err := NewWebhookEvent(e, w.now())
	if err != nil {
		return err
	}
	n, err := w.Store.EnqueueWebhookEvent(ctx, we)
	if err != nil {
		return err
	}
	if n > 0 && w.Enqueued != nil {
		w.Enqueued()
	}
	return nil
}

// NewWebhookEvent turns an event into its stored form, its payload the
// webhook's body. now is used when the event has no time.
func NewWebhookEvent(e Event, now time.Time) (WebhookEvent, error) {
	if !slices.Contains(WebhookEventTypes, e.Type) {
		return WebhookEvent{}, fmt.Errorf("checkout: notify: unknown event type %q", e.Type)
	}
	if e.MerchantID == "" {
		return WebhookEvent{}, fmt.Errorf("checkout: notify: event %s has no merchant", e.Type)
	}
	if e.ID == "" {
		e.ID = NewID("evt")
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now
	}
	body, err := json.Marshal(webhookPayload{ID: e.ID, Type: e.Type, Created: e.CreatedAt.Unix(), Data: e.Data})
	if err != nil {
		return WebhookEvent{}, fmt.Errorf("checkout: notify: encode %s: %w", e.Type, err)
	}
	return WebhookEvent{ID: e.ID, Type: e.Type, MerchantID: e.MerchantID, Payload: body, CreatedAt: e.CreatedAt.UTC()}, nil
}

func checkEventTypes(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, &Error{Code: EINVALID, Field: "events", Message: "events must list at least one of " + strings.Join(WebhookEventTypes, ", ")}
	}
	var out []string
	for _, t := range WebhookEventTypes {
		if slices.Contains(events, t) {
			out = append(out, t)
		}
	}
	for _, t := range events {
		if !slices.Contains(WebhookEventTypes, t) {
			return nil, &Error{Code: EINVALID, Field: "events", Message: fmt.Sprintf("unknown event type %q: events are %s", truncate(t, 40), strings.Join(WebhookEventTypes, ", "))}
		}
	}
	return out, nil
}

// CheckWebhookURL parses an endpoint URL. It is checked as strictly as a
// return URL (no user info, backslashes, control characters or encoded
// authority: OWASP Unvalidated Redirects), on any host, but the checkout
// itself will send requests there, so it also refuses what would turn it
// into a proxy into our network (OWASP SSRF Prevention): IP literals that
// are private, loopback, link-local (the cloud metadata address
// 169.254.169.254), shared, multicast or reserved, and names for this
// machine. Only https, except http on loopback, which needs allowLoopback.
// Names that resolve to such addresses are refused when each connection
// is made (checkout/webhook), since DNS can change after registration.
func CheckWebhookURL(raw string, allowLoopback bool) (*url.URL, error) {
	bad := func(msg string) (*url.URL, error) {
		return nil, &Error{Code: EINVALID, Field: "url", Message: msg}
	}
	if raw == "" {
		return bad("url is required")
	}
	if len(raw) > maxWebhookURL {
		return bad("url must be at most 2048 characters")
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f || r == '\\' || r > 0x7e {
			return bad("url must be a plain absolute URL: no spaces, control characters, backslashes or non-ASCII characters (percent-encode them)")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("url is not a valid URL")
	}
	if !u.IsAbs() || u.Opaque != "" || !strings.HasPrefix(strings.ToLower(raw), strings.ToLower(u.Scheme)+"://") {
		return bad("url must be an absolute https URL such as https://shop.example/webhooks")
	}
	if u.User != nil {
		return bad("url must not contain user info (an @ before the host)")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return bad("url must not have a fragment")
	}
	authority := raw[len(u.Scheme)+3:]
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if strings.ContainsAny(authority, "%@") {
		return bad("url must have a plain host name")
	}
	o, err := originOf(u, "url")
	if err != nil {
		return nil, err
	}
	host := strings.TrimSuffix(o.Host, ".") // "localhost." is localhost
	loopback := isLoopback(host)
	labels := strings.Split(host, ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		if !WebhookAddrAllowed(ip, allowLoopback) {
			return bad("url must not point at a private, loopback, link-local or reserved address")
		}
	} else if numericLabel(labels[len(labels)-1]) {
		// No top-level domain is numeric: "0x7f.1" or "2130706433" is an
		// address in a notation some resolvers read (inet_aton), not a name.
		return bad("url must have a host name, or an IP address in its standard notation")
	} else if len(labels) < 2 && !loopback {
		// A single-label name resolves through search domains to hosts
		// inside our network, never to a merchant's server on the Internet.
		return bad("url must have a fully qualified host name such as shop.example")
	} else if strings.HasSuffix(host, ".internal") || strings.HasSuffix(host, ".local") || strings.HasSuffix(host, ".localdomain") {
		return bad("url must be reachable on the Internet, not an internal name")
	}
	if loopback && !allowLoopback {
		return bad("url must not point at this machine")
	}
	u.Scheme, u.Host = o.Scheme, strings.TrimPrefix(o.String(), o.Scheme+"://")
	return u, nil
}

// numericLabel reports whether a DNS label is all digits, or hexadecimal
// with a 0x prefix.
func numericLabel(l string) bool {
	if rest, ok := strings.CutPrefix(strings.ToLower(l), "0x"); ok {
		l = rest
		if l == "" {
			return true
		}
		for _, c := range l {
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
		return true
	}
	for _, c := range l {
		if c < '0' || c > '9' {
			return false
		}
	}
	return l != ""
}

// Blocks of addresses the checkout never connects to on a merchant's
// behalf, beyond what netip's predicates name: each could reach our own
// network or nothing legitimate (RFC 6890 special-purpose registries).
var forbiddenPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (carrier NAT; Alibaba's metadata 100.100.100.200)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated, still routed inside some networks)
}

// IPv6 prefixes that embed an IPv4 address. Where a translator or relay on
// the path carries such an address to its IPv4 (SIIT, NAT64, 6to4,
// Teredo), a check that reads it as IPv6 alone would let a merchant's URL
// reach 169.254.169.254 (OWASP SSRF Prevention). Each is either refused
// outright or judged as the IPv4 addresses it embeds.
var (
	// Refused outright: no legitimate webhook endpoint uses them, and what
	// they reach depends on a translator we cannot see.
	ipv4Compatible = netip.MustParsePrefix("::/96")           // deprecated (RFC 4291 2.5.5.1); :: and ::1 are judged as themselves
	siitTranslated = netip.MustParsePrefix("::ffff:0:0:0/96") // SIIT's IPv4-translated form (RFC 2765; dropped by RFC 7915)
	nat64LocalUse  = netip.MustParsePrefix("64:ff9b:1::/48")  // local-use NAT64 (RFC 8215): the operator's own translator, any RFC 6052 layout
	// Judged as the IPv4 they embed: real networks use them to reach
	// public IPv4 servers (an IPv6-only host behind DNS64/NAT64 sees every
	// IPv4-only merchant as 64:ff9b::a.b.c.d), and refusing them outright
	// would break deliveries there.
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052: the IPv4 in the last 32 bits
	sixToFour      = netip.MustParsePrefix("2002::/16")    // RFC 3056: the IPv4 in bits 16-47
	teredo         = netip.MustParsePrefix("2001::/32")    // RFC 4380: the server's IPv4 in bits 32-63, the client's inverted in bits 96-127
)

// WebhookAddrAllowed reports whether the checkout may connect to ip to
// deliver a webhook: a public unicast address, or loopback when
// allowLoopback. Private (RFC 1918, fc00::/7: also AWS's fd00:ec2::254),
// link-local (169.254.169.254, the metadata service of most clouds),
// unspecified, multicast and reserved addresses are refused. IPv4
// addresses inside IPv6 ones are judged as the IPv4 address they reach
// (::ffff:a.b.c.d, NAT64's 64:ff9b::/96, 6to4, both of Teredo's), and the
// IPv4-compatible, SIIT and local-use NAT64 forms are refused outright.
func WebhookAddrAllowed(ip netip.Addr, allowLoopback bool) bool {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return false
	}
	if ip.Is6() && !ip.IsLoopback() && !ip.IsUnspecified() {
		b := ip.As16()
		v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte(b[i : i+4])) }
		switch {
		case ipv4Compatible.Contains(ip), siitTranslated.Contains(ip), nat64LocalUse.Contains(ip):
			return false
		case nat64WellKnown.Contains(ip):
			return WebhookAddrAllowed(v4(12), allowLoopback)
		case sixToFour.Contains(ip):
			return WebhookAddrAllowed(v4(2), allowLoopback)
		case teredo.Contains(ip):
			client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
			return WebhookAddrAllowed(v4(4), allowLoopback) && WebhookAddrAllowed(netip.AddrFrom4(client), allowLoopback)
		}
	}
	if ip.IsLoopback() {
		return allowLoopback
	}
	if ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() || !ip.IsGlobalUnicast() {
		return false
	}
	for _, p := range forbiddenPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// TruncateError returns s cut to MaxAttemptError bytes, for the delivery log.
func TruncateError(s string) string { return truncate(s, MaxAttemptError) }
