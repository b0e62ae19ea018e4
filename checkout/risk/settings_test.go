package risk

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

func TestDefaultSettingsValid(t *testing.T) {
	s := DefaultSettings()
	if err := s.Validate(); err != nil {
		t.Fatalf("DefaultSettings().Validate() = %v", err)
	}
	if got := s.LongestWindow(); got != 24*time.Hour {
		t.Errorf("LongestWindow() = %v, want 24h", got)
	}
}

func TestSettingsValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Settings)
		field  string // "" when valid
	}{
		{"defaults", func(*Settings) {}, ""},
		{"every rule off", func(s *Settings) {
			*s = Settings{ReviewScore: 1, NGScore: 2, Blocklist: BlocklistRules{Review, Review, Review, Review, Review}}
		}, ""},
		{"review score zero", func(s *Settings) { s.ReviewScore = 0 }, "review_score"},
		{"review score too high", func(s *Settings) { s.ReviewScore = MaxScore + 1 }, "review_score"},
		{"ng not above review", func(s *Settings) { s.NGScore = s.ReviewScore }, "ng_score"},
		{"ng too high", func(s *Settings) { s.NGScore = MaxScore + 1 }, "ng_score"},
		{"challenge above review", func(s *Settings) { s.ChallengeScore = s.ReviewScore + 1 }, "challenge_score"},
		{"challenge negative", func(s *Settings) { s.ChallengeScore = -1 }, "challenge_score"},
		{"unknown currency", func(s *Settings) { s.Amounts["XYZ"] = AmountLimit{} }, "amounts.XYZ"},
		{"negative review amount", func(s *Settings) { s.Amounts["JPY"] = AmountLimit{Review: -1} }, "amounts.JPY.review_above"},
		{"amount above max", func(s *Settings) { s.Amounts["USD"] = AmountLimit{NG: checkout.MaxAmount + 1} }, "amounts.USD.ng_above"},
		{"ng amount not above review", func(s *Settings) { s.Amounts["EUR"] = AmountLimit{Review: 500, NG: 500} }, "amounts.EUR.ng_above"},
		{"review amount alone", func(s *Settings) { s.Amounts["EUR"] = AmountLimit{Review: 500} }, ""},
		{"negative max", func(s *Settings) { s.CardsPerIP.Max = -1 }, "cards_per_ip.max"},
		{"max at the counters' bound", func(s *Settings) { s.CardsPerIP.Max = MaxCount }, ""},
		{"max past what a counter keeps exactly", func(s *Settings) { s.CardAttempts.Max = MaxCount + 1 }, "card_attempts.max"},
		{"negative score", func(s *Settings) { s.CardAttempts.Score = -5 }, "card_attempts.score"},
		{"window too short", func(s *Settings) { s.CardsPerEmail.Window = Duration(time.Second) }, "cards_per_email.window"},
		{"window too long", func(s *Settings) { s.CardsPerDevice.Window = Duration(31 * 24 * time.Hour) }, "cards_per_device.window"},
		{"window ignored when off", func(s *Settings) { s.CardsPerDevice = Velocity{} }, ""},
		{"failed auths window", func(s *Settings) { s.FailedAuthsPerCard.Window = 0 }, "failed_auths_per_card.window"},
		{"long expired window", func(s *Settings) { s.LongExpired.Window = 0 }, "long_expired.window"},
		{"long expired months", func(s *Settings) { s.LongExpired.Months = 0 }, "long_expired.months"},
		{"negative cvc score", func(s *Settings) { s.CVC.Illegible = -1 }, "cvc.illegible"},
		{"negative mismatch score", func(s *Settings) { s.BINCountryMismatch = -1 }, "bin_country_mismatch"},
		{"disposable score too high", func(s *Settings) { s.DisposableEmail = MaxScore + 1 }, "disposable_email"},
		{"blocklist OK is no action", func(s *Settings) { s.Blocklist.IP = OK }, "blocklist.ip"},
		{"blocklist empty", func(s *Settings) { s.Blocklist.Address = "" }, "blocklist.address"},
		{"blocklist review", func(s *Settings) { s.Blocklist.Email = Review }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := DefaultSettings()
			tt.change(&s)
			err := s.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var e *checkout.Error
			if !errors.As(err, &e) || e.Code != checkout.EINVALID || e.Field != tt.field {
				t.Fatalf("Validate() = %#v, want EINVALID on %q", err, tt.field)
			}
		})
	}
}

func TestSettingsJSON(t *testing.T) {
	s := DefaultSettings()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if w := m["cards_per_ip"].(map[string]any)["window"]; w != "1h" {
		t.Errorf("cards_per_ip.window = %v, want \"1h\"", w)
	}
	if w := m["long_expired"].(map[string]any)["window"]; w != "1h" {
		t.Errorf("long_expired.window = %v, want \"1h\" (embedded Velocity flattened)", w)
	}
	var back Settings
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("round trip changed the settings:\n%+v\n%+v", back, s)
	}
	if err := json.Unmarshal([]byte(`{"cards_per_ip":{"window":"soon"}}`), &back); err == nil {
		t.Error("a bad duration was accepted")
	}
}

func TestDurationString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 24 * time.Hour: "24h", 10 * time.Minute: "10m", 90 * time.Second: "1m30s", 0: "0s",
	} {
		if got := Duration(d).String(); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}
