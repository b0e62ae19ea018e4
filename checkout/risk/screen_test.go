package risk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// baseInput is an ordinary Japanese shopper: nothing in it should fire.
func baseInput() Input {
	return Input{
		MerchantID: "mer_a", SessionID: "cs_1", Amount: 5_000, Currency: "JPY",
		Fingerprint: "fp_clean", BIN: "353011", Brand: checkout.BrandJCB, Last4: "0000",
		ExpMonth: 12, ExpYear: 2030, CVC: checkout.CVCProvided,
		Email: "taro@example.jp",
		Shipping: &checkout.Address{Name: "山田太郎", Country: "JP", PostalCode: "150-0002",
			State: "東京都", City: "渋谷区", Line1: "渋谷1丁目2番3号"},
		IP: netip.MustParseAddr("203.0.113.7"), DeviceID: "dev_1", Time: t0,
	}
}

// env is one screening world: the counters and lists every instance shares.
type env struct {
	c *MemoryCounters
	l *MemoryLists
}

func newEnv() env { return env{NewMemoryCounters(MaxWindow), NewMemoryLists()} }

func (e env) mustScreen(tb testing.TB, in Input, s Settings) Decision {
	tb.Helper()
	d, err := Screen(context.Background(), in, s, e.c, e.l)
	if err != nil {
		tb.Fatalf("Screen: %v", err)
	}
	return d
}

func mustAdd(tb testing.TB, l *MemoryLists, merchant string, kind ListKind, value string) {
	tb.Helper()
	if _, err := l.Add(merchant, kind, value); err != nil {
		tb.Fatalf("Add(%s, %q): %v", kind, value, err)
	}
}

