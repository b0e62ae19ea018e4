package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strconv"

	"github.com/gin-gonic/gin"
)

//go:embed templates/*.html
var templatesFS embed.FS

// pageSet is the page templates once per language the page speaks. Each
// message without parameters ({{.T "id"}}) is written into its language's
// templates as a string constant ({{"text"}}), which html/template still
// escapes for where it stands: a page renders some forty of them, and
// looking each up through the translator by reflection was a fifth of the
// page's rendering. Messages with parameters stay calls of T.
type pageSet map[string]*template.Template

// plainMessage is a template action that renders a message without
// parameters.
var plainMessage = regexp.MustCompile(`\{\{(-?\s*)\.T ("[^"]*")(\s*-?)\}\}`)

func parsePages(assets *assetSet, c *catalog) (pageSet, error) {
	files, err := fs.Glob(templatesFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	set := pageSet{}
	for lang, tr := range c.translators {
		t := template.New("").Funcs(template.FuncMap{"asset": assets.url})
		for _, f := range files {
			src, err := fs.ReadFile(templatesFS, f)
			if err != nil {
				return nil, err
			}
			text, err := writeMessages(string(src), tr)
			if err != nil {
				return nil, fmt.Errorf("template %s: %w", f, err)
			}
			if _, err := t.New(path.Base(f)).Parse(text); err != nil {
				return nil, err
			}
		}
		set[lang] = t
	}
	return set, nil
}

// writeMessages replaces src's messages without parameters by their text in
// tr's language, as string constants. A message missing from the catalog
// is an error: the page would show its id.
func writeMessages(src string, tr *translator) (string, error) {
	var missing error
	out := plainMessage.ReplaceAllStringFunc(src, func(action string) string {
		m := plainMessage.FindStringSubmatch(action)
		id, err := strconv.Unquote(m[2])
		if err != nil {
			missing = fmt.Errorf("message id %s: %w", m[2], err)
			return action
		}
		text, ok := tr.message(id, nil)
		if !ok {
			missing = fmt.Errorf("no message %q in %s", id, tr.Lang)
			return action
		}
		return "{{" + m[1] + strconv.Quote(text) + m[3] + "}}"
	})
	return out, missing
}

// localized is a page's data: it knows the page's language.
type localized interface{ language() string }

func (t *translator) language() string { return t.Lang }

// render executes a template of the data's language into a buffer first,
// so that a failure answers a clean 500 instead of half a page.
func (s *server) render(c *gin.Context, status int, name string, data localized) {
	var buf bytes.Buffer
	t, ok := s.pages[data.language()]
	if !ok {
		t = s.pages["en"]
	}
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("render page", "template", name, "err", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error\n"))
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}
