package checkout

import (
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Brand is a card network.
type Brand string

// Brands the checkout accepts.
const (
	BrandVisa       Brand = "visa"
	BrandMastercard Brand = "mastercard"
	BrandAmex       Brand = "amex"
	BrandJCB        Brand = "jcb"
	BrandDiners     Brand = "diners"
	BrandDiscover   Brand = "discover"
	BrandUnionPay   Brand = "unionpay"
	BrandUnknown    Brand = ""
)

// BrandRule says how to recognise a brand by its leading digits and what
// its cards look like. Ranges come from the networks' published IIN
// tables. ParsePAN checks numbers with the table, and the payment page's
// script with the same table while the shopper types (BrandRules, served
// in the page's data).
type BrandRule struct {
	Brand   Brand  `json:"brand"`
	Name    string `json:"name"`
	Lengths []int  `json:"lengths"` // ascending
	CVC     int    `json:"cvc"`     // digits of the security code
	Front   bool   `json:"front"`   // security code printed on the front (American Express CID)
	// Luhn: the number ends with a Luhn check digit. UnionPay's need not
	// (its own rules allow numbers that fail it), so only its length is
	// checked and a mistyped digit is left to the issuer.
	Luhn   bool     `json:"luhn"`
	Ranges [][2]int `json:"ranges"` // inclusive prefix ranges; both ends have the same number of digits
	// Groups is how a number of a given length is printed, where it is
	// not in fours.
	Groups map[int][]int `json:"groups,omitempty"`
	// Methods are the payment methods besides lump sum that the brand's
	// cards issued in Japan take, and MaxInstallments the most
	// installments they are split into (PaymentMethodSet.ForCard).
	Methods         []PaymentMethodType `json:"methods,omitempty"`
	MaxInstallments int                 `json:"max_installments,omitempty"`
}

// brandRules are tried in order. Diners Club's 36, 38 and 39 ranges, which
// Discover's network also carries, stay Diners Club (the brand on the
// card); UnionPay takes all of 62, its 622126-622925 cards that Discover's
// network also accepts included.
//
// Japanese payment methods by brand: Visa, Mastercard, JCB and Diners Club
// cards issued in Japan take all of them, installments up to 24; American
// Express has not offered installments on its own cards since 2022, and
// takes bonus and revolving payments; Discover and UnionPay are issued
// abroad and paid in one payment.
var brandRules = []BrandRule{
	{Brand: BrandAmex, Name: "American Express", Lengths: []int{15}, CVC: 4, Front: true, Luhn: true,
		Ranges: [][2]int{{34, 34}, {37, 37}}, Groups: map[int][]int{15: {4, 6, 5}},
		Methods: []PaymentMethodType{MethodBonusLumpSum, MethodRevolving}},
	{Brand: BrandDiners, Name: "Diners Club", Lengths: []int{14, 16}, CVC: 3, Luhn: true,
		Ranges: [][2]int{{300, 305}, {3095, 3095}, {36, 36}, {38, 39}}, Groups: map[int][]int{14: {4, 6, 4}},
		Methods: allJapaneseMethods, MaxInstallments: 24},
	{Brand: BrandJCB, Name: "JCB", Lengths: []int{16}, CVC: 3, Luhn: true, Ranges: [][2]int{{3528, 3589}},
		Methods: allJapaneseMethods, MaxInstallments: 24},
	{Brand: BrandMastercard, Name: "Mastercard", Lengths: []int{16}, CVC: 3, Luhn: true, Ranges: [][2]int{{51, 55}, {2221, 2720}},
		Methods: allJapaneseMethods, MaxInstallments: 24},
	{Brand: BrandVisa, Name: "Visa", Lengths: []int{16}, CVC: 3, Luhn: true, Ranges: [][2]int{{4, 4}},
		Methods: allJapaneseMethods, MaxInstallments: 24},
	{Brand: BrandDiscover, Name: "Discover", Lengths: []int{16, 17, 18, 19}, CVC: 3, Luhn: true,
		Ranges: [][2]int{{6011, 6011}, {644, 649}, {65, 65}}},
	{Brand: BrandUnionPay, Name: "UnionPay", Lengths: []int{16, 17, 18, 19}, CVC: 3, Ranges: [][2]int{{62, 62}}},
}

var allJapaneseMethods = []PaymentMethodType{MethodInstallments, MethodBonusLumpSum, MethodRevolving}

// BrandRules is the table of accepted brands, in the order they are tried:
// a copy of the slice, whose rules the caller reads and does not change.
func BrandRules() []BrandRule { return slices.Clone(brandRules) }

func (b Brand) rule() (BrandRule, bool) {
	for _, r := range brandRules {
		if r.Brand == b {
			return r, true
		}
	}
	return BrandRule{}, false
}

// Name is the brand as printed for people ("American Express").
func (b Brand) Name() string {
	if r, ok := b.rule(); ok {
		return r.Name
	}
	return "unknown"
}

// CVCLength is the number of digits of the brand's security code: 4 for
// American Express (CID on the front), 3 for the others (on the back).
func (b Brand) CVCLength() int {
	if r, ok := b.rule(); ok {
		return r.CVC
	}
	return 3
}

// CVCOnFront reports whether the brand prints its security code on the front.
func (b Brand) CVCOnFront() bool {
	r, _ := b.rule()
	return r.Front
}

// DetectBrand recognises the brand from the leading digits of a card number.
// It works on a prefix as short as one digit, so the page can show the brand
// while the shopper types.
func DetectBrand(digits string) Brand {
	for _, r := range brandRules {
		for _, rg := range r.Ranges {
			n := len(strconv.Itoa(rg[0]))
			if len(digits) < n {
				continue
			}
			p, err := strconv.Atoi(digits[:n])
			if err == nil && p >= rg[0] && p <= rg[1] {
				return r.Brand
			}
		}
	}
	return BrandUnknown
}

// CardNumberShaped matches 12 or more digits with anything but letters
// between them: a PAN typed with any separators ("4761+7390+7402+5028",
// dots, underscores, spaces, newlines, slashes), in any script's digits.
// It errs on the side of caution: no path or free text the product keeps
// needs 12 digits without a letter to be read, so logs mask such runs and
// free-text fields refuse them (PCI DSS 3.4.1: no readable card number
// where nobody expects one).
var CardNumberShaped = regexp.MustCompile(`\p{Nd}(?:[^\p{L}\p{Nd}]*\p{Nd}){11,}`)

// Luhn reports whether digits pass the Luhn (mod 10) check.
func Luhn(digits []byte) bool {
	if len(digits) == 0 {
		return false
	}
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if d < 0 || d > 9 {
			return false
		}
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// PAN is a card number. Every way of printing it masks it, so that a PAN that
// reaches a log, an error or a JSON body shows at most the first 6 and last 4
// digits (PCI DSS 3.4.1). The raw digits are reachable only through Reveal,
// which the vault and the authorization call use.
type PAN struct {
	digits []byte
	brand  Brand
}

// ParsePAN reads a card number as a shopper types it (digits, with spaces or
// dashes between groups) and checks brand, length and Luhn. It copies the
// digits into memory the PAN owns; Wipe zeroes them.
func ParsePAN(input []byte) (PAN, error) {
	digits := make([]byte, 0, 19)
	for _, c := range input {
		switch {
		case c >= '0' && c <= '9':
			if len(digits) == 19 {
				wipe(digits)
				return PAN{}, FieldError("number", "card.number.length", "The card number is too long.", nil)
			}
			digits = append(digits, c)
		case c == ' ' || c == '-':
		default:
			wipe(digits)
			return PAN{}, FieldError("number", "card.number.chars", "The card number may contain only digits and spaces.", nil)
		}
	}
	if len(digits) == 0 {
		return PAN{}, FieldError("number", "card.number.required", "Enter the card number.", nil)
	}
	brand := DetectBrand(string(digits[:min(len(digits), 6)]))
	rule, ok := brand.rule()
	if !ok {
		wipe(digits)
		return PAN{}, FieldError("number", "card.number.brand", "This card brand is not accepted. We accept Visa, Mastercard, JCB, American Express, Diners Club, Discover and UnionPay.", nil)
	}
	if !slices.Contains(rule.Lengths, len(digits)) {
		wipe(digits)
		return PAN{}, rule.lengthError()
	}
	if rule.Luhn && !Luhn(digits) {
		wipe(digits)
		return PAN{}, FieldError("number", "card.number.luhn", "This card number is not valid. Check it for a mistyped digit.", nil)
	}
	return PAN{digits: digits, brand: brand}, nil
}

// lengthError says how many digits the brand's numbers have: one length,
// two ("14 or 16") or a run ("16 to 19"), each a message of its own so that
// every language words it.
func (r BrandRule) lengthError() error {
	first, last := r.Lengths[0], r.Lengths[len(r.Lengths)-1]
	switch len(r.Lengths) {
	case 1:
		return FieldError("number", "card.number.length_brand", fmt.Sprintf("%s card numbers have %d digits.", r.Name, first),
			map[string]string{"Brand": r.Name, "Digits": strconv.Itoa(first)})
	case 2:
		return FieldError("number", "card.number.length_brand_or", fmt.Sprintf("%s card numbers have %d or %d digits.", r.Name, first, last),
			map[string]string{"Brand": r.Name, "A": strconv.Itoa(first), "B": strconv.Itoa(last)})
	}
	// More than two lengths are a run (a test holds the table to it).
	return FieldError("number", "card.number.length_brand_range", fmt.Sprintf("%s card numbers have %d to %d digits.", r.Name, first, last),
		map[string]string{"Brand": r.Name, "A": strconv.Itoa(first), "B": strconv.Itoa(last)})
}

// Brand is the card's network.
func (p PAN) Brand() Brand { return p.brand }

// Last4 is the last four digits, safe to show.
func (p PAN) Last4() string {
	if len(p.digits) < 4 {
		return ""
	}
	return string(p.digits[len(p.digits)-4:])
}

// BIN is the first six digits (the issuer identification number), safe to
// keep beside the last four (PCI DSS 3.4.1).
func (p PAN) BIN() string {
	if len(p.digits) < 6 {
		return ""
	}
	return string(p.digits[:6])
}

// Len is the number of digits.
func (p PAN) Len() int { return len(p.digits) }

// Reveal returns the raw digits. The slice is the PAN's own memory: do not
// keep it, log it or convert it to a string.
func (p PAN) Reveal() []byte { return p.digits }

// Wipe zeroes the digits once the request is done with them.
func (p PAN) Wipe() { wipe(p.digits) }

// Masked is the number with everything but the first 6 and last 4 digits
// replaced by '•'.
func (p PAN) Masked() string {
	n := len(p.digits)
	if n < 10 {
		return strings.Repeat("•", n)
	}
	return p.BIN() + strings.Repeat("•", n-10) + p.Last4()
}

// String masks the number.
func (p PAN) String() string { return p.Masked() }

// GoString masks the number, also under %#v.
func (p PAN) GoString() string { return "checkout.PAN(" + p.Masked() + ")" }

// Format masks the number under every verb, including %v of a struct holding it.
func (p PAN) Format(f fmt.State, verb rune) { fmt.Fprint(f, p.Masked()) }

// LogValue masks the number in structured logs.
func (p PAN) LogValue() slog.Value { return slog.StringValue(p.Masked()) }

// MarshalJSON masks the number.
func (p PAN) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(p.Masked())), nil }