// TestScreenRules screens one payment per case and checks which rules fire.
func TestScreenRules(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Input, *Settings)
		lists   func(*MemoryLists)
		rules   []string
		verdict Verdict
	}{
		{name: "ordinary payment", verdict: OK},

		{name: "amount above review", change: func(in *Input, _ *Settings) { in.Amount = 200_001 },
			rules: []string{RuleAmountReview}, verdict: Review},
		{name: "amount at the review limit", change: func(in *Input, _ *Settings) { in.Amount = 200_000 }, verdict: OK},
		{name: "amount above NG", change: func(in *Input, _ *Settings) { in.Amount = 2_000_001 },
			rules: []string{RuleAmountNG}, verdict: NG},
		{name: "amount in USD", change: func(in *Input, _ *Settings) { in.Currency, in.Amount = "USD", 250_000 },
			rules: []string{RuleAmountReview}, verdict: Review},
		{name: "no limit for the currency", change: func(in *Input, s *Settings) { in.Amount = 9_000_000; delete(s.Amounts, "JPY") }, verdict: OK},

		{name: "cvc X", change: func(in *Input, _ *Settings) { in.CVC = checkout.CVCNotPresent },
			rules: []string{RuleCVCNotPresent}, verdict: OK},
		{name: "cvc I", change: func(in *Input, _ *Settings) { in.CVC = checkout.CVCIllegible },
			rules: []string{RuleCVCIllegible}, verdict: Review},
		{name: "cvc X turned off", change: func(in *Input, s *Settings) { in.CVC = checkout.CVCNotPresent; s.CVC.NotPresent = 0 }, verdict: OK},

		{name: "US card shipping to JP", change: func(in *Input, _ *Settings) { in.BIN = "424242" },
			rules: []string{RuleBINCountryMismatch}, verdict: OK},
		{name: "US card shipping to US", change: func(in *Input, _ *Settings) {
			in.BIN = "424242"
			in.Shipping = &checkout.Address{Country: "US", PostalCode: "94103", Line1: "1 Main St"}
		}, verdict: OK},
		{name: "unknown BIN country says nothing", change: func(in *Input, _ *Settings) { in.BIN = "411111" }, verdict: OK},
		{name: "no shipping address", change: func(in *Input, _ *Settings) { in.BIN, in.Shipping = "424242", nil }, verdict: OK},
		{name: "X and a country mismatch make REVIEW", change: func(in *Input, _ *Settings) {
			in.BIN, in.CVC = "424242", checkout.CVCNotPresent
		}, rules: []string{RuleCVCNotPresent, RuleBINCountryMismatch}, verdict: Review},

		{name: "disposable email", change: func(in *Input, _ *Settings) { in.Email = "Taro@Mailinator.com" },
			rules: []string{RuleDisposableEmail}, verdict: OK},
		{name: "disposable subdomain", change: func(in *Input, _ *Settings) { in.Email = "x@inbox.mailinator.com" },
			rules: []string{RuleDisposableEmail}, verdict: OK},
		{name: "ordinary email domain", change: func(in *Input, _ *Settings) { in.Email = "taro@gmail.com" }, verdict: OK},
		{name: "no email", change: func(in *Input, _ *Settings) { in.Email = "" }, verdict: OK},

		{name: "blocked address, spelled another way",
			lists: func(l *MemoryLists) {
				mustAdd(t, l, "mer_a", ListAddress, AddressKey(checkout.Address{Country: "JP", PostalCode: "1500002", Line1: "東京都渋谷区渋谷一丁目２－３"}).Value)
			},
			rules: []string{RuleBlocklistAddress}, verdict: NG},
		{name: "blocked address entered without postal code",
			lists: func(l *MemoryLists) { mustAdd(t, l, "mer_a", ListAddress, "JP||東京都渋谷区渋谷1-2-3") },
			rules: []string{RuleBlocklistAddress}, verdict: NG},
		{name: "blocked address as free text",
			lists: func(l *MemoryLists) { mustAdd(t, l, "mer_a", ListAddress, "東京都 渋谷区 渋谷 1-2-3") },
			rules: []string{RuleBlocklistAddress}, verdict: NG},
		{name: "neighbour's address is not blocked",
			lists: func(l *MemoryLists) {
				mustAdd(t, l, "mer_a", ListAddress, AddressKey(checkout.Address{Country: "JP", PostalCode: "1500002", Line1: "渋谷1-2-4"}).Value)
			}, verdict: OK},
		{name: "platform's known bad address",
			lists: func(l *MemoryLists) {
				mustAdd(t, l, "", ListAddress, AddressKey(checkout.Address{Country: "JP", PostalCode: "150-0002", Line1: "渋谷1-2-3"}).Value)
			},
			rules: []string{RuleBlocklistAddress}, verdict: NG},
		{name: "another merchant's list does not apply",
			lists: func(l *MemoryLists) { mustAdd(t, l, "mer_b", ListEmail, "taro@example.jp") }, verdict: OK},
		{name: "blocked email with a plus tag", change: func(in *Input, _ *Settings) { in.Email = "TARO+sale@example.jp" },
			lists: func(l *MemoryLists) { mustAdd(t, l, "mer_a", ListEmail, "taro@example.jp") },
			rules: []string{RuleBlocklistEmail}, verdict: NG},
		{name: "blocked email domain",
			lists: func(l *MemoryLists) { mustAdd(t, l, "mer_a", ListEmail, "@example.jp") },
			rules: []string{RuleBlocklistEmail}, verdict: NG},
		{name: "blocked card", lists: func(l *MemoryLists) { mustAdd(t, l, "mer_a", ListCard, "fp_clean") },
			rules: []string{RuleBlocklistCard}, verdict: NG},
		{name: "blocked BIN range", lists: func(l *MemoryLists) { mustAdd(t, l, "mer_a", ListBIN, "3530") },
			rules: []string{RuleBlocklistBIN}, verdict: NG},
		{name: "other BIN range", lists: func(l *MemoryLists) { mustAdd(t, l, "mer_a", ListBIN, "3531") }, verdict: OK},
		{name: "blocked IPv4 network", lists: func(l *MemoryLists) { mustAdd(t, l, "mer_a", ListIP, "203.0.113.0/24") },
			rules: []string{RuleBlocklistIP}, verdict: NG},
		{name: "blocked IPv6 network", change: func(in *Input, _ *Settings) { in.IP = netip.MustParseAddr("2001:db8:1:2::99") },
			lists: func(l *MemoryLists) { mustAdd(t, l, "mer_a", ListIP, "2001:db8:1::/48") },
			rules: []string{RuleBlocklistIP}, verdict: NG},
		{name: "other IPv4 network", lists: func(l *MemoryLists) { mustAdd(t, l, "mer_a", ListIP, "198.51.100.0/24") }, verdict: OK},
		{name: "blocklist set to REVIEW", change: func(_ *Input, s *Settings) { s.Blocklist.IP = Review },
			lists: func(l *MemoryLists) { mustAdd(t, l, "mer_a", ListIP, "203.0.113.7") },
			rules: []string{RuleBlocklistIP}, verdict: Review},
		{name: "several lists, one reason each",
			lists: func(l *MemoryLists) {
				mustAdd(t, l, "mer_a", ListIP, "203.0.113.0/24")
				mustAdd(t, l, "", ListIP, "203.0.0.0/16")
				mustAdd(t, l, "mer_a", ListCard, "fp_clean")
			},
			rules: []string{RuleBlocklistCard, RuleBlocklistIP}, verdict: NG},
		{name: "long-expired card", change: func(in *Input, _ *Settings) { in.ExpMonth, in.ExpYear = 1, 2020 },
			verdict: OK}, // one try counts, but only more than one fires (see TestScreenVelocity)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, s, e := baseInput(), DefaultSettings(), newEnv()
			if tt.change != nil {
				tt.change(&in, &s)
			}
			if tt.lists != nil {
				tt.lists(e.l)
			}
			d := e.mustScreen(t, in, s)
			if got := d.Rules(); !slices.Equal(got, tt.rules) && (len(got) > 0 || len(tt.rules) > 0) {
				t.Errorf("rules = %v, want %v", got, tt.rules)
			}
			if d.Verdict != tt.verdict {
				t.Errorf("verdict = %s (score %d), want %s; reasons %+v", d.Verdict, d.Score, tt.verdict, d.Reasons)
			}
			checkDecision(t, d)
		})
	}
}

