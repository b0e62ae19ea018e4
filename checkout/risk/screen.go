package risk

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// Rule ids. They are stable: merchants, dashboards and webhooks branch on them.
const (
	RuleAmountReview        = "amount.review"
	RuleAmountNG            = "amount.ng"
	RuleCVCNotPresent       = "cvc.not_present"
	RuleCVCIllegible        = "cvc.illegible"
	RuleCVCMismatch         = "cvc.mismatch"
	RuleCVCUnchecked        = "cvc.unchecked"
	RuleBINCountryMismatch  = "bin.country_mismatch"
	RuleDisposableEmail     = "email.disposable"
	RuleBlocklistAddress    = "blocklist.address"
	RuleBlocklistEmail      = "blocklist.email"
	RuleBlocklistCard       = "blocklist.card"
	RuleBlocklistBIN        = "blocklist.bin"
	RuleBlocklistIP         = "blocklist.ip"
	RuleCardAttempts        = "velocity.card_attempts"
	RuleIPCards             = "velocity.ip_cards"
	RuleEmailCards          = "velocity.email_cards"
	RuleDeviceCards         = "velocity.device_cards"
	RuleAddressCards        = "velocity.address_cards"
	RuleCardFailedAuths     = "velocity.card_failed_auths"
	RuleLongExpiredAttempts = "expiry.long_past_attempts"
	RuleAuthDeclined        = "auth.declined"
)

// Screen judges a payment before authorization. It records this attempt in
// the counters (so it counts towards the next one, on every instance that
// shares them), reads the sliding-window counts, looks the payment up on the
// blocklists, and returns the decision with one Reason per rule that fired.
// It is deterministic for the same input, settings, counts and list entries.
//
// Velocity counts span merchants: a card tester moves from shop to shop, and
// the platform sees what one shop cannot. Each merchant's settings decide
// what the counts mean for its payments.
//
// Any error (invalid settings, a missing fingerprint or time, a counter or a
// list that cannot be read) comes back with no decision: the caller must
// refuse the payment rather than authorize it unscreened.
func Screen(ctx context.Context, in Input, s Settings, c Counters, l Lists) (Decision, error) {
	if c == nil || l == nil {
		return Decision{}, errors.New("risk: screening needs Counters and Lists")
	}
	p, err := planScreening(in, s)
	if err != nil {
		return Decision{}, err
	}
	counts, matches, err := recordCountAndMatch(ctx, c, l, p.events, p.queries, in.MerchantID, p.listKeys())
	if err != nil {
		return Decision{}, err
	}
	return p.decide(counts, matches)
}

// screening is Screen before the counters: both judgements of the payment
// (the merchant's and the platform's) and, for one round trip, the union
// of their events and queries. Split so that Screener.AdmitAndScreen
// counts the guard's and screening's in one round trip.
type screening struct {
	in             Input
	d              derived
	mine, platform judgement
	events         []Event
	queries        []Query
	mineAt, platAt []int // where each judgement's queries are in queries
}

func planScreening(in Input, s Settings) (screening, error) {
	if err := s.Validate(); err != nil {
		return screening{}, fmt.Errorf("risk: merchant settings: %w", err)
	}
	if in.MerchantID == "" || in.Fingerprint == "" || in.Time.IsZero() {
		return screening{}, errors.New("risk: input needs a merchant, a card fingerprint and a time")
	}
	p := screening{in: in, d: derive(in)}
	p.mine = judge(in, p.d, s)
	p.platform = judge(in, p.d, PlatformSettings())
	// The same attempt recorded once, and a query both ask asked once (a
	// merchant on the defaults asks nothing more for the platform's
	// verdict).
	p.events, _ = union(p.mine.plan.events, p.platform.plan.events)
	var at [][]int
	p.queries, at = union(p.mine.plan.queries, p.platform.plan.queries)
	p.mineAt, p.platAt = at[0], at[1]
	return p, nil
}

// listKeys are the keys screening looks up on the blocklists.
func (p screening) listKeys() []ListKey { return listKeys(p.in, p.d) }

// decide completes the screening with the counts of its queries, in order,
// and its list keys' matches.
func (p screening) decide(counts []int, matches []ListMatch) (Decision, error) {
	if len(counts) != len(p.queries) {
		return Decision{}, fmt.Errorf("risk: counters answered %d of %d queries", len(counts), len(p.queries))
	}
	decision := p.mine.decide(pick(counts, p.mineAt), matches)
	decision.Platform = platformDecision(p.platform.decide(pick(counts, p.platAt), matches))
	return decision, nil
}

