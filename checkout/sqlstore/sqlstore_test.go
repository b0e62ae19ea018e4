package sqlstore

import (
	"reflect"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

func TestTimeDest(t *testing.T) {
	jst := time.FixedZone("JST", 9*60*60)
	at := time.Date(2031, time.May, 6, 7, 8, 9, 123456789, jst)
	for _, c := range []struct {
		name string
		in   any
		want time.Time
	}{
		{"SQLite's nanoseconds", at.UnixNano(), at.UTC()},
		{"pgx's timestamptz", at, at.UTC()},
		{"NULL", nil, time.Time{}},
	} {
		got := time.Now()
		if err := TimeDest(&got).Scan(c.in); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !got.Equal(c.want) || got.Location() != c.want.Location() {
			t.Fatalf("%s: %v; want %v", c.name, got, c.want)
		}
	}
	var got time.Time
	if err := TimeDest(&got).Scan("2031-05-06"); err == nil {
		t.Fatal("a text time column scanned without an error")
	}
}

func TestPlaceholders(t *testing.T) {
	if got := Placeholders(3); got != "$1, $2, $3" {
		t.Fatalf("Placeholders(3) = %q", got)
	}
	if got := Qualified("s", "id,\n\tmerchant_id, amount"); got != "s.id, s.merchant_id, s.amount" {
		t.Fatalf("Qualified = %q", got)
	}
}

// A decision written by RiskColumns reads back the same through RiskDest,
// a missing one as nil, and no reasons as [] (the API's JSON).
func TestRiskColumnsRoundTrip(t *testing.T) {
	d := &checkout.RiskDecision{Verdict: checkout.VerdictReview, Score: 55,
		Reasons:  []checkout.RiskReason{{Rule: "velocity.ip", Message: "many"}},
		Platform: &checkout.PlatformDecision{Verdict: checkout.VerdictOK, Reasons: []checkout.RiskReason{}}}
	for _, want := range []*checkout.RiskDecision{d, {Verdict: checkout.VerdictOK}, nil} {
		v, s, r, p, err := RiskColumns(want)
		if err != nil {
			t.Fatal(err)
		}
		var dest RiskDest
		for i, col := range []any{v, s, r, p} {
			if err := dest.Dest()[i].(interface{ Scan(any) error }).Scan(col); err != nil {
				t.Fatal(err)
			}
		}
		got, err := dest.Decision()
		if err != nil {
			t.Fatal(err)
		}
		if want != nil && want.Reasons == nil {
			w := *want
			w.Reasons = []checkout.RiskReason{}
			want = &w
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("read back %+v; want %+v", got, want)
		}
	}
}
