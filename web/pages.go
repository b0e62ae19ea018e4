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
		foldConstants(t)
		set[lang] = t
	}
	return set, nil
}

// foldConstants escapes t's pages (the templates named *.html) now rather
// than at their first render, then writes each string constant into the
// page as the text its escaping makes, so that rendering no longer calls an
// escaper, by reflection, for each message written in. A constant is
// folded only where html/template escapes it for HTML text or a quoted
// attribute value (htmlescaper, attrescaper, rcdataescaper), which replace
// NUL, the quotes, '&', '+', '<' and '>' (htmlReplacementTable in
// html/template), and only when it holds no '+': for every other rune
// HTMLEscapeString writes what those escapers write. A constant anywhere
// else (a script, a URL) keeps its escaper.
func foldConstants(t *template.Template) {
	for _, page := range t.Templates() {
		if strings.HasSuffix(page.Name(), ".html") {
			// Escaping happens before execution, which then fails on the
			// missing data: only the escaping is wanted.
			_ = t.ExecuteTemplate(io.Discard, page.Name(), nil)
		}
	}
	for _, tmpl := range t.Templates() {
		if tmpl.Tree != nil && tmpl.Tree.Root != nil {
			foldList(tmpl.Tree.Root)
		}
	}
}

// textEscapers are the escapers that write what HTMLEscapeString writes,
// for a string without a '+'.
var textEscapers = map[string]bool{
	"_html_template_htmlescaper": true, "_html_template_attrescaper": true, "_html_template_rcdataescaper": true,
}

// foldList folds the constants of list and the lists nested in it, then
// joins the text nodes that end up side by side.
func foldList(list *parse.ListNode) {
	nodes := list.Nodes[:0]
	for _, n := range list.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			if text, ok := foldedText(n.Pipe); ok {
				if last := len(nodes) - 1; last >= 0 && nodes[last].Type() == parse.NodeText {
					nodes[last].(*parse.TextNode).Text = append(nodes[last].(*parse.TextNode).Text, text...)
					continue
				}
				nodes = append(nodes, &parse.TextNode{NodeType: parse.NodeText, Pos: n.Pos, Text: []byte(text)})
				continue
			}
		case *parse.IfNode:
			foldBranches(&n.BranchNode)
		case *parse.RangeNode:
			foldBranches(&n.BranchNode)
		case *parse.WithNode:
			foldBranches(&n.BranchNode)
		case *parse.ListNode:
			foldList(n)
		}
		nodes = append(nodes, n)
	}
	list.Nodes = nodes
}

func foldBranches(b *parse.BranchNode) {
	if b.List != nil {
		foldList(b.List)
	}
	if b.ElseList != nil {
		foldList(b.ElseList)
	}
}

// foldedText is the text a pipeline of a string constant and text escapers
// writes.
func foldedText(pipe *parse.PipeNode) (string, bool) {
	if pipe == nil || len(pipe.Decl) > 0 || len(pipe.Cmds) < 2 || len(pipe.Cmds[0].Args) != 1 {
		return "", false
	}
	constant, ok := pipe.Cmds[0].Args[0].(*parse.StringNode)
	if !ok || strings.Contains(constant.Text, "+") {
		return "", false
	}
	for _, cmd := range pipe.Cmds[1:] {
		if len(cmd.Args) != 1 {
			return "", false
		}
		if id, ok := cmd.Args[0].(*parse.IdentifierNode); !ok || !textEscapers[id.Ident] {
			return "", false
		}
	}
	return template.HTMLEscapeString(constant.Text), true
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