// checkDecision checks what every decision promises: the score is the sum of
// the reasons, and no message leaks what only the shop should know.
func checkDecision(tb testing.TB, d Decision) {
	tb.Helper()
	sum := 0
	for _, r := range d.Reasons {
		sum += r.Score
		if r.Rule == "" || r.Message == "" || r.Score <= 0 {
			tb.Errorf("incomplete reason %+v", r)
		}
		for _, secret := range []string{"fp_", "taro", "渋谷", "example.jp", "0000"} {
			if strings.Contains(r.Message, secret) {
				tb.Errorf("reason %s leaks %q: %s", r.Rule, secret, r.Message)
			}
		}
	}
	if sum != d.Score {
		tb.Errorf("score %d is not the sum of the reasons (%d)", d.Score, sum)
	}
}

func TestScreenMessages(t *testing.T) {
	in, s, e := baseInput(), DefaultSettings(), newEnv()
	in.Amount, in.BIN = 2_500_000, "424242"
	mustAdd(t, e.l, "", ListIP, "203.0.113.0/24")
	mustAdd(t, e.l, "mer_a", ListBIN, "4242")
	d := e.mustScreen(t, in, s)
	want := map[string]string{
		RuleAmountNG:           "The amount ¥2,500,000 is above this shop's limit of ¥2,000,000.",
		RuleBINCountryMismatch: "The card was issued in US but the order ships to JP.",
		RuleBlocklistIP:        "The shopper's IP address is in 203.0.113.0/24, which is on the platform's list of known fraud.",
		RuleBlocklistBIN:       "The card's BIN range 4242 is on this shop's blocklist.",
	}
	for _, r := range d.Reasons {
		if w, ok := want[r.Rule]; ok && r.Message != w {
			t.Errorf("%s: %q, want %q", r.Rule, r.Message, w)
		}
		delete(want, r.Rule)
	}
	if len(want) > 0 {
		t.Errorf("rules did not fire: %v", want)
	}
}

