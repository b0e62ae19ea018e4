package checkout

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
	"github.com/hostedcheckout/hostedcheckout/vault"
)

// Store is everything the checkout keeps. checkout/sqlite implements it.
type Store interface {
	MerchantStore
	APIKeyRotator
	SessionStore
	PaymentStore
	RefundStore
	AuthenticationStore
	PaymentMethodStore
	CustomerStore
	CardRetentionStore
	CardUpdateStore
}

// Tokenizer keeps card numbers. vault.Vault implements it.
type Tokenizer interface {
	// Tokenize encrypts the number and returns a random token for it with
	// the card's safe metadata. EUNAVAILABLE-worthy failures come back as
	// plain errors; the Service maps them.
	Tokenize(ctx context.Context, pan []byte, brand string, expMonth, expYear int) (vault.Card, error)
	// Fingerprint is the number's keyed fingerprint, as Tokenize gives it,
	// without storing the number: screening judges a card before it is
	// stored.
	Fingerprint(pan []byte) string
	// Reveal returns the number of a token, for one authorization with a
	// saved card; the caller wipes it. An erased number is vault.ErrErased.
	Reveal(ctx context.Context, token string) ([]byte, error)
}

// ResultSigner signs result tokens. vault.Vault implements it.
type ResultSigner interface {
	// Sign returns a compact JWS of claims with the current key's kid and
	// typ verify.TokenType.
	Sign(ctx context.Context, claims jwt.Claims) (string, error)
}

// Service is the checkout: sessions, the card submission, the signed result.
type Service struct {
	Store      Store
	Vault      Tokenizer
	Signer     ResultSigner
	Authorizer Authorizer
	// Authenticator is 3-D Secure: the issuer authenticates the shopper
	// before authorization, frictionless or with a challenge. Nil
	// authenticates nothing (tests); production wiring always sets it.
	Authenticator Authenticator
	// Screener judges every payment for fraud before authorization and
	// again with the issuer's answer. Nil screens nothing: every payment is
	// OK (for tests that do not care); production wiring always sets it.
	Screener Screener
	// Notifier hears of the webhook events stored with payments' changes,
	// to start their delivery; nil: they wait for the dispatcher's poll.
	Notifier Notifier
	// Guard is the card-testing defence (rate limits, the security-code
	// lockout), consulted before a card is tokenized or sent to the issuer;
	// nil guards nothing (tests). Production wiring always sets it, with
	// CardKeys to derive the keyed values it counts by.
	Guard    Guard
	CardKeys CardKeys
	// Challenges, when set, make suspicious traffic solve a proof of work
	// (challenge.go) before its attempt begins.
	Challenges    ChallengeState
	ChallengeBits int           // difficulty; default DefaultChallengeBits
	ChallengeTTL  time.Duration // default DefaultChallengeTTL
	Log           *slog.Logger

	Issuer      string        // iss of result tokens: the checkout's base URL
	SessionTTL  time.Duration // how long a session is open; default 30 minutes
	AuthTimeout time.Duration // authorization deadline; default 5 seconds
	ResultTTL   time.Duration // lifetime of a result token; default 10 minutes
	// CardRetention is how long a card nobody saved keeps its number once
	// no payment awaits its capture; default DefaultCardRetention.
	CardRetention time.Duration
	Now           func() time.Time
}

// Defaults of the Service's durations.
const (
	DefaultSessionTTL  = 30 * time.Minute
	DefaultAuthTimeout = 5 * time.Second
	DefaultResultTTL   = 10 * time.Minute
)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Authenticate finds the merchant owning a secret API key; EUNAUTHORIZED
// when none does. The store finds the row by the key's hash; the final
// comparison is constant-time all the same.
func (s *Service) Authenticate(ctx context.Context, apiKey string) (Merchant, error) {
	unauthorized := &Error{Code: EUNAUTHORIZED, Message: "missing or invalid API key: send Authorization: Bearer <secret key>"}
	if apiKey == "" || len(apiKey) > 200 {
		return Merchant{}, unauthorized
	}
	hash := HashAPIKey(apiKey)
	m, err := s.Store.MerchantByAPIKeyHash(ctx, hash)
	if ErrorCode(err) == ENOTFOUND {
		return Merchant{}, unauthorized
	}
	if err != nil {
		return Merchant{}, err
	}
	if subtle.ConstantTimeCompare(m.APIKeyHash, hash) != 1 {
		return Merchant{}, unauthorized
	}
	return m, nil
}

// CreateMerchant registers a merchant and returns it with its secret key,
// which is shown once and stored only hashed.
func (s *Service) CreateMerchant(ctx context.Context, name string, origins []string) (Merchant, string, error) {
	m, key, err := NewMerchant(name, origins, s.now())
	if err != nil {
		return Merchant{}, "", err
	}
	if err := s.Store.CreateMerchant(ctx, m); err != nil {
		return Merchant{}, "", err
	}
	return m, key, nil
}

// CreateSession validates a merchant's request and opens a session. With an
// idempotency key, the same key and body answer the first session again
// (replayed is true), and the same key with another body is EIDEMPOTENCY.
func (s *Service) CreateSession(ctx context.Context, m Merchant, idempotencyKey string, req SessionRequest) (sess Session, replayed bool, err error) {
	if err := checkIdempotencyKey(idempotencyKey); err != nil {
		return Session{}, false, err
	}
	// Hash the request as the merchant sent it, before defaults are filled in.
	canonical, err := json.Marshal(req)
	if err != nil {
		return Session{}, false, fmt.Errorf("checkout: hash session request: %w", err)
	}
	requestHash := sha256.Sum256(canonical)
	if err := req.Validate(m); err != nil {
		return Session{}, false, err
	}
	if req.Customer != "" {
		if err := s.requestedCustomer(ctx, m, req.Customer); err != nil {
			return Session{}, false, err
		}
	}
	now := s.now()
	sess = Session{
		ID:                NewID("cs"),
		MerchantID:        m.ID,
		Amount:            req.Amount,
		Currency:          req.Currency,
		OrderID:           req.OrderID,
		SuccessURL:        req.SuccessURL,
		CancelURL:         req.CancelURL,
		Locale:            req.Locale,
		ResultDelivery:    req.ResultDelivery,
		CustomerEmail:     req.CustomerEmail,
		Shipping:          req.ShippingAddress,
		CaptureMethod:     req.CaptureMethod,
		AuthorizationDays: req.AuthorizationTTL,
		PaymentMethods:    req.PaymentMethods,
		CustomerID:        req.Customer,
		SaveCard:          req.SaveCard,
		Status:            SessionOpen,
		CreatedAt:         now,
		ExpiresAt:         now.Add(orDefault(s.SessionTTL, DefaultSessionTTL)),
	}
	if idempotencyKey == "" {
		return sess, false, s.Store.CreateSession(ctx, sess)
	}
	stored, created, err := s.Store.CreateSessionIdempotent(ctx, sess, idempotencyKey, requestHash[:])
	if err != nil {
		return Session{}, false, err
	}
	return stored, !created, nil
}

