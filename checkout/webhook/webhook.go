// Package webhook delivers the events checkout.Webhooks records: a
// Dispatcher claims due deliveries from the store under a lease, POSTs each
// signed body to its endpoint, logs the attempt, and schedules a retry with
// exponential backoff and jitter until the endpoint answers 2xx or the
// attempts run out.
//
// Delivery is at least once: an endpoint may see an event again (a lost
// answer, a lease that ran out during a stall), so merchants deduplicate on
// the event's id. Several checkoutd instances may run a Dispatcher on one
// store: a lease keeps a delivery to one of them at a time.
//
// The checkout connects to URLs merchants chose, so every connection is
// checked after DNS resolution, at dial time, against
// checkout.WebhookAddrAllowed: a name that resolves to a private, loopback,
// link-local (cloud metadata) or reserved address is refused, however it
// resolved when the endpoint was registered (OWASP SSRF Prevention: DNS
// rebinding). Redirects are not followed and no proxy is used.
package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"

	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

// Store is the outbox as the Dispatcher needs it. checkout/sqlite and
// checkout/postgres implement it.
type Store interface {
	// ClaimWebhookDeliveries leases up to limit pending deliveries due at
	// now (and not leased by another dispatcher) until leaseUntil, and
	// returns them; none is returned to two callers whose leases overlap.
	ClaimWebhookDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]checkout.WebhookJob, error)
	// FinishWebhookAttempt logs the attempt and moves the delivery on
	// (done, failed, or pending until the next attempt); ECONFLICT when
	// the job's lease no longer holds it (the attempt is logged anyway).
	FinishWebhookAttempt(ctx context.Context, j checkout.WebhookJob, o checkout.WebhookOutcome) error
	// PruneWebhookEvents deletes up to limit events created before before
	// whose deliveries are all over (none pending), with their deliveries
	// and attempts, oldest first, and returns how many events went.
	PruneWebhookEvents(ctx context.Context, before time.Time, limit int) (int, error)
}

// DefaultSchedule is the wait before each retry: nine attempts over about
// two and three quarter days, so that an endpoint down for a weekend still
// gets its events.
var DefaultSchedule = []time.Duration{
	time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 24 * time.Hour, 24 * time.Hour,
}

// Defaults of a Dispatcher.
const (
	DefaultTimeout = 10 * time.Second // one attempt, connection to last header
	DefaultLease   = time.Minute      // well over DefaultTimeout
	DefaultPoll    = time.Second
	DefaultWorkers = 8
	// DefaultRetention is how long delivered events and their log are
	// kept: well past the last retry (about 2¾ days), long enough for a
	// merchant to look back over a month.
	DefaultRetention = 30 * 24 * time.Hour
	// pruneEvery is how often a dispatcher prunes, and pruneBatch how many
	// events one prune deletes at most.
	pruneEvery = time.Hour
	pruneBatch = 1000
	// maxResponse is how much of an answer is read (and thrown away) so
	// that the connection can be reused; a larger one is cut off.
	maxResponse   = 64 << 10
	recordTimeout = 5 * time.Second
)

// Options configure a Dispatcher. Store and Keys are required.
type Options struct {
	Store Store
	Keys  checkout.WebhookKeys // derives each endpoint's signing secret
	// AllowLoopback lets deliveries reach this machine (development and
	// tests); every other private or reserved address stays refused.
	AllowLoopback bool
	// Client sends the requests; default NewClient(AllowLoopback, Timeout).
	// A client of your own must keep NewClient's dial-time address check.
	Client *http.Client
	// Schedule is the wait before each retry; its length is the number of
	// retries. Default DefaultSchedule. Each wait is varied by up to ±10%
	// (jitter) so that retries after an outage do not all land at once.
	Schedule []time.Duration
	Timeout  time.Duration // per attempt; default DefaultTimeout
	Lease    time.Duration // how long a claim keeps others off; default DefaultLease; must exceed Timeout
	Poll     time.Duration // how often the store is asked for due deliveries; default DefaultPoll
	Workers  int           // deliveries in flight at once; default DefaultWorkers
	// Retention is how long events are kept once none of their deliveries
	// is pending; default DefaultRetention. It must outlast the schedule.
	Retention time.Duration
	Log       *slog.Logger
	Now       func() time.Time
}

// Dispatcher sends due webhook deliveries until its Run's context ends.
type Dispatcher struct {
	opts Options
	wake chan struct{}
}