// judgement is one set of settings' view of a payment before the counts
// and lists are read: the reasons its input alone gives, and the velocity
// it must count.
type judgement struct {
	s      Settings
	static []Reason
	plan   velocityPlan
}

func judge(in Input, d derived, s Settings) judgement {
	var rs []Reason
	rs = ruleAmount(rs, in, s)
	rs = ruleCVC(rs, in, s)
	rs = ruleBINCountry(rs, in, s)
	rs = ruleDisposableEmail(rs, d, s)
	return judgement{s: s, static: rs, plan: planVelocity(in, d, s)}
}

// decide completes the judgement with the counts of its plan's queries, in
// order, and the blocklist matches.
func (j judgement) decide(counts []int, matches []ListMatch) Decision {
	rs := ruleBlocklists(slices.Clip(j.static), matches, j.s)
	rs = j.plan.reasons(rs, counts)
	return decide(rs, j.s)
}

// platformDecision is a decision under PlatformSettings as payments carry it.
func platformDecision(d Decision) *checkout.PlatformDecision {
	return &checkout.PlatformDecision{Verdict: d.Verdict, Score: d.Score, Reasons: d.Reasons}
}

// union returns the distinct items of the lists, in first-seen order, and
// for each list where each of its items is in the union.
func union[T comparable](lists ...[]T) (all []T, at [][]int) {
	seen := map[T]int{}
	at = make([][]int, len(lists))
	for li, list := range lists {
		for _, item := range list {
			i, ok := seen[item]
			if !ok {
				i = len(all)
				seen[item] = i
				all = append(all, item)
			}
			at[li] = append(at[li], i)
		}
	}
	return all, at
}

// pick returns values at the indexes, in order.
func pick(values []int, indexes []int) []int {
	out := make([]int, len(indexes))
	for i, at := range indexes {
		out[i] = values[at]
	}
	return out
}

// Rescreen judges the payment again with the issuer's answer and returns the
// new decision: prev's reasons and any the answer adds. It never lowers the
// verdict. An NG after an approval means the authorization must be reversed;
// a REVIEW means it is held for the merchant. The platform's verdict, when
// prev has one, is judged again the same way under PlatformSettings.
func Rescreen(_ context.Context, prev Decision, in Input, out AuthOutcome, s Settings) Decision {
	d := rescreen(prev, in, out, s)
	if p := prev.Platform; p != nil {
		d.Platform = platformDecision(rescreen(Decision{Verdict: p.Verdict, Score: p.Score, Reasons: p.Reasons}, in, out, PlatformSettings()))
	}
	return d
}

func rescreen(prev Decision, in Input, out AuthOutcome, s Settings) Decision {
	reasons := slices.Clone(prev.Reasons)
	if out.CVCCheck == checkout.CVCFail || out.DeclineReason == checkout.DeclineIncorrectCVC {
		// The issuer has said the shopper does not know the code on the card:
		// the source documents treat a wrong code as likely fraud, so NG
		// whatever the settings.
		reasons = append(reasons, reason(RuleCVCMismatch,
			"The issuer reports that the security code does not match the card.", s.NGScore))
	}
	switch {
	case !out.Approved:
		// A declined authorization is not a payment; NG records why.
		why := out.DeclineReason
		if why == "" {
			why = checkout.DeclineGeneric
		}
		reasons = append(reasons, reason(RuleAuthDeclined,
			fmt.Sprintf("The issuer declined the authorization (%s).", why), s.NGScore))
	case out.CVCCheck == checkout.CVCUnchecked && in.CVC == checkout.CVCProvided && s.CVC.Unchecked > 0:
		// A code that was given but never checked protects nothing.
		reasons = append(reasons, reason(RuleCVCUnchecked,
			"A security code was entered but the issuer did not check it.", s.CVC.Unchecked))
	}
	d := decide(reasons, s)
	if rank(prev.Verdict) > rank(d.Verdict) {
		d.Verdict = prev.Verdict // settings changed between the screenings: keep the stricter
	}
	return d
}

// answerScored reports whether the issuer's answer can add a reason or a
// count in Rescreen: a decline, a wrong security code, or a code given but
// not checked. An approval whose code was checked (or not given) changes
// nothing.
func answerScored(in Input, out AuthOutcome) bool {
	return !out.Approved || out.CVCCheck == checkout.CVCFail || out.DeclineReason == checkout.DeclineIncorrectCVC ||
		(out.CVCCheck == checkout.CVCUnchecked && in.CVC == checkout.CVCProvided)
}

func rank(v Verdict) int {
	switch v {
	case Review:
		return 1
	case NG:
		return 2
	}
	return 0
}

