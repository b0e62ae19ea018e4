package web

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// Page states, shared with pay.js through the data block.
const (
	stateForm    = "form"    // card entry
	statePaid    = "paid"    // already paid: offer to return to the shop
	stateMessage = "message" // expired, not found, refused
)

// pageData is what the page templates render. Text comes only from T.
type pageData struct {
	*translator
	Nonce        string
	State        string
	Embed        bool
	SessionID    string
	MerchantName string
	Amount       string
	OrderID      string
	CancelURL    string // full page only; empty when the merchant gave none
	SaveCard     string // the session's save_card: "", "optional" (a checkbox) or "required" (a notice)
	SavedCards   []savedCardChoice
	SavedDefault string // the saved card chosen as the page opens: the most recently used unexpired one; "" for a new card
	Class        string // the body's class; empty: "page" or "embed"
	Script       string // a static script for pages without the data block (no .Client)
	Title        string // message pages
	Body         string // message pages
	Client       *clientData
}

// savedCardChoice is a saved card as the page lists it: what a shopper
// needs to recognise it, never more than a payment shows.
type savedCardChoice struct {
	ID      string `json:"id"`
	Brand   string `json:"brand"`
	Name    string `json:"-"` // the brand as printed
	Last4   string `json:"-"`
	Expiry  string `json:"-"` // MM/YY
	Expired bool   `json:"expired"`
}

// savedCardChoices are the session's customer's saved cards, and the one
// chosen as the page opens.
func (s *server) savedCardChoices(ctx context.Context, co checkout.Checkout) ([]savedCardChoice, string) {
	if co.Session.CustomerID == "" {
		return nil, ""
	}
	cards, err := s.svc.SavedCards(ctx, co.Merchant, co.Session.CustomerID)
	if err != nil {
		// The page still takes a new card.
		s.log.Error("reading the customer's saved cards failed", "session", co.Session.ID, "err", err)
		return nil, ""
	}
	now := s.now()
	var out []savedCardChoice
	chosen := ""
	for _, c := range cards {
		expired := c.Expiry().ExpiredAt(now)
		out = append(out, savedCardChoice{ID: c.ID, Brand: string(c.Brand), Name: c.Brand.Name(), Last4: c.Last4,
			Expiry: fmt.Sprintf("%02d/%02d", c.ExpMonth, c.ExpYear%100), Expired: expired})
		if chosen == "" && !expired {
			chosen = c.ID
		}
	}
	return out, chosen
}

// clientData is the page's JSON data block for pay.js.
type clientData struct {
	State     string `json:"state"`
	Session   string `json:"session"`
	PayURL    string `json:"pay_url"`
	ResultURL string `json:"result_url,omitempty"` // paid: where "return to the shop" fetches the result again
	CSRF      string `json:"csrf"`
	Embed     bool   `json:"embed"`
	Parent    string `json:"parent,omitempty"` // the exact origin postMessage targets
	ErrorCode string `json:"error_code,omitempty"`
	// SavedCards are the customer's saved cards, for their security codes'
	// lengths (the brands' table has them); the page lists them itself.
	SavedCards []savedCardChoice `json:"saved_cards,omitempty"`
	Methods    *methodOffer      `json:"methods,omitempty"` // absent: lump sum is all the checkout takes
	Messages   json.RawMessage   `json:"-"`                 // translator.clientMessages, written in by JSON
}

// methodOffer is what pay.js needs to offer a card Japan's payment
// methods as soon as it recognises the number: the checkout's offer
// (checkout.Checkout.Offer) and the BIN prefixes of cards issued in Japan;
// with the brands' table (methods, max_installments) it applies
// checkout.PaymentMethodSet.ForCard's rule. The server checks the choice
// again with the same tables.
type methodOffer struct {
	checkout.PaymentMethodSet
	JapanPrefixes []string `json:"jp_prefixes"`
}

// methodOfferOf is the checkout's offer for the page; nil when it offers
// nothing but lump sum.
func methodOfferOf(co checkout.Checkout) *methodOffer {
	offer := co.Offer()
	if !offer.Choice() {
		return nil
	}
	return &methodOffer{PaymentMethodSet: offer, JapanPrefixes: japanPrefixes}
}

