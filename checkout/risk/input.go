package risk

import (
	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// Input is what is known of a payment before authorization: checkout's
// ScreenInput. It holds no card number and no security code.
type Input = checkout.ScreenInput

// AuthOutcome is the issuer's answer, for the second screening (Rescreen)
// and the failed-authorization counts (RecordOutcome).
type AuthOutcome = checkout.AuthOutcome

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
