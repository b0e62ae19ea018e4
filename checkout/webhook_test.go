package checkout

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCheckWebhookURL(t *testing.T) {
	valid := map[string]string{
		"https://shop.example/webhooks":        "https://shop.example/webhooks",
		"https://Shop.Example:443/hooks?a=1":   "https://shop.example/hooks?a=1",
		"https://shop.example:8443/":           "https://shop.example:8443/",
		"https://93.184.215.14/hooks":          "https://93.184.215.14/hooks",
		"https://[2606:4700:4700::1111]/hooks": "https://[2606:4700:4700::1111]/hooks",
	}
	for raw, want := range valid {
		u, err := CheckWebhookURL(raw, false)
		if err != nil {
			t.Errorf("%q: %v", raw, err)
			continue
		}
		if u.String() != want {
			t.Errorf("%q = %q; want %q", raw, u, want)
		}
	}
	invalid := map[string]string{
		"":                                                  "required",
		"http://shop.example/hooks":                         "https",
		"ftp://shop.example/":                               "https",
		"/hooks":                                            "absolute",
		"//shop.example/hooks":                              "absolute",
		"https:shop.example":                                "absolute",
		"https://user:pw@shop.example/":                     "user info",
		"https://shop.example@evil.example/":                "user info",
		"https://shop.example/hooks#frag":                   "fragment",
		"https://shop.example/a b":                          "no spaces",
		`https://shop.example\@evil.example/`:               "backslashes",
		"https://shop%2eexample/":                           "not a valid URL",
		"https://shop.example%40evil.example/":              "not a valid URL",
		"https://shop.example:0/":                           "port",
		"https://shop.example:99999/":                       "port",
		"https://127.0.0.1/":                                "private, loopback",
		"https://10.0.0.8/":                                 "private, loopback",
		"https://172.16.5.4/":                               "private, loopback",
		"https://192.168.1.1/":                              "private, loopback",
		"https://169.254.169.254/latest/meta-data/":         "private, loopback",
		"https://100.100.100.200/":                          "private, loopback",
		"https://0.0.0.0/":                                  "private, loopback",
		"https://[::1]/":                                    "private, loopback",
		"https://[::ffff:127.0.0.1]/":                       "private, loopback",
		"https://[::ffff:169.254.169.254]/":                 "private, loopback",
		"https://[fd00:ec2::254]/":                          "private, loopback",
		"https://[fe80::1]/":                                "private, loopback",
		"https://[64:ff9b::a9fe:a9fe]/":                     "private, loopback",
		"https://[::ffff:0:a9fe:a9fe]/":                     "private, loopback",
		"https://[64:ff9b:1::a9fe:a9fe]/":                   "private, loopback",
		"https://[::169.254.169.254]/":                      "private, loopback",
		"https://[::a9fe:a9fe]/":                            "private, loopback",
		"https://[2002:a9fe:a9fe::1]/":                      "private, loopback",
		"https://[2001:0:808:808::5601:5601]/":              "private, loopback",
		"https://[2001:0:a9fe:a9fe::f7f7:f7f7]/":            "private, loopback",
		"https://localhost/":                                "this machine",
		"https://api.localhost/":                            "this machine",
		"http://localhost:8080/":                            "this machine",
		"https://metadata/":                                 "fully qualified",
		"https://2130706433/":                               "standard notation",
		"https://0x7f.1/":                                   "standard notation",
		"https://127.1/":                                    "standard notation",
		"https://localhost./":                               "this machine",
		"https://vault.internal/":                           "internal name",
		"https://printer.local/":                            "internal name",
		"https://shop.example/" + strings.Repeat("a", 2048): "2048",
	}
	for raw, want := range invalid {
		_, err := CheckWebhookURL(raw, false)
		if err == nil {
			t.Errorf("%q: accepted", raw)
			continue
		}
		if ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), want) {
			t.Errorf("%q: %v; want invalid mentioning %q", raw, err, want)
		}
	}
	// The operator's development switch admits this machine, over http too,
	// and nothing else that is private.
	for _, raw := range []string{"http://127.0.0.1:9000/hooks", "http://localhost:9000/hooks", "https://[::1]:9000/"} {
		if _, err := CheckWebhookURL(raw, true); err != nil {
			t.Errorf("%q with loopback allowed: %v", raw, err)
		}
	}
	for _, raw := range []string{"http://10.0.0.8/", "https://169.254.169.254/", "http://shop.example/"} {
		if _, err := CheckWebhookURL(raw, true); err == nil {
			t.Errorf("%q with loopback allowed: accepted", raw)
		}
	}
}

