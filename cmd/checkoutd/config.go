package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
	"github.com/hostedcheckout/hostedcheckout/checkout/webhook"
)

// Config is everything checkoutd reads at start. Each field has a flag and a
// CHECKOUT_* environment variable; a flag wins over the environment, which
// wins over the default.
type Config struct {
	Addr        string        // listen address of the checkout
	BaseURL     string        // public base URL of the checkout; default from Addr
	DemoAddr    string        // listen address of the demo shop; empty disables it
	DemoURL     string        // public base URL of the demo shop; default from DemoAddr
	DataDir     string        // SQLite database and the development key file
	TLSCert     string        // PEM certificate chain; with TLSKey, serve TLS and send HSTS
	TLSKey      string        // PEM private key
	SessionTTL  time.Duration // how long a checkout session stays open
	AuthTimeout time.Duration // authorization deadline
	ResultTTL   time.Duration // lifetime of a signed result
	LogFormat   string        // json or text
	LogLevel    string        // debug, info, warn, error

	Store       string // sqlite (embedded default) or postgres
	DatabaseURL string // PostgreSQL connection string; env only in production (it may hold a password)

	KEK               string // local (development key file) or transit (HashiCorp Vault)
	VaultAddr         string // e.g. https://vault.internal:8200
	VaultCACert       string // PEM CA that signed Vault's certificate
	VaultToken        string // env CHECKOUT_VAULT_TOKEN only: a flag would show in ps
	VaultRoleID       string // AppRole role id
	VaultRoleIDFile   string // or a file holding it
	VaultSecretID     string // env CHECKOUT_VAULT_SECRET_ID only
	VaultSecretIDFile string // or a file holding it (e.g. a mounted secret)
	// ProcessorKeyFile holds the card processor's secret key, which
	// authenticates its chargeback notifications. Empty: with the embedded
	// store, <data-dir>/processor.key, made on first start (the sandbox's
	// processor); with PostgreSQL, no processor route.
	ProcessorKeyFile  string
	VaultTransitMount string        // mount path of the Transit engine
	VaultTransitKey   string        // the Transit key that wraps data keys
	VaultTimeout      time.Duration // deadline of every Vault call
	SigningKeyPublish time.Duration // how long a new signing key is published before it signs

	// TrustedProxies are the load balancers whose X-Forwarded-For names the
	// shopper's address (CIDRs); empty trusts none: the socket's peer.
	TrustedProxies     []netip.Prefix
	trustedProxiesText string

	WebhookAllowLoopback bool          // webhook endpoints may be on this machine (development and tests only)
	WebhookRetention     time.Duration // how long delivered events and their log are kept

	// Sweep is how often an instance voids the authorizations that passed
	// their authorized_until without a capture, and asks the issuer about
	// refunds still pending.
	Sweep time.Duration
	// CardRetention is how long a card nobody saved keeps its number once
	// no payment awaits its capture (erased by the sweep).
	CardRetention time.Duration

	// The card-testing defence (risk.GuardSettings): never disclosed to shoppers.
	LockoutFailures    int           // wrong security codes for one card within LockoutWindow that lock it
	LockoutWindow      time.Duration // the window they are counted in
	LockoutDuration    time.Duration // how long the card stays locked
	LimitIP            int           // attempts per IP per LimitIPWindow (0 off)
	LimitIPWindow      time.Duration
	LimitSession       int // attempts per checkout session (0 off)
	LimitMerchant      int // attempts per merchant per minute (0 off)
	LimitCard          int // attempts per card per LimitCardWindow (0 off)
	LimitCardWindow    time.Duration
	LimitChunk         int // distinct numbers sharing their first 12 digits per LimitChunkWindow (0 off)
	LimitChunkWindow   time.Duration
	ChallengeBits      int      // proof-of-work difficulty for suspicious traffic (0 off)
	intErrs            []string // CHECKOUT_* integers that did not parse
	webhookLoopbackEnv string
}