// TestScreenVelocity runs sequences of payments against shared counters, as
// several instances sharing a store would, and checks when each velocity
// rule starts to fire.
func TestScreenVelocity(t *testing.T) {
	type step struct {
		change func(*Input)
		rule   string // the rule expected on this step; "" for none of the velocity rules
	}
	// card changes the card and leaves the shopper with nothing but an IP.
	card := func(fp string) func(*Input) {
		return func(in *Input) { in.Fingerprint, in.Email, in.DeviceID, in.Shipping = fp, "", "", nil }
	}
	at := func(d time.Duration, f func(*Input)) func(*Input) {
		return func(in *Input) { in.Time = t0.Add(d); f(in) }
	}
	repeat := func(n int, s step) []step { return slices.Repeat([]step{s}, n) }
	fresh := func(i int) func(*Input) {
		return func(in *Input) {
			in.Fingerprint = fmt.Sprintf("fp_%d", i)
			in.IP = netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
			in.Email, in.DeviceID, in.Shipping, in.SessionID = "", "", nil, fmt.Sprintf("cs_%d", i)
		}
	}
	velocity := []string{RuleCardAttempts, RuleIPCards, RuleEmailCards, RuleDeviceCards, RuleAddressCards, RuleCardFailedAuths, RuleLongExpiredAttempts}

	tests := []struct {
		name    string
		before  func(env)
		steps   []step
		verdict Verdict // of the last step
	}{
		{name: "one card tried six times in an hour",
			steps:   append(repeat(5, step{func(in *Input) { in.SessionID = "" }, ""}), step{func(in *Input) {}, RuleCardAttempts}),
			verdict: Review},
		{name: "one card six times over two hours",
			steps: []step{
				{at(0, card("fp_x")), ""}, {at(20*time.Minute, card("fp_x")), ""}, {at(40*time.Minute, card("fp_x")), ""},
				{at(61*time.Minute, card("fp_x")), ""}, {at(90*time.Minute, card("fp_x")), ""}, {at(110*time.Minute, card("fp_x")), ""},
			}, verdict: OK},
		{name: "four cards from one IP",
			steps: []step{{card("fp_1"), ""}, {card("fp_2"), ""}, {card("fp_3"), ""}, {card("fp_4"), RuleIPCards}}},
		{name: "one card from one IP four times is not card testing",
			steps: repeat(4, step{card("fp_1"), ""})},
		{name: "four cards from one IPv6 /64",
			steps: []step{
				{func(in *Input) { card("fp_1")(in); in.IP = netip.MustParseAddr("2001:db8::1") }, ""},
				{func(in *Input) { card("fp_2")(in); in.IP = netip.MustParseAddr("2001:db8::2") }, ""},
				{func(in *Input) { card("fp_3")(in); in.IP = netip.MustParseAddr("2001:db8::3:3") }, ""},
				{func(in *Input) { card("fp_4")(in); in.IP = netip.MustParseAddr("2001:db8::ffff:4") }, RuleIPCards},
			}},
		{name: "four cards with one email, spelled four ways",
			steps: []step{
				{func(in *Input) {
					in.Shipping = nil
					in.Fingerprint, in.IP, in.DeviceID, in.Email = "fp_1", netip.MustParseAddr("198.51.100.1"), "d1", "taro@example.jp"
				}, ""},
				{func(in *Input) {
					in.Shipping = nil
					in.Fingerprint, in.IP, in.DeviceID, in.Email = "fp_2", netip.MustParseAddr("198.51.100.2"), "d2", "TARO@example.jp"
				}, ""},
				{func(in *Input) {
					in.Shipping = nil
					in.Fingerprint, in.IP, in.DeviceID, in.Email = "fp_3", netip.MustParseAddr("198.51.100.3"), "d3", "taro+1@example.jp"
				}, ""},
				{func(in *Input) {
					in.Shipping = nil
					in.Fingerprint, in.IP, in.DeviceID, in.Email = "fp_4", netip.MustParseAddr("198.51.100.4"), "d4", "ｔａｒｏ@example.jp"
				}, RuleEmailCards},
			}},
		{name: "four cards from one device behind four IPs",
			steps: []step{
				{func(in *Input) {
					in.Shipping = nil
					in.Fingerprint, in.IP, in.Email = "fp_1", netip.MustParseAddr("198.51.100.1"), "a@example.jp"
				}, ""},
				{func(in *Input) {
					in.Shipping = nil
					in.Fingerprint, in.IP, in.Email = "fp_2", netip.MustParseAddr("198.51.100.2"), "b@example.jp"
				}, ""},
				{func(in *Input) {
					in.Shipping = nil
					in.Fingerprint, in.IP, in.Email = "fp_3", netip.MustParseAddr("198.51.100.3"), "c@example.jp"
				}, ""},
				{func(in *Input) {
					in.Shipping = nil
					in.Fingerprint, in.IP, in.Email = "fp_4", netip.MustParseAddr("198.51.100.4"), "d@example.jp"
				}, RuleDeviceCards},
			}},
		{name: "four cards to one address, spelled four ways",
			steps: func() []step {
				lines := []string{"渋谷1丁目2番3号", "渋谷１－２－３", "東京都渋谷区渋谷一丁目二番三号", "渋谷1ー2ー3"}
				var st []step
				for i, line := range lines {
					rule := ""
					if i == 3 {
						rule = RuleAddressCards
					}
					st = append(st, step{func(in *Input) {
						fresh(i)(in)
						in.Shipping = &checkout.Address{Country: "JP", PostalCode: "1500002", Line1: line}
					}, rule})
				}
				return st
			}()},
		{name: "card declined three times, then tried again",
			before: func(e env) {
				in := baseInput()
				for i := range 3 {
					in.Time = t0.Add(-time.Duration(i+1) * time.Minute)
					if err := RecordOutcome(context.Background(), e.c, in, AuthOutcome{DeclineReason: checkout.DeclineGeneric}); err != nil {
						panic(err)
					}
				}
			},
			steps: []step{{func(*Input) {}, RuleCardFailedAuths}}, verdict: Review},
		{name: "approvals are not failures",
			before: func(e env) {
				for range 5 {
					_ = RecordOutcome(context.Background(), e.c, baseInput(), AuthOutcome{Approved: true, CVCCheck: checkout.CVCPass})
				}
			},
			steps: []step{{func(*Input) {}, ""}}},
		{name: "declines a day ago are forgotten",
			before: func(e env) {
				in := baseInput()
				in.Time = t0.Add(-25 * time.Hour)
				for range 3 {
					_ = RecordOutcome(context.Background(), e.c, in, AuthOutcome{DeclineReason: checkout.DeclineGeneric})
				}
			},
			steps: []step{{func(*Input) {}, ""}}},
		{name: "two long-expired cards refused, then a payment",
			before: func(e env) {
				in := baseInput()
				in.ExpMonth, in.ExpYear, in.Fingerprint = 3, 2023, ""
				for range 2 {
					if err := RecordExpiredCard(context.Background(), e.c, in, DefaultSettings()); err != nil {
						panic(err)
					}
				}
			},
			steps: []step{{func(*Input) {}, RuleLongExpiredAttempts}}, verdict: Review},
		{name: "recently expired cards are a cardholder's mistake",
			before: func(e env) {
				in := baseInput()
				in.ExpMonth, in.ExpYear = 3, 2026 // two months before t0
				for range 3 {
					_ = RecordExpiredCard(context.Background(), e.c, in, DefaultSettings())
				}
			},
			steps: []step{{func(*Input) {}, ""}}},
		{name: "long-expired cards from the same session on another IP",
			before: func(e env) {
				in := baseInput()
				in.ExpMonth, in.ExpYear, in.IP, in.DeviceID = 1, 2020, netip.MustParseAddr("192.0.2.1"), ""
				_ = RecordExpiredCard(context.Background(), e.c, in, DefaultSettings())
				_ = RecordExpiredCard(context.Background(), e.c, in, DefaultSettings())
			},
			steps: []step{{func(*Input) {}, RuleLongExpiredAttempts}}},
		{name: "card testing: many cards, one IP, scores stack to NG",
			steps: func() []step {
				var st []step
				for i := range 6 {
					rule := ""
					if i >= 3 {
						rule = RuleIPCards
					}
					st = append(st, step{func(in *Input) {
						card(fmt.Sprintf("fp_%d", i))(in)
						in.CVC = checkout.CVCIllegible
					}, rule})
				}
				return st
			}(), verdict: NG},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, s := newEnv(), DefaultSettings()
			if tt.before != nil {
				tt.before(e)
			}
			var d Decision
			for i, st := range tt.steps {
				in := baseInput()
				st.change(&in)
				d = e.mustScreen(t, in, s)
				for _, rule := range velocity {
					if want := rule == st.rule; d.Has(rule) != want {
						t.Errorf("step %d: %s fired = %v, want %v (reasons %+v)", i+1, rule, d.Has(rule), want, d.Reasons)
					}
				}
				checkDecision(t, d)
			}
			if tt.verdict != "" && d.Verdict != tt.verdict {
				t.Errorf("last verdict = %s (score %d), want %s", d.Verdict, d.Score, tt.verdict)
			}
		})
	}
}