func TestWebhookAddrAllowed(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.215.14":        true,
		"8.8.8.8":              true,
		"2606:4700:4700::1111": true,
		"127.0.0.1":            false,
		"127.8.9.10":           false,
		"::1":                  false,
		"10.1.2.3":             false,
		"172.31.255.255":       false,
		"192.168.0.1":          false,
		"169.254.169.254":      false,
		"100.64.0.1":           false,
		"0.0.0.0":              false,
		"255.255.255.255":      false,
		"224.0.0.1":            false,
		"192.0.2.1":            false,
		"198.18.0.1":           false,
		"fc00::1":              false,
		"fd00:ec2::254":        false,
		"fe80::1%eth0":         false,
		"ff02::1":              false,
		"::":                   false,
		"::ffff:10.0.0.1":      false,
		"::ffff:8.8.8.8":       true,
		"64:ff9b::7f00:1":      false, // NAT64 of 127.0.0.1
		"64:ff9b::808:808":     true,  // NAT64 of 8.8.8.8
		"2002:a9fe:a9fe::1":    false, // 6to4 of 169.254.169.254
		"2001:db8::1":          false,
		"2002:808:808::1":      true,  // 6to4 of 8.8.8.8
		"2002:a00:1::1":        false, // 6to4 of 10.0.0.1
		// SIIT's IPv4-translated form (::ffff:0:0:0/96, RFC 2765): refused
		// outright, whatever it embeds.
		"::ffff:0:a9fe:a9fe": false,
		"::ffff:0:808:808":   false,
		// IPv4-compatible (::/96, deprecated by RFC 4291): refused outright.
		"::a9fe:a9fe": false,
		"::808:808":   false,
		"::7f00:1":    false,
		// Local-use NAT64 (64:ff9b:1::/48, RFC 8215): the operator's own
		// translator, its layout unknown: refused outright.
		"64:ff9b:1::a9fe:a9fe":     false,
		"64:ff9b:1::808:808":       false,
		"64:ff9b:1:a9fe:a9:fe00::": false,
		// The well-known NAT64 prefix: judged as the IPv4 it reaches.
		"64:ff9b::a9fe:a9fe": false,
		"64:ff9b::a00:1":     false,
		"64:ff9b::c000:201":  false, // 192.0.2.1, documentation
		// Teredo (2001::/32, RFC 4380): the server's IPv4 in bits 32-63,
		// the client's XOR 0xffffffff in the last 32 bits; both judged.
		"2001:0:4136:e378:8000:63bf:3fff:fdd2": false, // RFC 4380's example: server 65.54.227.120, client 192.0.2.45 (documentation)
		"2001:0:808:808::f7f7:f7f7":            true,  // server 8.8.8.8, client 8.8.8.8
		"2001:0:a9fe:a9fe::f7f7:f7f7":          false, // server 169.254.169.254
		"2001:0:808:808::5601:5601":            false, // client 169.254.169.254 (0xa9fea9fe ^ 0xffffffff)
		"2001:0:808:808::80ff:fffe":            false, // client 127.0.0.1
		"2001:0:808:808::f5ff:fffe":            false, // client 10.0.0.1
	} {
		ip := netip.MustParseAddr(addr)
		if got := WebhookAddrAllowed(ip, false); got != want {
			t.Errorf("%s: allowed = %v; want %v", addr, got, want)
		}
	}
	if !WebhookAddrAllowed(netip.MustParseAddr("127.0.0.1"), true) || !WebhookAddrAllowed(netip.MustParseAddr("::1"), true) {
		t.Error("loopback refused with allowLoopback")
	}
	if WebhookAddrAllowed(netip.MustParseAddr("10.0.0.1"), true) || WebhookAddrAllowed(netip.Addr{}, true) {
		t.Error("allowLoopback let a private or invalid address through")
	}
}