// flagSet binds cfg to flags whose defaults come from the environment.
func (cfg *Config) flagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(p *string, flagName, env, def, usage string) {
		fs.StringVar(p, flagName, envOr(env, def), usage+" (env "+env+")")
	}
	dur := func(p *time.Duration, flagName, env string, def time.Duration, usage string) {
		d := def
		if v := os.Getenv(env); v != "" {
			if parsed, err := time.ParseDuration(v); err == nil {
				d = parsed
			} else {
				d = -1 // rejected by Validate with a clear message
			}
		}
		fs.DurationVar(p, flagName, d, usage+" (env "+env+")")
	}
	str(&cfg.Addr, "addr", "CHECKOUT_ADDR", ":8080", "listen address of the checkout")
	str(&cfg.BaseURL, "base-url", "CHECKOUT_BASE_URL", "", "public base URL of the checkout (default http://localhost:PORT)")
	str(&cfg.DemoAddr, "demo-addr", "CHECKOUT_DEMO_ADDR", ":8081", `listen address of the demo shop; "" disables it`)
	str(&cfg.DemoURL, "demo-url", "CHECKOUT_DEMO_URL", "", "public base URL of the demo shop (default http://localhost:PORT)")
	str(&cfg.DataDir, "data-dir", "CHECKOUT_DATA_DIR", "./data", "directory of the SQLite database and the development key file")
	str(&cfg.TLSCert, "tls-cert", "CHECKOUT_TLS_CERT", "", "PEM certificate chain; serve TLS with -tls-key")
	str(&cfg.TLSKey, "tls-key", "CHECKOUT_TLS_KEY", "", "PEM private key of -tls-cert")
	dur(&cfg.SessionTTL, "session-ttl", "CHECKOUT_SESSION_TTL", checkout.DefaultSessionTTL, "how long a checkout session stays open")
	dur(&cfg.AuthTimeout, "auth-timeout", "CHECKOUT_AUTH_TIMEOUT", checkout.DefaultAuthTimeout, "authorization deadline")
	dur(&cfg.ResultTTL, "result-ttl", "CHECKOUT_RESULT_TTL", checkout.DefaultResultTTL, "lifetime of a signed result token")
	str(&cfg.LogFormat, "log-format", "CHECKOUT_LOG_FORMAT", "json", "log format: json or text")
	str(&cfg.LogLevel, "log-level", "CHECKOUT_LOG_LEVEL", "info", "log level: debug, info, warn or error")

	str(&cfg.trustedProxiesText, "trusted-proxies", "CHECKOUT_TRUSTED_PROXIES", "", "comma-separated CIDRs (or addresses) of the proxies in front of the checkout; from these peers only, the client address is the right-most X-Forwarded-For entry that is not itself a trusted proxy (default: trust none)")
	str(&cfg.Store, "store", "CHECKOUT_STORE", "sqlite", "where sessions, payments and tokens live: sqlite or postgres")
	str(&cfg.DatabaseURL, "database-url", "CHECKOUT_DATABASE_URL", "", "PostgreSQL connection string, with -store postgres (prefer the env var: it may hold a password)")
	str(&cfg.KEK, "kek", "CHECKOUT_KEK", "local", "key-encryption key: local (development key file) or transit (HashiCorp Vault Transit)")
	str(&cfg.VaultAddr, "vault-addr", "CHECKOUT_VAULT_ADDR", "", "HashiCorp Vault address, with -kek transit")
	str(&cfg.VaultCACert, "vault-ca-cert", "CHECKOUT_VAULT_CACERT", "", "PEM file of the CA that signed Vault's certificate")
	str(&cfg.VaultRoleID, "vault-role-id", "CHECKOUT_VAULT_ROLE_ID", "", "AppRole role id (the secret id comes from CHECKOUT_VAULT_SECRET_ID or -vault-secret-id-file)")
	str(&cfg.VaultRoleIDFile, "vault-role-id-file", "CHECKOUT_VAULT_ROLE_ID_FILE", "", "file holding the AppRole role id")
	str(&cfg.VaultSecretIDFile, "vault-secret-id-file", "CHECKOUT_VAULT_SECRET_ID_FILE", "", "file holding the AppRole secret id")
	str(&cfg.ProcessorKeyFile, "processor-key-file", "CHECKOUT_PROCESSOR_KEY_FILE", "", "file holding the card processor's secret key, which authenticates chargeback notifications (default with -store sqlite: DATA-DIR/processor.key, made on first start)")
	str(&cfg.VaultTransitMount, "vault-transit-mount", "CHECKOUT_VAULT_TRANSIT_MOUNT", "transit", "mount path of the Transit secrets engine")
	str(&cfg.VaultTransitKey, "vault-transit-key", "CHECKOUT_VAULT_TRANSIT_KEY", "checkout", "Transit key that wraps the data keys")
	dur(&cfg.WebhookRetention, "webhook-retention", "CHECKOUT_WEBHOOK_RETENTION", webhook.DefaultRetention, "how long webhook events and their delivery log are kept once delivered (or given up); at least 96h, past the last retry")
	dur(&cfg.CardRetention, "card-retention", "CHECKOUT_CARD_RETENTION", checkout.DefaultCardRetention, "how long a card nobody saved keeps its number in the vault after it was stored, once no payment awaits its capture; the sweep erases it then (PCI DSS 3.2.1)")
	dur(&cfg.Sweep, "sweep", "CHECKOUT_SWEEP", time.Minute, "how often authorizations past their authorized_until are voided (payment.expired) and pending refunds asked about again; every instance sweeps, each payment expires and each refund settles once")
	dur(&cfg.VaultTimeout, "vault-timeout", "CHECKOUT_VAULT_TIMEOUT", 2*time.Second, "deadline of every Vault call")
	dur(&cfg.SigningKeyPublish, "signing-key-publish", "CHECKOUT_SIGNING_KEY_PUBLISH", 2*time.Minute, "how long `keys rotate` publishes a new signing key in the JWKS before it signs (longer than merchants cache the JWKS)")
	num := func(p *int, flagName, env string, def int, usage string) {
		n := def
		if v := os.Getenv(env); v != "" {
			parsed, err := strconv.Atoi(v)
			if err != nil {
				cfg.intErrs = append(cfg.intErrs, env)
			}
			n = parsed
		}
		fs.IntVar(p, flagName, n, usage+" (env "+env+")")
	}
	g := risk.DefaultGuardSettings()
	num(&cfg.LockoutFailures, "lockout-failures", "CHECKOUT_LOCKOUT_FAILURES", g.LockoutFailures, "wrong security codes for one card, within -lockout-window, that lock it (not disclosed to shoppers)")
	dur(&cfg.LockoutWindow, "lockout-window", "CHECKOUT_LOCKOUT_WINDOW", g.LockoutWindow, "window the wrong security codes are counted in")
	dur(&cfg.LockoutDuration, "lockout-duration", "CHECKOUT_LOCKOUT_DURATION", g.LockoutDuration, "how long a card stays locked (the operator may unlock it: checkoutd cards unlock)")
	num(&cfg.LimitIP, "limit-ip", "CHECKOUT_LIMIT_IP", g.IP.Max, "card attempts per client IP per -limit-ip-window (0 off)")
	dur(&cfg.LimitIPWindow, "limit-ip-window", "CHECKOUT_LIMIT_IP_WINDOW", g.IP.Window, "window of -limit-ip")
	num(&cfg.LimitSession, "limit-session", "CHECKOUT_LIMIT_SESSION", g.Session.Max, "card attempts per checkout session (0 off)")
	num(&cfg.LimitMerchant, "limit-merchant", "CHECKOUT_LIMIT_MERCHANT", g.Merchant.Max, "card attempts per merchant per minute (0 off)")
	num(&cfg.LimitCard, "limit-card", "CHECKOUT_LIMIT_CARD", g.Card.Max, "attempts per card per -limit-card-window (0 off)")
	dur(&cfg.LimitCardWindow, "limit-card-window", "CHECKOUT_LIMIT_CARD_WINDOW", g.Card.Window, "window of -limit-card")
	num(&cfg.LimitChunk, "limit-chunk", "CHECKOUT_LIMIT_CHUNK", g.Chunk.Max, "distinct card numbers sharing their first 12 digits per -limit-chunk-window (0 off)")
	dur(&cfg.LimitChunkWindow, "limit-chunk-window", "CHECKOUT_LIMIT_CHUNK_WINDOW", g.Chunk.Window, "window of -limit-chunk")
	num(&cfg.ChallengeBits, "challenge-bits", "CHECKOUT_CHALLENGE_BITS", checkout.DefaultChallengeBits, "proof-of-work difficulty (leading zero bits of SHA-256) asked of suspicious traffic; 0 turns the challenge off")
	cfg.webhookLoopbackEnv = os.Getenv("CHECKOUT_WEBHOOK_ALLOW_LOOPBACK")
	loopback, _ := strconv.ParseBool(cfg.webhookLoopbackEnv)
	fs.BoolVar(&cfg.WebhookAllowLoopback, "webhook-allow-loopback", loopback, "DEVELOPMENT ONLY: let webhook endpoints be on this machine (localhost, 127.0.0.1, ::1), over http too; other private addresses stay refused (env CHECKOUT_WEBHOOK_ALLOW_LOOPBACK)")
	// Secrets only from the environment: flags are visible to every user in ps.
	cfg.VaultToken = os.Getenv("CHECKOUT_VAULT_TOKEN")
	cfg.VaultSecretID = os.Getenv("CHECKOUT_VAULT_SECRET_ID")
	return fs
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// Validate fails fast, naming every setting at fault.
func (cfg *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		bad("-addr %q: want host:port, e.g. :8080", cfg.Addr)
	}
	if cfg.DemoAddr != "" {
		if _, _, err := net.SplitHostPort(cfg.DemoAddr); err != nil {
			bad("-demo-addr %q: want host:port, e.g. :8081, or empty to disable the demo shop", cfg.DemoAddr)
		}
	}
	for name, u := range map[string]string{"-base-url": cfg.BaseURL, "-demo-url": cfg.DemoURL} {
		if u == "" {
			continue
		}
		if _, err := checkout.ParseOrigin(u); err != nil {
			bad("%s %q: want scheme://host[:port] with nothing after it (https, or http on localhost)", name, u)
		}
	}
	if proxies, err := ParseTrustedProxies(cfg.trustedProxiesText); err != nil {
		bad("-trusted-proxies: %v", err)
	} else {
		cfg.TrustedProxies = proxies
	}
	if strings.TrimSpace(cfg.DataDir) == "" {
		bad("-data-dir must not be empty")
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		bad("-tls-cert and -tls-key go together")
	}
	for name, d := range map[string]time.Duration{"-session-ttl": cfg.SessionTTL, "-auth-timeout": cfg.AuthTimeout, "-result-ttl": cfg.ResultTTL} {
		if d <= 0 {
			bad("%s must be a positive duration such as 30m or 5s", name)
		}
	}
	if cfg.ResultTTL > time.Hour {
		bad("-result-ttl must be at most 1h: a result token is a bearer credential, keep it short-lived")
	}
	switch cfg.Store {
	case "sqlite":
	case "postgres":
		if cfg.DatabaseURL == "" {
			bad("-store postgres needs CHECKOUT_DATABASE_URL (or -database-url), e.g. postgres://checkout@db:5432/checkout")
		}
	default:
		bad("-store must be sqlite or postgres")
	}
	switch cfg.KEK {
	case "local":
	case "transit":
		if cfg.VaultAddr == "" {
			bad("-kek transit needs -vault-addr (CHECKOUT_VAULT_ADDR)")
		}
		hasToken, hasRole := cfg.VaultToken != "", cfg.VaultRoleID != "" || cfg.VaultRoleIDFile != ""
		hasSecret := cfg.VaultSecretID != "" || cfg.VaultSecretIDFile != ""
		switch {
		case hasToken && hasRole:
			bad("give either CHECKOUT_VAULT_TOKEN or an AppRole (-vault-role-id), not both")
		case !hasToken && !hasRole:
			bad("-kek transit needs CHECKOUT_VAULT_TOKEN or an AppRole (-vault-role-id with CHECKOUT_VAULT_SECRET_ID or -vault-secret-id-file)")
		case hasRole && !hasSecret:
			bad("-vault-role-id needs CHECKOUT_VAULT_SECRET_ID or -vault-secret-id-file")
		}
		if cfg.VaultTimeout <= 0 || cfg.VaultTimeout > 30*time.Second {
			bad("-vault-timeout must be between 0 and 30s: a checkout waits on it")
		}
	default:
		bad("-kek must be local or transit")
	}
	if _, err := strconv.ParseBool(cfg.webhookLoopbackEnv); cfg.webhookLoopbackEnv != "" && err != nil {
		bad("CHECKOUT_WEBHOOK_ALLOW_LOOPBACK must be true or false")
	}
	if cfg.SigningKeyPublish < 0 {
		bad("-signing-key-publish must not be negative")
	}
	for _, env := range cfg.intErrs {
		bad("%s must be a whole number", env)
	}
	if cfg.CardRetention < time.Hour || cfg.CardRetention > 10*365*24*time.Hour {
		bad("-card-retention must be from 1h to 87600h (10 years)")
	}
	if cfg.Sweep < time.Second || cfg.Sweep > time.Hour {
		bad("-sweep must be from 1s to 1h: an authorization is voided, and a pending refund asked again, at most that long late")
	}
	if cfg.WebhookRetention < 96*time.Hour {
		bad("-webhook-retention must be at least 96h: events are retried for about 2¾ days, and merchants look back at the log")
	}
	if cfg.ChallengeBits < 0 || cfg.ChallengeBits > 20 {
		bad("-challenge-bits must be from 0 (off) to 20: each bit doubles a shopper's wait")
	}
	if err := cfg.Guard().Validate(); err != nil {
		bad("card-testing defence: %v", err)
	}
	if cfg.LogFormat != "json" && cfg.LogFormat != "text" {
		bad("-log-format must be json or text")
	}
	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("-log-level must be debug, info, warn or error")
	}
	return errors.Join(errs...)
}