// RecordOutcome counts a declined authorization against the card, for the
// failed-authorizations rule of later attempts. Call it after every
// authorization that reached the issuer; approvals record nothing.
func RecordOutcome(ctx context.Context, c Counters, in Input, out AuthOutcome) error {
	if out.Approved || in.Fingerprint == "" {
		return nil
	}
	err := c.Record(ctx, []Event{{Key: "authfail:" + hash16(in.Fingerprint), At: in.Time}})
	if err != nil {
		return fmt.Errorf("risk: record declined authorization: %w", err)
	}
	return nil
}

// RecordExpiredCard counts a submission refused because its card had
// expired, when it expired at least s.LongExpired.Months ago: a shopper
// working through a list of old stolen numbers, not a cardholder with last
// month's card. The checkout refuses such a card before tokenizing it, so
// in needs no fingerprint: the IP, device and session are counted.
func RecordExpiredCard(ctx context.Context, c Counters, in Input, s Settings) error {
	d := derive(in)
	// Recorded when either the merchant's rules or the platform's count it:
	// the platform's verdict must not lose what a merchant switched off.
	events, _ := union(expiredEvents(nil, in, d, s), expiredEvents(nil, in, d, PlatformSettings()))
	if len(events) == 0 {
		return nil
	}
	if err := c.Record(ctx, events); err != nil {
		return fmt.Errorf("risk: record expired card: %w", err)
	}
	return nil
}

// longExpired reports whether the card expired at least months months
// before at (a card is valid through the last day of its expiry month).
func longExpired(in Input, months int) bool {
	if in.ExpMonth < 1 || in.ExpMonth > 12 || in.ExpYear < 1 || months < 1 {
		return false
	}
	now := in.Time.UTC()
	elapsed := (now.Year()*12 + int(now.Month())) - (in.ExpYear*12 + in.ExpMonth)
	return elapsed >= months
}

func expiredEvents(events []Event, in Input, d derived, s Settings) []Event {
	if !s.LongExpired.on() || !longExpired(in, s.LongExpired.Months) {
		return events
	}
	for _, k := range expiredKeys(in, d) {
		events = append(events, Event{Key: k, At: in.Time})
	}
	return events
}

func expiredKeys(in Input, d derived) []string {
	var keys []string
	if d.ipKey != "" {
		keys = append(keys, counterKey("expired_ip", d.ipKey))
	}
	if d.device != "" {
		keys = append(keys, counterKey("expired_device", d.device))
	}
	if in.SessionID != "" {
		keys = append(keys, counterKey("expired_session", in.SessionID))
	}
	return keys
}

// ruleAmount: large amounts are what fraud is for (resaleable goods bought
// on a stolen card); the merchant knows what is large for its shop.
func ruleAmount(rs []Reason, in Input, s Settings) []Reason {
	lim, ok := s.Amounts[in.Currency]
	if !ok {
		return rs
	}
	amount := checkout.FormatAmount(in.Amount, in.Currency)
	switch {
	case lim.NG > 0 && in.Amount > lim.NG:
		return append(rs, reason(RuleAmountNG, fmt.Sprintf("The amount %s is above this shop's limit of %s.",
			amount, checkout.FormatAmount(lim.NG, in.Currency)), s.NGScore))
	case lim.Review > 0 && in.Amount > lim.Review:
		return append(rs, reason(RuleAmountReview, fmt.Sprintf("The amount %s is above this shop's review threshold of %s.",
			amount, checkout.FormatAmount(lim.Review, in.Currency)), s.ReviewScore))
	}
	return rs
}

// ruleCVC: a shopper without the card cannot give its code, and X or I is
// how they would get past the field; cards without a code exist, so it is a
// score, not a refusal.
func ruleCVC(rs []Reason, in Input, s Settings) []Reason {
	switch {
	case in.CVC == checkout.CVCNotPresent && s.CVC.NotPresent > 0:
		return append(rs, reason(RuleCVCNotPresent, "The shopper said the card has no security code (X).", s.CVC.NotPresent))
	case in.CVC == checkout.CVCIllegible && s.CVC.Illegible > 0:
		return append(rs, reason(RuleCVCIllegible, "The shopper said the security code cannot be read (I).", s.CVC.Illegible))
	}
	return rs
}

