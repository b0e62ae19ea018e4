package main

import (
	"crypto/sha256"
	"encoding/base64"
	"net"
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// Shoppers must be genuinely distinct, or the defences the benchmark keeps
// on would see one client trying many cards.
func TestShoppersAreDistinct(t *testing.T) {
	const n = 300000 // past the soak's 200,000 and its warm-up
	addrs := make(map[string]bool, n)
	chunks := make(map[string]bool, n)
	emails := make(map[string]bool, n)
	_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
	for i := int64(1); i <= n; i++ {
		a := shopperAddr(i)
		if !loopback.Contains(a) || a.Equal(net.IPv4(127, 0, 0, 1)) || a[15] == 0 || a[15] == 255 {
			t.Fatalf("shopper %d: address %s", i, a)
		}
		card := shopperCard(i)
		if len(card) != 16 || !checkout.Luhn([]byte(card)) || card[:12] == "400000000000" {
			t.Fatalf("shopper %d: card %s is not a fresh valid Visa number", i, card)
		}
		addrs[a.String()], chunks[card[:12]], emails[shopperEmail(i)] = true, true, true
	}
	if len(addrs) != n || len(chunks) != n || len(emails) != n {
		t.Fatalf("%d shoppers: %d addresses, %d 12-digit prefixes, %d emails", n, len(addrs), len(chunks), len(emails))
	}
}

func TestSolve(t *testing.T) {
	ch := checkout.Challenge{Nonce: "abc.123.10.mac", Bits: 10}
	c, err := solve(ch)
	if err != nil {
		t.Fatal(err)
	}
	if got := checkout.LeadingZeroBits(sha256.Sum256([]byte(ch.Nonce + c))); got < ch.Bits {
		t.Fatalf("counter %s gives %d zero bits, want %d", c, got, ch.Bits)
	}
}

func TestResultStatus(t *testing.T) {
	claims := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"pay_1","status":"held"}`))
	for token, want := range map[string]string{
		"h." + claims + ".s": "held",
		"not a token":        "",
		"h.!!.s":             "",
	} {
		if got := resultStatus(token); got != want {
			t.Errorf("resultStatus(%q) = %q, want %q", token, got, want)
		}
	}
}
