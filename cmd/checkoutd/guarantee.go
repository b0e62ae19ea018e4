package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// runGuarantee is the operator's side of the chargeback guarantee: "show"
// prints a merchant's guarantee this year, "set" changes its yearly cap.
// The cap is a term of the merchant's contract, so it is the operator's to
// set, never the merchant's (whom the guarantee pays).
func runGuarantee(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	var merchantID, currency string
	var yearlyCap int64
	_, d, log, err := openCommand(ctx, "checkoutd guarantee "+sub, args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&merchantID, "merchant", "", "the merchant's id, mer_... (required)")
		if sub == "set" {
			fs.Int64Var(&yearlyCap, "cap", -1, "the yearly cap, in the currency's minor unit (required; e.g. 100000 for ¥100,000)")
			fs.StringVar(&currency, "currency", "", "the cap's currency: JPY, USD, EUR or GBP (required)")
		}
	})
	if err != nil {
		return err
	}
	defer d.Close()
	db, ok := d.db.(notifyStore)
	if !ok {
		return errors.New("guarantee: this store keeps no chargebacks")
	}
	if merchantID == "" {
		return errors.New("guarantee: -merchant mer_... is required")
	}
	if sub == "set" && (yearlyCap < 0 || currency == "") {
		return errors.New("guarantee set: -cap and -currency are required")
	}
	m, err := d.db.Merchant(ctx, merchantID)
	if err != nil {
		return fmt.Errorf("guarantee: %w", err)
	}
	cbs := &checkout.Chargebacks{Store: db}
	var st checkout.GuaranteeStatus
	if sub == "set" {
		if st, err = cbs.SetGuarantee(ctx, m, checkout.GuaranteeRequest{YearlyCap: yearlyCap, Currency: currency}); err != nil {
			return fmt.Errorf("guarantee set: %w", err)
		}
		log.Info("guarantee set by the operator", "merchant", m.ID, "yearly_cap", yearlyCap, "currency", currency)
	} else if st, err = cbs.Status(ctx, m); err != nil {
		return fmt.Errorf("guarantee show: %w", err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		MerchantID       string           `json:"merchant_id"`
		YearlyCap        int64            `json:"yearly_cap"`
		Currency         string           `json:"currency"`
		Default          bool             `json:"default"`
		Year             int              `json:"year"`
		Used             int64            `json:"used"`
		Remaining        int64            `json:"remaining"`
		LiabilityShifted map[string]int64 `json:"liability_shifted"`
	}{m.ID, st.Guarantee.YearlyCap, st.Guarantee.Currency, !st.Guarantee.Custom, st.Year, st.Used, st.Remaining, st.LiabilityShifted})
}

// runProcessorsKey makes a key for the card processor's chargeback
// notifications and says how to install it: the key goes to the processor
// and, in a file, to every instance (-processor-key-file); only its hash is
// kept in memory.
func runProcessorsKey(stdout io.Writer) error {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Key  string `json:"processor_key"`
		Note string `json:"note"`
	}{newProcessorKey(), "give this key to the card processor, and put it in a file (mode 0600) that every instance reads with -processor-key-file"})
}