// ruleBINCountry: stolen cards are mostly shipped away from the
// cardholder's country; travellers and gifts do the same, so it only adds
// to other signals. An unknown BIN country says nothing.
func ruleBINCountry(rs []Reason, in Input, s Settings) []Reason {
	if s.BINCountryMismatch == 0 || in.Shipping == nil {
		return rs
	}
	issuer := LookupBIN(in.BIN).Country
	ship, ok := CanonicalCountry(in.Shipping.Country)
	if issuer == "" || !ok || issuer == ship {
		return rs
	}
	return append(rs, reason(RuleBINCountryMismatch,
		fmt.Sprintf("The card was issued in %s but the order ships to %s.", issuer, ship), s.BINCountryMismatch))
}

// ruleDisposableEmail: a throwaway inbox leaves no trail to the buyer and
// is what a fraudster gives when the merchant will email a receipt.
func ruleDisposableEmail(rs []Reason, d derived, s Settings) []Reason {
	domain := emailDomain(d.email)
	if s.DisposableEmail == 0 || domain == "" || !IsDisposableDomain(domain) {
		return rs
	}
	return append(rs, reason(RuleDisposableEmail,
		fmt.Sprintf("The customer email uses a disposable email service (%s).", domain), s.DisposableEmail))
}

// listKeys are every key the payment could be listed under.
func listKeys(in Input, d derived) []ListKey {
	keys := make([]ListKey, 0, 48)
	keys = append(keys, ListKey{ListCard, in.Fingerprint})
	if d.address != "" {
		// The address as given; without its postal code (an entry added
		// without one); and without its country too (a free-text entry).
		keys = append(keys, ListKey{ListAddress, d.address})
		if d.addressBare != d.address {
			keys = append(keys, ListKey{ListAddress, d.addressBare})
		}
		if country, rest, _ := strings.Cut(d.addressBare, "|"); country != "" {
			keys = append(keys, ListKey{ListAddress, "|" + rest})
		}
	}
	if d.email != "" {
		keys = append(keys, ListKey{ListEmail, d.email})
		if dom := emailDomain(d.email); dom != "" {
			keys = append(keys, ListKey{ListEmail, "@" + dom})
		}
	}
	for n := min(len(in.BIN), 8); n >= 2; n-- {
		keys = append(keys, ListKey{ListBIN, in.BIN[:n]})
	}
	return ipCandidates(in.IP, keys)
}

var blocklistRules = []struct {
	kind ListKind
	rule string
	what string
}{
	{ListAddress, RuleBlocklistAddress, "The shipping address is"},
	{ListEmail, RuleBlocklistEmail, "The customer email or its domain is"},
	{ListCard, RuleBlocklistCard, "This card is"},
	{ListBIN, RuleBlocklistBIN, "The card's BIN range %s is"},
	{ListIP, RuleBlocklistIP, "The shopper's IP address is in %s, which is"},
}

