// Package sqlstore is what the SQLite and PostgreSQL stores share beyond
// their dialects: the column lists of the checkout's rows and the code that
// turns a row into a Session, Merchant, Payment, Attempt or Chargeback and
// a decision or 3-D Secure view into column values. Both drivers scan into
// the same destinations (database/sql's Null types and sql.Scanner, which
// pgx honours too) and both take JSON columns as text (SQLite's TEXT,
// PostgreSQL's jsonb), so one piece of code serves both; what differs
// (placeholders, transactions, locks, time as an argument, error codes)
// stays in each store. storetest, run against both, is the judge.
package sqlstore

import (
	"cmp"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// Row is a row to scan: *sql.Row, *sql.Rows, pgx.Row or pgx.Rows.
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result to walk: *sql.Rows or pgx.Rows.
type Rows interface {
	Row
	Next() bool
	Err() error
}

// TimeDest scans a timestamp into *t, in UTC: SQLite's integer nanoseconds
// since the epoch, or PostgreSQL's timestamptz as pgx hands it over (in the
// process's zone). NULL scans as the zero time.
func TimeDest(t *time.Time) sql.Scanner { return timeDest{t} }

type timeDest struct{ t *time.Time }

func (d timeDest) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*d.t = time.Time{}
	case int64:
		*d.t = time.Unix(0, v).UTC()
	case time.Time:
		*d.t = v.UTC()
	default:
		return fmt.Errorf("sqlstore: a time column holds %T", v)
	}
	return nil
}

// Qualified prefixes each name of a column list with alias.
func Qualified(alias, columns string) string {
	names := strings.Split(columns, ",")
	for i, n := range names {
		names[i] = alias + "." + strings.TrimSpace(n)
	}
	return strings.Join(names, ", ")
}

// Placeholders is "$1, $2, ..., $n": both SQLite (modernc binds $n by
// number) and PostgreSQL read them.
func Placeholders(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", i)
	}
	return b.String()
}

// nullable is s as a column's value: NULL for "".
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jsonText is v as a JSON column's value: its text, or NULL for nil.
func jsonText(v any, what string) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: encode %s: %w", what, err)
	}
	return string(b), nil
}

// SessionColumns are a session's, as SessionDest scans them.
const SessionColumns = `id, merchant_id, amount, currency, order_id, success_url, cancel_url, locale,
	result_delivery, customer_email, shipping, status, attempts, payment_id,
	created_at, expires_at, processing_since, capture_method, authorization_days, payment_methods,
	customer_id, save_card`

// SessionDest scans SessionColumns into a Session: Dest gives the scan's
// destinations, Finish decodes what they could not hold directly.
type SessionDest struct {
	shipping       sql.NullString
	paymentID      sql.NullString
	paymentMethods sql.NullString
	customerID     sql.NullString
}

// Dest is the destinations of SessionColumns for s.
func (d *SessionDest) Dest(s *checkout.Session) []any {
	return []any{&s.ID, &s.MerchantID, &s.Amount, &s.Currency, &s.OrderID, &s.SuccessURL, &s.CancelURL, &s.Locale,
		&s.ResultDelivery, &s.CustomerEmail, &d.shipping, (*string)(&s.Status), &s.Attempts, &d.paymentID,
		TimeDest(&s.CreatedAt), TimeDest(&s.ExpiresAt), TimeDest(&s.ProcessingSince), &s.CaptureMethod, &s.AuthorizationDays, &d.paymentMethods,
		&d.customerID, &s.SaveCard}
}

// Finish completes s once a row was scanned into Dest(s).
func (d *SessionDest) Finish(s *checkout.Session) error {
	s.Shipping = nil
	if d.shipping.Valid {
		s.Shipping = new(checkout.Address)
		if err := json.Unmarshal([]byte(d.shipping.String), s.Shipping); err != nil {
			return fmt.Errorf("sqlstore: shipping address: %w", err)
		}
	}
	s.PaymentID = d.paymentID.String
	s.CustomerID = d.customerID.String
	s.PaymentMethods = nil
	if d.paymentMethods.Valid {
		s.PaymentMethods = new(checkout.PaymentMethodSet)
		if err := json.Unmarshal([]byte(d.paymentMethods.String), s.PaymentMethods); err != nil {
			return fmt.Errorf("sqlstore: session payment methods: %w", err)
		}
	}
	return nil
}