func TestScreenVelocityMessage(t *testing.T) {
	e, s := newEnv(), DefaultSettings()
	var d Decision
	for i := range 4 {
		in := baseInput()
		in.Fingerprint = fmt.Sprintf("fp_%d", i)
		d = e.mustScreen(t, in, s)
	}
	want := "4 different cards were tried from this IP address in the last 1h (more than 3)."
	for _, r := range d.Reasons {
		if r.Rule == RuleIPCards && r.Message != want {
			t.Errorf("message %q, want %q", r.Message, want)
		}
	}
}

func TestScreenDeterministic(t *testing.T) {
	in, s := baseInput(), DefaultSettings()
	in.CVC, in.BIN, in.Email = checkout.CVCNotPresent, "424242", "x@yopmail.com"
	var first Decision
	for i := range 3 {
		e := newEnv()
		mustAdd(t, e.l, "", ListIP, "203.0.0.0/16")
		mustAdd(t, e.l, "mer_a", ListIP, "203.0.113.0/24")
		mustAdd(t, e.l, "mer_a", ListIP, "203.0.113.7")
		d := e.mustScreen(t, in, s)
		if i == 0 {
			first = d
		} else if !reflect.DeepEqual(d, first) {
			t.Fatalf("run %d differs:\n%+v\n%+v", i, d, first)
		}
	}
	// The merchant's own, most specific entry is the one reported.
	if !strings.Contains(first.Reasons[len(first.Reasons)-1].Message, "203.0.113.7/32") {
		t.Errorf("reported %q", first.Reasons[len(first.Reasons)-1].Message)
	}
}