// New checks opts and returns a Dispatcher.
func New(opts Options) (*Dispatcher, error) {
	if opts.Store == nil || opts.Keys == nil {
		return nil, errors.New("webhook: Options.Store and Options.Keys are required")
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Lease == 0 {
		opts.Lease = DefaultLease
	}
	if opts.Poll == 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Workers == 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.Schedule == nil {
		opts.Schedule = DefaultSchedule
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	var retries time.Duration
	for _, d := range opts.Schedule {
		retries += d
	}
	if opts.Retention <= retries+retries/10 {
		return nil, fmt.Errorf("webhook: Options.Retention (%s) must outlast the retry schedule (%s)", opts.Retention, retries)
	}
	if opts.Timeout < 0 || opts.Poll < 0 || opts.Workers < 0 {
		return nil, errors.New("webhook: Options durations and Workers must not be negative")
	}
	// A lease must outlast the request and its record, or a second
	// dispatcher would send the delivery while the first still waits.
	if opts.Lease < opts.Timeout+recordTimeout {
		return nil, fmt.Errorf("webhook: Options.Lease (%s) must exceed Timeout (%s) by at least %s", opts.Lease, opts.Timeout, recordTimeout)
	}
	for _, d := range opts.Schedule {
		if d <= 0 {
			return nil, errors.New("webhook: Options.Schedule must hold positive durations")
		}
	}
	if opts.Client == nil {
		opts.Client = NewClient(opts.AllowLoopback, opts.Timeout)
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Dispatcher{opts: opts, wake: make(chan struct{}, 1)}, nil
}

// prune deletes events past the retention, a batch at a time. Every
// instance's dispatcher prunes; the deletes are conditional, so two at once
// do no harm.
func (d *Dispatcher) prune(ctx context.Context, now time.Time) {
	n, err := d.opts.Store.PruneWebhookEvents(ctx, now.Add(-d.opts.Retention), pruneBatch)
	switch {
	case err != nil && ctx.Err() == nil:
		d.opts.Log.Warn("webhook: prune old events failed", "err", err)
	case n > 0:
		d.opts.Log.Info("webhook: pruned old events", "events", n, "retention", d.opts.Retention.String())
	}
}

// Wake makes a running dispatcher look for due deliveries now rather than
// at its next poll. It never blocks; checkout.Webhooks calls it after an
// event is stored.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then waits for the attempts in flight
// (at most Timeout) to finish and be logged, so that a graceful stop does
// not leave a sent event unrecorded.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, d.opts.Workers)
	finished := make(chan struct{}, 1)
	timer := time.NewTimer(0)
	defer timer.Stop()
	var pruned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-d.wake:
		case <-finished:
		}
		if now := d.opts.Now(); now.Sub(pruned) >= pruneEvery {
			pruned = now
			d.prune(ctx, now)
		}
		free := cap(slots) - len(slots)
		if free == 0 {
			continue // a worker's finish wakes us
		}
		now := d.opts.Now()
		jobs, err := d.opts.Store.ClaimWebhookDeliveries(ctx, now, now.Add(d.opts.Lease), free)
		if err != nil && ctx.Err() == nil {
			d.opts.Log.Warn("webhook: claim deliveries failed", "err", err)
		}
		for _, j := range jobs {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() {
					<-slots
					select {
					case finished <- struct{}{}:
					default:
					}
				}()
				d.deliver(context.WithoutCancel(ctx), j)
			})
		}
		// A full batch may mean more are due: look again at once.
		// Otherwise wait for the poll, a wake-up or a free worker.
		next := d.opts.Poll
		if len(jobs) == free && err == nil {
			next = 0
		}
		timer.Reset(next) // Go 1.23 timers: no stale tick to drain

	}
}

// DeliverDue claims what is due now, delivers it and returns how many
// attempts it made. It is Run's work for one pass, for tests and tools.
func (d *Dispatcher) DeliverDue(ctx context.Context) (int, error) {
	now := d.opts.Now()
	jobs, err := d.opts.Store.ClaimWebhookDeliveries(ctx, now, now.Add(d.opts.Lease), d.opts.Workers)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() { d.deliver(context.WithoutCancel(ctx), j) })
	}
	wg.Wait()
	return len(jobs), nil
}

// deliver makes one attempt and records it.
func (d *Dispatcher) deliver(ctx context.Context, j checkout.WebhookJob) {
	o, cause := d.attempt(ctx, j)
	log := d.opts.Log.With("delivery", j.DeliveryID, "event", j.EventID, "event_type", j.EventType,
		"endpoint", j.EndpointID, "attempt", o.Attempt.N, "status_code", o.Attempt.StatusCode,
		"latency_ms", o.Attempt.Latency.Milliseconds(), "outcome", o.Status)
	if o.Attempt.Error != "" {
		log = log.With("error", o.Attempt.Error)
	}
	if cause != nil {
		// The operator's log keeps what the merchant's does not: the
		// resolver, addresses, the TLS library's reason.
		log = log.With("cause", cause.Error())
	}
	if o.Status == checkout.DeliveryPending {
		log = log.With("next_attempt_at", o.NextAttemptAt.UTC().Format(time.RFC3339))
	}
	switch o.Status {
	case checkout.DeliverySucceeded:
		log.Info("webhook delivered")
	case checkout.DeliveryFailed:
		log.Warn("webhook failed; no attempts left")
	default:
		log.Info("webhook attempt failed; will retry")
	}
	rctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	if err := d.opts.Store.FinishWebhookAttempt(rctx, j, o); err != nil {
		// Unrecorded, the delivery is retried once its lease ends: the
		// endpoint may see it twice, which the event id lets it ignore.
		d.opts.Log.Error("webhook: record attempt failed", "delivery", j.DeliveryID, "attempt", o.Attempt.N, "err", err)
	}
}

