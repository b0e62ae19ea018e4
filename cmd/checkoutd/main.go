// Command checkoutd serves the hosted checkout: the merchant API, the
// shopper's page, the embed script and the public keys, and on its embedded
// defaults a demo shop on a second port. See the README for its commands.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/hostedcheckout/hostedcheckout/certs"
	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
	"github.com/hostedcheckout/hostedcheckout/web"
	"github.com/hostedcheckout/hostedcheckout/web/demoshop"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "checkoutd:", err)
		}
		os.Exit(1)
	}
}

// errUsage is returned after the flag package has already told the user.
var errUsage = errors.New("usage")

const usage = `checkoutd serves the hosted checkout.

Usage:
  checkoutd [serve] [flags]                                   run the service (default)
  checkoutd merchants create --name NAME --origin ORIGIN...   register a merchant; prints its id and secret key once
  checkoutd keys rotate                                       rotate the result-signing key (new kid)
  checkoutd kek rotate [-raise-min-version]                   rotate the Transit key, then rewrap every data key
  checkoutd kek rewrap [-after CURSOR] [-raise-min-version]   rewrap (resume) without rotating
  checkoutd kek policy [-admin]                               print the HashiCorp Vault policy checkoutd needs
  checkoutd cards locked                                      list the cards locked after wrong security codes
  checkoutd cards unlock --fingerprint fp_...                 unlock a card
  checkoutd cards retention                                   what the vault holds by state, and what the sweep will erase
  checkoutd guarantee show --merchant mer_...                 a merchant's chargeback guarantee this year
  checkoutd guarantee set --merchant mer_... --cap N --currency JPY   set its yearly cap (the operator's, not the merchant's)
  checkoutd limits show --merchant mer_...                    a merchant's card-testing limits in force, and who set them
  checkoutd limits set --merchant mer_... --merchant-max N [--merchant-window D] [--ip-max N --ip-window D ...]
                                                              set them (the operator's; what is left out is the platform's)
  checkoutd limits reset --merchant mer_...                   back to the platform's limits (the flags)
  checkoutd processors key                                    a new key for the card processor's chargeback notifications
  checkoutd certs dev -out DIR [-host HOST...]                a development CA and server certificates (checkoutd, Vault)

Run 'checkoutd serve -h' for the flags; each has a CHECKOUT_* environment variable.
`

// Run is the whole program, so that tests start the real thing.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(ctx, args, stdout, stderr)
	case "merchants":
		if len(args) == 0 || args[0] != "create" {
			fmt.Fprint(stderr, usage)
			return errUsage
		}
		return runMerchantsCreate(ctx, args[1:], stdout, stderr)
	case "keys":
		if len(args) == 0 || args[0] != "rotate" {
			fmt.Fprint(stderr, usage)
			return errUsage
		}
		return runKeysRotate(ctx, args[1:], stdout, stderr)
	case "kek":
		if len(args) == 0 {
			fmt.Fprint(stderr, usage)
			return errUsage
		}
		switch args[0] {
		case "rotate", "rewrap":
			return runKEKRewrap(ctx, args[0] == "rotate", args[1:], stdout, stderr)
		case "policy":
			return runKEKPolicy(args[1:], stdout, stderr)
		}
		fmt.Fprint(stderr, usage)
		return errUsage
	case "cards":
		if len(args) == 0 || (args[0] != "locked" && args[0] != "unlock" && args[0] != "retention") {
			fmt.Fprint(stderr, usage)
			return errUsage
		}
		return runCards(ctx, args[0], args[1:], stdout, stderr)
	case "guarantee":
		if len(args) == 0 || (args[0] != "show" && args[0] != "set") {
			fmt.Fprint(stderr, usage)
			return errUsage
		}
		return runGuarantee(ctx, args[0], args[1:], stdout, stderr)
	case "limits":
		if len(args) == 0 || (args[0] != "show" && args[0] != "set" && args[0] != "reset") {
			fmt.Fprint(stderr, usage)
			return errUsage
		}
		return runLimits(ctx, args[0], args[1:], stdout, stderr)
	case "processors":
		if len(args) != 1 || args[0] != "key" {
			fmt.Fprint(stderr, usage)
			return errUsage
		}
		return runProcessorsKey(stdout)
	case "certs":
		if len(args) == 0 || args[0] != "dev" {
			fmt.Fprint(stderr, usage)
			return errUsage
		}
		return runCertsDev(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
}

