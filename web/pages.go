package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template/parse"

	"github.com/gin-gonic/gin"
)

//go:embed templates/*.html
var templatesFS embed.FS

// pageSet is the page templates once per language the page speaks. Each
// message without parameters ({{.T "id"}}) is written into its language's
// templates as a string constant ({{"text"}}), which html/template escapes
// for where it stands; where that is HTML text or an attribute, the
// escaped text then replaces the action (foldConstants): a page renders
// some forty of them, and looking each up through the translator by
// reflection was a fifth of the page's rendering, escaping each by
// reflection a tenth. Messages with parameters stay calls of T.
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
		foldConstants(t, assets)
		set[lang] = t
	}
	return set, nil
}

// foldConstants escapes t's pages (the templates named *.html) now rather
// than at their first render, then writes each constant (a string, or an
// asset's URL) into the page as the text its escaping makes, so that
// rendering no longer calls the asset function and the escapers, by
// reflection, for each message and asset written in. A constant is folded
// only where its escapers' output is known here:
//   - for HTML text or a quoted attribute value (htmlescaper, attrescaper,
//     rcdataescaper), which replace NUL, the quotes, '&', '+', '<' and '>'
//     (htmlReplacementTable in html/template), a constant without a '+':
//     for every other rune HTMLEscapeString writes what they write;
//   - for a URL in an attribute (urlfilter, urlnormalizer, attrescaper), a
//     path of letters, digits and "/._-" (an asset's URL), which all three
//     leave as it is.
//
// Anything else (a script, a URL of another shape) keeps its escapers.
func foldConstants(t *template.Template, assets *assetSet) {
	for _, page := range t.Templates() {
		if strings.HasSuffix(page.Name(), ".html") {
			// Escaping happens before execution, which then fails on the
			// missing data: only the escaping is wanted.
			_ = t.ExecuteTemplate(io.Discard, page.Name(), nil)
		}
	}
	f := folder{assets: assets}
	for _, tmpl := range t.Templates() {
		if tmpl.Tree != nil && tmpl.Tree.Root != nil {
			f.list(tmpl.Tree.Root)
		}
	}
}

// folder folds a template's constants; assets resolves {{asset "name"}}.
type folder struct{ assets *assetSet }

// textEscapers write what HTMLEscapeString writes, for a string without a
// '+'; urlEscapers, in this order, leave a safeAssetPath as it is.
var (
	textEscapers = map[string]bool{
		"_html_template_htmlescaper": true, "_html_template_attrescaper": true, "_html_template_rcdataescaper": true,
	}
	urlEscapers   = []string{"_html_template_urlfilter", "_html_template_urlnormalizer", "_html_template_attrescaper"}
	safeAssetPath = regexp.MustCompile(`^/[A-Za-z0-9/._-]*$`)
)

// list folds the constants of list and the lists nested in it, then joins
// the text nodes that end up side by side.
func (f folder) list(list *parse.ListNode) {
	nodes := list.Nodes[:0]
	for _, n := range list.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			if text, ok := f.text(n.Pipe); ok {
				if last := len(nodes) - 1; last >= 0 && nodes[last].Type() == parse.NodeText {
					nodes[last].(*parse.TextNode).Text = append(nodes[last].(*parse.TextNode).Text, text...)
					continue
				}
				nodes = append(nodes, &parse.TextNode{NodeType: parse.NodeText, Pos: n.Pos, Text: []byte(text)})
				continue
			}
		case *parse.IfNode:
			f.branches(&n.BranchNode)
		case *parse.RangeNode:
			f.branches(&n.BranchNode)
		case *parse.WithNode:
			f.branches(&n.BranchNode)
		case *parse.ListNode:
			f.list(n)
		}
		nodes = append(nodes, n)
	}
	list.Nodes = nodes
}

func (f folder) branches(b *parse.BranchNode) {
	if b.List != nil {
		f.list(b.List)
	}
	if b.ElseList != nil {
		f.list(b.ElseList)
	}
}

// text is the text a pipeline of a constant and escapers writes, when
// foldConstants knows it.
func (f folder) text(pipe *parse.PipeNode) (string, bool) {
	if pipe == nil || len(pipe.Decl) > 0 || len(pipe.Cmds) < 2 {
		return "", false
	}
	value, ok := f.constant(pipe.Cmds[0])
	if !ok {
		return "", false
	}
	escapers := make([]string, 0, len(pipe.Cmds)-1)
	for _, cmd := range pipe.Cmds[1:] {
		if len(cmd.Args) != 1 {
			return "", false
		}
		id, ok := cmd.Args[0].(*parse.IdentifierNode)
		if !ok {
			return "", false
		}
		escapers = append(escapers, id.Ident)
	}
	switch {
	case !slices.ContainsFunc(escapers, func(e string) bool { return !textEscapers[e] }) && !strings.Contains(value, "+"):
		return template.HTMLEscapeString(value), true
	case slices.Equal(escapers, urlEscapers) && safeAssetPath.MatchString(value):
		return value, true
	}
	return "", false
}

// constant is the value of a command that is a string constant or an
// asset's URL.
func (f folder) constant(cmd *parse.CommandNode) (string, bool) {
	switch len(cmd.Args) {
	case 1:
		s, ok := cmd.Args[0].(*parse.StringNode)
		if ok {
			return s.Text, true
		}
	case 2:
		fn, isFn := cmd.Args[0].(*parse.IdentifierNode)
		name, isName := cmd.Args[1].(*parse.StringNode)
		if isFn && isName && fn.Ident == "asset" && f.assets != nil {
			return f.assets.url(name.Text), true
		}
	}
	return "", false
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