var japanPrefixes = checkout.IssuerPrefixes("JP")

// brandRulesJSON is the card brands' table (checkout.BrandRules) that
// pay.js checks numbers with as the shopper types: the server's own, so
// that the page and the server cannot disagree on a number.
var brandRulesJSON = func() []byte {
	b, err := json.Marshal(checkout.BrandRules())
	if err != nil {
		panic(err) // a fixed table of plain values
	}
	return b
}()

// JSON is the data block's text. encoding/json writes <, > and & (and
// U+2028, U+2029) as \u escapes, so the text can close no element and is
// safe inside the script element as it is; html/template's own escaping of
// a value there marshals it again and decodes it rune by rune, a tenth of
// the page's rendering. The messages, the same on every page of a
// language and marshalled by the same rules, are written in as they are
// (json.Marshal would compact them again), and so is the brands' table.
func (d *clientData) JSON() (template.JS, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return "", err
	}
	messages := d.Messages
	if messages == nil {
		messages = json.RawMessage("{}")
	}
	b = append(append(b[:len(b)-1], `,"messages":`...), messages...)
	b = append(append(append(b, `,"brands":`...), brandRulesJSON...), '}')
	return template.JS(b), nil
}

// payResponse is the answer to an accepted card submission: the signed
// result and how the page hands it to the merchant.
type payResponse struct {
	Status     string `json:"status"` // "paid"
	Token      string `json:"token"`  // the signed result (JWT)
	Delivery   string `json:"delivery"`
	SuccessURL string `json:"success_url"`
}

// payPage renders the shopper's page: the card form, "already paid", or a
// clear message when the session expired, does not exist or may not be
// framed where it is.
func (s *server) payPage(c *gin.Context) {
	ctx := c.Request.Context()
	accept := c.GetHeader("Accept-Language")
	co, err := s.svc.OpenCheckout(ctx, c.Param("id"))
	if err != nil {
		tr := s.i18n.translator(s.i18n.lang("", accept))
		e := asError(s.log, c.FullPath(), err)
		if e.Code == checkout.ENOTFOUND {
			s.messagePage(c, tr, http.StatusNotFound, "page.not_found.title", "page.not_found.body", nil)
			return
		}
		s.messagePage(c, tr, httpStatus(e.Code), "page.error.title", "page.error.body", nil)
		return
	}
	sess := co.Session
	tr := s.i18n.translator(s.i18n.lang(sess.Locale, accept))
	origins := originStrings(co.Merchant.Origins)
	embed := c.Query("embed") == "1"
	parent := ""
	if embed {
		// The result goes to the parent by postMessage addressed to this
		// origin, so it must be exactly one the merchant registered.
		parent = c.Query("parent")
		if !slices.Contains(origins, parent) {
			s.messagePage(c, tr, http.StatusBadRequest, "page.bad_parent.title", "page.bad_parent.body", nil)
			return
		}
	}
	pagePolicy(c, origins, embed)
	s.ensureDevice(c)

	data := &pageData{
		translator:   tr,
		Nonce:        cspNonce(c),
		State:        stateForm,
		Title:        tr.T("pay.title", "Merchant", co.Merchant.Name),
		Embed:        embed,
		SessionID:    sess.ID,
		MerchantName: co.Merchant.Name,
		Amount:       checkout.FormatAmount(sess.Amount, sess.Currency),
		OrderID:      sess.OrderID,
		SaveCard:     sess.SaveCard,
		Client: &clientData{
			State:    stateForm,
			Session:  sess.ID,
			PayURL:   "/pay/" + sess.ID,
			CSRF:     s.csrfToken(sess.ID),
			Embed:    embed,
			Parent:   parent,
			Methods:  methodOfferOf(co),
			Messages: tr.clientMessages(),
		},
	}
	if !embed {
		data.CancelURL = sess.CancelURL
	}
	data.SavedCards, data.SavedDefault = s.savedCardChoices(ctx, co)
	data.Client.SavedCards = data.SavedCards
	switch sess.StatusAt(s.now()) {
	case checkout.SessionExpired:
		data.State, data.Client.State, data.Client.ErrorCode = stateMessage, stateMessage, checkout.EEXPIRED
		data.Title, data.Body = tr.T("page.expired.title"), tr.T("pay.expired")
		s.render(c, http.StatusGone, "message.html", data)
	case checkout.SessionPaid:
		data.State, data.Client.State = statePaid, statePaid
		data.Client.ResultURL = "/pay/" + sess.ID + "/result"
		s.render(c, http.StatusOK, "pay.html", data)
	default:
		s.render(c, http.StatusOK, "pay.html", data)
	}
}

