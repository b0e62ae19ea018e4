package web

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// 3-D Secure's shopper-facing pages. A challenge is the issuer's window
// (its Access Control Server, ACS) framed by the payment page. A real ACS
// serves that window from the issuer's own origin; the sandbox issuer's is
// served here, under /sandbox/acs/, so that the sandbox needs no other
// server. It ends by posting the challenge result (CRes) to the checkout's
// notification URL, /pay/:id/3ds/complete, whose page tells the payment page
// to send the card again with the authentication's id.

// acsPath is the sandbox issuer's challenge window for an authentication.
func acsPath(id string) string { return "/sandbox/acs/" + id }

// validAuthenticationID reports whether id has the shape of
// checkout.NewID("3ds"): a lookup key from the browser is checked before it
// reaches the store.
func validAuthenticationID[T string | []byte](id T) bool { return checkout.IsID("3ds", id) }

// challengeData is what the challenge window's templates render.
type challengeData struct {
	*pageData
	AuthenticationID string
	Over             bool   // the challenge is answered, used or expired
	ActionURL        string // the code form's target
	CSRF             string
	Error            string // the last answer's problem, localized
	NotifyURL        string // the requestor's notification URL (CRes)
	CRes             string
}

// acsCSRF binds the code form to its authentication, as csrfToken does
// the card form to its session.
func (s *server) acsCSRF(id string) string { return s.formToken("acs", id) }

// challengePage builds the window's data for w in the session's language.
func (s *server) challengePage(c *gin.Context, w checkout.ChallengeWindow) *challengeData {
	co := w.Checkout
	tr := s.i18n.translator(s.i18n.lang(co.Session.Locale, c.GetHeader("Accept-Language")))
	challengePolicy(c, originStrings(co.Merchant.Origins))
	return &challengeData{
		pageData: &pageData{
			translator:   tr,
			Nonce:        cspNonce(c),
			Class:        "acs-page",
			Title:        tr.T("acs.title"),
			MerchantName: co.Merchant.Name,
			Amount:       checkout.FormatAmount(co.Session.Amount, co.Session.Currency),
		},
		AuthenticationID: w.Authentication.ID,
		ActionURL:        acsPath(w.Authentication.ID),
		CSRF:             s.acsCSRF(w.Authentication.ID),
	}
}

// openChallenge loads the window's authentication, or answers a page that
// says it cannot be shown; ok is false then.
func (s *server) openChallenge(c *gin.Context) (checkout.ChallengeWindow, bool) {
	id := c.Param("id")
	tr := s.i18n.translator(s.i18n.lang("", c.GetHeader("Accept-Language")))
	if !validAuthenticationID(id) {
		s.messagePage(c, tr, http.StatusNotFound, "acs.title", "threeds.over", nil)
		return checkout.ChallengeWindow{}, false
	}
	w, err := s.svc.OpenThreeDSChallenge(c.Request.Context(), id)
	if err != nil {
		e := asError(s.log, c.FullPath(), err)
		if e.Code == checkout.ENOTFOUND {
			s.messagePage(c, tr, http.StatusNotFound, "acs.title", "threeds.over", nil)
			return checkout.ChallengeWindow{}, false
		}
		s.messagePage(c, tr, httpStatus(e.Code), "page.error.title", "page.error.body", nil)
		return checkout.ChallengeWindow{}, false
	}
	return w, true
}

// acsPage shows the sandbox issuer's challenge: the one-time code form. A
// challenge already answered but not yet used posts its result again (the
// shopper reloaded the window); one used or expired says it is over.
func (s *server) acsPage(c *gin.Context) {
	w, ok := s.openChallenge(c)
	if !ok {
		return
	}
	data := s.challengePage(c, w)
	a := w.Authentication
	switch {
	case a.UsedBy != 0 || !s.now().Before(a.ExpiresAt):
		data.Over = true
		s.render(c, http.StatusConflict, "acs.html", data)
	case a.Status.Final():
		s.renderCRes(c, data, a)
	default:
		s.render(c, http.StatusOK, "acs.html", data)
	}
}