// parseConfig reads flags over the environment and validates the result.
// extra, when given, adds a command's own flags.
func parseConfig(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (Config, error) {
	var cfg Config
	fs := cfg.flagSet(name, stderr)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return cfg, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %v\n", fs.Args())
		return cfg, errUsage
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func (d *deps) service(cfg Config, issuer string, authorizer checkout.Authorizer, log *slog.Logger) *checkout.Service {
	guard := &risk.Guard{Counters: d.db, Locks: d.db, Budget: d.db, Settings: cfg.Guard(), Limits: d.cardLimits(cfg)}
	var challenges checkout.ChallengeState
	if cfg.ChallengeBits > 0 {
		challenges = guard
	}
	return &checkout.Service{
		Store:         d.db,
		Vault:         d.vault,
		Signer:        d.vault,
		Authorizer:    authorizer,
		Authenticator: sandbox.ACS{}, // the sandbox issuer's 3-D Secure, beside its Authorizer
		Screener:      d.screener(),  // always: production never pays unscreened
		Guard:         guard,
		Challenges:    challenges,
		CardKeys:      d.vault,
		ChallengeBits: cfg.ChallengeBits,
		Log:           log,
		Issuer:        issuer,
		SessionTTL:    cfg.SessionTTL,
		AuthTimeout:   cfg.AuthTimeout,
		ResultTTL:     cfg.ResultTTL,
		CardRetention: cfg.CardRetention,
	}
}

// runServe runs the checkout (and the demo shop) until ctx is done, then
// drains requests in flight.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig("checkoutd serve", args, stderr, nil)
	if err != nil {
		return err
	}
	tuneGC(os.LookupEnv)
	log := newLogger(cfg, stderr)
	srv, err := Start(ctx, cfg, log, stdout)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return srv.Shutdown()
}

// serveGCPercent is the garbage collector's target while serving, unless
// the operator sets GOGC. The live heap of a checkoutd is small (about
// 5 MiB under load: SQLite's pages live outside Go's heap), so Go's default
// of 100 runs a collection every 16 or so checkouts, about 4% of the CPU a
// checkout costs; 400 lets the heap grow to five times the live data
// instead (some 20 MiB more) for a quarter of the collections.
const serveGCPercent = 400

// tuneGC sets serveGCPercent when the environment has no GOGC of its own.
func tuneGC(lookupEnv func(string) (string, bool)) {
	if _, set := lookupEnv("GOGC"); !set {
		debug.SetGCPercent(serveGCPercent)
	}
}

// Server is a started checkoutd: its listeners, public URLs and parts.
type Server struct {
	BaseURL    string // the checkout's public base URL
	DemoURL    string // the demo shop's, when it runs
	Merchant   DemoMerchant
	Authorizer checkout.Authorizer

	log    *slog.Logger
	deps   *deps
	notify *notifications
	// stopSweep ends the sweep (authorizations' expiry, pending
	// refunds); sweepDone closes
	// when it has.
	stopSweep context.CancelFunc
	sweepDone chan struct{}
	servers   []*http.Server
	errs      chan error
}

// DemoMerchant is the merchant the demo shop plays, printed at start.
type DemoMerchant struct {
	ID      string   `json:"merchant_id"`
	APIKey  string   `json:"secret_key"`
	Origins []string `json:"origins"`
}

// Start opens the data directory, binds the listeners and serves in the
// background. out receives the one-line startup summary a person reads.
func Start(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) (*Server, error) {
	d, err := openDeps(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	s := &Server{log: log, deps: d, errs: make(chan error, 2), Authorizer: sandbox.New()}
	ok := false
	defer func() {
		if !ok {
			s.Shutdown()
		}
	}()

	var tlsConfig *tls.Config
	if cfg.TLSCert != "" {
		if tlsConfig, err = certs.ServerConfig(cfg.TLSCert, cfg.TLSKey); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	s.BaseURL = urlFor(cfg.BaseURL, ln.Addr(), tlsConfig != nil)
	svc := d.service(cfg, s.BaseURL, s.Authorizer, log)
	if s.notify, err = d.notifications(cfg, log); err != nil {
		return nil, err
	}
	svc.Notifier = s.notify.webhooks
	processorHash, sandboxProcessorKey, err := processorKey(cfg, log)
	if err != nil {
		return nil, err
	}
	s.notify.start()
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	s.sweepDone = make(chan struct{})
	s.stopSweep = stopSweep
	go func() {
		defer close(s.sweepDone)
		svc.SweepEvery(sweepCtx, cfg.Sweep)
	}()
	handler := web.New(web.Options{
		Service:     svc,
		Keys:        d.vault,
		Risk:        d.riskAdmin(cfg),
		Webhooks:    s.notify.webhooks,
		Chargebacks: s.notify.chargebacks,
		// The card processor's key authenticates chargeback notifications.
		ProcessorKeyHash: processorHash,
		BaseURL:          s.BaseURL,
		TrustedProxies:   cfg.TrustedProxies,
		HSTS:             tlsConfig != nil,
		Ready:            d.ready,
		Log:              log,
	})
	s.serve(ln, handler, tlsConfig)

	if cfg.DemoAddr != "" {
		demoLn, err := net.Listen("tcp", cfg.DemoAddr)
		if err != nil {
			return nil, fmt.Errorf("listen %s (demo shop; -demo-addr \"\" disables it): %w", cfg.DemoAddr, err)
		}
		s.DemoURL = urlFor(cfg.DemoURL, demoLn.Addr(), false)
		s.Merchant, err = ensureDemoMerchant(ctx, svc, d.db, s.DemoURL)
		if err != nil {
			demoLn.Close()
			return nil, err
		}
		shop, err := demoshop.New(demoshop.Options{
			CheckoutURL: s.BaseURL,
			MerchantID:  s.Merchant.ID,
			APIKey:      s.Merchant.APIKey,
			ShopURL:     s.DemoURL,
			HTTPClient:  &http.Client{Timeout: 10 * time.Second},
			Log:         log.With("component", "demoshop"),
		})
		if err != nil {
			demoLn.Close()
			return nil, err
		}
		s.serve(demoLn, shop, nil)
	}
	log.Info("checkoutd started", "checkout", s.BaseURL, "demo_shop", s.DemoURL, "tls", tlsConfig != nil)
	if out != nil {
		summary := map[string]any{"checkout": s.BaseURL}
		if s.DemoURL != "" {
			summary["demo_shop"] = s.DemoURL
			summary["demo_merchant"] = s.Merchant
			if sandboxProcessorKey != "" {
				// The sandbox processor's key, to notify test chargebacks.
				summary["sandbox_processor_key"] = sandboxProcessorKey
			}
		}
		line, _ := json.Marshal(summary)
		fmt.Fprintf(out, "%s\n", line)
		if s.DemoURL != "" {
			fmt.Fprintf(out, "\nOpen %s and pay with the test card 4242 4242 4242 4242, any future expiry, code 123.\n"+
				"With 4000 0000 0000 3063 the card's issuer asks for a 3-D Secure one-time code: 123456.\n", s.DemoURL)
		}
	}
	ok = true
	return s, nil
}

func (s *Server) serve(ln net.Listener, h http.Handler, tlsConfig *tls.Config) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    32 << 10,
		TLSConfig:         tlsConfig,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.servers = append(s.servers, srv)
	go func() {
		var err error
		if tlsConfig != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("server stopped", "err", err)
			s.errs <- err
		}
	}()
}

// Shutdown stops accepting, lets requests in flight finish (up to 20 s:
// an authorization must be recorded or reversed, not cut), and closes the
// vault (zeroing its cached keys) and the database.
func (s *Server) Shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.stopSweep != nil {
		s.stopSweep()
		<-s.sweepDone // before the database closes
	}
	s.notify.Stop() // before the vault closes: it signs
	s.deps.Close()
	s.log.Info("checkoutd stopped")
	return errors.Join(errs...)
}