// messagePage renders a page that only says something. It is not framable
// (the default CSP) unless pagePolicy was called before.
func (s *server) messagePage(c *gin.Context, tr *translator, status int, titleID, bodyID string, client *clientData) {
	s.render(c, status, "message.html", &pageData{
		translator: tr,
		Nonce:      cspNonce(c),
		State:      stateMessage,
		Title:      tr.T(titleID),
		Body:       tr.T(bodyID),
		Client:     client,
	})
}

func originStrings(origins []checkout.Origin) []string {
	out := make([]string, len(origins))
	for i, o := range origins {
		out[i] = o.String()
	}
	return out
}

// formToken binds a form to what it acts on (a session, an
// authentication) with the vault's MAC key under purpose, so that every
// instance makes and accepts the same token (OWASP CSRF cheat sheet,
// synchronizer token, stateless).
func (s *server) formToken(purpose, id string) string {
	return base64.RawURLEncoding.EncodeToString(s.keys.MAC(purpose, []byte(id)))
}

// validFormToken compares in constant time, so that timing does not reveal
// how much of a guess was right (OWASP ASVS 2.9.x, crypto/subtle).
func (s *server) validFormToken(purpose, id, got string) bool {
	want := s.formToken(purpose, id)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// csrfToken binds the page to its session. It travels in a header, not a
// cookie: third-party cookies cannot be relied on in a cross-site iframe
// (OWASP CSRF cheat sheet, custom request headers).
func (s *server) csrfToken(sessionID string) string { return s.formToken("csrf", sessionID) }

// sameOrigin accepts the card submission only from the checkout's own pages:
// the Origin header must be ours, or, where a browser leaves Origin out, the
// Fetch Metadata must say same-origin (OWASP CSRF cheat sheet, defense in
// depth beside the token).
func (s *server) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		return o == s.selfOrigin
	}
	return r.Header.Get("Sec-Fetch-Site") == "same-origin"
}

// fromOwnPage accepts a request only from this session's page: our
// Origin and the page's CSRF token. A refusal is answered.
func (s *server) fromOwnPage(c *gin.Context, tr *translator, sessionID string) bool {
	if s.sameOrigin(c.Request) && s.validFormToken("csrf", sessionID, c.GetHeader("X-CSRF-Token")) {
		return true
	}
	s.payError(c, tr, &checkout.Error{Code: checkout.EFORBIDDEN, Message: "the page is out of date or was not opened from this checkout; reload it", MsgID: "error.forbidden"})
	return false
}

// payResultAgain answers the paid page's "return to the shop": the
// payment's result once more (the same jti), never from the card form, which
// answers a paid session only to a valid card (a double click).
func (s *server) payResultAgain(c *gin.Context) {
	id := c.Param("id")
	tr := s.i18n.translator(s.i18n.lang("", c.GetHeader("Accept-Language")))
	if !s.fromOwnPage(c, tr, id) {
		return
	}
	res, err := s.svc.PaidResult(c.Request.Context(), id)
	if err != nil {
		s.payError(c, tr, err)
		return
	}
	s.paidAnswer(c, res)
}

// removeSavedCard is the page's "remove" beside a saved card: only from
// the session's own page (its CSRF token), and only the session's
// customer's card; its number is erased at once.
func (s *server) removeSavedCard(c *gin.Context) {
	id := c.Param("id")
	tr := s.i18n.translator(s.i18n.lang("", c.GetHeader("Accept-Language")))
	if !s.fromOwnPage(c, tr, id) {
		return
	}
	card := c.Param("card")
	if !validSavedCardID(card) {
		s.payError(c, tr, formInvalid)
		return
	}
	if err := s.svc.RemoveSavedCard(c.Request.Context(), id, card); err != nil {
		s.payError(c, tr, err)
		return
	}
	writeJSON(c, http.StatusOK, deletedJSON{ID: card, Object: "saved_card", Deleted: true})
}

