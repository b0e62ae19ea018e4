package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/pelletier/go-toml/v2"
	"golang.org/x/text/language"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

//go:embed locales/*.toml
var localesFS embed.FS

// languages the page speaks, the default first.
var languages = []language.Tag{language.English, language.Japanese}

// catalog holds the message bundle and the Accept-Language matcher.
type catalog struct {
	bundle  *i18n.Bundle
	matcher language.Matcher
	// plain holds the messages without parameters once rendered, per
	// language: the catalogs are embedded and never change, and a page
	// renders dozens of them (go-i18n runs a template for each).
	plain sync.Map // lang + "\x00" + id -> string
	// translators holds one translator per language the page speaks: a
	// translator never changes, and its client messages are rendered once.
	translators map[string]*translator
}

func newCatalog() (*catalog, error) {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	files, err := fs.Glob(localesFS, "locales/*.toml")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if _, err := b.LoadMessageFileFS(localesFS, f); err != nil {
			return nil, fmt.Errorf("load %s: %w", f, err)
		}
	}
	c := &catalog{bundle: b, matcher: language.NewMatcher(languages), translators: map[string]*translator{}}
	for _, tag := range languages {
		base, _ := tag.Base()
		t := c.newTranslator(base.String())
		c.translators[t.Lang] = t
	}
	return c, nil
}

// lang picks the page's language: the session's locale when the merchant
// fixed it, else the best match of the browser's Accept-Language.
func (c *catalog) lang(sessionLocale, acceptLanguage string) string {
	switch sessionLocale {
	case "ja", "en":
		return sessionLocale
	}
	if len(acceptLanguage) > 256 { // parsing cost is the client's to pay, not ours
		acceptLanguage = acceptLanguage[:256]
		if i := strings.LastIndexByte(acceptLanguage, ','); i > 0 {
			acceptLanguage = acceptLanguage[:i] // whole entries only
		}
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return "en"
	}
	_, i, conf := c.matcher.Match(tags...)
	if conf == language.No {
		return "en"
	}
	base, _ := languages[i].Base()
	return base.String()
}

// translator renders messages in one language.
type translator struct {
	Lang string // "en" or "ja"
	loc  *i18n.Localizer
	c    *catalog
	// clientJSON is clientMessageIDs rendered, as JSON: the same on every
	// page in the language.
	clientJSON json.RawMessage
}

// translator is lang's translator: one of the page's languages (lang's
// answer), else a fresh one.
func (c *catalog) translator(lang string) *translator {
	if t, ok := c.translators[lang]; ok {
		return t
	}
	return c.newTranslator(lang)
}

func (c *catalog) newTranslator(lang string) *translator {
	t := &translator{Lang: lang, loc: i18n.NewLocalizer(c.bundle, lang), c: c}
	t.clientJSON, _ = json.Marshal(t.renderClientMessages()) // a map of strings always marshals
	return t
}

// T renders a message; kv are template parameters as name, value pairs. It
// is the templates' only way to write text, so that every string a shopper
// reads is in the catalogs.
func (t *translator) T(id string, kv ...string) string {
	var params map[string]string
	if len(kv) > 0 {
		params = make(map[string]string, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			params[kv[i]] = kv[i+1]
		}
	}
	s, ok := t.message(id, params)
	if !ok {
		return id
	}
	return s
}

func (t *translator) message(id string, params map[string]string) (string, bool) {
	if len(params) > 0 {
		return t.localize(id, params)
	}
	key := t.Lang + "\x00" + id
	if s, ok := t.c.plain.Load(key); ok {
		return s.(string), true
	}
	s, ok := t.localize(id, nil)
	if ok {
		t.c.plain.Store(key, s)
	}
	return s, ok
}

func (t *translator) localize(id string, params map[string]string) (string, bool) {
	s, err := t.loc.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: params})
	if err != nil {
		slog.Warn("missing message", "id", id, "lang", t.Lang)
		return "", false
	}
	return s, true
}

// errorMessage is the shopper's text for a checkout error: its message id
// with its parameters, else the generic text of its code, else its English
// message (which the checkout package keeps user-safe).
func (t *translator) errorMessage(e *checkout.Error) string {
	if e.MsgID != "" {
		if s, ok := t.message(e.MsgID, e.Params); ok {
			return s
		}
	}
	if s, ok := t.message("error."+e.Code, nil); ok {
		return s
	}
	return e.Message
}

// clientMessageIDs are the messages pay.js shows without asking the server:
// client-side checks that mirror checkout/card.go, and progress and
// network texts. Parameters stay as {Name} placeholders for the script.
var clientMessageIDs = []string{
	"card.number.required", "card.number.length_brand", "card.number.length_brand_or", "card.number.length_brand_range",
	"card.number.brand", "card.number.luhn",
	"card.expiry.format", "card.expiry.month", "card.expiry.past", "card.expiry.far",
	"card.name.required",
	"card.cvc.required", "card.cvc.chars", "card.cvc.length_front", "card.cvc.length_back",
	"cvc.hint.back", "cvc.hint.front", "cvc.hint.generic",
	"cvc.help.back_brand", "cvc.help.back_generic",
	"field.number.brand", "field.method.available",
	"method.lump_sum", "method.installments", "method.bonus_lump_sum", "method.revolving",
	"saved.removed",
	"pay.busy", "pay.success", "pay.success_embed",
	"error.network", "error.internal",
	"threeds.frame_title", "threeds.status",
}

// placeholders are the parameters of client messages, rendered as {Name}.
var placeholders = map[string]string{"Brand": "{Brand}", "Digits": "{Digits}", "A": "{A}", "B": "{B}", "Count": "{Count}"}

// clientMessages is clientMessageIDs rendered for the page's JSON data
// block, as JSON.
func (t *translator) clientMessages() json.RawMessage { return t.clientJSON }

func (t *translator) renderClientMessages() map[string]string {
	out := make(map[string]string, len(clientMessageIDs))
	for _, id := range clientMessageIDs {
		s, ok := t.message(id, placeholders)
		if !ok {
			s = id
		}
		out[id] = s
	}
	return out
}
