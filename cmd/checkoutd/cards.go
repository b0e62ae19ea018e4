package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// runCards is the operator's view of the vault's cards: "locked" lists the
// cards locked now after wrong security codes, "unlock" ends one card's
// lock (a cardholder who called support, as with an issuer's lock), and
// "retention" counts the cards by state for -card-retention (erased,
// saved, awaiting capture, within the period, due to be erased). Cards are named by their
// keyed fingerprint (fp_...), as the merchant API shows them: the operator
// never handles a card number.
func runCards(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	var fingerprint string
	var extra func(*flag.FlagSet)
	if sub == "unlock" {
		extra = func(fs *flag.FlagSet) {
			fs.StringVar(&fingerprint, "fingerprint", "", "the card's fingerprint, fp_... (required)")
		}
	}
	cfg, d, log, err := openCommand(ctx, "checkoutd cards "+sub, args, stderr, extra)
	if err != nil {
		return err
	}
	defer d.Close()
	now := time.Now().UTC()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	switch sub {
	case "retention":
		report, err := d.service(cfg, "", nil, log).CardRetentionReport(ctx)
		if err != nil {
			return fmt.Errorf("cards retention: %w", err)
		}
		return enc.Encode(struct {
			Retention string `json:"retention"`
			checkout.RetentionReport
		}{cfg.CardRetention.String(), report})
	case "locked":
		locks, err := d.db.LockedCards(ctx, now)
		if err != nil {
			return fmt.Errorf("cards locked: %w", err)
		}
		return enc.Encode(struct {
			Locked any `json:"locked"`
		}{locks})
	default:
		if !strings.HasPrefix(fingerprint, "fp_") || len(fingerprint) > 64 {
			return errors.New("cards unlock: -fingerprint fp_... is required")
		}
		ok, err := d.db.UnlockCard(ctx, fingerprint, now)
		if err != nil {
			return fmt.Errorf("cards unlock: %w", err)
		}
		if !ok {
			return fmt.Errorf("cards unlock: %s is not locked", fingerprint)
		}
		log.Info("card unlocked by the operator", "fingerprint", fingerprint)
		return enc.Encode(struct {
			Fingerprint string `json:"card_fingerprint"`
			Unlocked    bool   `json:"unlocked"`
		}{fingerprint, true})
	}
}
