package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/hostedcheckout/hostedcheckout/certs"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// openCommand parses an operator command's flags (extra adds its own) and
// opens the store and the vault it works on. The caller closes the deps.
func openCommand(ctx context.Context, name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (Config, *deps, *slog.Logger, error) {
	cfg, err := parseConfig(name, args, stderr, extra)
	if err != nil {
		return cfg, nil, nil, err
	}
	log := newLogger(cfg, stderr)
	d, err := openDeps(ctx, cfg, log)
	if err != nil {
		return cfg, nil, nil, err
	}
	return cfg, d, log, nil
}

// runMerchantsCreate registers a merchant and prints its id and secret key
// as JSON. The key is shown this once: only its hash is stored.
func runMerchantsCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var name string
	var origins stringList
	cfg, d, log, err := openCommand(ctx, "checkoutd merchants create", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "the merchant's name (required)")
		fs.Var(&origins, "origin", "an origin the merchant's pages and return URLs live on, e.g. https://shop.example (repeatable, at least one)")
	})
	if err != nil {
		return err
	}
	defer d.Close()
	m, key, err := d.service(cfg, "", nil, log).CreateMerchant(ctx, name, origins)
	if err != nil {
		return fmt.Errorf("merchants create: %w", err)
	}
	out := struct {
		ID      string   `json:"merchant_id"`
		Name    string   `json:"name"`
		Key     string   `json:"secret_key"`
		Origins []string `json:"origins"`
		Note    string   `json:"note"`
	}{m.ID, m.Name, key, nil, "the secret key is shown once; store it in your secret manager"}
	for _, o := range m.Origins {
		out.Origins = append(out.Origins, o.String())
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// runKeysRotate makes a new result-signing key. Running instances publish
// it in their JWKS and sign with it once it is active.
func runKeysRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	_, d, _, err := openCommand(ctx, "checkoutd keys rotate", args, stderr, nil)
	if err != nil {
		return err
	}
	defer d.Close()
	kid, err := d.vault.RotateSigningKey(ctx)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]string{"kid": kid})
}

// runKEKRewrap rotates the Transit key (rotate) and rewraps every data key
// to its newest version, printing progress as JSON lines. It is resumable
// (keys already at the newest version are skipped; -after resumes from a
// printed cursor) and safe while payments continue: card ciphertext is not
// touched. With -raise-min-version, once every key is rewrapped, Transit
// refuses the old versions from then on.
func runKEKRewrap(ctx context.Context, rotate bool, args []string, stdout, stderr io.Writer) error {
	var after string
	var raise bool
	name := "checkoutd kek rewrap"
	if rotate {
		name = "checkoutd kek rotate"
	}
	_, d, _, err := openCommand(ctx, name, args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&raise, "raise-min-version", false, "after a complete rewrap, make Transit refuse older key versions")
		if !rotate {
			fs.StringVar(&after, "after", "", "resume after this data key id (the cursor of a previous run)")
		}
	})
	if err != nil {
		return err
	}
	defer d.Close()
	transit, ok := d.kek.(*vault.Transit)
	if !ok {
		return errors.New("kek commands need -kek transit: the local development key does not rotate")
	}
	enc := json.NewEncoder(stdout)
	if rotate {
		v, err := transit.Rotate(ctx)
		if err != nil {
			return fmt.Errorf("rotate the Transit key (the token needs vault.TransitAdminPolicy; see 'checkoutd kek policy -admin'): %w", err)
		}
		enc.Encode(map[string]any{"rotated": true, "latest_version": v})
	}
	p, err := vault.Rewrap(ctx, d.db, transit, vault.RewrapOptions{
		After:    after,
		Progress: func(p vault.RewrapProgress) { enc.Encode(p) },
	})
	if err != nil {
		enc.Encode(p)
		return fmt.Errorf("rewrap stopped; run 'checkoutd kek rewrap -after %s' to resume: %w", p.Cursor, err)
	}
	if raise {
		if !p.Finished {
			return errors.New("rewrap did not finish; the minimum decryption version was not raised")
		}
		if err := transit.SetMinDecryptionVersion(ctx, p.Latest); err != nil {
			return fmt.Errorf("raise the minimum decryption version: %w", err)
		}
		enc.Encode(map[string]any{"min_decryption_version": p.Latest})
	}
	return nil
}

// runKEKPolicy prints the least-privilege HashiCorp Vault policy of the
// service (or, with -admin, of the operator who rotates).
func runKEKPolicy(args []string, stdout, stderr io.Writer) error {
	var admin bool
	cfg, err := parseConfig("checkoutd kek policy", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&admin, "admin", false, "the rotation operator's policy instead of the service's")
	})
	if err != nil {
		return err
	}
	policy := vault.TransitPolicy(cfg.VaultTransitMount, cfg.VaultTransitKey)
	if admin {
		policy = vault.TransitAdminPolicy(cfg.VaultTransitMount, cfg.VaultTransitKey)
	}
	_, err = io.WriteString(stdout, policy)
	return err
}

// runCertsDev writes a fresh development CA and server certificates for
// checkoutd and for a local Vault into a directory: ca.crt (trust it),
// checkoutd.crt/.key and vault.crt/.key (keys 0600). The CA's own key is not
// kept, so nothing more can be issued under it. Production loads real
// certificates with -tls-cert and -tls-key.
func runCertsDev(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("checkoutd certs dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory to write the certificates into (required)")
	var hosts stringList
	fs.Var(&hosts, "host", "a DNS name or IP the certificates are for (repeatable; default localhost, 127.0.0.1, ::1)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *out == "" {
		fmt.Fprintln(stderr, "certs dev: -out is required")
		return errUsage
	}
	if len(hosts) == 0 {
		hosts = stringList{"localhost", "127.0.0.1", "::1"}
	}
	ca, err := certs.NewDevCA("hosted checkout development CA")
	if err != nil {
		return err
	}
	written := map[string]string{}
	for _, name := range []string{"checkoutd", "vault"} {
		issued, err := ca.IssueServer(hosts...)
		if err != nil {
			return err
		}
		certFile, keyFile, err := issued.WriteFiles(*out, name)
		if err != nil {
			return err
		}
		written[name+"_cert"], written[name+"_key"] = certFile, keyFile
	}
	caFile := filepath.Join(*out, "ca.crt")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o644); err != nil {
		return err
	}
	written["ca"] = caFile
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(written)
}