// ScanSession reads a row of SessionColumns.
func ScanSession(row Row) (checkout.Session, error) {
	var s checkout.Session
	var d SessionDest
	if err := row.Scan(d.Dest(&s)...); err != nil {
		return checkout.Session{}, err
	}
	if err := d.Finish(&s); err != nil {
		return checkout.Session{}, err
	}
	return s, nil
}

// SessionValues are s's values of SessionColumns; created, expires and
// processing are its times as the store's dialect writes them. No
// shipping address and no payment are NULL.
func SessionValues(s checkout.Session, created, expires, processing any) ([]any, error) {
	var shipping, paymentID, paymentMethods, customerID any
	if s.Shipping != nil {
		var err error
		if shipping, err = jsonText(s.Shipping, "shipping address"); err != nil {
			return nil, err
		}
	}
	if s.PaymentMethods != nil {
		var err error
		if paymentMethods, err = jsonText(s.PaymentMethods, "session payment methods"); err != nil {
			return nil, err
		}
	}
	if s.PaymentID != "" {
		paymentID = s.PaymentID
	}
	if s.CustomerID != "" {
		customerID = s.CustomerID
	}
	return []any{s.ID, s.MerchantID, s.Amount, s.Currency, s.OrderID, s.SuccessURL, s.CancelURL, s.Locale,
		s.ResultDelivery, s.CustomerEmail, shipping, string(s.Status), s.Attempts, paymentID,
		created, expires, processing, s.EffectiveCaptureMethod(), s.EffectiveAuthorizationDays(), paymentMethods,
		customerID, s.SaveCard}, nil
}

// IdempotentSessionQuery reads the request hash and session of a
// merchant's ($1) idempotency key ($2) stored after $3.
const IdempotentSessionQuery = `SELECT request_hash, session_id FROM idempotency_keys
	WHERE merchant_id = $1 AND key = $2 AND created_at > $3`

// InsertSession stores a session's SessionValues.
var InsertSession = `INSERT INTO sessions (` + SessionColumns + `) VALUES (` + Placeholders(22) + `)`

// MerchantColumns are a merchant's (alias m) and one of its origins'
// (alias o, NULL when it has none) in a join of merchant_origins onto
// merchants, ordered by o.position, as MerchantDest scans them: a row per
// origin.
const MerchantColumns = `m.id, m.name, m.api_key_hash, m.created_at, m.payment_methods, o.scheme, o.host, o.port`

// MerchantDest scans MerchantColumns, a row per origin.
type MerchantDest struct {
	paymentMethods sql.NullString
	scheme, host   sql.NullString
	port           sql.NullInt64
}

// Dest is the destinations of MerchantColumns for m.
func (d *MerchantDest) Dest(m *checkout.Merchant) []any {
	return []any{&m.ID, &m.Name, &m.APIKeyHash, TimeDest(&m.CreatedAt), &d.paymentMethods, &d.scheme, &d.host, &d.port}
}

// AddOrigin appends the row's origin, if it had one, to m.
func (d *MerchantDest) AddOrigin(m *checkout.Merchant) {
	if d.scheme.Valid {
		m.Origins = append(m.Origins, checkout.Origin{Scheme: d.scheme.String, Host: d.host.String, Port: int(d.port.Int64)})
	}
}

// Finish completes m once its rows were scanned: its payment methods,
// decoded once, not per origin.
func (d *MerchantDest) Finish(m *checkout.Merchant) (err error) {
	m.PaymentMethods, err = checkout.DecodePaymentMethods([]byte(d.paymentMethods.String))
	return err
}

// MerchantQuery reads the merchant that where (on alias m, its argument $1)
// finds, with its origins, for ScanMerchant.
func MerchantQuery(where string) string {
	return `SELECT ` + MerchantColumns + `
		FROM merchants m LEFT JOIN merchant_origins o ON o.merchant_id = m.id
		WHERE ` + where + ` ORDER BY o.position`
}

// ScanMerchant reads the rows of MerchantColumns of one merchant; found is
// false when there were none.
func ScanMerchant(rows Rows) (m checkout.Merchant, found bool, err error) {
	var d MerchantDest
	for rows.Next() {
		if err := rows.Scan(d.Dest(&m)...); err != nil {
			return checkout.Merchant{}, false, err
		}
		found = true
		d.AddOrigin(&m)
	}
	if err := rows.Err(); err != nil || !found {
		return m, found, err
	}
	return m, found, d.Finish(&m)
}