// ruleBlocklists: known bad delivery addresses, emails, cards, BIN ranges
// and networks are the merchant's and the platform's memory of past fraud
// (the source documents' 配送先情報 layer); one reason per kind of list.
func ruleBlocklists(rs []Reason, matches []ListMatch, s Settings) []Reason {
	if len(matches) == 0 {
		return rs
	}
	// The merchant's own entries first, then the most specific (longest)
	// value: the same matches give the same reasons whatever order the
	// store returned them in.
	matches = slices.Clone(matches)
	slices.SortFunc(matches, func(a, b ListMatch) int {
		if a.Platform != b.Platform {
			if a.Platform {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(specificity(b), specificity(a)); c != 0 {
			return c
		}
		return cmp.Compare(a.Value, b.Value)
	})
	for _, br := range blocklistRules {
		i := slices.IndexFunc(matches, func(m ListMatch) bool { return m.Kind == br.kind })
		if i < 0 {
			continue
		}
		m := matches[i]
		where := "on this shop's blocklist."
		if m.Platform {
			where = "on the platform's list of known fraud."
		}
		what := br.what
		if br.kind == ListBIN || br.kind == ListIP {
			what = fmt.Sprintf(what, m.Value) // a BIN prefix or a network: safe to show, and what the merchant needs to find the entry
		}
		score := s.NGScore
		if s.Blocklist.verdict(br.kind) == Review {
			score = s.ReviewScore
		}
		rs = append(rs, reason(br.rule, what+" "+where, score))
	}
	return rs
}

// specificity orders entries of one kind: the longer BIN prefix, the
// narrower network.
func specificity(m ListMatch) int {
	if m.Kind == ListIP {
		if p, err := netip.ParsePrefix(m.Value); err == nil {
			return p.Bits()
		}
	}
	return len(m.Value)
}

// velocityPlan is the events one screening records, the counts it reads, and
// how each count becomes a reason.
type velocityPlan struct {
	events  []Event
	queries []Query
	checks  []velocityCheck
}

type velocityCheck struct {
	rule    string
	v       Velocity
	queries []int // indexes into queries; the largest count is judged
	message string
}

func (p *velocityPlan) add(rule string, v Velocity, message string, qs ...Query) {
	c := velocityCheck{rule: rule, v: v, message: message}
	for _, q := range qs {
		c.queries = append(c.queries, len(p.queries))
		p.queries = append(p.queries, q)
	}
	p.checks = append(p.checks, c)
}

func planVelocity(in Input, d derived, s Settings) velocityPlan {
	var p velocityPlan
	at := in.Time
	since := func(v Velocity) Query { return Query{Since: at.Add(-time.Duration(v.Window)), Cap: v.Max + 1} }
	distinct := func(key string, v Velocity) Query {
		q := since(v)
		q.Key, q.Distinct = key, true
		return q
	}

	// Every attempt is recorded whatever the settings: another merchant's
	// rules may count it.
	cardKey := "card:" + d.card
	p.events = append(p.events, Event{Key: cardKey, At: at})

	// velocity.card_attempts: one card tried again and again is someone
	// guessing its code or expiry, or testing whether it is live.
	if v := s.CardAttempts; v.on() {
		q := since(v)
		q.Key = cardKey
		p.add(RuleCardAttempts, v, "This card was tried %d times in the last %s (more than %d).", q)
	}
	// velocity.ip_cards: many cards from one network is card testing.
	if d.ipKey != "" {
		key := counterKey("ip", d.ipKey)
		p.events = append(p.events, Event{Key: key, Member: d.card, At: at})
		if v := s.CardsPerIP; v.on() {
			p.add(RuleIPCards, v, "%d different cards were tried from this IP address in the last %s (more than %d).", distinct(key, v))
		}
	}
	// velocity.email_cards: one buyer does not own many cards.
	if d.email != "" {
		key := counterKey("email", d.email)
		p.events = append(p.events, Event{Key: key, Member: d.card, At: at})
		if v := s.CardsPerEmail; v.on() {
			p.add(RuleEmailCards, v, "%d different cards were used with this customer email in the last %s (more than %d).", distinct(key, v))
		}
	}
	// velocity.device_cards: one browser cycling through cards, whatever
	// IPs it hides behind.
	if d.device != "" {
		key := counterKey("device", d.device)
		p.events = append(p.events, Event{Key: key, Member: d.card, At: at})
		if v := s.CardsPerDevice; v.on() {
			p.add(RuleDeviceCards, v, "%d different cards were tried from this device in the last %s (more than %d).", distinct(key, v))
		}
	}
	// velocity.address_cards: many cards shipping to one place is a drop
	// address collecting goods bought with stolen cards.
	if d.address != "" {
		key := counterKey("address", d.address)
		p.events = append(p.events, Event{Key: key, Member: d.card, At: at})
		if v := s.CardsPerAddress; v.on() {
			p.add(RuleAddressCards, v, "%d different cards were used for orders to this shipping address in the last %s (more than %d).", distinct(key, v))
		}
	}
	// velocity.card_failed_auths: an issuer that keeps declining a card is
	// telling us something the attempt count alone does not.
	if v := s.FailedAuthsPerCard; v.on() {
		q := since(v)
		q.Key = "authfail:" + d.card
		p.add(RuleCardFailedAuths, v, "The issuer declined this card %d times in the last %s (more than %d).", q)
	}
	// expiry.long_past_attempts: long-expired cards come from lists of
	// stolen numbers (see RecordExpiredCard); this card counts too if it is one.
	p.events = expiredEvents(p.events, in, d, s)
	if v := s.LongExpired.Velocity; v.on() {
		var qs []Query
		for _, k := range expiredKeys(in, d) {
			q := since(v)
			q.Key = k
			qs = append(qs, q)
		}
		if len(qs) > 0 {
			p.add(RuleLongExpiredAttempts, v, fmt.Sprintf(
				"%%d cards that expired %d or more months ago were tried from this IP address, device or session in the last %%s (more than %%d).",
				s.LongExpired.Months), qs...)
		}
	}
	return p
}

func (p *velocityPlan) reasons(rs []Reason, counts []int) []Reason {
	for _, c := range p.checks {
		n := 0
		for _, i := range c.queries {
			n = max(n, counts[i])
		}
		if n > c.v.Max {
			rs = append(rs, reason(c.rule, fmt.Sprintf(c.message, n, c.v.Window, c.v.Max), c.v.Score))
		}
	}
	return rs
}
