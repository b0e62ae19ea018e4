package vaulttest

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Proxy is a loopback HTTP reverse proxy in front of a Vault server, for
// the faults a real server cannot show on demand: slow answers, requests
// accepted and never answered, and error answers. It is a real socket, so
// the client under test sees real connection behaviour. It passes
// everything through until told otherwise.
type Proxy struct {
	srv     *httptest.Server
	rp      *httputil.ReverseProxy
	closing chan struct{} // closed at cleanup: releases blackholed requests

	mu        sync.Mutex
	delay     time.Duration
	blackhole bool
	failWith  int
}

// NewProxy starts a proxy to target, an http:// Vault address, closed when
// the test ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" {
		tb.Fatalf("vaulttest: NewProxy: target %q must be an http:// address", target)
	}
	p := &Proxy{
		rp: &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u) },
			// A client that gave up is the point of these faults: no noise.
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) },
		},
		closing: make(chan struct{}),
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	tb.Cleanup(func() {
		close(p.closing)
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
	return p
}

// URL is the proxy's address, to give the client instead of the server's.
func (p *Proxy) URL() string { return p.srv.URL }

// SetDelay holds every request for d before forwarding it.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// Blackhole makes the proxy accept requests and never answer them (until
// the client gives up), or stops doing so.
func (p *Proxy) Blackhole(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blackhole = on
}

// FailWith answers every request with status (e.g. 503) and a Vault-style
// error body, without forwarding it.
func (p *Proxy) FailWith(status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failWith = status
}

// Pass ends every fault: requests are forwarded at once again.
func (p *Proxy) Pass() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay, p.blackhole, p.failWith = 0, false, 0
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	delay, blackhole, failWith := p.delay, p.blackhole, p.failWith
	p.mu.Unlock()
	switch {
	case blackhole:
		select {
		case <-r.Context().Done():
		case <-p.closing:
		}
		return
	case failWith != 0:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(failWith)
		w.Write([]byte(`{"errors":["vaulttest proxy: injected failure"]}`))
		return
	case delay > 0:
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		case <-p.closing:
			return
		}
	}
	p.rp.ServeHTTP(w, r)
}
