package web

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout/sandbox"
	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

const (
	challengeForm = "number=4000000000003063&expiry=12%2F40&name=TARO+YAMADA&cvc=123"
	shopAncestors = "frame-ancestors 'self' https://shop.example http://127.0.0.1:8081"
)

var (
	cresValueRe  = regexp.MustCompile(`name="cres" value="([^"]+)"`)
	formActionRe = regexp.MustCompile(`<form id="cres-form"[^>]* action="([^"]+)"`)
)

// mustAction checks a submission answered requires_action and returns it.
func mustAction(tb testing.TB, w *httptest.ResponseRecorder) nextAction {
	tb.Helper()
	if w.Code != 200 {
		tb.Fatalf("pay: %d %s", w.Code, w.Body)
	}
	var res struct {
		Status     string     `json:"status"`
		NextAction nextAction `json:"next_action"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		tb.Fatal(err)
	}
	a := res.NextAction
	if res.Status != "requires_action" || a.Type != "three_ds_challenge" || !validAuthenticationID(a.AuthenticationID) ||
		a.URL != "/sandbox/acs/"+a.AuthenticationID || a.Width != 390 || a.Height != 400 {
		tb.Fatalf("answer %s", w.Body)
	}
	if strings.Contains(w.Body.String(), "token") || strings.Contains(w.Body.String(), "4000000000003063") {
		tb.Errorf("an unpaid answer carries a token or the number: %s", w.Body)
	}
	return a
}

func (e *testEnv) acsToken(id string) string {
	return base64.RawURLEncoding.EncodeToString(e.vault.MAC("acs", []byte(id)))
}

// answerACS posts the challenge window's form.
func (e *testEnv) answerACS(id string, fields url.Values) *httptest.ResponseRecorder {
	return e.do("POST", "/sandbox/acs/"+id, fields.Encode(),
		"Content-Type", "application/x-www-form-urlencoded", "Origin", "null", "Accept-Language", "en")
}

// mustCRes checks the window's last page, which posts the CRes to the
// session's notification URL, and returns the CRes.
func mustCRes(tb testing.TB, w *httptest.ResponseRecorder, session, id, status string) string {
	tb.Helper()
	body := w.Body.String()
	if w.Code != 200 {
		tb.Fatalf("want the CRes page: %d %s", w.Code, body)
	}
	m, a := cresValueRe.FindStringSubmatch(body), formActionRe.FindStringSubmatch(body)
	if m == nil || a == nil || a[1] != "/pay/"+session+"/3ds/complete" {
		tb.Fatalf("no CRes form to the notification URL: %s", body)
	}
	raw, err := base64.RawURLEncoding.DecodeString(m[1])
	if err != nil {
		tb.Fatalf("cres not base64url: %v", err)
	}
	var c map[string]string
	if err := json.Unmarshal(raw, &c); err != nil {
		tb.Fatal(err)
	}
	if c["threeDSServerTransID"] != id || c["messageType"] != "CRes" || c["messageVersion"] != "2.2.0" ||
		c["transStatus"] != status || !strings.HasPrefix(c["acsTransID"], "acs_") {
		tb.Errorf("cres %v, want %s for %s", c, status, id)
	}
	// The auto-post is a nonce'd script file; the button works without it.
	if !regexp.MustCompile(`<script src="/static/threeds\.[0-9a-f]{12}\.js" nonce="[^"]+" defer></script>`).MatchString(body) ||
		!strings.Contains(body, `<button type="submit" id="cres-continue"`) {
		tb.Errorf("CRes page lacks its script or its button: %s", body)
	}
	assertChallengeHeaders(tb, w)
	return m[1]
}

// assertChallengeHeaders: the window's pages may be framed by the checkout's
// own page (and, through it, by the merchant's page that frames it) only.
func assertChallengeHeaders(tb testing.TB, w *httptest.ResponseRecorder) {
	tb.Helper()
	csp := w.Header().Get("Content-Security-Policy")
	if got := directive(csp, "frame-ancestors"); got != shopAncestors {
		tb.Errorf("%q, want %q", got, shopAncestors)
	}
	for _, d := range []string{"default-src 'none'", "form-action 'self'", "base-uri 'none'", "trusted-types 'none'"} {
		if directive(csp, strings.Fields(d)[0]) != d {
			tb.Errorf("CSP lacks %q: %s", d, csp)
		}
	}
	if directive(csp, "frame-src") != "" || w.Header().Get("Cache-Control") != "no-store" {
		tb.Errorf("challenge page frames or is cached: %s", csp)
	}
	m := cspNonceRe.FindStringSubmatch(directive(csp, "script-src"))
	for _, tag := range scriptTagRe.FindAllString(w.Body.String(), -1) {
		if n := nonceAttrRe.FindStringSubmatch(tag); m == nil || n == nil || n[1] != m[1] {
			tb.Errorf("script %s without the response's nonce", tag)
		}
	}
	if loc := inlineStyleRe.FindStringIndex(w.Body.String()); loc != nil {
		tb.Errorf("inline style or handler in %s", w.Body)
	}
}

