package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
)

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// runMerchantsCreate registers a merchant and prints its id and secret key
// as JSON. The key is shown this once: only its hash is stored.
func runMerchantsCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var name string
	var origins stringList
	cfg, err := parseConfig("checkoutd merchants create", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "the merchant's name (required)")
		fs.Var(&origins, "origin", "an origin the merchant's pages and return URLs live on, e.g. https://shop.example (repeatable, at least one)")
	})
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	d, err := openDeps(ctx, cfg, log)
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
	cfg, err := parseConfig("checkoutd keys rotate", args, stderr, nil)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	d, err := openDeps(ctx, cfg, log)
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
