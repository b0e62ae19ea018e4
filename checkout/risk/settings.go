package risk

import (
	"fmt"
	"slices"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// Settings are one merchant's screening rules. A score of 0, or a velocity
// Max of 0, turns that rule off. Scores add up; the total decides the verdict
// against ReviewScore and NGScore. Settings must pass Validate before use;
// Screen checks it again and refuses to screen with invalid settings.
type Settings struct {
	ReviewScore int `json:"review_score"` // a total at or above this is REVIEW
	NGScore     int `json:"ng_score"`     // a total at or above this is NG
	// ChallengeScore: a payment whose total reaches it (and is not NG)
	// asks the issuer to challenge the shopper (3-D Secure); 0 challenges
	// every payment. At most ReviewScore, so a held payment was challenged.
	ChallengeScore int `json:"challenge_score"`

	// Amounts are limits per ISO 4217 currency, in the minor unit.
	Amounts map[string]AmountLimit `json:"amounts"`

	CardAttempts       Velocity `json:"card_attempts"`         // attempts with one card (by fingerprint)
	CardsPerIP         Velocity `json:"cards_per_ip"`          // distinct cards from one IP (IPv6: per /64)
	CardsPerEmail      Velocity `json:"cards_per_email"`       // distinct cards for one customer email
	CardsPerDevice     Velocity `json:"cards_per_device"`      // distinct cards from one device cookie
	CardsPerAddress    Velocity `json:"cards_per_address"`     // distinct cards shipping to one address
	FailedAuthsPerCard Velocity `json:"failed_auths_per_card"` // issuer declines of one card

	LongExpired LongExpired `json:"long_expired"`
	CVC         CVCRules    `json:"cvc"`

	BINCountryMismatch int `json:"bin_country_mismatch"` // score when the card's country is not the shipping country
	DisposableEmail    int `json:"disposable_email"`     // score for a throwaway email domain

	Blocklist BlocklistRules `json:"blocklist"`
}

// AmountLimit holds a payment's amount for review above Review and refuses
// it above NG; 0 means no limit.
type AmountLimit struct {
	Review int64 `json:"review_above"`
	NG     int64 `json:"ng_above"`
}

// Velocity is a sliding-window limit: when more than Max events (or distinct
// cards) fall within Window, counting the current one, Score is added.
type Velocity struct {
	Max    int      `json:"max"`
	Window Duration `json:"window"`
	Score  int      `json:"score"`
}

func (v Velocity) on() bool { return v.Max > 0 && v.Score > 0 }

// LongExpired scores shoppers who try cards that expired at least Months ago:
// a long-expired card is what a list of stolen numbers holds, not what a
// cardholder carries. More than Max such tries from one IP, device or session
// within Window add Score.
type LongExpired struct {
	Months int `json:"months"`
	Velocity
}

// CVCRules score what the shopper said about the security code and what
// the issuer answered. A mismatch is always NG and has no setting: the
// issuer has said the shopper does not hold the card.
type CVCRules struct {
	NotPresent int `json:"not_present"` // "X": the shopper says the card has no code
	Illegible  int `json:"illegible"`   // "I": printed but unreadable
	Unchecked  int `json:"unchecked"`   // a code was given but the issuer did not check it
}

// BlocklistRules say what a blocklist hit means, per kind of list: REVIEW or
// NG (the default; the source documents' known bad delivery addresses stop
// a shipment outright).
type BlocklistRules struct {
	Address Verdict `json:"address"`
	Email   Verdict `json:"email"`
	Card    Verdict `json:"card"`
	BIN     Verdict `json:"bin"`
	IP      Verdict `json:"ip"`
}

func (b BlocklistRules) verdict(k ListKind) Verdict {
	switch k {
	case ListAddress:
		return b.Address
	case ListEmail:
		return b.Email
	case ListCard:
		return b.Card
	case ListBIN:
		return b.BIN
	case ListIP:
		return b.IP
	}
	return NG
}

// Limits of the settings.
const (
	MaxScore  = 10_000
	MinWindow = time.Minute
	MaxWindow = 30 * 24 * time.Hour // the stores keep events this long at most
)

// DefaultSettings are the rules a new merchant starts with. The numbers are
// starting points to tune against the merchant's own traffic: a single strong
// signal (I for the code, several cards from one IP) is enough for REVIEW,
// two are NG, and a blocklist hit or an amount over the hard limit is NG.
func DefaultSettings() Settings {
	hour, day := Duration(time.Hour), Duration(24*time.Hour)
	return Settings{
		ReviewScore:    40,
		NGScore:        80,
		ChallengeScore: 25, // one moderate signal (a foreign card, X for the code) earns a challenge
		Amounts: map[string]AmountLimit{
			"JPY": {Review: 200_000, NG: 2_000_000}, // ¥200,000 / ¥2,000,000
			"USD": {Review: 200_000, NG: 2_000_000}, // $2,000.00 / $20,000.00
			"EUR": {Review: 200_000, NG: 2_000_000}, // €2,000.00 / €20,000.00
			"GBP": {Review: 200_000, NG: 2_000_000}, // £2,000.00 / £20,000.00
		},
		CardAttempts:       Velocity{Max: 5, Window: hour, Score: 40},
		CardsPerIP:         Velocity{Max: 3, Window: hour, Score: 60},
		CardsPerEmail:      Velocity{Max: 3, Window: day, Score: 40},
		CardsPerDevice:     Velocity{Max: 3, Window: day, Score: 60},
		CardsPerAddress:    Velocity{Max: 3, Window: day, Score: 40},
		FailedAuthsPerCard: Velocity{Max: 2, Window: day, Score: 60},
		LongExpired:        LongExpired{Months: 12, Velocity: Velocity{Max: 1, Window: hour, Score: 40}},
		CVC:                CVCRules{NotPresent: 30, Illegible: 40, Unchecked: 10},
		BINCountryMismatch: 25,
		DisposableEmail:    30,
		Blocklist:          BlocklistRules{Address: NG, Email: NG, Card: NG, BIN: NG, IP: NG},
	}
}

// PlatformSettings are the platform's own policy, fixed in the code: the
// rules every payment is judged by a second time, beside its merchant's, for
// the chargeback guarantee. The guarantee is the platform's money, so
// whether it pays must not depend on rules the merchant may switch off
// (PUT /v1/risk/settings changes only the merchant's verdict). They are the
// defaults a merchant starts with: a merchant on the defaults gets the same
// verdict twice, and pays no extra count for it.
func PlatformSettings() Settings { return DefaultSettings() }

// LongestWindow is the longest sliding window the settings use: counters must
// keep events at least this long.
func (s Settings) LongestWindow() time.Duration {
	longest := time.Duration(0)
	for _, v := range s.velocities() {
		longest = max(longest, time.Duration(v.v.Window))
	}
	return longest
}

type namedVelocity struct {
	field string
	v     Velocity
}

func (s Settings) velocities() []namedVelocity {
	return []namedVelocity{
		{"card_attempts", s.CardAttempts},
		{"cards_per_ip", s.CardsPerIP},
		{"cards_per_email", s.CardsPerEmail},
		{"cards_per_device", s.CardsPerDevice},
		{"cards_per_address", s.CardsPerAddress},
		{"failed_auths_per_card", s.FailedAuthsPerCard},
		{"long_expired", s.LongExpired.Velocity},
	}
}

// Validate checks the settings and returns an EINVALID *checkout.Error whose
// Field names the first setting at fault, in the JSON spelling.
func (s Settings) Validate() error {
	if s.ReviewScore < 1 || s.ReviewScore > MaxScore {
		return invalid("review_score", "review_score must be from 1 to %d", MaxScore)
	}
	if s.NGScore <= s.ReviewScore || s.NGScore > MaxScore {
		return invalid("ng_score", "ng_score must be above review_score and at most %d", MaxScore)
	}
	if s.ChallengeScore < 0 || s.ChallengeScore > s.ReviewScore {
		return invalid("challenge_score", "challenge_score must be from 0 (challenge every payment) to review_score")
	}
	currencies := make([]string, 0, len(s.Amounts))
	for c := range s.Amounts {
		currencies = append(currencies, c)
	}
	slices.Sort(currencies) // report the same first error every time
	for _, c := range currencies {
		l := s.Amounts[c]
		if _, ok := checkout.LookupCurrency(c); !ok {
			return invalid("amounts."+c, "amounts: %q is not an accepted currency (JPY, USD, EUR, GBP)", c)
		}
		if l.Review < 0 || l.Review > checkout.MaxAmount {
			return invalid("amounts."+c+".review_above", "amounts.%s.review_above must be from 0 (no limit) to %d", c, checkout.MaxAmount)
		}
		if l.NG < 0 || l.NG > checkout.MaxAmount {
			return invalid("amounts."+c+".ng_above", "amounts.%s.ng_above must be from 0 (no limit) to %d", c, checkout.MaxAmount)
		}
		if l.Review > 0 && l.NG > 0 && l.NG <= l.Review {
			return invalid("amounts."+c+".ng_above", "amounts.%s.ng_above must be above review_above", c)
		}
	}
	for _, nv := range s.velocities() {
		v := nv.v
		if v.Max < 0 || v.Max > MaxCount {
			return invalid(nv.field+".max", "%s.max must be from 0 (off) to %d", nv.field, MaxCount)
		}
		if err := checkScore(nv.field+".score", v.Score); err != nil {
			return err
		}
		if v.on() && (time.Duration(v.Window) < MinWindow || time.Duration(v.Window) > MaxWindow) {
			return invalid(nv.field+".window", "%s.window must be from %s to %s", nv.field, MinWindow, MaxWindow)
		}
	}
	if s.LongExpired.on() && (s.LongExpired.Months < 1 || s.LongExpired.Months > 240) {
		return invalid("long_expired.months", "long_expired.months must be from 1 to 240")
	}
	for _, sc := range []struct {
		field string
		score int
	}{
		{"cvc.not_present", s.CVC.NotPresent}, {"cvc.illegible", s.CVC.Illegible}, {"cvc.unchecked", s.CVC.Unchecked},
		{"bin_country_mismatch", s.BINCountryMismatch}, {"disposable_email", s.DisposableEmail},
	} {
		if err := checkScore(sc.field, sc.score); err != nil {
			return err
		}
	}
	for _, b := range []struct {
		field string
		v     Verdict
	}{
		{"blocklist.address", s.Blocklist.Address}, {"blocklist.email", s.Blocklist.Email},
		{"blocklist.card", s.Blocklist.Card}, {"blocklist.bin", s.Blocklist.BIN}, {"blocklist.ip", s.Blocklist.IP},
	} {
		if b.v != Review && b.v != NG {
			return invalid(b.field, `%s must be "REVIEW" or "NG"`, b.field)
		}
	}
	return nil
}

// checkScore refuses negative scores: a rule that lowered the total would
// let one signal buy off another, and a merchant's typo become a bypass.
func checkScore(field string, score int) error {
	if score < 0 || score > MaxScore {
		return invalid(field, "%s must be from 0 (off) to %d", field, MaxScore)
	}
	return nil
}

func invalid(field, format string, args ...any) *checkout.Error {
	return &checkout.Error{Code: checkout.EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Duration is a time.Duration that reads and writes JSON as text ("1h",
// "30m"), so that settings are legible in the API.
type Duration time.Duration

// String formats the duration compactly: "1h", "10m", "24h", "90s".
func (d Duration) String() string {
	t := time.Duration(d)
	switch {
	case t == 0:
		return "0s"
	case t%time.Hour == 0:
		return fmt.Sprintf("%dh", t/time.Hour)
	case t%time.Minute == 0:
		return fmt.Sprintf("%dm", t/time.Minute)
	}
	return t.String()
}

// MarshalText writes the duration as String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a duration as time.ParseDuration does ("1h30m").
func (d *Duration) UnmarshalText(b []byte) error {
	t, err := time.ParseDuration(string(b))
	if err != nil {
		return &checkout.Error{Code: checkout.EINVALID, Message: fmt.Sprintf("%q is not a duration such as 10m or 24h", b)}
	}
	*d = Duration(t)
	return nil
}