// Session returns one of the merchant's sessions, and its payment once paid.
// Another merchant's session is ENOTFOUND, never EFORBIDDEN: ids are not
// confirmed to strangers.
func (s *Service) Session(ctx context.Context, m Merchant, id string) (Session, *Payment, error) {
	sess, err := s.Store.Session(ctx, id)
	if err != nil {
		return Session{}, nil, err
	}
	if sess.MerchantID != m.ID {
		return Session{}, nil, &Error{Code: ENOTFOUND, Message: "no such session"}
	}
	if sess.PaymentID == "" {
		return sess, nil, nil
	}
	p, err := s.Store.Payment(ctx, sess.PaymentID)
	if err != nil {
		return Session{}, nil, err
	}
	return sess, &p, nil
}

// Payment returns one of the merchant's payments.
func (s *Service) Payment(ctx context.Context, m Merchant, id string) (Payment, error) {
	p, err := s.Store.Payment(ctx, id)
	if err != nil {
		return Payment{}, err
	}
	if p.MerchantID != m.ID {
		return Payment{}, &Error{Code: ENOTFOUND, Message: "no such payment"}
	}
	return p, nil
}

// Attempts returns the card submissions on one of the merchant's sessions,
// oldest first, each with its screening decision. Another merchant's
// session is ENOTFOUND.
func (s *Service) Attempts(ctx context.Context, m Merchant, sessionID string) ([]Attempt, error) {
	sess, err := s.Store.Session(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	if sess.MerchantID != m.ID {
		return nil, &Error{Code: ENOTFOUND, Message: "no such session"}
	}
	return s.Store.Attempts(ctx, sessionID)
}

// CapturePayment captures one of the merchant's payments awaiting capture:
// authorized (capture_method manual), or held by screening (its capture is
// the merchant's approval). amount 0 captures it all; less captures that
// much and releases the rest at the issuer. A captured payment is answered
// again for amount 0 or the amount captured; another amount, or any other
// status, is ECONFLICT. An amount outside 1 to the payment's is EINVALID,
// and an authorization past its AuthorizedUntil EAUTHEXPIRED.
//
// The issuer captures first and the store records it after, in one
// conditional move: a payment reads captured only once the money is taken.
// A void or an expiry that moved the payment in between has its reversal
// repeated, which also undoes this capture.
func (s *Service) CapturePayment(ctx context.Context, m Merchant, id string, amount int64) (Payment, error) {
	p, err := s.Payment(ctx, m, id)
	if err != nil {
		return Payment{}, err
	}
	if p.Status == PaymentCaptured {
		if amount == 0 || amount == p.AmountCaptured {
			return p, nil
		}
		return Payment{}, &Error{Code: ECONFLICT, Message: fmt.Sprintf("this payment is already captured, for %d", p.AmountCaptured)}
	}
	if p.Status == PaymentExpired || awaitsCapture(p.Status) && !p.AuthorizedUntil.IsZero() && !s.now().Before(p.AuthorizedUntil) {
		return Payment{}, &Error{Code: EAUTHEXPIRED, Message: "this payment's authorization expired at " +
			p.AuthorizedUntil.UTC().Format(time.RFC3339) + " and can no longer be captured"}
	}
	if !awaitsCapture(p.Status) {
		return Payment{}, notAwaitingCapture(p.Status)
	}
	if amount == 0 {
		amount = p.Amount
	}
	if amount < 1 || amount > p.Amount {
		return Payment{}, &Error{Code: EINVALID, Field: "amount", Message: fmt.Sprintf("amount must be from 1 to the %d authorized", p.Amount)}
	}
	ctx = context.WithoutCancel(ctx) // a capture the issuer made must be recorded, even if the merchant hangs up
	key, err := s.authorizationKey(ctx, p)
	if err != nil {
		return Payment{}, err
	}
	switch {
	case p.AmountCaptured > 0 && amount != p.AmountCaptured:
		// A sale held by screening after the issuer's answer: the money
		// is taken already, so approving it takes it all.
		return Payment{}, &Error{Code: EINVALID, Field: "amount", Message: fmt.Sprintf("this payment was captured in full when it was authorized; capture it for %d, or void it", p.AmountCaptured)}
	case p.AmountCaptured == 0:
		if err := s.captureAtIssuer(ctx, p, key, amount); err != nil {
			return Payment{}, err
		}
	}
	next, moved, err := s.move(ctx, p, PaymentMove{ID: p.ID, From: p.Status, To: PaymentCaptured, AmountCaptured: amount}, EventPaymentCaptured)
	switch {
	case err != nil:
		if next.Status == PaymentVoided || next.Status == PaymentExpired {
			s.reverse(ctx, key) // a void or the expiry won: this capture is undone with it
		}
		return Payment{}, err
	case !moved && next.AmountCaptured != amount:
		return Payment{}, &Error{Code: ECONFLICT, Message: fmt.Sprintf("this payment is already captured, for %d", next.AmountCaptured)}
	}
	return next, nil
}

// expiryBatch is how many overdue authorizations one sweep takes.
const expiryBatch = 100

// ExpireAuthorizations voids the payments whose authorization passed its
// AuthorizedUntil without a capture: each moves to expired with its
// payment.expired event in one conditional write, so that of several
// instances sweeping at once exactly one expires it, and that one asks
// the issuer to reverse the authorization (which the issuer would
// otherwise hold until its own limit; a failed reversal is logged, and
// the hold lapses there). It returns how many it expired.
func (s *Service) ExpireAuthorizations(ctx context.Context) (int, error) {
	due, err := s.Store.DueAuthorizations(ctx, s.now(), expiryBatch)
	if err != nil {
		return 0, err
	}
	expired := 0
	for _, p := range due {
		_, moved, err := s.move(ctx, p, PaymentMove{ID: p.ID, From: p.Status, To: PaymentExpired, AuthorizedUntil: p.AuthorizedUntil}, EventPaymentExpired)
		switch {
		case ErrorCode(err) == ECONFLICT: // captured or voided just now
			continue
		case err != nil:
			return expired, err
		case !moved: // another instance expired it
			continue
		}
		expired++
		if key, err := s.authorizationKey(ctx, p); err == nil {
			s.reverse(ctx, key)
		}
	}
	return expired, nil
}

// SweepEvery expires the overdue authorizations and asks the issuer about
// the pending refunds every interval until ctx ends, logging what each
// sweep did.
func (s *Service) SweepEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.ExpireAuthorizations(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log().Error("expiring authorizations failed", "err", err)
		case n > 0:
			s.log().Info("authorizations expired", "payments", n)
		}
		n, err = s.SettlePendingRefunds(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log().Error("settling pending refunds failed", "err", err)
		case n > 0:
			s.log().Info("pending refunds settled", "refunds", n)
		}
		n, err = s.EraseUnneededCards(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log().Error("erasing card numbers nobody needs failed", "err", err)
		case n > 0:
			s.log().Info("card numbers erased", "cards", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// captureAtIssuer asks the issuer to capture amount of p's authorization.
func (s *Service) captureAtIssuer(ctx context.Context, p Payment, key string, amount int64) error {
	cctx, cancel := s.withAuthDeadline(ctx)
	defer cancel()
	err := s.Authorizer.Capture(cctx, key, amount)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrCaptureConflict):
		return &Error{Code: ECONFLICT, Message: "another capture of this payment, for another amount, came first", Err: err}
	case errors.Is(err, ErrNotAuthorized):
		return &Error{Code: ECONFLICT, Message: "the card issuer holds no authorization for this payment any more", Err: err}
	}
	s.log().Error("capture failed", "payment", p.ID, "err", err)
	return &Error{Code: EUNAVAILABLE, Message: "the card issuer did not confirm the capture; nothing was captured, send it again shortly", Err: err}
}

// VoidPayment voids one of the merchant's payments awaiting capture
// (authorized or held): its authorization is reversed at the issuer, and
// its status is voided. Voiding a voided payment answers it again (and asks
// the issuer to reverse again, which is harmless: reversals are
// idempotent); any other status is ECONFLICT.
//
// The status changes first, in one conditional write, so that a capture
// racing the void cannot leave a captured payment without its
// authorization. Should the reversal then fail, the payment stays voided and
// the answer is EUNAVAILABLE: the merchant sends the void again.
func (s *Service) VoidPayment(ctx context.Context, m Merchant, id string) (Payment, error) {
	p, err := s.Payment(ctx, m, id)
	if err != nil {
		return Payment{}, err
	}
	ctx = context.WithoutCancel(ctx) // a voided payment must be reversed, even if the merchant hangs up
	if p.Status != PaymentVoided {
		if !awaitsCapture(p.Status) {
			return Payment{}, notAwaitingCapture(p.Status)
		}
		if p, _, err = s.move(ctx, p, PaymentMove{ID: p.ID, From: p.Status, To: PaymentVoided}, EventPaymentVoided); err != nil {
			return Payment{}, err
		}
	}
	key, err := s.authorizationKey(ctx, p)
	if err != nil {
		return Payment{}, err
	}
	rctx, cancel := s.withAuthDeadline(ctx)
	defer cancel()
	if err := s.Authorizer.Reverse(rctx, key); err != nil {
		s.log().Error("reversal of a voided payment failed", "payment", p.ID, "err", err)
		return Payment{}, &Error{Code: EUNAVAILABLE, Message: "the payment is voided, but the card issuer did not confirm the reversal yet; send the void again shortly", Err: err}
	}
	return p, nil
}

// authorizationKey is the key p was authorized under at the issuer. A paid
// session takes no more attempts, so its last attempt is the one that was
// authorized.
func (s *Service) authorizationKey(ctx context.Context, p Payment) (string, error) {
	sess, err := s.Store.Session(ctx, p.SessionID)
	if err != nil {
		return "", err
	}
	return attemptKey(sess.ID, sess.Attempts), nil
}

// move makes m, with its event in the same transaction. moved is false
// when another request had already moved the payment to m.To: that
// payment is answered. When another request moved it elsewhere, the
// error comes with the payment as it now is.
func (s *Service) move(ctx context.Context, p Payment, m PaymentMove, event string) (Payment, bool, error) {
	next := p
	next.Status, next.AmountCaptured, next.AuthorizedUntil = m.To, m.AmountCaptured, m.AuthorizedUntil
	events := s.events(event, next)
	got, err := s.Store.MovePayment(ctx, m, events...)
	if ErrorCode(err) == ECONFLICT {
		// Another request moved it first: the same move is answered as done.
		now, rerr := s.Store.Payment(ctx, p.ID)
		if rerr != nil {
			return Payment{}, false, rerr
		}
		if now.Status == m.To {
			return now, false, nil
		}
		return now, false, notAwaitingCapture(now.Status)
	}
	if err != nil {
		return Payment{}, false, err
	}
	s.stored(events)
	return got, true, nil
}

func notAwaitingCapture(status string) *Error {
	return &Error{Code: ECONFLICT, Message: fmt.Sprintf("only an authorized or held payment can be captured or voided; this one is %s", status)}
}

// Checkout is a session as the shopper's page needs it: the session and the
// merchant that framed or redirected to it.
type Checkout struct {
	Session  Session
	Merchant Merchant
}

// OpenCheckout loads a session for the shopper's page. The session id is the
// shopper's capability: it is random and unguessable. A merchant's charge
// (Charge) is a session without a page: no shopper may open it.
func (s *Service) OpenCheckout(ctx context.Context, id string) (Checkout, error) {
	co, err := s.Store.Checkout(ctx, id)
	if err == nil && co.Session.Pageless() {
		return Checkout{}, &Error{Code: ENOTFOUND, Message: "no such session"}
	}
	return co, err
}

// PayRequest is one card submission from the shopper's page.
type PayRequest struct {
	SessionID string
	Number    []byte // the request's buffer; Pay zeroes it
	Expiry    string
	Holder    string
	// CVC is the request's buffer holding the security code. Pay zeroes it
	// as soon as authorization returns, on every path (PCI DSS 3.3.1.2).
	CVC []byte
	// ClientIP is the shopper's address as the web layer trusts it (the
	// socket's peer unless a trusted proxy says otherwise), for screening.
	ClientIP netip.Addr
	// DeviceID is the checkout's first-party device cookie, for screening;
	// empty when the browser sent none (a cross-site iframe may not).
	DeviceID string
	// Challenge is the page's proof-of-work solution ("nonce:counter",
	// header Checkout-PoW); needed only when NeedsChallenge says so.
	Challenge string
	// AuthenticationID names the 3-D Secure authentication whose challenge
	// the shopper has answered (the page sends the card again with it).
	AuthenticationID string
	// Method is the shopper's choice of how to pay the card back; the zero
	// value is lump sum. It must be one the checkout offers for the card.
	Method PaymentMethod
	// SavedCardID is the customer's saved card the shopper chose (with
	// only its security code typed again); "" for a typed card.
	SavedCardID string
	// Consent is the shopper's agreement to save the card for the
	// session's customer (the words the page showed, in its language;
	// Pay sets the time): nil when the shopper did not agree. A session
	// whose SaveCard is required cannot be paid without it.
	Consent *Consent
	// Checkout is the session and merchant as the caller read them just
	// before (the web layer needs the session's language first), so that
	// Pay does not read them again; nil makes Pay read them. Its session
	// must be SessionID.
	Checkout *Checkout
}

// PayResult is a paid session: the payment and the signed result for the
// merchant; or, with Action set, nothing paid yet: the issuer wants the
// shopper challenged (3-D Secure) before the card is sent again.
type PayResult struct {
	Checkout
	Payment Payment
	Token   string // the signed result (JWT)
	Action  *ThreeDSAction
}

// Pay validates the card, tokenizes it, authorizes the session's amount and
// returns the signed result. A session is paid at most once: a valid card
// form on a paid session answers the existing payment (a result with the
// same jti, ResultID) without authorizing again, and a submission while
// another is being authorized is ECONFLICT.
func (s *Service) Pay(ctx context.Context, req PayRequest) (PayResult, error) {
	// PCI DSS 3.3.1.2: the security code must not outlive authorization.
	// This defer covers every early return; the happy path wipes it sooner.
	defer wipe(req.CVC)
	defer wipe(req.Number)

	co, err := s.payCheckout(ctx, req)
	if err != nil {
		return PayResult{}, err
	}
	now := s.now()
	switch co.Session.StatusAt(now) {
	case SessionPaid:
		// The replay a double click needs: the same card form again gets the
		// payment's result again (the same jti), never a second
		// authorization; anything less than a valid card form gets its
		// validation error and no result.
		pan, _, _, _, err := s.cardOf(ctx, co, req, now)
		if err != nil {
			return PayResult{}, err
		}
		pan.Wipe()
		return s.paidResult(ctx, co)
	case SessionExpired:
		return PayResult{}, &Error{Code: EEXPIRED, Message: "this checkout has expired; return to the shop and start again", MsgID: "pay.expired"}
	}

	pan, exp, presence, saved, err := s.cardOf(ctx, co, req, now)
	if err != nil {
		s.recordExpired(ctx, co, req, err, now)
		return PayResult{}, err
	}
	defer pan.Wipe()
	if err := checkMethod(co, pan, req.Method); err != nil {
		return PayResult{}, err
	}
	if co.Session.SaveCard == SaveCardRequired && req.Consent == nil {
		return PayResult{}, &Error{Code: EINVALID, Field: "save_card", Message: "this checkout saves the card for later payments; paying needs the shopper's agreement"}
	}

	nearLimitInRound, err := s.challenge(ctx, co, req, now)
	if err != nil {
		return PayResult{}, err
	}

	// The card-testing defence and screening before the card is stored: a
	// locked card, a tripped rate limit or an NG payment never reaches the
	// vault or the issuer. The attempt begins, and is counted and screened,
	// in one round trip of the store when it can (beginAndScreen).
	fingerprint := s.Vault.Fingerprint(pan.Reveal())
	gin, err := s.guardInput(ctx, co, req, pan, fingerprint, now)
	if err != nil {
		return PayResult{}, err
	}
	in := ScreenInput{
		MerchantID:  co.Merchant.ID,
		SessionID:   co.Session.ID,
		Amount:      co.Session.Amount,
		Currency:    co.Session.Currency,
		Fingerprint: fingerprint,
		BIN:         pan.BIN(),
		Brand:       pan.Brand(),
		Last4:       pan.Last4(),
		ExpMonth:    exp.Month,
		ExpYear:     exp.Year,
		CVC:         presence,
		Email:       co.Session.CustomerEmail,
		Shipping:    co.Session.Shipping,
		IP:          req.ClientIP,
		DeviceID:    req.DeviceID,
		Time:        now,
	}
	sc, err := s.beginAndScreen(ctx, AttemptBegin{SessionID: co.Session.ID, Now: now, StaleBefore: now.Add(-s.staleAfter())}, gin, in, nearLimitInRound)
	switch ErrorCode(err) {
	case "":
	case ECHALLENGE:
		return PayResult{}, err
	case ECONFLICT:
		// A concurrent submission may have just paid it: answer that payment.
		if again, rerr := s.OpenCheckout(ctx, co.Session.ID); rerr == nil && again.Session.Status == SessionPaid {
			return s.paidResult(ctx, again)
		}
		return PayResult{}, &Error{Code: ECONFLICT, Message: "a payment for this checkout is already in progress", MsgID: "pay.in_progress"}
	case EINTERNAL:
		// Nothing began: fail closed, as when screening fails.
		s.log().Error("beginning the attempt, the card-testing defence or screening failed; payment refused", "session", co.Session.ID, "err", err)
		return PayResult{}, unavailable(err)
	default:
		return PayResult{}, err // the store's own answer: expired, not found, unavailable
	}
	// The stores commit the rest even if the shopper goes away mid-request:
	// an authorization that happened must be recorded or reversed.
	ctx = context.WithoutCancel(ctx)
	if sc.before.Status == SessionProcessing {
		// The previous attempt died mid-flight (a crash); make sure it left no charge.
		s.reverse(ctx, attemptKey(co.Session.ID, sc.before.Attempts))
	}
	attempt := Attempt{
		SessionID:   co.Session.ID,
		N:           sc.before.Attempts + 1,
		Brand:       pan.Brand(),
		Last4:       pan.Last4(),
		Fingerprint: fingerprint,
		CreatedAt:   now,
	}
	verdict, decision := sc.verdict, sc.decision
	if err := sc.err; err != nil {
		// Fail closed: a payment that could not be checked is not
		// authorized (the risk package's contract).
		s.log().Error("card-testing defence or screening failed; payment refused", "session", co.Session.ID, "err", err)
		attempt.Outcome = AttemptError
		s.finish(ctx, attempt, nil)
		return PayResult{}, unavailable(err)
	}
	if verdict.Rule != "" {
		return PayResult{}, s.refuse(ctx, co, verdict, &attempt)
	}
	attempt.Risk = &decision
	if decision.Verdict == VerdictNG {
		s.log().Info("payment blocked by screening", "session", co.Session.ID, "score", decision.Score, "rules", decision.Rules())
		attempt.Outcome = AttemptBlocked
		s.finish(ctx, attempt, nil)
		// The decline's own message: a different one would tell a card
		// tester that screening, not the issuer, stopped the card.
		return PayResult{}, declined()
	}

	// 3-D Secure: the issuer authenticates the shopper, frictionless or
	// with a challenge that ends this submission (the card is stored only
	// for the submission that goes on to the issuer).
	auth, err := s.authenticate(ctx, co, req, pan, exp, fingerprint, decision, attempt.N, now)
	if err != nil {
		attempt.Outcome = AttemptError
		s.finish(ctx, attempt, nil)
		return PayResult{}, err
	}
	attempt.ThreeDS = auth.view
	if auth.action != nil {
		// The security code cannot wait for the shopper's answer: this
		// submission ends here, and the defers wipe the code.
		attempt.Outcome = AttemptAuthenticationRequired
		s.finish(ctx, attempt, nil)
		return PayResult{Checkout: co, Action: auth.action}, nil
	}
	if auth.view != nil && !auth.view.Status.ProceedsToAuthorization() {
		// N or R: the issuer did not authenticate the shopper, and the
		// protocol asks not to authorize. NG by rule, not by score.
		decision.Verdict = VerdictNG
		decision.Reasons = append(decision.Reasons, RiskReason{Rule: RuleThreeDSFailed,
			Message: "The issuer did not authenticate the cardholder (3-D Secure status " + string(auth.view.Status) + ")."})
		attempt.Risk = &decision
		attempt.Outcome = AttemptBlocked
		s.finish(ctx, attempt, nil)
		return PayResult{}, declined()
	}

	// The lockout's slot last, so that only an authorization that is about
	// to reach the issuer takes one; the card is stored meanwhile. Both
	// must be durable before the issuer hears the code and neither needs
	// the other, so neither waits for the other's commit: on SQLite the
	// writer commits them in one group (one fsync), on PostgreSQL they
	// travel on two connections.
	var tokenized func() (vault.Card, error)
	if saved != nil {
		tokenized = saved.vaultCard // in the vault already: nothing to store
	} else {
		tokenized = s.tokenizeMeanwhile(ctx, pan, exp)
	}
	reserved, err := s.reserve(ctx, &gin, &attempt, decision)
	card, terr := tokenized()
	if !reserved {
		return PayResult{}, err
	}
	if terr != nil {
		s.log().Error("tokenize failed", "session", co.Session.ID, "err", terr)
		attempt.Outcome = AttemptError
		s.finish(ctx, attempt, nil)
		return PayResult{}, &Error{Code: EUNAVAILABLE, Message: "the card vault is unavailable; nothing was charged, please try again shortly", MsgID: "pay.unavailable"}
	}
	attempt.CardToken = card.Token
	// A sale (capture with the approval) only for an automatic session
	// screened OK: a manual one is captured by the merchant, a REVIEW one
	// is held for the merchant's approval.
	capture := co.Session.EffectiveCaptureMethod() == CaptureAutomatic && decision.Verdict == VerdictOK
	result, err := s.authorize(ctx, &AuthRequest{
		Capture:             capture,
		Key:                 attempt.IdempotencyKey(),
		MerchantID:          co.Merchant.ID,
		Amount:              co.Session.Amount,
		Currency:            co.Session.Currency,
		PAN:                 pan,
		Expiry:              exp,
		Holder:              req.Holder,
		CVC:                 req.CVC,
		CVCPresence:         presence,
		ThreeDS:             auth.view,
		AuthenticationValue: auth.value,
		Method:              req.Method.Effective(),
	})
	attempt.CVCCheck = result.CVCCheck
	s.settle(ctx, gin, err == nil && (result.CVCCheck == CVCFail || result.DeclineReason == DeclineIncorrectCVC))
	switch {
	case err != nil && ErrorCode(err) == ETIMEOUT:
		s.reverse(ctx, attempt.IdempotencyKey())
		attempt.Outcome = AttemptTimeout
		s.finish(ctx, attempt, nil)
		return PayResult{}, err
	case err != nil:
		s.log().Error("authorization failed", "session", co.Session.ID, "err", err)
		attempt.Outcome = AttemptError
		s.finish(ctx, attempt, nil)
		return PayResult{}, &Error{Code: EUNAVAILABLE, Message: "the card could not be processed; nothing was charged, please try again", MsgID: "pay.processing_error"}
	}

	// Screening again with the issuer's answer: a security code mismatch or
	// a decline is recorded against the card for its next attempts.
	after, rerr := s.rescreen(ctx, decision, in, AuthOutcome{Approved: result.Approved, DeclineReason: result.DeclineReason, CVCCheck: result.CVCCheck})
	if rerr == nil {
		attempt.Risk = &after
	}
	switch {
	case !result.Approved:
		if rerr != nil {
			s.log().Error("rescreening a declined payment failed", "session", co.Session.ID, "err", rerr)
		}
		attempt.Outcome, attempt.DeclineReason = AttemptDeclined, result.DeclineReason
		s.finish(ctx, attempt, nil)
		if result.DeclineReason == DeclineMethodRefused {
			// The shopper can pay by choosing again. It tells a card
			// tester no more than an approval would: the issuer refuses a
			// method only for a card it would otherwise take.
			return PayResult{}, &Error{Code: EDECLINED, Field: "payment_method", MsgID: "pay.method_refused",
				Message: "the card issuer does not accept this payment method for this card; choose another, such as lump sum"}
		}
		// One message for every reason, so the page is no oracle for card testers.
		return PayResult{}, declined()
	case rerr != nil:
		// Approved but not judged: fail closed, as before authorization.
		s.log().Error("rescreening failed; reversing", "session", co.Session.ID, "err", rerr)
		s.reverse(ctx, attempt.IdempotencyKey())
		attempt.Outcome = AttemptReversed
		s.finish(ctx, attempt, nil)
		return PayResult{}, &Error{Code: EUNAVAILABLE, Message: "the payment could not be checked and was cancelled; nothing was charged, please try again shortly", MsgID: "pay.unavailable", Err: rerr}
	case after.Verdict == VerdictNG:
		// Approved, but the issuer's answer (a wrong security code) makes it
		// NG: the source documents treat a wrong code as likely fraud.
		s.log().Info("approved payment blocked by rescreening; reversing", "session", co.Session.ID, "score", after.Score, "rules", after.Rules())
		s.reverse(ctx, attempt.IdempotencyKey())
		attempt.Outcome = AttemptBlocked
		s.finish(ctx, attempt, nil)
		return PayResult{}, declined()
	}

	attempt.Outcome = AttemptApproved
	status, event := PaymentSucceeded, EventPaymentAuthorized
	switch {
	case after.Verdict == VerdictReview:
		// Authorized but held: the merchant captures or voids it.
		status, event = PaymentHeld, EventReviewRequired
	case !capture:
		status = PaymentAuthorized // the merchant captures it
	}
	captured, authorizedUntil := int64(0), time.Time{}
	if capture {
		captured = co.Session.Amount
	} else {
		authorizedUntil = now.AddDate(0, 0, co.Session.EffectiveAuthorizationDays())
	}
	payment := Payment{
		ID:              NewID("pay"),
		SessionID:       co.Session.ID,
		MerchantID:      co.Merchant.ID,
		OrderID:         co.Session.OrderID,
		Amount:          co.Session.Amount,
		Currency:        co.Session.Currency,
		Status:          status,
		CardToken:       card.Token,
		Brand:           pan.Brand(),
		Last4:           card.Last4,
		ExpMonth:        exp.Month,
		ExpYear:         exp.Year,
		Fingerprint:     card.Fingerprint,
		CVCCheck:        result.CVCCheck,
		AuthCode:        result.AuthCode,
		CaptureMethod:   co.Session.EffectiveCaptureMethod(),
		AmountCaptured:  captured,
		AuthorizedUntil: authorizedUntil,
		Risk:            &after,
		ThreeDS:         auth.view,
		Method:          req.Method.Effective(),
		CreatedAt:       now,
	}
	events := s.events(event, payment)
	if err := s.Store.FinishAttempt(ctx, attempt, &payment, events...); err != nil {
		// Approved but not recorded: reverse it rather than keep money the
		// merchant cannot see.
		s.log().Error("record payment failed; reversing", "session", co.Session.ID, "err", err)
		s.reverse(ctx, attempt.IdempotencyKey())
		attempt.Outcome = AttemptReversed
		s.finish(ctx, attempt, nil)
		return PayResult{}, &Error{Code: EUNAVAILABLE, Message: "the payment could not be recorded and was cancelled; nothing was charged, please try again", MsgID: "pay.unavailable"}
	}
	s.stored(events)
	if saved != nil {
		s.usedSavedCard(ctx, *saved, now)
	} else {
		s.saveCard(ctx, co, payment, req.Consent, now)
	}
	co.Session.Status, co.Session.PaymentID = SessionPaid, payment.ID
	token, err := s.signResult(ctx, co, payment)
	if err != nil {
		return PayResult{}, err
	}
	return PayResult{Checkout: co, Payment: payment, Token: token}, nil
}

// saveCard keeps the card a payment was made with for the session's
// customer, when the session saves cards and the shopper agreed. It is a
// write of its own after the payment's: a failure is logged, the payment
// stands, and the card is not saved (the merchant sees no saved card).
func (s *Service) saveCard(ctx context.Context, co Checkout, p Payment, consent *Consent, now time.Time) {
	if co.Session.CustomerID == "" || co.Session.SaveCard == "" || consent == nil {
		return
	}
	c := SavedCard{ID: NewID("card"), CustomerID: co.Session.CustomerID, CardToken: p.CardToken, Fingerprint: p.Fingerprint,
		Brand: p.Brand, Last4: p.Last4, ExpMonth: p.ExpMonth, ExpYear: p.ExpYear,
		Consent: Consent{Text: consent.Text, Locale: consent.Locale, At: now}, InitialPaymentID: p.ID, CreatedAt: now}
	if _, _, err := s.Store.SaveCard(ctx, c); err != nil {
		s.log().Error("saving the card failed; the payment stands", "session", co.Session.ID, "payment", p.ID, "err", err)
	}
}

// tokenizeMeanwhile stores the card in a goroutine of its own and returns
// the wait for it. The caller must wait before pan is wiped.
func (s *Service) tokenizeMeanwhile(ctx context.Context, pan PAN, exp Expiry) func() (vault.Card, error) {
	type tokenized struct {
		card vault.Card
		err  error
	}
	done := make(chan tokenized, 1)
	go func() {
		card, err := s.Vault.Tokenize(ctx, pan.Reveal(), string(pan.Brand()), exp.Month, exp.Year)
		done <- tokenized{card, err}
	}()
	return func() (vault.Card, error) {
		t := <-done
		return t.card, t.err
	}
}

// payCheckout is the checkout a submission pays: the caller's, read
// moments ago, or read now. Paying is decided by BeginAttempt under the
// store's lock, never by this read, so the caller's copy is as good as a
// fresh one.
func (s *Service) payCheckout(ctx context.Context, req PayRequest) (Checkout, error) {
	if co := req.Checkout; co != nil {
		if co.Session.ID != req.SessionID {
			return Checkout{}, fmt.Errorf("checkout: pay: checkout of session %s for a submission on %s", co.Session.ID, req.SessionID)
		}
		return *co, nil
	}
	return s.OpenCheckout(ctx, req.SessionID)
}

// declined is the shopper's answer to every refused card, whatever refused
// it (the issuer, for any reason, screening, or the security-code lockout):
// one message, so that the page is no oracle. It names the issuer for a
// card that keeps being refused, since a locked card must also be told
// where to turn, and the lock itself may not be named.
func declined() *Error {
	return &Error{Code: EDECLINED, Message: "the card was declined; check the details or use another card, and if this keeps happening, contact your card issuer", MsgID: "pay.declined"}
}

// unavailable is the shopper's answer when something a payment must be
// checked by (screening, the card-testing defence, 3-D Secure, their
// store) failed: nothing was authorized.
func unavailable(err error) *Error {
	return &Error{Code: EUNAVAILABLE, Message: "the payment could not be checked; nothing was charged, please try again shortly", MsgID: "pay.unavailable", Err: err}
}

// screen runs the Screener, or answers OK without one.
func (s *Service) screen(ctx context.Context, in ScreenInput) (RiskDecision, error) {
	if s.Screener == nil {
		return unscreened(), nil
	}
	return s.Screener.Screen(ctx, in)
}

// rescreen runs the Screener's second judgement, or keeps prev without one.
func (s *Service) rescreen(ctx context.Context, prev RiskDecision, in ScreenInput, out AuthOutcome) (RiskDecision, error) {
	if s.Screener == nil {
		return prev, nil
	}
	return s.Screener.Rescreen(ctx, prev, in, out)
}

// recordExpired counts a submission refused because its card expired, for
// the long-expired rule (a list of old stolen numbers being tried). Only
// the expiry, the session, the IP and the device are counted: the card is
// never tokenized.
func (s *Service) recordExpired(ctx context.Context, co Checkout, req PayRequest, err error, now time.Time) {
	var e *Error
	if s.Screener == nil || !errors.As(err, &e) {
		return
	}
	expired := false
	for _, d := range append([]*Error{e}, e.Details...) {
		expired = expired || d.MsgID == "card.expiry.past"
	}
	if !expired {
		return
	}
	month, year, ok := expiryFields(req.Expiry)
	if !ok {
		return
	}
	in := ScreenInput{MerchantID: co.Merchant.ID, SessionID: co.Session.ID, ExpMonth: month, ExpYear: year,
		IP: req.ClientIP, DeviceID: req.DeviceID, Time: now}
	if err := s.Screener.RecordExpired(context.WithoutCancel(ctx), in); err != nil {
		s.log().Error("record expired card failed", "session", co.Session.ID, "err", err)
	}
}

// events is the webhook event of a payment's change, for the store to
// write in the change's own transaction (the outbox), so that a payment
// and its event exist together or not at all.
func (s *Service) events(typ string, p Payment) []WebhookEvent {
	now := s.now()
	e, err := NewWebhookEvent(Event{Type: typ, MerchantID: p.MerchantID, Data: p.View(), CreatedAt: now}, now)
	if err != nil {
		// A known type and a PaymentView always encode: this is a bug,
		// and the payment must not wait on it.
		s.log().Error("build event failed", "event", typ, "payment", p.ID, "err", err)
		return nil
	}
	return []WebhookEvent{e}
}

// stored tells the Notifier of events just committed.
func (s *Service) stored(events []WebhookEvent) {
	if s.Notifier != nil {
		s.Notifier.Stored(events)
	}
}

// checkCard validates every card field and reports all errors at once, so
// that the page shows each next to its field.
func (s *Service) checkCard(req PayRequest, now time.Time) (PAN, Expiry, CVCPresence, error) {
	var details []*Error
	add := func(err error) {
		var e *Error
		if errors.As(err, &e) {
			details = append(details, e)
		}
	}
	pan, err := ParsePAN(req.Number)
	add(err)
	exp, err := ParseExpiry(req.Expiry, now)
	add(err)
	if n := utf8.RuneCountInString(req.Holder); n == 0 || n > 100 || !printable(req.Holder) {
		add(FieldError("name", "card.name.required", "Enter the name as printed on the card.", nil))
	}
	brand := pan.Brand()
	if brand == BrandUnknown {
		brand = DetectBrand(string(digitsOnly(req.Number, 6)))
	}
	presence, err := CheckSecurityCode(req.CVC, brand)
	add(err)
	if len(details) > 0 {
		pan.Wipe()
		first := *details[0]
		first.Details = details
		return PAN{}, Expiry{}, "", &first
	}
	return pan, exp, presence, nil
}

// digitsOnly returns up to n leading digits of b, skipping separators.
func digitsOnly(b []byte, n int) []byte {
	out := make([]byte, 0, n)
	for _, c := range b {
		if c >= '0' && c <= '9' && len(out) < n {
			out = append(out, c)
		}
	}
	return out
}

// authorize calls the Authorizer with a deadline, turns a panic into an
// error, and zeroes the security code as soon as the call returns.
func (s *Service) authorize(ctx context.Context, req *AuthRequest) (result AuthResult, err error) {
	ctx, cancel := s.withAuthDeadline(ctx)
	defer cancel()
	defer func() {
		wipe(req.CVC) // PCI DSS 3.3.1.2: on every path, panics included
		req.CVC = nil
		if r := recover(); r != nil {
			s.log().Error("authorizer panicked", "key", req.Key)
			result, err = AuthResult{}, fmt.Errorf("checkout: authorizer panicked")
		}
	}()
	result, err = s.Authorizer.Authorize(ctx, req)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return result, &Error{Code: ETIMEOUT, Message: "the card issuer did not answer in time; nothing was charged, please try again", MsgID: "pay.timeout"}
	}
	return result, err
}