// paidAnswer is the page's answer for a paid session: the signed result
// and how to hand it to the merchant.
func (s *server) paidAnswer(c *gin.Context, res checkout.PayResult) {
	delivery := res.Session.ResultDelivery
	if delivery == "" {
		delivery = checkout.DeliverPost
	}
	writeJSON(c, http.StatusOK, payResponse{
		Status:     string(checkout.SessionPaid),
		Token:      res.Token,
		Delivery:   delivery,
		SuccessURL: res.Session.SuccessURL,
	})
}

// paySubmit takes the card form. The body is read into one buffer the
// handler owns and parsed in place, so the card number and the security code
// are sub-slices of it and never become strings; Pay zeroes them, and the
// whole buffer is zeroed once Pay returns (PCI DSS 3.3.1.2, 3.4.1). Nothing
// typed is echoed back or logged.
func (s *server) paySubmit(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	tr := s.i18n.translator(s.i18n.lang("", c.GetHeader("Accept-Language")))
	if !s.fromOwnPage(c, tr, id) {
		return
	}
	if !hasMediaType(c.GetHeader("Content-Type"), "application/x-www-form-urlencoded") {
		s.payError(c, tr, &checkout.Error{Code: checkout.EMEDIATYPE, Message: "send the card form as application/x-www-form-urlencoded", MsgID: "error.unsupported_media_type"})
		return
	}

	if c.Request.ContentLength > maxPayBody {
		c.Header("Connection", "close")
		s.payError(c, tr, tooLarge(maxPayBody))
		return
	}
	buf := make([]byte, maxPayBody+1)
	defer clear(buf) // every path, errors and panics included
	n, err := io.ReadFull(http.MaxBytesReader(c.Writer, c.Request.Body, maxPayBody), buf)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || err == nil: // err == nil: the buffer filled past the cap
		s.payError(c, tr, tooLarge(maxPayBody))
		return
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
	default:
		s.payError(c, tr, formInvalid)
		return
	}
	body := buf[:n]

	co, err := s.svc.OpenCheckout(ctx, id)
	if err != nil {
		s.payError(c, tr, err)
		return
	}
	tr = s.i18n.translator(s.i18n.lang(co.Session.Locale, c.GetHeader("Accept-Language")))

	var fieldsArr [maxFormFields]formField
	fields, err := parseForm(body, fieldsArr[:0])
	if err != nil {
		s.payError(c, tr, formInvalid)
		return
	}
	form, err := payFormOf(fields)
	if err != nil {
		s.payError(c, tr, err)
		return
	}
	if form.method, err = checkout.ParsePaymentMethod(string(form.methodType), string(form.installments)); err != nil {
		s.payError(c, tr, err)
		return
	}
	consent, err := consentOf(tr, co, form.saveCard)
	if err != nil {
		s.payError(c, tr, err)
		return
	}
	res, err := s.svc.Pay(ctx, checkout.PayRequest{
		SessionID: id,
		Number:    form.number,
		Expiry:    string(form.expiry),
		Holder:    string(form.name),
		CVC:       form.cvc,
		ClientIP:  clientIP(c),
		DeviceID:  deviceID(c),
		Challenge: c.GetHeader("Checkout-PoW"),
		// Not card data: an id the page got from us, copied before the
		// buffer is cleared.
		AuthenticationID: string(form.authentication),
		SavedCardID:      string(form.savedCard),
		Method:           form.method,
		Consent:          consent,
		Checkout:         &co,
	})
	clear(buf) // Pay has zeroed number and cvc; the rest of the form goes too
	if checkout.ErrorCode(err) == checkout.ECHALLENGE {
		// Suspicious traffic: a fresh proof-of-work challenge bound to
		// this session; the page solves it and sends the form again.
		ch := s.svc.NewChallenge(id)
		e := asError(s.log, c.FullPath(), err)
		writeJSON(c, httpStatus(e.Code), challengeBody{Error: errorJSON{Code: e.Code, Message: tr.errorMessage(e)}, Challenge: ch})
		return
	}
	if err != nil {
		s.payError(c, tr, err)
		return
	}
	if a := res.Action; a != nil {
		// Nothing was paid: the issuer wants the shopper challenged. The
		// page shows its window, then sends the card again with the id.
		writeJSON(c, http.StatusOK, actionResponse{Status: "requires_action", NextAction: nextAction{
			Type:             "three_ds_challenge",
			AuthenticationID: a.AuthenticationID,
			URL:              acsPath(a.AuthenticationID),
			Width:            a.Width,
			Height:           a.Height,
		}})
		return
	}
	s.paidAnswer(c, res)
}

