// Command checkoutload drives full checkouts over HTTP against a running
// checkoutd and prints throughput, latency percentiles and checkoutd's own
// CPU time per checkout. It starts the binary itself (on loopback, in a
// fresh data directory, every defence on at its defaults) unless -url is
// given. Each checkout is a shopper of its own. A short warm-up runs first
// and is not measured; with -slice the run is measured in slices, for a
// soak over one growing database. Traffic goes to loopback only, bounded by
// -n and -max-duration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "checkoutload:", err)
		os.Exit(1)
	}
}

type config struct {
	binary, baseURL, apiKey  string
	countVault, transitToken string // production benchmark: Vault's address, a token for raw Transit calls
	returnURL                string // a URL on the merchant's registered origins
	card                     string // one card for every checkout; "" a card per shopper
	challengeAll             bool   // the merchant's screening asks 3-D Secure to challenge every payment
	n, concurrency           int
	warmup, slice            int
	pid                      int   // with -url: checkoutd's process, for its CPU time
	from                     int64 // the first shopper's number
	maxDuration              time.Duration
	flow                     string // what is measured: checkout, saved or charge (cardonfile.go)
	sessionExtra             string // more fields of the session request, a JSON fragment beginning with a comma
}

func run() error {
	var cfg config
	flag.StringVar(&cfg.binary, "binary", "bin/checkoutd", "checkoutd binary to start (ignored with -url)")
	flag.StringVar(&cfg.baseURL, "url", "", "base URL of a running checkoutd on loopback (default: start -binary)")
	flag.StringVar(&cfg.apiKey, "key", "", "merchant secret key (with -url)")
	flag.StringVar(&cfg.returnURL, "return-url", "", "success URL on the merchant's registered origins (with -url)")
	flag.IntVar(&cfg.pid, "pid", 0, "with -url: checkoutd's process id, to report its CPU time per checkout")
	flag.StringVar(&cfg.card, "card", "", "pay every checkout with this card instead of one per shopper (e.g. 4000000000003063, which the sandbox issuer always challenges)")
	flag.BoolVar(&cfg.challengeAll, "challenge-all", false, "set the merchant's challenge_score to 0 first, so that every checkout goes through a 3-D Secure challenge (still one card per shopper)")
	flag.IntVar(&cfg.n, "n", 2000, "checkouts to measure")
	flag.StringVar(&cfg.flow, "flow", "checkout", `what to measure: "checkout" (a new card, the page), "saved" (a returning shopper's saved card, its code typed again) or "charge" (the merchant charging a saved card, POST /v1/payments); the last two save each shopper's card first, unmeasured`)
	flag.IntVar(&cfg.warmup, "warmup", 200, "checkouts to run first, not measured")
	flag.Int64Var(&cfg.from, "from", 1, "the first shopper's number (address, card, email): several runs against one checkoutd (-url) need shoppers of their own")
	flag.IntVar(&cfg.slice, "slice", 0, "measure and print every this many checkouts (a soak); 0: one measurement of -n")
	flag.IntVar(&cfg.concurrency, "c", 16, "checkouts in flight at once")
	flag.DurationVar(&cfg.maxDuration, "max-duration", 5*time.Minute, "stop driving after this long whatever -n says (warm-up included)")
	flag.StringVar(&cfg.countVault, "count-vault", "", "Vault address: put a counting proxy in front of it for the started binary, and report Vault calls per card")
	flag.StringVar(&cfg.transitToken, "transit-token", "", "with -count-vault: also time raw Transit encrypt calls (-n of them, -c at once) with this token")
	flag.Parse()
	if _, ok := flows[cfg.flow]; !ok {
		return errors.New(`-flow must be "checkout", "saved" or "charge"`)
	}
	if cfg.n < 1 || cfg.concurrency < 1 || cfg.warmup < 0 || cfg.slice < 0 {
		return errors.New("-n and -c must be at least 1, -warmup and -slice at least 0")
	}
	if cfg.from < 1 || cfg.from+int64(cfg.warmup+cfg.n) > maxShoppers {
		return fmt.Errorf("-from must be at least 1, and -from + -warmup + -n at most %d (the shoppers' loopback addresses)", maxShoppers)
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	var counter *vaultCounter
	var env []string
	if cfg.countVault != "" {
		if err := loopbackOnly(cfg.countVault); err != nil {
			return err
		}
		var err error
		if counter, err = startVaultCounter(cfg.countVault); err != nil {
			return err
		}
		env = append(env, "CHECKOUT_VAULT_ADDR="+counter.url)
	}
	var srv *server
	if cfg.baseURL == "" {
		var stop func()
		var err error
		if srv, stop, err = startBinary(&cfg, env); err != nil {
			return err
		}
		defer stop()
		cfg.pid = srv.pid
		fmt.Fprintf(os.Stderr, "checkoutload: every defence at its defaults; the benchmark merchant's limit raised to %d attempts a minute\n", benchMerchantMax)
	} else {
		fmt.Fprintln(os.Stderr, "checkoutload: with -url the server's own settings apply (raise its merchant limit, or checkouts meet 429)")
	}
	if err := loopbackOnly(cfg.baseURL); err != nil {
		return err
	}
	clock := newCPUClock(cfg.pid)

	driveCtx, stopDriving := context.WithTimeout(ctx, cfg.maxDuration)
	defer stopDriving()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.concurrency}}
	if cfg.challengeAll {
		if err := challengeEveryPayment(driveCtx, client, cfg); err != nil {
			return err
		}
	}
	if cfg.flow != "checkout" {
		p := drive(driveCtx, client, cfg, cfg.from, cfg.warmup+cfg.n, clock, saveOnce)
		fmt.Printf("preparation: %d checkouts saving their cards, not measured (%d ok, %d failed)\n", cfg.warmup+cfg.n, len(p.samples), p.failed)
	}
	once := flows[cfg.flow]
	if cfg.warmup > 0 {
		w := drive(driveCtx, client, cfg, cfg.from, cfg.warmup, clock, once)
		fmt.Printf("warm-up: %d checkouts, not measured (%d ok, %d failed)\n", cfg.warmup, len(w.samples), w.failed)
	}

	before := counter.snapshot()
	slice := cfg.slice
	if slice == 0 {
		slice = cfg.n
	}
	var total result
	for done, k := 0, 1; done < cfg.n && driveCtx.Err() == nil; k++ {
		first := cfg.from + int64(cfg.warmup+done)
		r := drive(driveCtx, client, cfg, first, min(slice, cfg.n-done), clock, once)
		if cfg.slice > 0 {
			fmt.Printf("slice %d (checkouts %d-%d): %s\n", k, first, first+int64(r.attempted)-1, r.line())
		}
		total.add(r)
		done += r.attempted
	}
	if driveCtx.Err() != nil && ctx.Err() == nil {
		fmt.Printf("stopped by -max-duration (%s): %d of %d checkouts begun\n", cfg.maxDuration, total.attempted, cfg.n)
	}
	total.print(cfg, clock != nil)
	ok := len(total.samples)
	if counter != nil {
		after := counter.snapshot()
		fmt.Printf("vault calls during the run: %d key operations (datakey, decrypt), %d health probes, %d logins/renewals\n",
			after.keyOps-before.keyOps, after.health-before.health, after.auth-before.auth)
		fmt.Printf("vault key operations per card: %.4f\n", float64(after.keyOps-before.keyOps)/float64(max(ok, 1)))
	}
	if srv != nil {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		rep, err := readStore(rctx, srv)
		if err != nil {
			fmt.Fprintln(os.Stderr, "checkoutload: store report:", err)
		} else {
			rep.print(int64(cfg.warmup + total.attempted))
		}
	}
	if ok == 0 {
		return errors.New("no checkout succeeded")
	}
	if cfg.transitToken != "" {
		return transitBench(driveCtx, cfg)
	}
	return nil
}