// reverse cancels an authorization that may have happened; failures are
// logged for the operator, since the shopper's answer is already decided.
// withAuthDeadline is ctx with the authorization deadline, which every
// call to the issuer or the 3-D Secure directory gets.
func (s *Service) withAuthDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, orDefault(s.AuthTimeout, DefaultAuthTimeout))
}

func (s *Service) reverse(ctx context.Context, key string) {
	ctx, cancel := s.withAuthDeadline(ctx)
	defer cancel()
	if err := s.Authorizer.Reverse(ctx, key); err != nil {
		s.log().Error("reversal failed; reconcile by hand", "key", key, "err", err)
	}
}

func (s *Service) finish(ctx context.Context, a Attempt, p *Payment) {
	if err := s.Store.FinishAttempt(ctx, a, p); err != nil {
		s.log().Error("record attempt failed", "session", a.SessionID, "attempt", a.N, "err", err)
	}
}

// staleAfter is how long a session may sit in processing before a new
// submission may take it over: well past any authorization deadline.
func (s *Service) staleAfter() time.Duration {
	return 3 * orDefault(s.AuthTimeout, DefaultAuthTimeout)
}

// PaidResult hands a paid session's result again, for the paid page's
// "return to the shop" (a shopper who reloaded the page after paying): the
// same result as the first (ResultID), so a merchant acts on it once. Any
// other status is ECONFLICT: nothing is paid to hand back.
func (s *Service) PaidResult(ctx context.Context, sessionID string) (PayResult, error) {
	co, err := s.OpenCheckout(ctx, sessionID)
	if err != nil {
		return PayResult{}, err
	}
	if co.Session.Status != SessionPaid {
		return PayResult{}, &Error{Code: ECONFLICT, Message: "this checkout is not paid; there is no result to return", MsgID: "pay.not_paid"}
	}
	return s.paidResult(ctx, co)
}

