package checkout

import (
	"encoding/json"
	"time"
)

// AuditEntry is one change to a merchant's settings (screening rules,
// blocklists, card-testing limits, payment methods): who made it, when, and
// the state before and after, as JSON (null where there was nothing:
// settings never saved before, an entry not yet or no longer on a list).
// It is appended in the same transaction as the change itself, so that no
// change goes unrecorded (PCI DSS 10.2.1.2, 10.2.2).
type AuditEntry struct {
	ID         string          // "aud_..."
	MerchantID string          // whose settings changed
	Actor      string          // who changed them: APIActor, never a secret
	Action     string          // what changed, e.g. risk.AuditSettingsUpdate or AuditPaymentMethodsUpdate
	Before     json.RawMessage // nil is JSON null
	After      json.RawMessage // nil is JSON null
	At         time.Time
}

// APIActor names a merchant's API key as the actor of a change: the
// merchant id and the key's fingerprint, never the key.
func APIActor(m Merchant) string {
	return m.ID + "/" + m.APIKeyFingerprint()
}