// ParseTrustedProxies reads -trusted-proxies: CIDRs or single addresses,
// separated by commas or spaces. A wildcard (0.0.0.0/0, ::/0) is refused:
// trusting every peer would let any shopper choose its own address, and the
// per-IP limits and blocklists would mean nothing.
func ParseTrustedProxies(text string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is neither a CIDR (10.0.0.0/24, fd00::/64) nor an IP address", f)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("%q would trust every peer; name the proxies' own addresses", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Guard is the card-testing defence's settings.
func (cfg *Config) Guard() risk.GuardSettings {
	return risk.GuardSettings{
		LockoutFailures: cfg.LockoutFailures,
		LockoutWindow:   cfg.LockoutWindow,
		LockoutDuration: cfg.LockoutDuration,
		IP:              risk.Limit{Max: cfg.LimitIP, Window: cfg.LimitIPWindow},
		Session:         risk.Limit{Max: cfg.LimitSession, Window: 24 * time.Hour},
		Merchant:        risk.Limit{Max: cfg.LimitMerchant, Window: time.Minute},
		Card:            risk.Limit{Max: cfg.LimitCard, Window: cfg.LimitCardWindow},
		Chunk:           risk.Limit{Max: cfg.LimitChunk, Window: cfg.LimitChunkWindow},
	}
}

// urlFor returns the public base URL of a listener: the configured one, or
// one built from the address it actually bound: localhost for a wildcard
// address (":8080"), the address itself for a specific one (127.0.0.1:0 in
// tests), so that two listeners are always two origins.
func urlFor(configured string, addr net.Addr, tls bool) string {
	if configured != "" {
		u, _ := url.Parse(configured)
		return strings.TrimSuffix(u.String(), "/")
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