// failing are Counters and Lists that cannot be read.
type failing struct{ record, count, match bool }

var errDown = errors.New("store down")

func (f failing) Record(context.Context, []Event) error {
	if f.record {
		return errDown
	}
	return nil
}

func (f failing) Count(_ context.Context, qs []Query) ([]int, error) {
	if f.count {
		return nil, errDown
	}
	return make([]int, len(qs)), nil
}

func (f failing) Match(context.Context, string, []ListKey) ([]ListMatch, error) {
	if f.match {
		return nil, errDown
	}
	return nil, nil
}

// short answers fewer counts than it was asked for.
type short struct{ failing }

func (short) Count(_ context.Context, qs []Query) ([]int, error) { return make([]int, len(qs)-1), nil }

func TestScreenFailsClosed(t *testing.T) {
	bad := DefaultSettings()
	bad.NGScore = 0
	noFP := baseInput()
	noFP.Fingerprint = ""
	noTime := baseInput()
	noTime.Time = time.Time{}
	tests := []struct {
		name string
		in   Input
		s    Settings
		c    Counters
		l    Lists
		is   error
	}{
		{"counters cannot record", baseInput(), DefaultSettings(), failing{record: true}, failing{}, errDown},
		{"counters cannot count", baseInput(), DefaultSettings(), failing{count: true}, failing{}, errDown},
		{"counters answer short", baseInput(), DefaultSettings(), short{}, failing{}, nil},
		{"lists cannot be read", baseInput(), DefaultSettings(), failing{}, failing{match: true}, errDown},
		{"no counters", baseInput(), DefaultSettings(), nil, failing{}, nil},
		{"no lists", baseInput(), DefaultSettings(), failing{}, nil, nil},
		{"invalid settings", baseInput(), bad, failing{}, failing{}, nil},
		{"no fingerprint", noFP, DefaultSettings(), failing{}, failing{}, nil},
		{"no time", noTime, DefaultSettings(), failing{}, failing{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Screen(context.Background(), tt.in, tt.s, tt.c, tt.l)
			if err == nil {
				t.Fatalf("Screen = %+v, nil; want an error", d)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
			if d.Verdict != "" {
				t.Errorf("a decision came with the error: %+v", d)
			}
		})
	}
	if err := RecordOutcome(context.Background(), failing{record: true}, baseInput(), AuthOutcome{}); !errors.Is(err, errDown) {
		t.Errorf("RecordOutcome = %v", err)
	}
}

func TestRescreen(t *testing.T) {
	s := DefaultSettings()
	ok := Decision{Verdict: OK, Reasons: []Reason{}}
	review := decide([]Reason{reason(RuleCVCIllegible, "I", 40)}, s)
	tests := []struct {
		name    string
		prev    Decision
		cvc     checkout.CVCPresence
		out     AuthOutcome
		added   []string
		verdict Verdict
	}{
		{"approved, code matched", ok, checkout.CVCProvided, AuthOutcome{Approved: true, CVCCheck: checkout.CVCPass}, nil, OK},
		{"approved, code mismatch", ok, checkout.CVCProvided, AuthOutcome{Approved: true, CVCCheck: checkout.CVCFail}, []string{RuleCVCMismatch}, NG},
		{"declined for the code", ok, checkout.CVCProvided, AuthOutcome{DeclineReason: checkout.DeclineIncorrectCVC, CVCCheck: checkout.CVCFail}, []string{RuleCVCMismatch, RuleAuthDeclined}, NG},
		{"declined, insufficient funds", ok, checkout.CVCProvided, AuthOutcome{DeclineReason: checkout.DeclineInsufficientFunds, CVCCheck: checkout.CVCPass}, []string{RuleAuthDeclined}, NG},
		{"declined without a reason", ok, checkout.CVCProvided, AuthOutcome{}, []string{RuleAuthDeclined}, NG},
		{"approved, code unchecked", ok, checkout.CVCProvided, AuthOutcome{Approved: true, CVCCheck: checkout.CVCUnchecked}, []string{RuleCVCUnchecked}, OK},
		{"approved, X not checked is no surprise", ok, checkout.CVCNotPresent, AuthOutcome{Approved: true, CVCCheck: checkout.CVCUnchecked}, nil, OK},
		{"review stays review", review, checkout.CVCIllegible, AuthOutcome{Approved: true, CVCCheck: checkout.CVCCheckIlg}, nil, Review},
		{"review and unchecked", review, checkout.CVCProvided, AuthOutcome{Approved: true, CVCCheck: checkout.CVCUnchecked}, []string{RuleCVCUnchecked}, Review},
		{"never lowered", Decision{Verdict: NG, Reasons: []Reason{}}, checkout.CVCProvided, AuthOutcome{Approved: true, CVCCheck: checkout.CVCPass}, nil, NG},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := baseInput()
			in.CVC = tt.cvc
			prevReasons := slices.Clone(tt.prev.Reasons)
			d := Rescreen(context.Background(), tt.prev, in, tt.out, s)
			if d.Verdict != tt.verdict {
				t.Errorf("verdict %s (score %d), want %s: %+v", d.Verdict, d.Score, tt.verdict, d.Reasons)
			}
			want := append(tt.prev.Rules(), tt.added...)
			if got := d.Rules(); !slices.Equal(got, want) {
				t.Errorf("rules %v, want %v", got, want)
			}
			if !reflect.DeepEqual(tt.prev.Reasons, prevReasons) {
				t.Error("Rescreen changed the previous decision's reasons")
			}
			checkDecision(t, d)
		})
	}
	d := Rescreen(context.Background(), ok, baseInput(), AuthOutcome{DeclineReason: checkout.DeclineInsufficientFunds}, s)
	if m := d.Reasons[0].Message; m != "The issuer declined the authorization (insufficient_funds)." {
		t.Errorf("message %q", m)
	}
}

