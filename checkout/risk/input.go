package risk

import (
	"net/netip"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// Input is what is known of a payment before authorization. It holds no card
// number and no security code: the card is its keyed fingerprint, its BIN
// and last 4 (PCI DSS 3.4.1 allows the first six and last four), its brand
// and expiry, and what the shopper said about the code.
type Input struct {
	MerchantID string `json:"merchant_id"`
	SessionID  string `json:"session_id"`
	Amount     int64  `json:"amount"` // in the currency's minor unit
	Currency   string `json:"currency"`

	Fingerprint string               `json:"card_fingerprint"` // the vault's keyed HMAC of the number; required
	BIN         string               `json:"bin"`              // first 6 (or 8) digits
	Brand       checkout.Brand       `json:"brand"`
	Last4       string               `json:"last4"`
	ExpMonth    int                  `json:"exp_month"`
	ExpYear     int                  `json:"exp_year"`
	CVC         checkout.CVCPresence `json:"cvc_presence"` // provided, or X / I

	Email    string            `json:"customer_email,omitempty"`
	Shipping *checkout.Address `json:"shipping_address,omitempty"`
	IP       netip.Addr        `json:"ip"`                  // the shopper's address as the web layer trusts it
	DeviceID string            `json:"device_id,omitempty"` // the device cookie's value; empty when the shopper has none

	Time time.Time `json:"time"` // when the shopper submitted; required
}

// AuthOutcome is the issuer's answer, for the second screening (Rescreen)
// and the failed-authorization counts (RecordOutcome).
type AuthOutcome struct {
	Approved      bool              `json:"approved"`
	DeclineReason string            `json:"decline_reason,omitempty"` // checkout.Decline*
	CVCCheck      checkout.CVCCheck `json:"cvc_check"`
}

// derived are the normalised forms of an input the rules and keys use.
type derived struct {
	email       string // NormalizeEmail
	address     string // NormalizeAddress, full
	addressBare string // without the postal code, to match entries added without one
	ipKey       string // the address, or its /64 for IPv6
	card        string // hashed fingerprint, the member of distinct-card counts
	device      string
}

func derive(in Input) derived {
	d := derived{card: hash16(in.Fingerprint), device: in.DeviceID}
	if in.Email != "" {
		d.email = NormalizeEmail(in.Email)
	}
	if in.Shipping != nil {
		d.address, d.addressBare = addressForms(*in.Shipping, true)
	}
	if ip := in.IP.Unmap(); ip.IsValid() {
		if ip.Is6() {
			// One IPv6 host usually holds a whole /64: counting single
			// addresses would let one machine rotate through 2^64 of them.
			p, _ := ip.Prefix(64)
			d.ipKey = p.String()
		} else {
			d.ipKey = ip.String()
		}
	}
	if len(d.device) > 256 {
		d.device = d.device[:256] // a cookie is ours and short; a longer one is tampering, still counted
	}
	return d
}