// MarshalText masks the number.
func (p PAN) MarshalText() ([]byte, error) { return []byte(p.Masked()), nil }

func wipe(b []byte) {
	clear(b)
}

// Expiry is a card's expiry month; the card is valid through its last day.
type Expiry struct {
	Month int // 1-12
	Year  int // four digits
}

// ExpiredAt reports whether the card has expired at now: a card is good
// through the last day of its expiry month (UTC).
func (e Expiry) ExpiredAt(now time.Time) bool {
	now = now.UTC()
	return e.Year < now.Year() || (e.Year == now.Year() && e.Month < int(now.Month()))
}

// ParseExpiry reads an expiry as shoppers type it: "MM/YY", "MM / YY",
// "MM/YYYY" or "MMYY", and refuses a card that expired before now. Cards more
// than 20 years ahead are refused as mistyped.
func ParseExpiry(s string, now time.Time) (Expiry, error) {
	month, year, ok := expiryFields(s)
	if !ok {
		return Expiry{}, FieldError("expiry", "card.expiry.format", "Enter the expiry date as MM/YY.", nil)
	}
	if month < 1 || month > 12 {
		return Expiry{}, FieldError("expiry", "card.expiry.month", "The expiry month must be from 01 to 12.", nil)
	}
	now = now.UTC()
	if (Expiry{Month: month, Year: year}).ExpiredAt(now) {
		return Expiry{}, FieldError("expiry", "card.expiry.past", "This card has expired. Check the date or use another card.", nil)
	}
	if year > now.Year()+20 {
		return Expiry{}, FieldError("expiry", "card.expiry.far", "The expiry date is too far in the future. Check the year.", nil)
	}
	return Expiry{Month: month, Year: year}, nil
}

