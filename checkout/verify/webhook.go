package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// WebhookSignatureHeader is the header every webhook carries:
//
//	Checkout-Signature: t=1767225600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//
// t is the Unix time the request was signed; each v1 is the lower-case hex
// HMAC-SHA256, keyed with the endpoint's whole secret ("whsec_..." as
// bytes), of t, a full stop and the raw request body. A header may carry
// several v1 values (for example while a secret is replaced); one matching
// is enough. Schemes other than v1 are ignored.
const WebhookSignatureHeader = "Checkout-Signature"

// DefaultWebhookTolerance is the replay window of WebhookSignature: a
// webhook signed longer ago than this, or this far in the future, is
// refused.
const DefaultWebhookTolerance = 5 * time.Minute

// Errors of WebhookSignature. Test with errors.Is.
var (
	ErrWebhookHeader    = errors.New("verify: missing or malformed " + WebhookSignatureHeader + " header")
	ErrWebhookSignature = errors.New("verify: no webhook signature matches (wrong secret, or the body was changed)")
	ErrWebhookTimestamp = errors.New("verify: webhook timestamp outside the tolerance (a replay, or a clock far off)")
)

// Limits of a signature header: a real one is about 80 bytes with one v1.
// Anything far larger is an attack on the verifier's time, not a webhook.
const (
	maxSignatureHeader = 4 << 10
	maxSignatures      = 8
)

// SignWebhook returns the Checkout-Signature header value for body signed
// at t with secret. The checkout's dispatcher signs with it; merchants may
// use it to test their own handlers.
func SignWebhook(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// WebhookSignature checks a webhook: header is the Checkout-Signature
// header as received, body the raw request body (before any JSON parsing:
// re-encoded JSON does not verify), secret the endpoint's "whsec_..."
// secret. It refuses a missing or malformed header (ErrWebhookHeader), a
// body or secret that does not match any v1 signature (ErrWebhookSignature),
// and a timestamp more than tolerance before or after now
// (ErrWebhookTimestamp), so that a captured webhook cannot be replayed
// later. tolerance <= 0 means DefaultWebhookTolerance. The signature is
// checked before the timestamp, so an attacker learns nothing about the
// window from a forged request.
//
// Events may still arrive more than once within the window (deliveries are
// retried until acknowledged): deduplicate on the event's id.
func WebhookSignature(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	if secret == "" {
		return errors.New("verify: empty webhook secret")
	}
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	ts, sigs, err := parseSignatureHeader(header)
	if err != nil {
		return err
	}
	want := webhookMAC(secret, ts, body)
	matched := false
	for _, sig := range sigs {
		// hmac.Equal is constant-time; every value is compared so that the
		// time taken does not tell which one matched.
		if hmac.Equal(sig, want) {
			matched = true
		}
	}
	if !matched {
		return ErrWebhookSignature
	}
	sec, _ := strconv.ParseInt(ts, 10, 64) // checked by parseSignatureHeader
	signed := time.Unix(sec, 0)
	if d := now.Sub(signed); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed %s, now %s", ErrWebhookTimestamp, signed.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// parseSignatureHeader reads "t=<unix>,v1=<hex>[,v1=<hex>...]". Exactly one
// t, at least one well-formed v1; unknown schemes are skipped.
func parseSignatureHeader(header string) (ts string, sigs [][]byte, err error) {
	if header == "" || len(header) > maxSignatureHeader {
		return "", nil, ErrWebhookHeader
	}
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" {
			return "", nil, ErrWebhookHeader
		}
		switch k {
		case "t":
			if ts != "" || !validUnixSeconds(v) {
				return "", nil, ErrWebhookHeader
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return "", nil, ErrWebhookHeader
			}
			if len(sigs) == maxSignatures {
				return "", nil, ErrWebhookHeader
			}
			sigs = append(sigs, sig)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return "", nil, ErrWebhookHeader
	}
	return ts, sigs, nil
}

// validUnixSeconds accepts 1 to 12 ASCII digits with no sign or leading
// zero: the canonical form the signer wrote, so that "t=01" and "t=1" are
// not two spellings of one signed value.
func validUnixSeconds(s string) bool {
	if s == "" || len(s) > 12 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