// acsAnswer takes the code form: the code, or cancel=1 (EMV challengeCancel).
// A wrong code shows the form again while tries remain; a final answer
// posts the CRes to the notification URL.
func (s *server) acsAnswer(c *gin.Context) {
	w, ok := s.openChallenge(c)
	if !ok {
		return
	}
	data := s.challengePage(c, w)
	id := w.Authentication.ID
	if !hasMediaType(c.GetHeader("Content-Type"), "application/x-www-form-urlencoded") || c.Request.ParseForm() != nil {
		data.Error = data.T("error.unsupported_media_type")
		s.render(c, http.StatusUnsupportedMediaType, "acs.html", data)
		return
	}
	form := c.Request.PostForm
	// The MAC token proves the form came from the window we served.
	if len(form["csrf"]) != 1 || !s.validFormToken("acs", id, form.Get("csrf")) {
		data.Error = data.T("error.forbidden")
		s.render(c, http.StatusForbidden, "acs.html", data)
		return
	}
	cancel := form.Get("cancel") == "1"
	code := strings.TrimSpace(form.Get("code"))
	if !cancel && (code == "" || len(code) > 32) {
		// No answer is not a wrong answer: it does not count as a try.
		data.Error = data.T("acs.code_required")
		s.render(c, http.StatusOK, "acs.html", data)
		return
	}
	a, err := s.svc.AnswerThreeDSChallenge(c.Request.Context(), id, code, cancel)
	if err != nil {
		e := asError(s.log, c.FullPath(), err)
		if e.Code == checkout.ECONFLICT {
			data.Over = true
			s.render(c, http.StatusConflict, "acs.html", data)
			return
		}
		data.Error = data.errorMessage(e)
		s.render(c, httpStatus(e.Code), "acs.html", data)
		return
	}
	if !a.Status.Final() {
		data.Error = data.T("acs.wrong_code") // how many tries remain is the issuer's secret
		s.render(c, http.StatusOK, "acs.html", data)
		return
	}
	s.renderCRes(c, data, a)
}

// cres is EMV 3DS's final Challenge Response, as the ACS posts it
// (base64url JSON) to the requestor's notification URL.
type cres struct {
	ThreeDSServerTransID string `json:"threeDSServerTransID"`
	ACSTransID           string `json:"acsTransID"`
	MessageType          string `json:"messageType"`
	MessageVersion       string `json:"messageVersion"`
	TransStatus          string `json:"transStatus"`
}

// renderCRes renders the window's last page, which posts the CRes.
func (s *server) renderCRes(c *gin.Context, data *challengeData, a checkout.Authentication) {
	b, _ := json.Marshal(cres{
		ThreeDSServerTransID: a.ID,
		ACSTransID:           a.ACSTransID,
		MessageType:          "CRes",
		MessageVersion:       checkout.ThreeDSVersion,
		TransStatus:          string(a.Status),
	})
	data.CRes = base64.RawURLEncoding.EncodeToString(b)
	data.NotifyURL = "/pay/" + a.SessionID + "/3ds/complete"
	data.Script = "threeds.js"
	s.render(c, http.StatusOK, "acs_cres.html", data)
}

// maxCRes bounds the notification's cres field.
const maxCRes = 2 << 10

// parseCRes checks a CRes's shape and returns the authentication it names.
// Its status is not used: it came through the browser, and the stored
// authentication is the truth.
func parseCRes(v string) (string, bool) {
	if len(v) == 0 || len(v) > maxCRes {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
	if err != nil {
		return "", false
	}
	var m cres
	if err := json.Unmarshal(b, &m); err != nil {
		return "", false
	}
	switch m.TransStatus {
	case "Y", "N", "A", "U", "R":
	default:
		return "", false
	}
	if m.MessageType != "CRes" || !strings.HasPrefix(m.MessageVersion, "2.") || m.ACSTransID == "" ||
		!validAuthenticationID(m.ThreeDSServerTransID) {
		return "", false
	}
	return m.ThreeDSServerTransID, true
}

// threeDSComplete is the notification URL: the challenge window lands here
// when the challenge ends, and the page tells the payment page. It changes
// nothing, so it needs no CSRF token (a real ACS posts it from the issuer's
// origin); it only says which authentication ended, and only when the
// stored one belongs to this session and is over.
func (s *server) threeDSComplete(c *gin.Context) {
	tr := s.i18n.translator(s.i18n.lang("", c.GetHeader("Accept-Language")))
	bad := func() {
		s.messagePage(c, tr, http.StatusBadRequest, "acs.title", "threeds.over", nil)
	}
	if !hasMediaType(c.GetHeader("Content-Type"), "application/x-www-form-urlencoded") || c.Request.ParseForm() != nil ||
		len(c.Request.PostForm["cres"]) != 1 {
		bad()
		return
	}
	id, ok := parseCRes(c.Request.PostForm.Get("cres"))
	if !ok {
		bad()
		return
	}
	w, err := s.svc.OpenThreeDSChallenge(c.Request.Context(), id)
	if err != nil || w.Authentication.SessionID != c.Param("id") || !w.Authentication.Status.Final() {
		bad()
		return
	}
	data := s.challengePage(c, w)
	data.Script = "threeds.js"
	s.render(c, http.StatusOK, "threeds_complete.html", data)
}