func TestDecideThresholds(t *testing.T) {
	s := DefaultSettings()
	type want struct {
		verdict   Verdict
		challenge bool // 3-D Secure: at or above challenge_score (25), unless NG
	}
	for score, w := range map[int]want{0: {OK, false}, 24: {OK, false}, 25: {OK, true}, 39: {OK, true},
		40: {Review, true}, 79: {Review, true}, 80: {NG, false}, 500: {NG, false}} {
		var rs []Reason
		if score > 0 {
			rs = []Reason{reason("a", "a", score/2), reason("b", "b", score-score/2)}
		}
		if d := decide(rs, s); d.Verdict != w.verdict || d.Score != score || d.ThreeDSChallenge != w.challenge {
			t.Errorf("score %d: %s (%d) challenge %v, want %s challenge %v", score, d.Verdict, d.Score, d.ThreeDSChallenge, w.verdict, w.challenge)
		}
	}
	s.ChallengeScore = 0 // every payment is challenged
	if d := decide(nil, s); !d.ThreeDSChallenge {
		t.Error("challenge_score 0 did not challenge a payment that scored 0")
	}
	b, _ := json.Marshal(decide(nil, DefaultSettings()))
	if string(b) != `{"verdict":"OK","score":0,"reasons":[],"three_ds_challenge":false,"platform":null}` {
		t.Errorf("JSON %s", b)
	}
}