// loopbackOnly refuses any target off this machine: a load generator must
// never be pointed at someone else's server.
func loopbackOnly(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	switch h := u.Hostname(); {
	case h == "localhost", strings.HasPrefix(h, "127."), h == "::1":
		return nil
	default:
		return fmt.Errorf("refusing to load %s: loopback targets only", base)
	}
}

// challengeEveryPayment saves the merchant's risk settings with
// challenge_score 0 (the rest at their defaults, docs/API.md): screening
// then asks the issuer to challenge every payment.
func challengeEveryPayment(ctx context.Context, client *http.Client, cfg config) error {
	req, _ := http.NewRequestWithContext(ctx, "PUT", cfg.baseURL+"/v1/risk/settings", strings.NewReader(`{"challenge_score":0}`))
	req.Header.Set("Authorization", "Bearer "+cfg.apiKey)
	req.Header.Set("Content-Type", "application/json")
	var settings struct {
		ChallengeScore *int `json:"challenge_score"`
	}
	if err := do(client, req, http.StatusOK, &settings); err != nil {
		return fmt.Errorf("set challenge_score 0: %w", err)
	}
	if settings.ChallengeScore == nil || *settings.ChallengeScore != 0 {
		return errors.New("set challenge_score 0: the answer does not say 0")
	}
	return nil
}

// result is one measured stretch of checkouts.
type result struct {
	attempted, failed int
	samples           []sample // the checkouts that ended paid
	met               metCounts
	errs              map[string]int
	elapsed, cpu      time.Duration // wall time; checkoutd's CPU time over it
}

// metCounts counts the checkouts that met each defence.
type metCounts struct{ threeDS, pow, rateLimited, declined, review int }