// actionResponse is the answer to a submission that paid nothing because
// the shopper must first do something: answer the issuer's 3-D Secure
// challenge, then send the card again with authentication=<id>.
type actionResponse struct {
	Status     string     `json:"status"` // "requires_action"
	NextAction nextAction `json:"next_action"`
}

// nextAction is the issuer's challenge window: the page frames URL at
// Width x Height CSS pixels (EMV challengeWindowSize).
type nextAction struct {
	Type             string `json:"type"` // "three_ds_challenge"
	AuthenticationID string `json:"authentication_id"`
	URL              string `json:"url"`
	Width            int    `json:"width"`
	Height           int    `json:"height"`
}

// challengeBody is the answer to a submission that must first solve a
// proof-of-work challenge (428 challenge_required).
type challengeBody struct {
	Error     errorJSON          `json:"error"`
	Challenge checkout.Challenge `json:"challenge"`
}

var formInvalid = &checkout.Error{Code: checkout.EINVALID, Message: "the card form could not be read; reload the page and try again", MsgID: "pay.form_invalid"}

// validSavedCardID accepts only the shape of a saved card's id: it is a
// lookup key.
func validSavedCardID[T string | []byte](id T) bool { return checkout.IsID("card", id) }

// consentOf is the shopper's agreement to save the card, as the page
// worded it: the notice of a session that requires it (paying is
// agreeing), the ticked checkbox of one that offers it; nil otherwise. A
// ticked box the page did not show refuses the form.
func consentOf(tr *translator, co checkout.Checkout, ticked bool) (*checkout.Consent, error) {
	var id string
	switch {
	case co.Session.SaveCard == checkout.SaveCardRequired:
		id = "save_card.required"
	case co.Session.SaveCard == checkout.SaveCardOptional && ticked:
		id = "save_card.optional"
	case ticked:
		return nil, formInvalid
	default:
		return nil, nil
	}
	return &checkout.Consent{Text: tr.T(id, "Merchant", co.Merchant.Name), Locale: tr.Lang}, nil
}

// payForm is the card form's fields, sub-slices of the request buffer.
// authentication is optional: the 3-D Secure authentication whose challenge
// the shopper has answered, on the submission that follows it. So are
// payment_method and installments, the shopper's choice of how to pay
// (lump sum when absent), parsed into method.
type payForm struct {
	number, expiry, name, cvc []byte
	authentication            []byte
	savedCard                 []byte // the saved card chosen instead of a typed one
	methodType, installments  []byte
	method                    checkout.PaymentMethod
	saveCard                  bool // save_card=1: the shopper ticked "save this card"
}

// payFormOf picks the card fields. An unknown or repeated field refuses the
// form: a repeated name is how parameter pollution slips a second value past
// one check and into another (OWASP WSTG-INPV-04). An authentication that
// is not the shape of an id we make refuses it too: it is a lookup key.
func payFormOf(fields []formField) (payForm, error) {
	var f payForm
	var seen [9]bool
	for _, fl := range fields {
		var dst *[]byte
		var i int
		switch string(fl.name) { // no allocation: the compiler compares in place
		case "number":
			dst, i = &f.number, 0
		case "expiry":
			dst, i = &f.expiry, 1
		case "name":
			dst, i = &f.name, 2
		case "cvc":
			dst, i = &f.cvc, 3
		case "authentication":
			if !validAuthenticationID(fl.value) {
				return payForm{}, formInvalid
			}
			dst, i = &f.authentication, 4
		case "saved_card":
			if !validSavedCardID(fl.value) {
				return payForm{}, formInvalid
			}
			dst, i = &f.savedCard, 8
		case "payment_method":
			dst, i = &f.methodType, 5
		case "installments":
			dst, i = &f.installments, 6
		case "save_card":
			if string(fl.value) != "1" || seen[7] {
				return payForm{}, formInvalid
			}
			seen[7], f.saveCard = true, true
			continue
		default:
			return payForm{}, formInvalid
		}
		if seen[i] {
			return payForm{}, formInvalid
		}
		seen[i], *dst = true, fl.value
	}
	return f, nil
}