// CheckoutQuery reads a session (its id the query's only argument, $1),
// its merchant and the merchant's origins, for ScanCheckout.
var CheckoutQuery = `SELECT ` + Qualified("s", SessionColumns) + `, ` + MerchantColumns + `
	FROM sessions s JOIN merchants m ON m.id = s.merchant_id
	LEFT JOIN merchant_origins o ON o.merchant_id = m.id
	WHERE s.id = $1 ORDER BY o.position`

// ScanCheckout reads CheckoutQuery's rows (one per origin, the session's
// and merchant's columns repeated on each); found is false when there
// were none.
func ScanCheckout(rows Rows) (co checkout.Checkout, found bool, err error) {
	var sd SessionDest
	var md MerchantDest
	for rows.Next() {
		if err := rows.Scan(append(sd.Dest(&co.Session), md.Dest(&co.Merchant)...)...); err != nil {
			return checkout.Checkout{}, false, err
		}
		found = true
		md.AddOrigin(&co.Merchant)
	}
	if err := rows.Err(); err != nil {
		return checkout.Checkout{}, false, err
	}
	if !found {
		return checkout.Checkout{}, false, nil
	}
	if err := sd.Finish(&co.Session); err != nil {
		return checkout.Checkout{}, false, err
	}
	if err := md.Finish(&co.Merchant); err != nil {
		return checkout.Checkout{}, false, err
	}
	return co, true, nil
}

