package risk

import (
	_ "embed"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// NormalizeEmail is the form in which emails are compared: on blocklists and
// in the per-email velocity counts. It is for matching only, never for
// sending mail. The choices:
//   - NFKC, then lower case, whole address: full-width "ＡＢＣ＠ｅｘａｍｐｌｅ．ｃｏｍ"
//     is abc@example.com, and every large provider ignores case in the local
//     part even though RFC 5321 allows otherwise.
//   - A "+tag" is dropped for every domain: RFC 5233 sub-addressing is offered
//     by Gmail, Outlook, iCloud, Fastmail and many more, and it is the
//     cheapest way to dodge a blocklist. Someone whose real mailbox name has
//     a "+" is matched with its prefix; that costs little.
//   - Dots are dropped only at gmail.com (googlemail.com is gmail.com), the
//     one large provider that ignores them; elsewhere a dot can separate two
//     mailboxes.
//   - A local part that these rules would leave empty is kept as it was.
func NormalizeEmail(s string) string {
	s = strings.TrimSpace(norm.NFKC.String(strings.ToLower(norm.NFKC.String(s))))
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return s
	}
	local, domain := s[:i], normalizeDomain(s[i+1:])
	if domain == "googlemail.com" {
		domain = "gmail.com"
	}
	l := local
	if j := strings.IndexByte(l, '+'); j >= 0 {
		l = l[:j]
	}
	if domain == "gmail.com" {
		l = strings.ReplaceAll(l, ".", "")
	}
	if l == "" {
		l = local
	}
	return l + "@" + domain
}

func normalizeDomain(d string) string {
	d = strings.ToLower(norm.NFKC.String(d))
	d = strings.TrimRightFunc(d, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
	return strings.TrimLeftFunc(d, unicode.IsSpace)
}

// emailDomain is the domain of a normalised email, "" when there is none.
func emailDomain(normalized string) string {
	i := strings.LastIndexByte(normalized, '@')
	if i < 0 {
		return ""
	}
	return normalized[i+1:]
}

//go:embed disposable_domains.txt
var disposableText string

var disposableDomains = func() map[string]struct{} {
	m := make(map[string]struct{})
	for line := range strings.Lines(disposableText) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			m[line] = struct{}{}
		}
	}
	return m
}()

// IsDisposableDomain reports whether mail to domain, or to a parent domain
// of it (x.mailinator.com), goes to a known throwaway inbox service.
func IsDisposableDomain(domain string) bool {
	d := normalizeDomain(domain)
	for d != "" {
		if _, ok := disposableDomains[d]; ok {
			return true
		}
		_, rest, ok := strings.Cut(d, ".")
		if !ok {
			break
		}
		d = rest
	}
	return false
}
