package checkout

import (
	"errors"
	"fmt"
)

// Error codes. The web package maps each to one HTTP status; clients branch on
// the code, never on the message.
const (
	EINVALID      = "invalid"                // bad input; Field names the input
	EUNAUTHORIZED = "unauthorized"           // missing or wrong API key
	EFORBIDDEN    = "forbidden"              // authenticated, but not allowed
	ENOTFOUND     = "not_found"              // no such session, payment or token
	ECONFLICT     = "conflict"               // state does not allow it (already paid, in progress)
	EIDEMPOTENCY  = "idempotency_mismatch"   // Idempotency-Key reused with another body
	ETOOLARGE     = "too_large"              // body over the size cap
	EMEDIATYPE    = "unsupported_media_type" // wrong Content-Type
	EDECLINED     = "card_declined"          // the issuer said no; one message for every reason (no oracle) but a refused payment method
	EEXPIRED      = "session_expired"        // the checkout session is past its expiry
	EAUTHEXPIRED  = "authorization_expired"  // a payment's authorization is past its authorized_until
	ETIMEOUT      = "processor_timeout"      // authorization did not answer before its deadline
	EUNAVAILABLE  = "unavailable"            // a dependency is down; try again later
	ERATELIMITED  = "rate_limited"           // too many requests
	ECHALLENGE    = "challenge_required"     // the page must solve a proof-of-work challenge first (suspicious traffic)
	EINTERNAL     = "internal"               // a bug or an unexpected failure; details only in logs
)

// Error is the one error type of the product. Message is safe to show to the
// user it concerns: it never carries a card number or a security code.
type Error struct {
	Code    string            // one of the E* codes above
	Field   string            // the input at fault, when there is one ("number", "cvc", "success_url")
	Message string            // English, user-safe
	MsgID   string            // i18n message id for shopper-facing text, e.g. "card.cvc.length_front"
	Params  map[string]string // values for the message template, e.g. {"Brand": "American Express"}
	Details []*Error          // for a form: one error per field at fault, so each shows next to its field
	Err     error             // the cause, for the operator's logs; never shown to users
}

// Error is for logs: the code, the message and the cause. Users see only
// Message (ErrorMessage).
func (e *Error) Error() string {
	s := fmt.Sprintf("checkout: %s: %s", e.Code, e.Message)
	if e.Field != "" {
		s = fmt.Sprintf("checkout: %s (%s): %s", e.Code, e.Field, e.Message)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
// Never pass card data as an argument.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EINVALID error about one input field, with the i18n
// message id the shopper's page translates.
func FieldError(field, msgID, message string, params map[string]string) *Error {
	return &Error{Code: EINVALID, Field: field, Message: message, MsgID: msgID, Params: params}
}

// ErrorCode returns the code of err, EINTERNAL for an error without one, and
// "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of err; errors without a code
// show "internal error" so that no detail of a failure reaches a user.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
