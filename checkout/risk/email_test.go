package risk

import "testing"

func TestNormalizeEmail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"taro@example.jp", "taro@example.jp"},
		{"  Taro@Example.JP ", "taro@example.jp"},
		{"ＴＡＲＯ＠ｅｘａｍｐｌｅ．ｊｐ", "taro@example.jp"},
		{"taro+shop@example.jp", "taro@example.jp"},
		{"taro+a+b@example.jp", "taro@example.jp"},
		{"t.a.r.o@example.jp", "t.a.r.o@example.jp"}, // dots matter outside Gmail
		{"John.Doe+shop@gmail.com", "johndoe@gmail.com"},
		{"john.doe@googlemail.com", "johndoe@gmail.com"},
		{"johndoe@gmail.com.", "johndoe@gmail.com"},
		{"+tag@example.jp", "+tag@example.jp"}, // nothing would be left: kept
		{"...@gmail.com", "...@gmail.com"},
		{"a@b@example.jp", "a@b@example.jp"},
		{"no-at-sign", "no-at-sign"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := NormalizeEmail(tt.in); got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIsDisposableDomain(t *testing.T) {
	for domain, want := range map[string]bool{
		"mailinator.com":       true,
		"MAILINATOR.COM":       true,
		"mailinator.com.":      true,
		"inbox.mailinator.com": true, // subdomains of a throwaway service
		"yopmail.fr":           true,
		"sute.jp":              true,
		"gmail.com":            false,
		"example.jp":           false,
		"notmailinator.com":    false, // a suffix that is not a parent domain
		"com":                  false,
		"":                     false,
	} {
		if got := IsDisposableDomain(domain); got != want {
			t.Errorf("IsDisposableDomain(%q) = %v, want %v", domain, got, want)
		}
	}
	if len(disposableDomains) < 50 {
		t.Errorf("embedded list has %d domains; did the embed break?", len(disposableDomains))
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"John.Doe+shop@GoogleMail.com", "ＴＡＲＯ＠ｅｘａｍｐｌｅ．ｊｐ", "+@gmail.com", "a@b. .", "ß@ẞ.de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := NormalizeEmail(s)
		if twice := NormalizeEmail(once); twice != once {
			t.Fatalf("NormalizeEmail not idempotent: %q -> %q -> %q", s, once, twice)
		}
		if k, err := NewListKey(ListEmail, s); err == nil {
			if again, err := NewListKey(k.Kind, k.Value); err != nil || again != k {
				t.Fatalf("list key not stable: %q -> %v -> %v, %v", s, k, again, err)
			}
		}
	})
}