// attempt POSTs the event once and decides what follows; cause is the
// failure in full, for the operator's log only.
func (d *Dispatcher) attempt(ctx context.Context, j checkout.WebhookJob) (o checkout.WebhookOutcome, cause error) {
	n := j.Attempts + 1
	signedAt := d.opts.Now()
	a := checkout.DeliveryAttempt{N: n, At: signedAt.UTC()}
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	began := time.Now()
	status, err := d.post(ctx, j, signedAt)
	a.Latency = time.Since(began)
	a.StatusCode = status
	switch {
	case err != nil:
		a.Error = checkout.TruncateError(describe(err, d.opts.Timeout))
	case status >= 200 && status < 300:
		return checkout.WebhookOutcome{Attempt: a, Status: checkout.DeliverySucceeded}, nil
	case status >= 300 && status < 400:
		a.Error = "HTTP " + strconv.Itoa(status) + ": redirects are not followed; register the final URL"
	default:
		a.Error = "HTTP " + strconv.Itoa(status)
	}
	if n > len(d.opts.Schedule) {
		return checkout.WebhookOutcome{Attempt: a, Status: checkout.DeliveryFailed}, err
	}
	return checkout.WebhookOutcome{Attempt: a, Status: checkout.DeliveryPending, NextAttemptAt: signedAt.Add(jitter(d.opts.Schedule[n-1])).UTC()}, err
}

// post sends the signed body and returns the answer's status code.
func (d *Dispatcher) post(ctx context.Context, j checkout.WebhookJob, signedAt time.Time) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.URL, bytes.NewReader(j.Payload))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errBadURL, err)
	}
	secret := checkout.WebhookSecret(d.opts.Keys, j.MerchantID, j.EndpointID)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "HostedCheckout-Webhooks/1.0")
	req.Header.Set(verify.WebhookSignatureHeader, verify.SignWebhook(secret, j.Payload, signedAt))
	req.Header.Set("Checkout-Event-Id", j.EventID)
	req.Header.Set("Checkout-Event-Type", j.EventType)
	req.Header.Set("Checkout-Delivery-Id", j.DeliveryID)
	req.Header.Set("Checkout-Delivery-Attempt", strconv.Itoa(j.Attempts+1))
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		return 0, err
	}
	// Read a little so the connection can be reused; the answer itself is
	// never kept or logged.
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// jitter varies d by up to ±10%.
func jitter(d time.Duration) time.Duration {
	spread := int64(d) / 10
	if spread <= 0 {
		return d
	}
	return d + time.Duration(rand.Int64N(2*spread+1)-spread)
}

// ErrAddressNotAllowed is the dial error for an address the checkout does
// not connect to on a merchant's behalf.
var ErrAddressNotAllowed = errors.New("the endpoint's address is private, loopback, link-local or reserved")

var errBadURL = errors.New("the endpoint URL cannot be used")

// describe is a failure as the merchant reads it in the delivery log: the
// kind of failure, in words of our choosing. Never the error's own text,
// which names our resolver ("lookup ... on 10.0.0.2:53"), the addresses a
// name resolved to and our side of the connection: what a merchant could
// map our network with (OWASP SSRF Prevention: no raw errors back). The
// operator's log keeps the detail.
func describe(err error, timeout time.Duration) string {
	var (
		dnsErr      *net.DNSError
		netErr      net.Error
		unknownCA   x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidCert x509.CertificateInvalidError
		verifyErr   *tls.CertificateVerificationError
		recordErr   tls.RecordHeaderError
		alertErr    tls.AlertError
	)
	switch {
	case errors.Is(err, ErrAddressNotAllowed):
		return "refused: " + ErrAddressNotAllowed.Error()
	case errors.Is(err, errBadURL):
		return errBadURL.Error()
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "could not resolve the endpoint's host: no such host"
		}
		return "could not resolve the endpoint's host"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timed out: no answer within " + timeout.String()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &unknownCA):
		return "TLS handshake failed: the certificate is not signed by a trusted authority"
	case errors.As(err, &hostErr):
		return "TLS handshake failed: the certificate is not valid for the endpoint's host"
	case errors.As(err, &invalidCert):
		return "TLS handshake failed: the certificate is expired, not yet valid or not for a server"
	case errors.As(err, &verifyErr), errors.As(err, &alertErr), errors.As(err, &recordErr):
		return "TLS handshake failed"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the endpoint before it answered"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "could not connect: the endpoint's network is unreachable"
	}
	return "connection failed"
}

// NewClient returns the HTTP client deliveries use: no proxy (a proxy
// would hide the address from the check), no redirects, TLS 1.2 or later
// with certificate verification, timeout per request, and a dialer that
// refuses every address checkout.WebhookAddrAllowed refuses, checked on
// the address actually dialled after DNS resolution.
func NewClient(allowLoopback bool, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{
		Timeout:   5 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !checkout.WebhookAddrAllowed(ap.Addr(), allowLoopback) {
				return ErrAddressNotAllowed
			}
			return nil
		},
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  timeout,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 32 << 10,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
