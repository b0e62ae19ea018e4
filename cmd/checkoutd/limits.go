package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

// runLimits is the operator's side of the per-merchant card-testing
// limits: "show" prints a merchant's limits in force and their layers,
// "set" makes the operator's layer (replacing the previous one whole: a
// limit not given is the platform's, the flags' or CHECKOUT_LIMIT_*'s),
// "reset" removes it. These limits protect issuers and the platform, so
// they are the operator's; the merchant may only make them stricter
// (PUT /v1/risk/settings). Every change is audited (actor "operator") in
// the merchant's log. Running instances apply a change within
// risk.DefaultLimitsTTL (5 s), the age of their cached limits.
//
// It needs only the store, not the vault. "show" computes the limits in
// force with the flags and environment it is given: run it with the
// service's CHECKOUT_* environment.
func runLimits(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	var merchantID string
	var o risk.LimitOverrides
	name := "checkoutd limits " + sub
	cfg, err := parseConfig(name, args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&merchantID, "merchant", "", "the merchant's id, mer_... (required)")
		if sub != "set" {
			return
		}
		for _, l := range []struct {
			name, what string
			o          *risk.LimitOverride
		}{
			{"merchant", "attempts at the merchant, all shoppers together", &o.Merchant},
			{"ip", "attempts from one client IP", &o.IP},
			{"session", "attempts on one checkout session", &o.Session},
			{"card", "attempts with one card", &o.Card},
			{"chunk", "distinct card numbers sharing their first 12 digits", &o.Chunk},
		} {
			fs.Var(optionalInt{&l.o.Max}, l.name+"-max", fmt.Sprintf("%s per -%s-window, 0 to %d (0 off); default the platform's", l.what, l.name, risk.LimitMax(l.name)))
			fs.Var(optionalDuration{&l.o.Window}, l.name+"-window", fmt.Sprintf("window of -%s-max, 1s to %s; default the platform's", l.name, risk.Duration(risk.MaxWindow)))
		}
	})
	if err != nil {
		return err
	}
	if merchantID == "" {
		return errors.New("limits: -merchant mer_... is required")
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	log := newLogger(cfg, stderr)
	if _, err := db.Merchant(ctx, merchantID); err != nil {
		return fmt.Errorf("limits %s: %w", sub, err)
	}
	limits := &risk.Limits{Store: db, Platform: cfg.Guard().RateLimits()}
	switch sub {
	case "set":
		if _, err := limits.SetOperator(ctx, risk.OperatorActor, merchantID, o); err != nil {
			return fmt.Errorf("limits set: %w", flagError(err))
		}
		b, _ := json.Marshal(o)
		log.Info("card-testing limits set by the operator", "merchant", merchantID, "limits", string(b))
	case "reset":
		_, changed, err := limits.ResetOperator(ctx, risk.OperatorActor, merchantID)
		if err != nil {
			return fmt.Errorf("limits reset: %w", err)
		}
		if changed {
			log.Info("card-testing limits reset to the platform's by the operator", "merchant", merchantID)
		}
	}
	return showLimits(ctx, stdout, limits, merchantID)
}

// showLimits prints the merchant's limits in force and each layer: the
// platform's (this command's flags), the operator's and the merchant's own
// (null where there is none).
func showLimits(ctx context.Context, stdout io.Writer, limits *risk.Limits, merchantID string) error {
	operator, merchant, err := limits.Layers(ctx, merchantID)
	if err != nil {
		return fmt.Errorf("limits show: %w", err)
	}
	layer := func(o risk.LimitOverrides) *risk.LimitOverrides {
		if o.IsZero() {
			return nil
		}
		return &o
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		MerchantID  string               `json:"merchant_id"`
		CardTesting risk.RateLimits      `json:"card_testing"`
		Operator    *risk.LimitOverrides `json:"operator"`
		Merchant    *risk.LimitOverrides `json:"merchant"`
		Platform    risk.RateLimits      `json:"platform"`
		Note        string               `json:"note"`
	}{merchantID, merchant.Within(operator.Over(limits.Platform)), layer(operator), layer(merchant), limits.Platform,
		"card_testing is in force: the operator's values over the platform's, made stricter where the merchant chose; running instances apply a change within " + risk.Duration(risk.DefaultLimitsTTL).String()})
}

// apiField is a value of the API's card_testing object, as the risk
// package names it.
var apiField = regexp.MustCompile(`card_testing\.([a-z]+)\.(max|window)`)

// flagError names the flag of a refused value (card_testing.ip.max is
// -ip-max) in the operator's terms.
func flagError(err error) error {
	var e *checkout.Error
	if !errors.As(err, &e) || e.Code != checkout.EINVALID {
		return err
	}
	return errors.New(apiField.ReplaceAllString(e.Message, "-$1-$2"))
}

// optionalInt is an integer flag that stays nil unless given.
type optionalInt struct{ p **int }

func (f optionalInt) String() string {
	if f.p == nil || *f.p == nil {
		return ""
	}
	return strconv.Itoa(**f.p)
}

func (f optionalInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("must be a whole number")
	}
	*f.p = &n
	return nil
}

// optionalDuration is a duration flag that stays nil unless given.
type optionalDuration struct{ p **risk.Duration }

func (f optionalDuration) String() string {
	if f.p == nil || *f.p == nil {
		return ""
	}
	return (*f.p).String()
}

func (f optionalDuration) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("must be a duration such as 30s, 1m or 1h")
	}
	rd := risk.Duration(d)
	*f.p = &rd
	return nil
}