func (s *Service) paidResult(ctx context.Context, co Checkout) (PayResult, error) {
	p, err := s.Store.Payment(ctx, co.Session.PaymentID)
	if err != nil {
		return PayResult{}, err
	}
	token, err := s.signResult(ctx, co, p)
	if err != nil {
		return PayResult{}, err
	}
	return PayResult{Checkout: co, Payment: p, Token: token}, nil
}

// ResultClaims are the claims of the signed result of a payment.
func (s *Service) ResultClaims(co Checkout, p Payment) verify.Result {
	now := s.now()
	return verify.Result{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.Issuer,
			Audience:  jwt.ClaimStrings{co.Merchant.ID},
			Subject:   p.ID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(orDefault(s.ResultTTL, DefaultResultTTL))),
			ID:        ResultID(p.ID),
		},
		SessionID:     co.Session.ID,
		OrderID:       p.OrderID,
		Amount:        p.Amount,
		Currency:      p.Currency,
		Status:        p.Status,
		Card:          p.Card(),
		CVCCheck:      string(p.CVCCheck),
		Risk:          riskClaim(p.Risk),
		ThreeDS:       p.ThreeDS.Claim(),
		PaymentMethod: p.Method.View(),
		Initiator:     cmp.Or(p.Initiator, InitiatorCustomer),
		Reason:        p.MITReason,
	}
}