// BenchmarkScreen is the screening cost per payment with the in-memory
// stores: a stream of different shoppers, one a second, against lists with a
// few thousand entries. A store's round trips (one Record, one Count, one
// Match) come on top.
func BenchmarkScreen(b *testing.B) {
	s := DefaultSettings()
	e := env{NewMemoryCounters(s.LongestWindow()), NewMemoryLists()}
	for i := range 1000 {
		mustAdd(b, e.l, "mer_a", ListAddress, fmt.Sprintf("JP|1000001|千代田%d-%d-%d", i%9+1, i%7+1, i))
		mustAdd(b, e.l, "", ListEmail, fmt.Sprintf("bad%d@example.com", i))
		mustAdd(b, e.l, "", ListIP, fmt.Sprintf("10.%d.%d.0/24", i/250, i%250))
	}
	const pool = 10_000
	fps, emails, devices := make([]string, pool), make([]string, pool), make([]string, pool)
	lines := make([]string, pool)
	for i := range pool {
		fps[i] = fmt.Sprintf("fp_%d", i)
		emails[i] = fmt.Sprintf("Shopper.%d+shop@Example.JP", i)
		devices[i] = fmt.Sprintf("dev_%d", i)
		lines[i] = fmt.Sprintf("東京都渋谷区渋谷%d丁目%d番%d号 渋谷ハイツ%d号室", i%3+1, i%20+1, i%30+1, i%500)
	}
	in := baseInput()
	ship := *in.Shipping
	in.Shipping = &ship
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i % pool
		in.Fingerprint, in.Email, in.DeviceID, ship.Line1 = fps[k], emails[k], devices[k], lines[k]
		in.IP = netip.AddrFrom4([4]byte{198, 51, byte(k / 250), byte(k % 250)})
		in.Time = t0.Add(time.Duration(i) * time.Second)
		if _, err := Screen(context.Background(), in, s, e.c, e.l); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkNormalizeAddress is the cost of the address normaliser alone.
func BenchmarkNormalizeAddress(b *testing.B) {
	a := checkout.Address{Country: "JP", PostalCode: "〒150-0002", State: "東京都", City: "渋谷区",
		Line1: "渋谷一丁目２番３号", Line2: "渋谷ハイツ１０１号室"}
	b.ReportAllocs()
	for b.Loop() {
		NormalizeAddress(a)
	}
}