// resultClaims reads a paid answer's token payload (the signature is the
// verify package's and the browser test's business).
func resultClaims(tb testing.TB, w *httptest.ResponseRecorder) verify.Result {
	tb.Helper()
	var res map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || res["status"] != "paid" {
		tb.Fatalf("want paid: %d %s", w.Code, w.Body)
	}
	parts := strings.Split(res["token"], ".")
	if len(parts) != 3 {
		tb.Fatalf("token %q", res["token"])
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		tb.Fatal(err)
	}
	var claims verify.Result
	if err := json.Unmarshal(raw, &claims); err != nil {
		tb.Fatal(err)
	}
	return claims
}

// The whole challenge as the page and the window drive it: no authorization
// before the shopper answers, a wrong code, the right one, the CRes to the
// notification page, and the card sent again with the authentication.
func TestThreeDSChallengeFlow(t *testing.T) {
	env := MustEnv3DS(t)
	session := env.MustSession(t, "en")

	a := mustAction(t, env.pay(session, challengeForm))
	if n := env.auth.calls.Load(); n != 0 {
		t.Fatalf("the issuer wants a challenge, yet the card was authorized %d times", n)
	}
	id := a.AuthenticationID

	// The window: the sandbox issuer's code form, in the session's language.
	w := env.do("GET", a.URL, "", "Accept-Language", "ja")
	body := w.Body.String()
	if w.Code != 200 {
		t.Fatalf("ACS page: %d %s", w.Code, body)
	}
	assertChallengeHeaders(t, w)
	if w.Header().Get("X-Frame-Options") != "" {
		t.Errorf("X-Frame-Options %q blocks the window", w.Header().Get("X-Frame-Options"))
	}
	for _, want := range []string{
		`<html lang="en">`, "<title>Verify it&#39;s you — Sandbox issuer</title>", "Test Shop", "¥1,500",
		`<form id="acs-form" class="acs-form" method="post" action="/sandbox/acs/` + id + `"`,
		`name="csrf" value="` + env.acsToken(id) + `"`,
		`id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code"`,
		"the code is " + sandbox.ChallengeCode,
		`id="acs-submit"`, `id="acs-cancel" class="secondary" name="cancel" value="1"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("ACS page lacks %s", want)
		}
	}
	if len(scriptTagRe.FindAllString(body, -1)) != 0 {
		t.Errorf("the code form needs no script")
	}

	// Sent again before the challenge is answered: the same window again.
	if again := mustAction(t, env.pay(session, challengeForm+"&authentication="+id)); again.AuthenticationID != id {
		t.Errorf("a pending challenge got a new one: %s", again.AuthenticationID)
	}

	// A wrong code: the form again, with the error, no count disclosed.
	w = env.answerACS(id, url.Values{"csrf": {env.acsToken(id)}, "code": {"000000"}})
	body = w.Body.String()
	if w.Code != 200 || !strings.Contains(body, `<p id="acs-error" class="form-error" role="alert">That code is not correct. Try again.</p>`) ||
		!strings.Contains(body, `id="acs-form"`) || strings.Contains(body, "cres") {
		t.Fatalf("wrong code: %d %s", w.Code, body)
	}
	// An empty code is not an answer and costs no try.
	w = env.answerACS(id, url.Values{"csrf": {env.acsToken(id)}, "code": {" "}})
	if !strings.Contains(w.Body.String(), "Enter the one-time code.") {
		t.Errorf("empty code: %s", w.Body)
	}

	// The right code: the CRes to the requestor's notification URL.
	w = env.answerACS(id, url.Values{"csrf": {env.acsToken(id)}, "code": {sandbox.ChallengeCode}})
	cres := mustCRes(t, w, session, id, "Y")
	// A reload of the window shows the same end (not yet used).
	mustCRes(t, env.do("GET", a.URL, ""), session, id, "Y")

	// The notification page tells the payment page which one ended.
	w = env.do("POST", "/pay/"+session+"/3ds/complete", "cres="+cres,
		"Content-Type", "application/x-www-form-urlencoded", "Origin", "null")
	body = w.Body.String()
	if w.Code != 200 || !strings.Contains(body, `id="threeds-done" role="status" data-authentication-id="`+id+`"`) ||
		!regexp.MustCompile(`<script src="/static/threeds\.[0-9a-f]{12}\.js" nonce=`).MatchString(body) {
		t.Fatalf("notification: %d %s", w.Code, body)
	}
	assertChallengeHeaders(t, w)

	// The card again, with the authentication: paid, authenticated.
	w = env.pay(session, challengeForm+"&authentication="+id)
	claims := resultClaims(t, w)
	td := claims.ThreeDS
	if td == nil || td.AuthenticationID != id || td.Status != "Y" || td.ECI != "05" || !td.Challenged || !td.LiabilityShift || td.Version != "2.2.0" {
		t.Errorf("three_ds %+v", td)
	}
	if n := env.auth.calls.Load(); n != 1 {
		t.Errorf("authorizer calls %d, want 1", n)
	}

	// Used: the window says it is over, and takes no more answers.
	w = env.do("GET", a.URL, "")
	if w.Code != 409 || !strings.Contains(w.Body.String(), `id="acs-over"`) || strings.Contains(w.Body.String(), `id="acs-form"`) {
		t.Errorf("used challenge: %d %s", w.Code, w.Body)
	}
	w = env.answerACS(id, url.Values{"csrf": {env.acsToken(id)}, "code": {sandbox.ChallengeCode}})
	if w.Code != 409 || !strings.Contains(w.Body.String(), "This verification is over") {
		t.Errorf("answer to a used challenge: %d %s", w.Code, w.Body)
	}
	for _, secret := range []string{"4000000000003063", "cvc=", sandbox.ChallengeCode} {
		if strings.Contains(env.logText(), secret) {
			t.Errorf("log holds %q", secret)
		}
	}
}

// Cancel, or three wrong codes, end the challenge as N: the card is sent
// again and declined, never authorized.
func TestThreeDSChallengeFails(t *testing.T) {
	env := MustEnv3DS(t)
	for _, tc := range []struct {
		name    string
		answers []url.Values
	}{
		{"cancel", []url.Values{{"cancel": {"1"}}}},
		{"three wrong codes", []url.Values{{"code": {"1"}}, {"code": {"2"}}, {"code": {"3"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			session := env.MustSession(t, "ja")
			id := mustAction(t, env.pay(session, challengeForm)).AuthenticationID
			page := env.do("GET", "/sandbox/acs/"+id, "", "Accept-Language", "en").Body.String()
			for _, want := range []string{`<html lang="ja">`, "ご本人確認 — サンドボックス発行会社", "ワンタイムパスワード", "123456"} {
				if !strings.Contains(page, want) {
					t.Errorf("ja window lacks %s", want)
				}
			}
			var w *httptest.ResponseRecorder
			for _, v := range tc.answers {
				v.Set("csrf", env.acsToken(id))
				w = env.answerACS(id, v)
			}
			mustCRes(t, w, session, id, "N")
			if !strings.Contains(w.Body.String(), `lang="ja"`) || !strings.Contains(w.Body.String(), "本人認証が完了しました") {
				t.Errorf("window not in the session's language: %s", w.Body)
			}
			w = env.pay(session, challengeForm+"&authentication="+id)
			if e := decodeError(t, w); w.Code != 402 || e.Code != "card_declined" {
				t.Errorf("after N: %d %s", w.Code, w.Body)
			}
			if n := env.auth.calls.Load(); n != 0 {
				t.Errorf("authorized %d times after a failed authentication", n)
			}
		})
	}
}

// The authentication field is a lookup key from the browser: refused unless
// it has the shape of our ids; a well-shaped one that is not this session's
// and card's answered challenge authenticates afresh.
func TestPaySubmitAuthenticationField(t *testing.T) {
	env := MustEnv3DS(t)
	good := "number=4242424242424242&expiry=12%2F40&name=TARO+YAMADA&cvc=123"
	unknown := "3ds_" + strings.Repeat("a", 26)
	for _, tc := range []struct {
		name, form string
		status     int
	}{
		{"garbage", good + "&authentication=%3Cscript%3E", 400},
		{"empty", good + "&authentication=", 400},
		{"wrong prefix", good + "&authentication=dev_" + strings.Repeat("a", 26), 400},
		{"upper case", good + "&authentication=3ds_" + strings.Repeat("A", 26), 400},
		{"too long", good + "&authentication=" + unknown + "a", 400},
		{"repeated", good + "&authentication=" + unknown + "&authentication=" + unknown, 400},
		{"unknown, frictionless card", good + "&authentication=" + unknown, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			session := env.MustSession(t, "en")
			w := env.pay(session, tc.form)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status == 400 {
				if e := decodeError(t, w); e.Code != "invalid" || e.Message != "The card details could not be read. Reload the page and try again." {
					t.Errorf("error %+v", e)
				}
				return
			}
			td := resultClaims(t, w).ThreeDS
			if td == nil || td.Status != "Y" || td.Challenged || td.AuthenticationID == unknown || !td.LiabilityShift {
				t.Errorf("three_ds %+v", td)
			}
		})
	}

	// Another session's answered challenge does not pay this one: it meets
	// a challenge of its own.
	s1, s2 := env.MustSession(t, "en"), env.MustSession(t, "en")
	id := mustAction(t, env.pay(s1, challengeForm)).AuthenticationID
	mustCRes(t, env.answerACS(id, url.Values{"csrf": {env.acsToken(id)}, "code": {sandbox.ChallengeCode}}), s1, id, "Y")
	if a := mustAction(t, env.pay(s2, challengeForm+"&authentication="+id)); a.AuthenticationID == id {
		t.Errorf("session %s used session %s's authentication", s2, s1)
	}
	// Nor does it serve this session's notification page.
	cres := cresOf(id, "Y")
	if w := env.do("POST", "/pay/"+s2+"/3ds/complete", "cres="+cres, "Content-Type", "application/x-www-form-urlencoded"); w.Code != 400 ||
		strings.Contains(w.Body.String(), "threeds-done") {
		t.Errorf("notification for another session's authentication: %d %s", w.Code, w.Body)
	}
	if n := env.auth.calls.Load(); n != 1 {
		t.Errorf("authorizer calls %d, want 1 (the frictionless card only)", n)
	}
}

func cresOf(id, status string) string {
	b, _ := json.Marshal(map[string]string{"threeDSServerTransID": id, "acsTransID": "acs_x", "messageType": "CRes",
		"messageVersion": "2.2.0", "transStatus": status})
	return base64.RawURLEncoding.EncodeToString(b)
}

// The window's form needs its MAC token; refused answers change nothing.
func TestACSRefusals(t *testing.T) {
	env := MustEnv3DS(t)
	session := env.MustSession(t, "en")
	id := mustAction(t, env.pay(session, challengeForm)).AuthenticationID
	other := mustAction(t, env.pay(env.MustSession(t, "en"), challengeForm)).AuthenticationID

	for _, tc := range []struct {
		name   string
		fields url.Values
		ctype  string
		status int
	}{
		{"no token", url.Values{"code": {sandbox.ChallengeCode}}, "", 403},
		{"token of another authentication", url.Values{"csrf": {env.acsToken(other)}, "code": {sandbox.ChallengeCode}}, "", 403},
		{"session's card-form token", url.Values{"csrf": {env.csrf(session)}, "code": {sandbox.ChallengeCode}}, "", 403},
		{"token repeated", url.Values{"csrf": {env.acsToken(id), "x"}, "cancel": {"1"}}, "", 403},
		{"token truncated", url.Values{"csrf": {env.acsToken(id)[:20]}, "cancel": {"1"}}, "", 403},
		{"not a form", url.Values{"csrf": {env.acsToken(id)}, "cancel": {"1"}}, "text/plain", 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctype := tc.ctype
			if ctype == "" {
				ctype = "application/x-www-form-urlencoded"
			}
			w := env.do("POST", "/sandbox/acs/"+id, tc.fields.Encode(), "Content-Type", ctype)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), `id="acs-error"`) || strings.Contains(w.Body.String(), "cres") {
				t.Errorf("%d %s", w.Code, w.Body)
			}
		})
	}
	// Still open: the right code with the token ends it as Y.
	mustCRes(t, env.answerACS(id, url.Values{"csrf": {env.acsToken(id)}, "code": {sandbox.ChallengeCode}}), session, id, "Y")

	for _, target := range []string{"/sandbox/acs/3ds_" + strings.Repeat("b", 26), "/sandbox/acs/nope", "/sandbox/acs/" + strings.ToUpper(id)} {
		if w := env.do("GET", target, ""); w.Code != 404 || strings.Contains(w.Body.String(), "acs-form") {
			t.Errorf("GET %s: %d", target, w.Code)
		}
	}
}

// The notification page trusts the CRes for nothing but the id, and only
// once the stored authentication is over.
func TestThreeDSCompleteRefusals(t *testing.T) {
	env := MustEnv3DS(t)
	session := env.MustSession(t, "en")
	id := mustAction(t, env.pay(session, challengeForm)).AuthenticationID
	post := func(body string) *httptest.ResponseRecorder {
		return env.do("POST", "/pay/"+session+"/3ds/complete", body, "Content-Type", "application/x-www-form-urlencoded")
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, body := range map[string]string{
		"no cres":           "",
		"not base64":        "cres=%25%25%25",
		"not JSON":          "cres=" + b64("hello"),
		"not a CRes":        "cres=" + b64(`{"threeDSServerTransID":"`+id+`","acsTransID":"a","messageType":"ARes","messageVersion":"2.2.0","transStatus":"Y"}`),
		"challenge status":  "cres=" + cresOf(id, "C"),
		"bad id":            "cres=" + cresOf("3ds_x", "Y"),
		"two cres":          "cres=" + cresOf(id, "Y") + "&cres=" + cresOf(id, "Y"),
		"unknown id":        "cres=" + cresOf("3ds_"+strings.Repeat("c", 26), "Y"),
		"still C on server": "cres=" + cresOf(id, "Y"), // the browser's word is not the state
	} {
		if w := post(body); w.Code != 400 || strings.Contains(w.Body.String(), "threeds-done") {
			t.Errorf("%s: %d %s", name, w.Code, html.UnescapeString(w.Body.String()))
		}
	}
}

// The payment page may frame only the checkout's own pages; no other page
// frames anything.
func TestFrameSrc(t *testing.T) {
	env := MustEnv3DS(t)
	session := env.MustSession(t, "en")
	for _, target := range []string{"/pay/" + session, "/pay/" + session + "?embed=1&parent=" + url.QueryEscape("https://shop.example")} {
		w := env.do("GET", target, "")
		csp := w.Header().Get("Content-Security-Policy")
		if got := directive(csp, "frame-src"); got != "frame-src 'self'" {
			t.Errorf("%s: %q in %s", target, got, csp)
		}
		if !strings.Contains(w.Body.String(), `<section id="threeds" class="threeds" aria-labelledby="threeds-title" hidden>`) ||
			!strings.Contains(w.Body.String(), `"threeds.frame_title":"Your card issuer`) {
			t.Errorf("%s lacks the challenge window or its texts", target)
		}
	}
	for _, target := range []string{"/healthz", "/pay/cs_doesnotexist", "/sandbox/acs/" + "3ds_" + strings.Repeat("d", 26)} {
		if csp := env.do("GET", target, "").Header().Get("Content-Security-Policy"); directive(csp, "frame-src") != "" {
			t.Errorf("%s frames: %s", target, csp)
		}
	}
}

