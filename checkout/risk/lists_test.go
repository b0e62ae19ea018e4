package risk

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

func TestNewListKey(t *testing.T) {
	tests := []struct {
		kind  ListKind
		value string
		want  string // "" when refused
	}{
		{ListEmail, "Taro+shop@Example.JP", "taro@example.jp"},
		{ListEmail, "@Mailinator.COM.", "@mailinator.com"},
		{ListEmail, "@", ""},
		{ListEmail, "taro", ""},
		{ListEmail, "@taro@x", ""},
		{ListBIN, "4242 42", "424242"},
		{ListBIN, "4000-0000", "40000000"},
		{ListBIN, "4", ""},
		{ListBIN, "424242424", ""},
		{ListBIN, "42a4", ""},
		{ListIP, "203.0.113.7", "203.0.113.7/32"},
		{ListIP, "203.0.113.77/24", "203.0.113.0/24"},
		{ListIP, "::ffff:203.0.113.7", "203.0.113.7/32"},
		{ListIP, "2001:db8:1:2::/48", "2001:db8:1::/48"},
		{ListIP, "2001:db8::1", "2001:db8::1/128"},
		{ListIP, "10.0.0.0/7", ""},
		{ListIP, "2001:db8::/50", ""},
		{ListIP, "::ffff:203.0.113.0/120", ""},
		{ListIP, "fe80::1%eth0", ""},
		{ListIP, "not an ip", ""},
		{ListCard, "fp_abc123", "fp_abc123"},
		{ListCard, "fp with space", ""},
		{ListAddress, "JP|150-0002|東京都渋谷区渋谷1丁目2番3号", "JP|1500002|渋谷1-2-3"},
		{ListAddress, "JP||東京都渋谷区渋谷1-2-3", "JP||東京都渋谷区渋谷1-2-3"},
		{ListAddress, "東京都渋谷区渋谷一丁目2-3", "||東京都渋谷区渋谷1-2-3"},
		{ListAddress, "JP|1500002|", ""},
		{ListAddress, "-- -", ""},
		{"phone", "0312345678", ""},
		{ListEmail, "", ""},
	}
	for _, tt := range tests {
		k, err := NewListKey(tt.kind, tt.value)
		if tt.want == "" {
			var e *checkout.Error
			if !errors.As(err, &e) || e.Code != checkout.EINVALID || e.Field != "value" {
				t.Errorf("NewListKey(%s, %q) = %v, %v; want EINVALID", tt.kind, tt.value, k, err)
			}
			continue
		}
		if err != nil || k != (ListKey{tt.kind, tt.want}) {
			t.Errorf("NewListKey(%s, %q) = %v, %v; want %q", tt.kind, tt.value, k, err, tt.want)
		}
	}
}

func TestIPCandidates(t *testing.T) {
	v4 := ipCandidates(netip.MustParseAddr("203.0.113.7"), nil)
	if len(v4) != 25 || v4[0].Value != "203.0.113.7/32" || v4[24].Value != "203.0.0.0/8" {
		t.Errorf("IPv4 candidates = %d, first %v, last %v", len(v4), v4[0], v4[len(v4)-1])
	}
	v6 := ipCandidates(netip.MustParseAddr("2001:db8:1:2::7"), nil)
	if len(v6) != 29 || v6[len(v6)-1].Value != "2001::/16" {
		t.Errorf("IPv6 candidates = %d, last %v", len(v6), v6[len(v6)-1])
	}
	if got := ipCandidates(netip.MustParseAddr("::ffff:203.0.113.7"), nil); got[0].Value != "203.0.113.7/32" {
		t.Errorf("mapped address not unmapped: %v", got[0])
	}
	if got := ipCandidates(netip.Addr{}, nil); len(got) != 0 {
		t.Errorf("no address gave %v", got)
	}
	// Every entry NewListKey accepts is among some address's candidates.
	for _, e := range []string{"203.0.113.0/24", "2001:db8:1::/48", "2001:db8:1:2::/64"} {
		k, _ := NewListKey(ListIP, e)
		found := false
		for _, c := range append(v4, v6...) {
			found = found || c == k
		}
		if !found {
			t.Errorf("entry %s is not a candidate", e)
		}
	}
}

func TestMemoryLists(t *testing.T) {
	ctx := context.Background()
	l := NewMemoryLists()
	mine, _ := l.Add("mer_a", ListEmail, "bad@example.jp")
	platform, _ := l.Add("", ListBIN, "4000")
	other, _ := l.Add("mer_b", ListCard, "fp_x")
	if _, err := l.Add("mer_a", ListBIN, "x"); err == nil {
		t.Error("Add accepted an invalid value")
	}
	keys := []ListKey{mine, platform, other, {ListIP, "203.0.113.7/32"}}
	got, err := l.Match(ctx, "mer_a", keys)
	if err != nil {
		t.Fatal(err)
	}
	want := []ListMatch{{ListKey: mine}, {ListKey: platform, Platform: true}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Match = %v, want %v (another merchant's list must not apply)", got, want)
	}
	l.Remove("mer_a", mine)
	if got, _ := l.Match(ctx, "mer_a", keys); len(got) != 1 || !got[0].Platform {
		t.Errorf("after Remove, Match = %v", got)
	}
	// The platform's list is not the merchant "".
	if got, _ := l.Match(ctx, "", []ListKey{platform}); len(got) != 1 || !got[0].Platform {
		t.Errorf("platform lookup = %v", got)
	}
}