// RiskColumns are a screening decision's values for the columns
// risk_verdict, risk_score, risk_reasons and risk_platform: all NULL
// without a decision.
func RiskColumns(d *checkout.RiskDecision) (verdict, score, reasons, platform any, err error) {
	if d == nil {
		return nil, nil, nil, nil, nil
	}
	if reasons, err = jsonText(nonNilReasons(d.Reasons), "risk reasons"); err != nil {
		return nil, nil, nil, nil, err
	}
	if d.Platform != nil {
		if platform, err = jsonText(d.Platform, "platform verdict"); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	return string(d.Verdict), int64(d.Score), reasons, platform, nil
}

func nonNilReasons(rs []checkout.RiskReason) []checkout.RiskReason {
	if rs == nil {
		return []checkout.RiskReason{}
	}
	return rs
}

// RiskDest scans the decision columns RiskColumns writes.
type RiskDest struct {
	verdict  sql.NullString
	score    sql.NullInt64
	reasons  sql.NullString
	platform sql.NullString
}

// Dest is the destinations of the four columns, in RiskColumns' order.
func (r *RiskDest) Dest() []any {
	return []any{&r.verdict, &r.score, &r.reasons, &r.platform}
}

// Decision is the scanned decision; nil when none was stored.
func (r *RiskDest) Decision() (*checkout.RiskDecision, error) {
	if !r.verdict.Valid {
		return nil, nil
	}
	d := &checkout.RiskDecision{Verdict: checkout.Verdict(r.verdict.String), Score: int(r.score.Int64)}
	if r.reasons.Valid {
		if err := json.Unmarshal([]byte(r.reasons.String), &d.Reasons); err != nil {
			return nil, fmt.Errorf("sqlstore: risk reasons: %w", err)
		}
	}
	d.Reasons = nonNilReasons(d.Reasons)
	if r.platform.Valid {
		d.Platform = &checkout.PlatformDecision{}
		if err := json.Unmarshal([]byte(r.platform.String), d.Platform); err != nil {
			return nil, fmt.Errorf("sqlstore: platform verdict: %w", err)
		}
	}
	return d, nil
}

// ThreeDSColumn is a 3-D Secure view as the three_ds column's value; NULL
// for none.
func ThreeDSColumn(t *checkout.ThreeDS) (any, error) {
	if t == nil {
		return nil, nil
	}
	return jsonText(t, "3-D Secure")
}

// ThreeDSDest scans the three_ds column.
type ThreeDSDest struct{ s sql.NullString }

// Dest is the column's destination.
func (d *ThreeDSDest) Dest() any { return &d.s }

// View is the scanned view; nil for NULL.
func (d *ThreeDSDest) View() (*checkout.ThreeDS, error) {
	if !d.s.Valid {
		return nil, nil
	}
	var t checkout.ThreeDS
	if err := json.Unmarshal([]byte(d.s.String), &t); err != nil {
		return nil, fmt.Errorf("sqlstore: 3-D Secure: %w", err)
	}
	return &t, nil
}

// judgedValues are the columns payments and attempts both end with:
// risk_verdict, risk_score, risk_reasons, risk_platform, three_ds.
func judgedValues(risk *checkout.RiskDecision, threeDS *checkout.ThreeDS) ([]any, error) {
	verdict, score, reasons, platform, err := RiskColumns(risk)
	if err != nil {
		return nil, err
	}
	view, err := ThreeDSColumn(threeDS)
	if err != nil {
		return nil, err
	}
	return []any{verdict, score, reasons, platform, view}, nil
}

// judgedDest scans the columns judgedValues writes.
type judgedDest struct {
	risk    RiskDest
	threeDS ThreeDSDest
}

func (d *judgedDest) dest() []any { return append(d.risk.Dest(), d.threeDS.Dest()) }

// finish decodes the scanned decision and view into risk and threeDS.
func (d *judgedDest) finish(risk **checkout.RiskDecision, threeDS **checkout.ThreeDS) error {
	var err error
	if *risk, err = d.risk.Decision(); err != nil {
		return err
	}
	*threeDS, err = d.threeDS.View()
	return err
}

// PaymentColumns are a payment's, as ScanPayment reads them and
// PaymentValues gives them.
const PaymentColumns = `id, session_id, merchant_id, order_id, amount, currency, status, card_token,
	brand, last4, exp_month, exp_year, fingerprint, cvc_check, auth_code, created_at,
	capture_method, amount_captured, authorized_until, amount_refunded, payment_method, installments,
	initiator, mit_reason, risk_verdict, risk_score, risk_reasons, risk_platform, three_ds`

// PaymentValues are p's values of PaymentColumns; created and
// authorizedUntil are its times as the store's dialect writes them (the
// zero time as NULL).
func PaymentValues(p checkout.Payment, created, authorizedUntil any) ([]any, error) {
	judged, err := judgedValues(p.Risk, p.ThreeDS)
	if err != nil {
		return nil, err
	}
	method := p.Method.Effective()
	return append([]any{p.ID, p.SessionID, p.MerchantID, p.OrderID, p.Amount, p.Currency, p.Status, p.CardToken,
		string(p.Brand), p.Last4, p.ExpMonth, p.ExpYear, p.Fingerprint, string(p.CVCCheck), p.AuthCode,
		created, cmp.Or(p.CaptureMethod, checkout.CaptureAutomatic), p.AmountCaptured, authorizedUntil, p.AmountRefunded,
		string(method.Type), method.Installments, cmp.Or(p.Initiator, checkout.InitiatorCustomer), nullable(p.MITReason)}, judged...), nil
}

// InsertPayment stores a payment's PaymentValues.
var InsertPayment = `INSERT INTO payments (` + PaymentColumns + `) VALUES (` + Placeholders(29) + `)`

// DueAuthorizationsQuery reads up to limit payments awaiting capture
// whose authorized_until is at or before $1, the longest overdue first
// (PaymentStore.DueAuthorizations). The limit is written into the text:
// SQLite plans a LIMIT by its bound value.
func DueAuthorizationsQuery(limit int) string {
	return `SELECT ` + PaymentColumns + ` FROM payments
		WHERE status IN ('authorized', 'held') AND authorized_until <= $1
		ORDER BY authorized_until LIMIT ` + strconv.Itoa(limit)
}

// ScanPayments reads rows of PaymentColumns.
func ScanPayments(rows Rows) ([]checkout.Payment, error) {
	var out []checkout.Payment
	for rows.Next() {
		p, err := ScanPayment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// RefundColumns are a refund's, as ScanRefund reads them and RefundValues
// gives them.
const RefundColumns = `id, payment_id, merchant_id, amount, currency, reason, note, status, failure_reason,
	created_at, updated_at`

// RefundValues are r's values of RefundColumns; created and updated are
// its times as the store's dialect writes them.
func RefundValues(r checkout.Refund, created, updated any) []any {
	return []any{r.ID, r.PaymentID, r.MerchantID, r.Amount, r.Currency, r.Reason, r.Note, r.Status, r.FailureReason,
		created, updated}
}

// InsertRefund stores a refund's RefundValues, then its idempotency key
// ($12, NULL for none) and request hash ($13).
var InsertRefund = `INSERT INTO refunds (` + RefundColumns + `, idempotency_key, request_hash) VALUES (` + Placeholders(13) + `)`

// ScanRefund reads a row of RefundColumns, and into extra the columns the
// query selected after them.
func ScanRefund(row Row, extra ...any) (checkout.Refund, error) {
	var r checkout.Refund
	err := row.Scan(append([]any{&r.ID, &r.PaymentID, &r.MerchantID, &r.Amount, &r.Currency, &r.Reason, &r.Note, &r.Status,
		&r.FailureReason, TimeDest(&r.CreatedAt), TimeDest(&r.UpdatedAt)}, extra...)...)
	return r, err
}

// ScanRefunds reads rows of RefundColumns.
func ScanRefunds(rows Rows) ([]checkout.Refund, error) {
	var out []checkout.Refund
	for rows.Next() {
		r, err := ScanRefund(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// PendingRefundsQuery reads up to limit refunds pending since before $1,
// oldest first (the limit written into the text, as DueAuthorizationsQuery's).
func PendingRefundsQuery(limit int) string {
	return `SELECT ` + RefundColumns + ` FROM refunds WHERE status = 'pending' AND created_at < $1
		ORDER BY created_at LIMIT ` + strconv.Itoa(limit)
}

// SettleRefundPayment is the payment's side of a refund settled as status
// (the refund's amount $1, its payment $2): a failed refund gives its
// amount back to what may be refunded; a succeeded one makes the payment
// refunded once its refunds took all that was captured and none is still
// pending.
func SettleRefundPayment(status string) string {
	if status == checkout.RefundFailed {
		return `UPDATE payments SET amount_refunded = amount_refunded - $1 WHERE id = $2`
	}
	return `UPDATE payments SET status = 'refunded'
		WHERE id = $2 AND $1 > 0 AND status IN ('succeeded', 'captured') AND amount_refunded = amount_captured
		AND NOT EXISTS (SELECT 1 FROM refunds WHERE payment_id = $2 AND status = 'pending')`
}

// ScanPayment reads a row of PaymentColumns.
func ScanPayment(row Row) (checkout.Payment, error) {
	var p checkout.Payment
	var judged judgedDest
	var reason sql.NullString
	if err := row.Scan(append([]any{&p.ID, &p.SessionID, &p.MerchantID, &p.OrderID, &p.Amount, &p.Currency, &p.Status, &p.CardToken,
		(*string)(&p.Brand), &p.Last4, &p.ExpMonth, &p.ExpYear, &p.Fingerprint, (*string)(&p.CVCCheck), &p.AuthCode,
		TimeDest(&p.CreatedAt), &p.CaptureMethod, &p.AmountCaptured, TimeDest(&p.AuthorizedUntil), &p.AmountRefunded,
		(*string)(&p.Method.Type), &p.Method.Installments, &p.Initiator, &reason}, judged.dest()...)...); err != nil {
		return checkout.Payment{}, err
	}
	if err := judged.finish(&p.Risk, &p.ThreeDS); err != nil {
		return checkout.Payment{}, err
	}
	p.MITReason = reason.String
	return p, nil
}

// AttemptColumns are an attempt's, as ScanAttempt reads them and
// AttemptValues gives them.
const AttemptColumns = `session_id, n, outcome, decline_reason, cvc_check, card_token, fingerprint, brand, last4, created_at,
	risk_verdict, risk_score, risk_reasons, risk_platform, three_ds`

// AttemptValues are a's values of AttemptColumns; created is its
// created_at as the store's dialect writes a time.
func AttemptValues(a checkout.Attempt, created any) ([]any, error) {
	judged, err := judgedValues(a.Risk, a.ThreeDS)
	if err != nil {
		return nil, err
	}
	return append([]any{a.SessionID, a.N, a.Outcome, a.DeclineReason, string(a.CVCCheck), a.CardToken, a.Fingerprint,
		string(a.Brand), a.Last4, created}, judged...), nil
}

// UpsertAttempt stores an attempt's AttemptValues. The last outcome wins:
// an approved attempt that could not be recorded is recorded again as
// reversed.
var UpsertAttempt = `INSERT INTO attempts (` + AttemptColumns + `) VALUES (` + Placeholders(15) + `)
	ON CONFLICT (session_id, n) DO UPDATE SET
		outcome = excluded.outcome, decline_reason = excluded.decline_reason,
		cvc_check = excluded.cvc_check, card_token = excluded.card_token,
		fingerprint = excluded.fingerprint, brand = excluded.brand,
		last4 = excluded.last4, created_at = excluded.created_at,
		risk_verdict = excluded.risk_verdict, risk_score = excluded.risk_score,
		risk_reasons = excluded.risk_reasons, risk_platform = excluded.risk_platform,
		three_ds = excluded.three_ds`

// ScanAttempts reads rows of AttemptColumns.
func ScanAttempts(rows Rows) ([]checkout.Attempt, error) {
	var out []checkout.Attempt
	for rows.Next() {
		var a checkout.Attempt
		var judged judgedDest
		if err := rows.Scan(append([]any{&a.SessionID, &a.N, &a.Outcome, &a.DeclineReason, (*string)(&a.CVCCheck), &a.CardToken,
			&a.Fingerprint, (*string)(&a.Brand), &a.Last4, TimeDest(&a.CreatedAt)}, judged.dest()...)...); err != nil {
			return nil, err
		}
		if err := judged.finish(&a.Risk, &a.ThreeDS); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ChargebackColumns are a chargeback's, as ScanChargeback reads them.
const ChargebackColumns = `id, merchant_id, payment_id, amount, currency, reason_code, reason, risk_verdict,
	occurred_at, created_at, guarantee_year, covered, covered_amount, coverage_currency, coverage_reason, liability_shift,
	platform_verdict`

// ChargebackValues are cb's values of ChargebackColumns; occurred and
// created are its times as the store's dialect writes them.
func ChargebackValues(cb checkout.Chargeback, occurred, created any) []any {
	c := cb.Coverage
	return []any{cb.ID, cb.MerchantID, cb.PaymentID, cb.Amount, cb.Currency, cb.ReasonCode, cb.Reason, cb.RiskVerdict,
		occurred, created, c.Year, c.Covered, c.CoveredAmount, c.Currency, c.Reason, c.LiabilityShift, cb.PlatformVerdict}
}

// InsertChargeback stores a chargeback's ChargebackValues.
var InsertChargeback = `INSERT INTO chargebacks (` + ChargebackColumns + `) VALUES (` + Placeholders(17) + `)`

// ScanChargeback reads a row of ChargebackColumns.
func ScanChargeback(row Row) (checkout.Chargeback, error) {
	var c checkout.Chargeback
	err := row.Scan(&c.ID, &c.MerchantID, &c.PaymentID, &c.Amount, &c.Currency, &c.ReasonCode, &c.Reason, &c.RiskVerdict,
		TimeDest(&c.OccurredAt), TimeDest(&c.CreatedAt), &c.Coverage.Year, &c.Coverage.Covered, &c.Coverage.CoveredAmount,
		&c.Coverage.Currency, &c.Coverage.Reason, &c.Coverage.LiabilityShift, &c.PlatformVerdict)
	return c, err
}

// AuthenticationColumns are a 3-D Secure authentication's, as
// ScanAuthentication reads them.
const AuthenticationColumns = `id, session_id, merchant_id, fingerprint, brand, acs_trans_id, challenge_requested,
	status, eci, value, failures, used_by, created_at, expires_at`

// InsertAuthentication stores an authentication's AuthenticationValues.
var InsertAuthentication = `INSERT INTO authentications (` + AuthenticationColumns + `) VALUES (` + Placeholders(14) + `)`

// AuthenticationValues are a's values of AuthenticationColumns; created and
// expires are its times as the store's dialect writes them.
func AuthenticationValues(a checkout.Authentication, created, expires any) []any {
	return []any{a.ID, a.SessionID, a.MerchantID, a.Fingerprint, string(a.Brand), a.ACSTransID, a.ChallengeRequested,
		string(a.Status), a.ECI, a.Value, a.Failures, a.UsedBy, created, expires}
}

// ScanAuthentication reads a row of AuthenticationColumns.
func ScanAuthentication(row Row) (checkout.Authentication, error) {
	var a checkout.Authentication
	err := row.Scan(&a.ID, &a.SessionID, &a.MerchantID, &a.Fingerprint, (*string)(&a.Brand), &a.ACSTransID, &a.ChallengeRequested,
		(*string)(&a.Status), &a.ECI, &a.Value, &a.Failures, &a.UsedBy, TimeDest(&a.CreatedAt), TimeDest(&a.ExpiresAt))
	return a, err
}

// InTypeOrder sorts an endpoint's event types as
// checkout.WebhookEventTypes lists them.
func InTypeOrder(events []string) []string {
	out := make([]string, 0, len(events))
	for _, t := range checkout.WebhookEventTypes {
		for _, e := range events {
			if e == t {
				out = append(out, t)
			}
		}
	}
	return out
}