func (c *metCounts) count(m met) {
	for _, f := range []struct {
		hit bool
		n   *int
	}{{m.threeDS, &c.threeDS}, {m.pow, &c.pow}, {m.rateLimited, &c.rateLimited}, {m.declined, &c.declined}, {m.review, &c.review}} {
		if f.hit {
			*f.n++
		}
	}
}

func (c metCounts) String() string {
	return fmt.Sprintf("3-D Secure challenge %d, proof-of-work challenge %d, rate limited (429) %d, declined (402) %d, held for REVIEW %d",
		c.threeDS, c.pow, c.rateLimited, c.declined, c.review)
}

// drive runs checkouts first to first+count-1, c at once, and measures
// them, checkoutd's CPU time included.
func drive(ctx context.Context, client *http.Client, cfg config, first int64, count int, clock *cpuClock,
	once func(context.Context, *http.Client, config, int64) (sample, error)) result {
	var (
		next atomic.Int64
		mu   sync.Mutex
		r    = result{errs: map[string]int{}}
		wg   sync.WaitGroup
	)
	next.Store(first - 1)
	last := first + int64(count) - 1
	cpu0, _ := clock.read()
	start := time.Now()
	for range cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1)
				if i > last {
					return
				}
				s, err := once(ctx, client, cfg, i)
				mu.Lock()
				r.attempted++
				r.met.count(s.met)
				if err != nil {
					r.failed++
					r.errs[err.Error()]++
				} else {
					r.samples = append(r.samples, s)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	cpu1, _ := clock.read()
	r.cpu = cpu1 - cpu0
	return r
}

func (r *result) add(o result) {
	r.attempted += o.attempted
	r.failed += o.failed
	r.samples = append(r.samples, o.samples...)
	r.met.threeDS += o.met.threeDS
	r.met.pow += o.met.pow
	r.met.rateLimited += o.met.rateLimited
	r.met.declined += o.met.declined
	r.met.review += o.met.review
	if r.errs == nil {
		r.errs = map[string]int{}
	}
	for k, v := range o.errs {
		r.errs[k] += v
	}
	r.elapsed += o.elapsed
	r.cpu += o.cpu
}

func (r result) throughput() float64 { return float64(len(r.samples)) / r.elapsed.Seconds() }

// cpuPerCheckout is checkoutd's CPU time over the run divided by the
// checkouts completed in it.
func (r result) cpuPerCheckout() time.Duration {
	return r.cpu / time.Duration(max(len(r.samples), 1))
}

// line is a slice's one-line summary.
func (r result) line() string {
	totals := r.latencies(func(s sample) time.Duration { return s.total })
	return fmt.Sprintf("%d ok, %d failed, %.1f checkouts/s, server CPU %s/checkout, p50 %s p99 %s; %s",
		len(r.samples), r.failed, r.throughput(), r.cpuPerCheckout().Round(10*time.Microsecond),
		pct(totals, 50), pct(totals, 99), r.met)
}

func (r result) latencies(of func(sample) time.Duration) []time.Duration {
	out := make([]time.Duration, len(r.samples))
	for i, s := range r.samples {
		out[i] = of(s)
	}
	slices.Sort(out)
	return out
}

func (r result) print(cfg config, haveCPU bool) {
	totals := r.latencies(func(s sample) time.Duration { return s.total })
	pays := r.latencies(func(s sample) time.Duration { return s.pay })
	fmt.Printf("flow: %s\n", cfg.flow)
	fmt.Printf("checkouts: %d ok, %d failed, concurrency %d, %s\n", len(r.samples), r.failed, cfg.concurrency, r.elapsed.Round(time.Millisecond))
	fmt.Printf("throughput: %.1f checkouts/s\n", r.throughput())
	if haveCPU {
		fmt.Printf("server CPU: %s per checkout (checkoutd utime+stime %s over %s of run: %.2f cores)\n",
			r.cpuPerCheckout().Round(10*time.Microsecond), r.cpu.Round(10*time.Millisecond), r.elapsed.Round(10*time.Millisecond), r.cpu.Seconds()/r.elapsed.Seconds())
	} else {
		fmt.Println("server CPU: not measured (give -pid with -url)")
	}
	fmt.Printf("full checkout (create session + page + pay): p50 %s  p99 %s\n", pct(totals, 50), pct(totals, 99))
	fmt.Printf("pay step alone (tokenize + screen + 3-D Secure + authorize + record + sign):  p50 %s  p99 %s\n", pct(pays, 50), pct(pays, 99))
	fmt.Printf("checkouts that met a defence (distinct shoppers should meet none): %s\n", r.met)
	for msg, n := range r.errs {
		fmt.Printf("error x%d: %s\n", n, msg)
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)].Round(10 * time.Microsecond)
}