// ResultID is the jti of every result signed for one payment: the same on
// each re-issue and on every instance, so that a merchant who deduplicates
// on it (or on sub, the payment id) acts on a payment once however many
// results reach it. It is derived from the payment id alone (no secret is
// needed: the merchant sees the payment id in sub anyway), in the ids'
// alphabet, never the payment id itself so neither claim passes for the
// other.
func ResultID(paymentID string) string {
	sum := sha256.Sum256([]byte("checkout-result\x00" + paymentID))
	return "jti_" + hashEncoding.EncodeToString(sum[:16])
}

func riskClaim(d *RiskDecision) *verify.Risk {
	if d == nil {
		return nil
	}
	return d.Claim()
}

func (s *Service) signResult(ctx context.Context, co Checkout, p Payment) (string, error) {
	claims := s.ResultClaims(co, p)
	token, err := s.Signer.Sign(ctx, &claims)
	if err != nil {
		s.log().Error("sign result failed", "payment", p.ID, "err", err)
		return "", &Error{Code: EUNAVAILABLE, Message: "the payment succeeded but its result could not be signed; reload the page to get it", MsgID: "pay.sign_failed"}
	}
	return token, nil
}

func attemptKey(sessionID string, n int) string { return sessionID + ":" + strconv.Itoa(n) }

// checkIdempotencyKey refuses an Idempotency-Key other than none or 1 to
// 255 printable ASCII characters.
func checkIdempotencyKey(key string) error {
	if key != "" && (len(key) > 255 || !printableASCII(key)) {
		return &Error{Code: EINVALID, Field: "Idempotency-Key", Message: "Idempotency-Key must be 1 to 255 printable ASCII characters"}
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return s != ""
}
