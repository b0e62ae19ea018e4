package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
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