func TestCheckEventTypes(t *testing.T) {
	got, err := checkEventTypes([]string{EventChargebackCreated, EventPaymentAuthorized, EventChargebackCreated})
	if err != nil || strings.Join(got, ",") != "payment.authorized,chargeback.created" {
		t.Fatalf("deduplicated and ordered: %v %v", got, err)
	}
	for _, bad := range [][]string{nil, {}, {"payment.refunded"}, {EventPaymentAuthorized, "*"}} {
		if _, err := checkEventTypes(bad); ErrorCode(err) != EINVALID {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestNewWebhookEvent(t *testing.T) {
	now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	e, err := NewWebhookEvent(Event{Type: EventPaymentAuthorized, MerchantID: "mer_1", Data: map[string]int{"amount": 1500}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.ID, "evt_") || !e.CreatedAt.Equal(now) {
		t.Fatalf("event: %+v", e)
	}
	want := `{"id":"` + e.ID + `","type":"payment.authorized","created":1935817689,"data":{"amount":1500}}`
	if string(e.Payload) != want {
		t.Fatalf("payload %s\nwant    %s", e.Payload, want)
	}
	if !json.Valid(e.Payload) {
		t.Fatal("payload is not JSON")
	}
	for _, bad := range []Event{{Type: "payment.refunded", MerchantID: "mer_1"}, {Type: EventPaymentAuthorized}, {Type: EventPaymentAuthorized, MerchantID: "m", Data: func() {}}} {
		if _, err := NewWebhookEvent(bad, now); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
}

func TestTruncateError(t *testing.T) {
	s := strings.Repeat("あ", 100) // 300 bytes
	got := TruncateError(s)
	if len(got) > MaxAttemptError || !strings.HasPrefix(s, got) || len(got) != 198 {
		t.Fatalf("len %d", len(got))
	}
}

// FuzzCheckWebhookURL: no input panics, and whatever is accepted is https
// (or http on loopback when allowed), on a host the dispatcher may reach,
// and accepted again as it was normalised.
func FuzzCheckWebhookURL(f *testing.F) {
	for _, seed := range []string{
		"https://shop.example/hooks", "http://127.0.0.1:9000/", "https://[::ffff:127.0.0.1]/", "https://169.254.169.254/",
		"https://shop.example@evil.example/", "https:/\\evil.example", "https://0x7f.1/", "https://2130706433/",
		"https://shop.example:443/?q=%00", "HTTPS://SHOP.EXAMPLE", "https://[fe80::1%25eth0]/", "https://localhost./",
		"https://[::ffff:0:a9fe:a9fe]/", "https://[64:ff9b:1::a9fe:a9fe]/", "https://[::169.254.169.254]/", "https://[2001:0:808:808::5601:5601]/",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, raw string, allowLoopback bool) {
		u, err := CheckWebhookURL(raw, allowLoopback)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("%q: error %v is not invalid", raw, err)
			}
			return
		}
		host := u.Hostname()
		switch {
		case u.Scheme == "https":
		case u.Scheme == "http" && allowLoopback && isLoopback(host):
		default:
			t.Fatalf("%q accepted as %q", raw, u)
		}
		if ip, err := netip.ParseAddr(host); err == nil && !WebhookAddrAllowed(ip, allowLoopback) {
			t.Fatalf("%q accepted with address %s", raw, ip)
		}
		if isLoopback(host) && !allowLoopback {
			t.Fatalf("%q accepted on this machine", raw)
		}
		if again, err := CheckWebhookURL(u.String(), allowLoopback); err != nil || again.String() != u.String() {
			t.Fatalf("%q normalised to %q, which is %v / %v", raw, u, again, err)
		}
	})
}
