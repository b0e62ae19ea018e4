package demoshop

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages maps a page's file name to its template, parsed with the layout.
type pages map[string]*template.Template

// parsePages parses every page in templates/ together with layout.html.
func parsePages() (pages, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("demoshop: templates: %w", err)
	}
	p := make(pages)
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(pageFuncs).ParseFS(templateFS, "templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("demoshop: template %s: %w", base, err)
		}
		p[base] = t
	}
	return p, nil
}

// pageFuncs are the templates' functions: actions is a result's payment,
// for the order's buttons.
var pageFuncs = template.FuncMap{
	"actions": func(id, status string) payment { return payment{ID: id, Status: status} },
}

// render writes the page name with data. It renders into a buffer first,
// so that a template error becomes a clean 500, not half a page.
func (s *shop) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error("demoshop: render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the status is sent; a write error only means the client left
}

// errorPage is the data of the error page.
type errorPage struct {
	Title   string
	Message string
}

func (s *shop) renderError(w http.ResponseWriter, status int, title, message string) {
	s.render(w, status, "error.html", errorPage{Title: title, Message: message})
}

// serveStatic serves one embedded file of static/. Files are named one by
// one in the routes, so there is no directory listing.
func serveStatic(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, staticFS, "static/"+name)
	}
}

// currencies are the symbol and minor-unit digits of the API's currencies
// (ISO 4217).
var currencies = map[string]struct {
	symbol string
	digits int
}{
	"JPY": {"¥", 0},
	"USD": {"$", 2},
	"EUR": {"€", 2},
	"GBP": {"£", 2},
}

// formatAmount shows an amount in minor units, e.g. 1500 JPY as "¥1,500"
// and 1234 USD as "$12.34"; an unknown currency shows as "1234 XXX".
func formatAmount(amount int64, currency string) string {
	c, ok := currencies[currency]
	if !ok || amount < 0 {
		return strconv.FormatInt(amount, 10) + " " + currency
	}
	unit := int64(1)
	for range c.digits {
		unit *= 10
	}
	s := c.symbol + groupThousands(amount/unit)
	if c.digits > 0 {
		s += fmt.Sprintf(".%0*d", c.digits, amount%unit)
	}
	return s
}

// groupThousands writes n with a comma every three digits.
func groupThousands(n int64) string {
	digits := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}