// payError answers a submission error as JSON in the shopper's language,
// with one detail per field so the page shows each next to its input.
func (s *server) payError(c *gin.Context, tr *translator, err error) {
	e := asError(s.log, c.FullPath(), err)
	if isNavigation(c.Request) {
		// The browser navigated here (a form posted natively, a stale page):
		// it would show raw JSON. A page in the shopper's language instead.
		s.render(c, httpStatus(e.Code), "message.html", &pageData{
			translator: tr, Nonce: cspNonce(c), State: stateMessage,
			Title: tr.T("page.error.title"), Body: tr.errorMessage(e),
		})
		return
	}
	body := errorJSON{Code: e.Code, Field: e.Field, Message: tr.errorMessage(e)}
	for _, d := range e.Details {
		body.Details = append(body.Details, detailJSON{Field: d.Field, Message: tr.errorMessage(d)})
	}
	writeJSON(c, httpStatus(e.Code), errorBody{Error: body})
}

// isNavigation reports whether the browser will show the answer as a page
// (a link, a native form submission, the address bar) rather than hand it
// to pay.js's fetch: Fetch Metadata says so where browsers send it, and
// otherwise an Accept that asks for HTML (fetch sends */*).
func isNavigation(r *http.Request) bool {
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// hasMediaType reports whether a Content-Type header names want (parameters
// such as charset allowed).
func hasMediaType(header, want string) bool {
	mt, _, err := mime.ParseMediaType(header)
	return err == nil && mt == want
}

// deviceCookie is the checkout's first-party device id, for the velocity
// rules (many cards from one browser, whatever IPs it hides behind). It is a
// random id that says nothing about the shopper, and the page works without
// it: a cross-site iframe may not get it, and then screening counts without.
const deviceCookie = "hc_device"

// deviceLifetime is how long the device cookie lives: within the 400 days
// browsers allow.
const deviceLifetime = 365 * 24 * time.Hour

// ensureDevice gives the browser a device cookie unless it has one. Over
// HTTPS it is SameSite=None; Secure, so that the iframe on the merchant's
// page sends it too; over plain HTTP (development) browsers refuse
// SameSite=None without Secure, so it is Lax and only the full page gets it.
func (s *server) ensureDevice(c *gin.Context) {
	if deviceID(c) != "" {
		return
	}
	cookie := &http.Cookie{
		Name:     deviceCookie,
		Value:    checkout.NewID("dev"),
		Path:     "/",
		MaxAge:   int(deviceLifetime / time.Second),
		HttpOnly: true, // no script of ours needs it
		SameSite: http.SameSiteLaxMode,
	}
	if strings.HasPrefix(s.baseURL, "https://") {
		cookie.Secure, cookie.SameSite = true, http.SameSiteNoneMode
	}
	http.SetCookie(c.Writer, cookie)
}

// deviceID is the request's device cookie, or "" when it has none or one we
// did not make (the shape of checkout.NewID("dev")): a forged value could
// still be sent, but not a long or odd one.
func deviceID(c *gin.Context) string {
	v, err := c.Cookie(deviceCookie)
	if err != nil || !checkout.IsID("dev", v) {
		return ""
	}
	return v
}

// clientIP is the shopper's address as the router trusts it
// (trustProxies): the socket's peer, or what a trusted proxy says it saw.
func clientIP(c *gin.Context) netip.Addr {
	a, err := netip.ParseAddr(c.ClientIP())
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
