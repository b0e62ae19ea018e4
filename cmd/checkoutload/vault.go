package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// vaultCounter is a reverse proxy in front of Vault that counts what the
// checkout asks of it, so the benchmark can report Vault calls per card.
type vaultCounter struct {
	url                  string
	keyOps, health, auth atomic.Int64
}

type vaultCounts struct{ keyOps, health, auth int64 }

func startVaultCounter(target string) (*vaultCounter, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &vaultCounter{url: "http://" + ln.Addr().String()}
	proxy := httputil.NewSingleHostReverseProxy(u)
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/v1/sys/health"):
			c.health.Add(1)
		case strings.HasPrefix(p, "/v1/auth/"):
			c.auth.Add(1)
		default:
			c.keyOps.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	return c, nil
}

func (c *vaultCounter) snapshot() vaultCounts {
	if c == nil {
		return vaultCounts{}
	}
	return vaultCounts{c.keyOps.Load(), c.health.Load(), c.auth.Load()}
}

// transitBench times raw Transit encrypt calls of a card-sized plaintext
// from this same load generator: what tokenization would cost if it called
// Vault once per card.
func transitBench(ctx context.Context, cfg config) error {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.concurrency}}
	body := []byte(fmt.Sprintf(`{"plaintext":%q}`, base64.StdEncoding.EncodeToString([]byte("4242424242424242"))))
	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies []time.Duration
		failed    atomic.Int64
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && next.Add(1) <= int64(cfg.n) {
				req, _ := http.NewRequestWithContext(ctx, "POST", cfg.countVault+"/v1/transit/encrypt/checkout", bytes.NewReader(body))
				req.Header.Set("X-Vault-Token", cfg.transitToken)
				began := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
					continue
				}
				mu.Lock()
				latencies = append(latencies, time.Since(began))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	fmt.Printf("raw Transit encrypt: %d ok, %d failed, concurrency %d, %s: %.1f calls/s, p50 %s p99 %s\n",
		len(latencies), failed.Load(), cfg.concurrency, elapsed.Round(time.Millisecond),
		float64(len(latencies))/elapsed.Seconds(), pct(latencies, 50), pct(latencies, 99))
	return nil
}