// The merchant sees the screening history: each submission, the one that
// met the challenge and the one that paid, with their 3-D Secure.
func TestAttemptsShowTheChallenge(t *testing.T) {
	env := MustEnv3DS(t)
	session := env.MustSession(t, "en")
	id := mustAction(t, env.pay(session, challengeForm)).AuthenticationID

	_, s := env.api(t, env.key, "GET", "/v1/sessions/"+session, "")
	if tds, _ := s["three_ds"].(map[string]any); s["status"] != "open" || tds["status"] != "C" || tds["authentication_id"] != id {
		t.Fatalf("session during the challenge: %v", s)
	}
	mustCRes(t, env.answerACS(id, url.Values{"csrf": {env.acsToken(id)}, "code": {sandbox.ChallengeCode}}), session, id, "Y")
	resultClaims(t, env.pay(session, challengeForm+"&authentication="+id))

	w, list := env.api(t, env.key, "GET", "/v1/sessions/"+session+"/attempts", "")
	data, _ := list["data"].([]any)
	if w.Code != 200 || list["object"] != "list" || len(data) != 2 {
		t.Fatalf("attempts: %d %v", w.Code, list)
	}
	first, second := data[0].(map[string]any), data[1].(map[string]any)
	if first["n"] != 1.0 || first["outcome"] != "authentication_required" || first["three_ds"].(map[string]any)["status"] != "C" ||
		first["card"].(map[string]any)["last4"] != "3063" {
		t.Errorf("first attempt: %v", first)
	}
	tds := second["three_ds"].(map[string]any)
	if second["outcome"] != "approved" || tds["status"] != "Y" || tds["challenged"] != true || tds["liability_shift"] != true ||
		second["risk"].(map[string]any)["verdict"] != "OK" {
		t.Errorf("second attempt: %v", second)
	}
	if strings.Contains(w.Body.String(), "4000000000003063") || strings.Contains(w.Body.String(), "tok_") {
		t.Errorf("attempts show more of the card than brand, last 4 and fingerprint: %s", w.Body)
	}
	if w, _ := env.api(t, env.otherKey, "GET", "/v1/sessions/"+session+"/attempts", ""); w.Code != 404 {
		t.Errorf("another merchant's attempts: %d", w.Code)
	}
}
