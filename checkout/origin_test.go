package checkout

import (
	"net/url"
	"strings"
	"testing"
)

func mustOrigins(tb testing.TB, raw ...string) []Origin {
	tb.Helper()
	var out []Origin
	for _, r := range raw {
		o, err := ParseOrigin(r)
		if err != nil {
			tb.Fatalf("ParseOrigin(%q): %v", r, err)
		}
		out = append(out, o)
	}
	return out
}

func TestParseOrigin(t *testing.T) {
	valid := map[string]string{
		"https://shop.example":       "https://shop.example",
		"https://Shop.Example:443":   "https://shop.example",
		"https://shop.example:8443/": "https://shop.example:8443",
		"http://localhost:8081":      "http://localhost:8081",
		"http://127.0.0.1:8081":      "http://127.0.0.1:8081",
		"http://[::1]:8081":          "http://[::1]:8081",
	}
	for in, want := range valid {
		o, err := ParseOrigin(in)
		if err != nil || o.String() != want {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", in, o.String(), err, want)
		}
	}
	for _, in := range []string{
		"", "shop.example", "http://shop.example", "https://*.shop.example", "https://shop.example/path",
		"https://user@shop.example", "https://shop.example?x", "https://shop.example#f", "javascript:alert(1)",
		" https://shop.example", "https://shop.example:0", "https://shop.example:99999", "https://shop.example:",
		"https://sh\\op.example", "ftp://shop.example", "https://", "https://shop.example:08443",
	} {
		if _, err := ParseOrigin(in); err == nil {
			t.Errorf("ParseOrigin(%q) accepted", in)
		}
	}
}

func TestCheckReturnURL(t *testing.T) {
	origins := mustOrigins(t, "https://shop.example", "http://localhost:8081")
	accepted := map[string]string{
		"https://shop.example/done":                  "https://shop.example/done",
		"https://SHOP.example/done?order=1#x":        "https://shop.example/done?order=1#x",
		"https://shop.example:443/done":              "https://shop.example/done",
		"http://localhost:8081/done":                 "http://localhost:8081/done",
		"https://shop.example/a%2Fb":                 "https://shop.example/a%2Fb", // encoded slash in the path is harmless
		"https://shop.example":                       "https://shop.example",
		"https://shop.example/next?u=https://evil.x": "https://shop.example/next?u=https://evil.x",
	}
	for in, want := range accepted {
		u, err := CheckReturnURL("success_url", in, origins)
		if err != nil || u.String() != want {
			t.Errorf("CheckReturnURL(%q) = %v, %v; want %q", in, u, err, want)
		}
	}
	refused := []string{
		"",
		"//evil.example/done",
		"/done",
		"https://evil.example/done",
		"https://shop.example@evil.example/",
		"https://shop.example:pass@evil.example/",
		"https://evil.example#@shop.example",
		"https://evil.example\\@shop.example",
		"https:\\\\evil.example",
		"https:/\\evil.example",
		"/\\evil.example",
		"javascript:alert(1)",
		"JavaScript://shop.example/%0aalert(1)",
		"data:text/html,<script>alert(1)</script>",
		"https://shop.example%2F@evil.example",
		"https://shop.example%40evil.example",
		"https://evil.example%2Eshop.example",
		"https://shop.example.evil.example/",
		"https://shop.examplе/", // Cyrillic e
		"https://shop.example/\tdone",
		"https://shop.example/ done",
		"http://shop.example/done",   // plain http off loopback
		"https://localhost:8081/",    // other scheme than registered
		"http://localhost:8082/",     // other port
		"https://shop.example:8443/", // other port
		"ftp://shop.example/",
		"https:shop.example/done",
		"https://shop.example\x00.evil/",
		"https://[::1]:8081/",
		"https://" + strings.Repeat("a", 2100) + ".example/",
	}
	for _, in := range refused {
		_, err := CheckReturnURL("success_url", in, origins)
		e, ok := err.(*Error)
		if !ok || e.Code != EINVALID || e.Field != "success_url" {
			t.Errorf("CheckReturnURL(%q) = %v, want an invalid success_url error", in, err)
		}
	}
}

func FuzzCheckReturnURL(f *testing.F) {
	for _, s := range []string{"https://shop.example/done", "//evil", "https://shop.example@evil", "javascript:x", "https:\\\\evil", "https://shop.example%2F@evil", "http://localhost:8081/x"} {
		f.Add(s)
	}
	origins := mustOrigins(f, "https://shop.example", "http://localhost:8081")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := CheckReturnURL("success_url", raw, origins)
		if err != nil {
			return
		}
		// Whatever was accepted must, as browsers parse it, lead to a registered origin.
		again, perr := url.Parse(u.String())
		if perr != nil {
			t.Fatalf("accepted %q but its normal form %q does not parse", raw, u)
		}
		got := again.Scheme + "://" + again.Host
		if got != "https://shop.example" && got != "http://localhost:8081" {
			t.Fatalf("accepted %q leading to %q", raw, got)
		}
		if again.User != nil || strings.ContainsAny(raw, "\\ \t\r\n") {
			t.Fatalf("accepted %q", raw)
		}
	})
}

func TestIsID(t *testing.T) {
	id := NewID("3ds")
	if !IsID("3ds", id) || !IsID("3ds", []byte(id)) {
		t.Fatalf("IsID refuses NewID's own %q", id)
	}
	for _, bad := range []string{"", "3ds", "3ds_", id[:len(id)-1], id + "a", "dev_" + id[4:], "3dsx" + id[4:],
		"3ds_" + strings.ToUpper(id[4:]), "3ds_" + id[4:len(id)-1] + "1", "3ds_" + id[4:len(id)-1] + "="} {
		if IsID("3ds", bad) {
			t.Errorf("IsID accepts %q", bad)
		}
	}
}