// demoPaymentMethods are the demo merchant's: all of them, every count.
func demoPaymentMethods() checkout.PaymentMethodSettings {
	return checkout.PaymentMethodSettings{PaymentMethodSet: checkout.PaymentMethodSet{
		Types:             []checkout.PaymentMethodType{checkout.MethodLumpSum, checkout.MethodInstallments, checkout.MethodBonusLumpSum, checkout.MethodRevolving},
		InstallmentCounts: checkout.InstallmentCounts(),
	}}
}

// ensureDemoMerchant creates the demo merchant on first start and gives it a
// fresh key on every start, so the key can be printed without being stored.
// Its id is derived from the demo shop's URL, so a demo shop on another port
// is another merchant with that port as its origin.
func ensureDemoMerchant(ctx context.Context, svc *checkout.Service, db store, demoURL string) (DemoMerchant, error) {
	sum := sha256.Sum256([]byte(demoURL))
	id := "mer_demo" + hex.EncodeToString(sum[:6])
	origins := []string{demoURL}
	if o, err := checkout.ParseOrigin(demoURL); err == nil && o.Host == "localhost" {
		o.Host = "127.0.0.1"
		origins = append(origins, o.String())
	}
	key := checkout.NewAPIKey()
	_, err := db.Merchant(ctx, id)
	switch checkout.ErrorCode(err) {
	case checkout.ENOTFOUND:
		m, _, err := checkout.NewMerchant("Demo Tea Shop", origins, time.Now())
		if err != nil {
			return DemoMerchant{}, fmt.Errorf("demo merchant: %w", err)
		}
		m.ID, m.APIKeyHash = id, checkout.HashAPIKey(key)
		if err := db.CreateMerchant(ctx, m); err != nil {
			return DemoMerchant{}, fmt.Errorf("demo merchant: %w", err)
		}
		// The demo shop offers every Japanese payment method, so that a
		// test card issued in Japan shows the choice (docs/API.md).
		if _, err := svc.PutPaymentMethods(ctx, "checkoutd/demo", m, demoPaymentMethods()); err != nil {
			return DemoMerchant{}, fmt.Errorf("demo merchant: %w", err)
		}
	case "":
		if err := db.SetMerchantAPIKeyHash(ctx, id, checkout.HashAPIKey(key)); err != nil {
			return DemoMerchant{}, fmt.Errorf("demo merchant: %w", err)
		}
	default:
		return DemoMerchant{}, fmt.Errorf("demo merchant: %w", err)
	}
	return DemoMerchant{ID: id, APIKey: key, Origins: origins}, nil
}