// expiryFields reads the month and year of an expiry as ParseExpiry
// accepts it, without judging them.
func expiryFields(s string) (month, year int, ok bool) {
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	var mm, yy string
	switch {
	case strings.Count(s, "/") == 1:
		mm, yy, _ = strings.Cut(s, "/")
	case len(s) == 4:
		mm, yy = s[:2], s[2:]
	default:
		return 0, 0, false
	}
	if !allDigits(mm) || !allDigits(yy) || (len(mm) != 1 && len(mm) != 2) || (len(yy) != 2 && len(yy) != 4) {
		return 0, 0, false
	}
	month, _ = strconv.Atoi(mm)
	year, _ = strconv.Atoi(yy)
	if len(yy) == 2 {
		year += 2000
	}
	return month, year, true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// CVCPresence is what the shopper said about the security code.
type CVCPresence string

// Security code presence, after the shopper's input. The source documents let
// a shopper whose card has no code enter X, and I when it is printed but
// illegible.
const (
	CVCProvided   CVCPresence = "provided"
	CVCNotPresent CVCPresence = "not_present" // "X": the card has no security code
	CVCIllegible  CVCPresence = "illegible"   // "I": printed, but cannot be read
)

// CVCCheck is the outcome of the security code check, as the merchant sees it.
type CVCCheck string

// Security code check outcomes (docs/API.md).
const (
	CVCPass      CVCCheck = "pass"
	CVCFail      CVCCheck = "fail"
	CVCCheckNone CVCCheck = "not_present"
	CVCCheckIlg  CVCCheck = "illegible"
	CVCUnchecked CVCCheck = "unchecked"
)

// CheckSecurityCode checks the shopper's security code input against the
// card's brand without copying it: code is the request's own buffer, which
// the caller zeroes after authorization (PCI DSS 3.3.1.2). The error messages
// tell where the code is for the brand and never echo the input.
func CheckSecurityCode(code []byte, brand Brand) (CVCPresence, error) {
	if len(code) == 1 {
		switch code[0] {
		case 'X', 'x':
			return CVCNotPresent, nil
		case 'I', 'i':
			return CVCIllegible, nil
		}
	}
	if len(code) == 0 {
		return "", FieldError("cvc", "card.cvc.required", "Enter the security code, or X if your card has none.", nil)
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return "", FieldError("cvc", "card.cvc.chars", "The security code is digits only (or X if your card has none, I if it cannot be read).", nil)
		}
	}
	want := brand.CVCLength()
	if len(code) != want {
		params := map[string]string{"Brand": brand.Name(), "Digits": strconv.Itoa(want)}
		if brand.CVCOnFront() {
			return "", FieldError("cvc", "card.cvc.length_front",
				fmt.Sprintf("The security code of %s cards is the %d digits printed on the front.", brand.Name(), want), params)
		}
		return "", FieldError("cvc", "card.cvc.length_back",
			fmt.Sprintf("The security code of %s cards is the last %d digits on the back.", brand.Name(), want), params)
	}
	return CVCProvided, nil
}
