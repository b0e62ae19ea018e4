package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/postgres"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlite"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

// store is what every store gives the program: the checkout's and the
// vault's rows, fraud screening's counters, lists, settings and audit log,
// a readiness probe and a way to close.
type store interface {
	checkout.Store
	vault.Store
	risk.Counters
	risk.Lists
	risk.SettingsStore
	risk.ListStore
	risk.AuditLog
	risk.CardLocks
	risk.LockoutBudget
	risk.LimitStore
	Ping(ctx context.Context) error
	Close() error
}

var (
	_ store = (*sqlite.DB)(nil)
	_ store = (*postgres.DB)(nil)
)

// deps are the parts every command opens: the store, the key-encryption
// key and the vault over them.
type deps struct {
	db       store
	kek      vault.KeyEncrypter
	vault    *vault.Vault
	limits   *risk.Limits        // made by cardLimits
	settings *risk.SettingsCache // made by cachedSettings
}

func (d *deps) Close() {
	if d.vault != nil {
		d.vault.Close()
	}
	if c, ok := d.kek.(interface{ Close() error }); ok {
		c.Close()
	}
	if d.db != nil {
		d.db.Close()
	}
}

// screener is fraud screening over the store: on PostgreSQL its counters
// and lists are every instance's, so the velocity rules hold across them.
func (d *deps) screener() *risk.Screener {
	return &risk.Screener{Settings: d.cachedSettings(), Counters: d.db, Lists: d.db}
}

// cachedSettings are the merchants' screening settings as checkouts read
// them: one cache per process, shared with the API, so that a merchant's
// change takes effect on this instance at once (on others within
// risk.DefaultLimitsTTL, as its card-testing limits do).
func (d *deps) cachedSettings() *risk.SettingsCache {
	if d.settings == nil {
		d.settings = &risk.SettingsCache{Source: d.db}
	}
	return d.settings
}

// riskAdmin serves the merchant API of screening settings, lists and audit,
// and the merchant's side of its card-testing limits.
func (d *deps) riskAdmin(cfg Config) *risk.Admin {
	return &risk.Admin{Settings: d.db, Lists: d.db, Audit: d.db, Limits: d.cardLimits(cfg), Cached: d.cachedSettings()}
}

// cardLimits are the merchants' card-testing limits over the flags: one
// per process, shared by the Guard and the API, so that a merchant's change
// drops this instance's cached limits at once (other instances, and the
// operator's command, are seen within risk.DefaultLimitsTTL).
func (d *deps) cardLimits(cfg Config) *risk.Limits {
	if d.limits == nil {
		d.limits = &risk.Limits{Store: d.db, Platform: cfg.Guard().RateLimits()}
	}
	return d.limits
}

// ready is /readyz: the store answers and the KEK is usable. An instance
// that cannot encrypt cards must not receive shoppers.
func (d *deps) ready(ctx context.Context) error {
	if err := d.db.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return d.vault.Healthy()
}

func openDeps(ctx context.Context, cfg Config, log *slog.Logger) (*deps, error) {
	d := &deps{}
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()
	var err error
	if d.db, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	if d.kek, err = openKEK(ctx, cfg, log); err != nil {
		return nil, err
	}
	d.vault, err = vault.Open(ctx, vault.Options{Store: d.db, KEK: d.kek, ResultTTL: cfg.ResultTTL, PublishDelay: cfg.SigningKeyPublish})
	if err != nil {
		return nil, fmt.Errorf("open vault: %w", err)
	}
	ok = true
	return d, nil
}

func openStore(ctx context.Context, cfg Config) (store, error) {
	switch cfg.Store {
	case "postgres":
		db, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			// The connection string may hold a password: name the setting, not its value.
			return nil, fmt.Errorf("open PostgreSQL (CHECKOUT_DATABASE_URL): %w", err)
		}
		return db, nil
	default:
		if err := openDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
		db, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "checkout.db"))
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		return db, nil
	}
}

// openDataDir makes the data directory (0700) when it is missing, and
// refuses one that anyone but the service's user can write to: they could
// replace the database or plant the development KEK or the sandbox
// processor's key before the first start (PCI DSS 7.2).
func openDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := vault.CheckPrivateDir(dir); err != nil {
		return fmt.Errorf("data directory (-data-dir): %w", err)
	}
	return nil
}

func openKEK(ctx context.Context, cfg Config, log *slog.Logger) (vault.KeyEncrypter, error) {
	if cfg.KEK == "transit" {
		roleID, err := fromFile(cfg.VaultRoleID, cfg.VaultRoleIDFile)
		if err != nil {
			return nil, fmt.Errorf("vault role id: %w", err)
		}
		secretID, err := fromFile(cfg.VaultSecretID, cfg.VaultSecretIDFile)
		if err != nil {
			return nil, fmt.Errorf("vault secret id: %w", err)
		}
		opts := vault.TransitOptions{
			Address:     cfg.VaultAddr,
			CACert:      cfg.VaultCACert,
			Token:       cfg.VaultToken,
			Mount:       cfg.VaultTransitMount,
			Key:         cfg.VaultTransitKey,
			CallTimeout: cfg.VaultTimeout,
			Logger:      log.With("component", "vault"),
		}
		if roleID != "" {
			opts.AppRole = vault.AppRoleAuth{RoleID: roleID, SecretID: secretID}
		}
		t, err := vault.NewTransit(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("HashiCorp Vault Transit at %s: %w", cfg.VaultAddr, err)
		}
		return t, nil
	}
	if err := openDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	keyFile := filepath.Join(cfg.DataDir, "kek.key")
	kek, created, err := vault.LoadOrCreateLocalKEK(keyFile)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	verb := "card data is encrypted under"
	if created {
		verb = "created"
	}
	log.Warn("DEVELOPMENT ONLY: "+verb+" a local key-encryption key file; production keeps this key in HashiCorp Vault Transit (-kek transit)", "file", keyFile)
	return kek, nil
}

// fromFile returns value, or the trimmed content of file when value is empty.
func fromFile(value, file string) (string, error) {
	if value != "" || file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", errors.New(file + " is empty")
	}
	return v, nil
}
