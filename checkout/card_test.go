package checkout

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func TestDetectBrand(t *testing.T) {
	tests := []struct {
		prefix string
		want   Brand
	}{
		{"4", BrandVisa},
		{"4242424242424242", BrandVisa},
		{"51", BrandMastercard},
		{"55", BrandMastercard},
		{"2221", BrandMastercard},
		{"2720", BrandMastercard},
		{"2721", BrandUnknown},
		{"2220", BrandUnknown},
		{"34", BrandAmex},
		{"37", BrandAmex},
		{"35", BrandUnknown}, // too short to tell JCB from other 35xx
		{"3528", BrandJCB},
		{"3589", BrandJCB},
		{"3527", BrandUnknown},
		{"3590", BrandUnknown},
		{"300", BrandDiners},
		{"305", BrandDiners},
		{"306", BrandUnknown},
		{"3095", BrandDiners},
		{"36", BrandDiners},
		{"38", BrandDiners},
		{"39", BrandDiners},
		{"6011", BrandDiscover},
		{"6012", BrandUnknown},
		{"644", BrandDiscover},
		{"649", BrandDiscover},
		{"643", BrandUnknown},
		{"65", BrandDiscover},
		{"62", BrandUnionPay},
		{"622126", BrandUnionPay}, // Discover's network accepts it; the card is UnionPay's
		{"6", BrandUnknown},
		{"60", BrandUnknown},
		{"", BrandUnknown},
	}
	for _, tt := range tests {
		if got := DetectBrand(tt.prefix); got != tt.want {
			t.Errorf("DetectBrand(%q) = %q, want %q", tt.prefix, got, tt.want)
		}
	}
}

func TestLuhn(t *testing.T) {
	for _, s := range []string{"4242424242424242", "378282246310005", "30569309020004", "3530111333300000", "5555555555554444", "0"} {
		if !Luhn([]byte(s)) {
			t.Errorf("Luhn(%s) = false, want true", s)
		}
	}
	for _, s := range []string{"4242424242424241", "378282246310006", "", "12a4", "1"} {
		if Luhn([]byte(s)) {
			t.Errorf("Luhn(%q) = true, want false", s)
		}
	}
}

func TestParsePAN(t *testing.T) {
	tests := []struct {
		input   string
		brand   Brand
		msgID   string // empty: valid
		wantLen int
	}{
		{"4242 4242 4242 4242", BrandVisa, "", 16},
		{"4242-4242-4242-4242", BrandVisa, "", 16},
		{"5555555555554444", BrandMastercard, "", 16},
		{"2223003122003222", BrandMastercard, "", 16},
		{"3782 822463 10005", BrandAmex, "", 15},
		{"3530 1113 3330 0000", BrandJCB, "", 16},
		{"3056 930902 0004", BrandDiners, "", 14},
		{"", "", "card.number.required", 0},
		{"   ", "", "card.number.required", 0},
		{"4242 4242 4242 424a", "", "card.number.chars", 0},
		{"4242424242424242424242", "", "card.number.length", 0},
		{"6011 1111 1111 1117", BrandDiscover, "", 16},
		{"6440000000000005", BrandDiscover, "", 16},
		{"6011111111111111110", BrandDiscover, "", 19},
		{"6011111111111118", "", "card.number.luhn", 0},
		{"601111111111117", "", "card.number.length_brand_range", 0}, // Discover with 15 digits
		{"6200 0000 0000 0005", BrandUnionPay, "", 16},
		{"6200000000000001", BrandUnionPay, "", 16}, // fails Luhn: UnionPay's numbers need not pass it
		{"622126000000000000", BrandUnionPay, "", 18},
		{"62000000000000000000", "", "card.number.length", 0},
		{"620000000000000", "", "card.number.length_brand_range", 0}, // UnionPay with 15 digits
		{"3056930902000", "", "card.number.length_brand_or", 0},      // Diners Club with 13 digits
		{"7011111111111117", "", "card.number.brand", 0},
		{"424242424242424", "", "card.number.length_brand", 0},     // Visa with 15 digits
		{"3782822463100050", "", "card.number.length_brand", 0},    // AMEX with 16 digits
		{"4242424242424241", "", "card.number.luhn", 0},            // one digit off
		{"378282246310006", "", "card.number.luhn", 0},             // AMEX, bad check digit
		{"4242\u00a04242424242424242", "", "card.number.chars", 0}, // non-breaking space
	}
	for _, tt := range tests {
		pan, err := ParsePAN([]byte(tt.input))
		if tt.msgID == "" {
			if err != nil {
				t.Errorf("ParsePAN(%q): %v", tt.input, err)
				continue
			}
			if pan.Brand() != tt.brand || pan.Len() != tt.wantLen {
				t.Errorf("ParsePAN(%q) = %s/%d, want %s/%d", tt.input, pan.Brand(), pan.Len(), tt.brand, tt.wantLen)
			}
			continue
		}
		e, ok := err.(*Error)
		if !ok || e.MsgID != tt.msgID || e.Field != "number" || e.Code != EINVALID {
			t.Errorf("ParsePAN(%q) error = %#v, want msg %s", tt.input, err, tt.msgID)
		}
	}
}

func TestParsePANLengthMessagesNameTheDigits(t *testing.T) {
	for number, want := range map[string]string{
		"3782822463100050": "American Express card numbers have 15 digits.",
		"3056930902000":    "Diners Club card numbers have 14 or 16 digits.",
		"601111111111117":  "Discover card numbers have 16 to 19 digits.",
	} {
		if _, err := ParsePAN([]byte(number)); ErrorMessage(err) != want {
			t.Errorf("ParsePAN(%s): %q, want %q", number, ErrorMessage(err), want)
		}
	}
}

// The length messages word one length, two, or a run: a table entry of
// three lengths or more must be a run for "16 to 19" to be true.
func TestBrandLengthsAreOneTwoOrARun(t *testing.T) {
	for _, r := range BrandRules() {
		for i := 1; i < len(r.Lengths); i++ {
			if r.Lengths[i] <= r.Lengths[i-1] || len(r.Lengths) > 2 && r.Lengths[i] != r.Lengths[i-1]+1 {
				t.Errorf("%s: lengths %v are neither one, two ascending, nor a run", r.Name, r.Lengths)
			}
		}
	}
}

// Every way of printing a PAN masks it: the number must never reach a log,
// an error or a JSON body (PCI DSS 3.4.1).
func TestPANNeverPrintsInFull(t *testing.T) {
	const number = "4242424242424242"
	pan, err := ParsePAN([]byte(number))
	if err != nil {
		t.Fatal(err)
	}
	holder := struct {
		Card PAN
		Ptr  *PAN
	}{pan, &pan}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("card", "pan", pan, "holder", holder)
	js, _ := json.Marshal(holder)
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", pan), "%s": fmt.Sprintf("%s", pan), "%+v": fmt.Sprintf("%+v", holder),
		"%#v": fmt.Sprintf("%#v", holder), "%d": fmt.Sprintf("%d", pan), "%x": fmt.Sprintf("%x", pan),
		"%q": fmt.Sprintf("%q", pan), "json": string(js), "slog": logged.String(), "String": pan.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, number) || strings.Contains(out, "4242424242") && !strings.Contains(out, "424242••••••4242") {
			t.Errorf("%s prints the number: %s", name, out)
		}
	}
	if pan.Masked() != "424242••••••4242" {
		t.Errorf("Masked = %q", pan.Masked())
	}
	pan.Wipe()
	for _, b := range pan.Reveal() {
		if b != 0 {
			t.Fatalf("Wipe left digits: %v", pan.Reveal())
		}
	}
}

func TestParseExpiry(t *testing.T) {
	tests := []struct {
		in    string
		month int
		year  int
		msgID string
	}{
		{"12/30", 12, 2030, ""},
		{"12 / 30", 12, 2030, ""},
		{"1230", 12, 2030, ""},
		{"1/27", 1, 2027, ""},
		{"11/2026", 11, 2026, ""}, // this month is still valid
		{"10/26", 0, 0, "card.expiry.past"},
		{"12/25", 0, 0, "card.expiry.past"},
		{"13/30", 0, 0, "card.expiry.month"},
		{"00/30", 0, 0, "card.expiry.month"},
		{"12/99", 0, 0, "card.expiry.far"},
		{"", 0, 0, "card.expiry.format"},
		{"ab/cd", 0, 0, "card.expiry.format"},
		{"12/3", 0, 0, "card.expiry.format"},
		{"12//30", 0, 0, "card.expiry.format"},
		{"123/30", 0, 0, "card.expiry.format"},
	}
	for _, tt := range tests {
		got, err := ParseExpiry(tt.in, testNow)
		if tt.msgID == "" {
			if err != nil || got.Month != tt.month || got.Year != tt.year {
				t.Errorf("ParseExpiry(%q) = %+v, %v; want %d/%d", tt.in, got, err, tt.month, tt.year)
			}
			continue
		}
		if e, ok := err.(*Error); !ok || e.MsgID != tt.msgID || e.Field != "expiry" {
			t.Errorf("ParseExpiry(%q) error = %v, want %s", tt.in, err, tt.msgID)
		}
	}
}

func TestCheckSecurityCode(t *testing.T) {
	tests := []struct {
		code     string
		brand    Brand
		presence CVCPresence
		msgID    string
	}{
		{"123", BrandVisa, CVCProvided, ""},
		{"123", BrandMastercard, CVCProvided, ""},
		{"123", BrandJCB, CVCProvided, ""},
		{"123", BrandDiners, CVCProvided, ""},
		{"1234", BrandAmex, CVCProvided, ""},
		{"X", BrandVisa, CVCNotPresent, ""},
		{"x", BrandAmex, CVCNotPresent, ""},
		{"I", BrandJCB, CVCIllegible, ""},
		{"i", BrandVisa, CVCIllegible, ""},
		{"", BrandVisa, "", "card.cvc.required"},
		{"1234", BrandVisa, "", "card.cvc.length_back"},
		{"12", BrandJCB, "", "card.cvc.length_back"},
		{"123", BrandAmex, "", "card.cvc.length_front"},
		{"12345", BrandAmex, "", "card.cvc.length_front"},
		{"12a", BrandVisa, "", "card.cvc.chars"},
		{"XX", BrandVisa, "", "card.cvc.chars"},
		{"Y", BrandVisa, "", "card.cvc.chars"},
	}
	for _, tt := range tests {
		got, err := CheckSecurityCode([]byte(tt.code), tt.brand)
		if tt.msgID == "" {
			if err != nil || got != tt.presence {
				t.Errorf("CheckSecurityCode(%q, %s) = %q, %v; want %q", tt.code, tt.brand, got, err, tt.presence)
			}
			continue
		}
		e, ok := err.(*Error)
		if !ok || e.MsgID != tt.msgID || e.Field != "cvc" {
			t.Errorf("CheckSecurityCode(%q, %s) error = %v, want %s", tt.code, tt.brand, err, tt.msgID)
			continue
		}
		if tt.code != "" && strings.Contains(e.Message, tt.code) {
			t.Errorf("error message echoes the code: %q", e.Message)
		}
	}
}

func TestSecurityCodeMessagesSayWhere(t *testing.T) {
	_, err := CheckSecurityCode([]byte("123"), BrandAmex)
	if got := ErrorMessage(err); got != "The security code of American Express cards is the 4 digits printed on the front." {
		t.Errorf("AMEX message = %q", got)
	}
	_, err = CheckSecurityCode([]byte("12"), BrandVisa)
	if got := ErrorMessage(err); got != "The security code of Visa cards is the last 3 digits on the back." {
		t.Errorf("Visa message = %q", got)
	}
}

func FuzzParsePAN(f *testing.F) {
	for _, s := range []string{"4242 4242 4242 4242", "3782 822463 10005", "6011 1111 1111 1117", "6200000000000001", "6011111111111111110", "", "0000", "4242-4242", "\x00\xff", "9999999999999999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		pan, err := ParsePAN(input)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("error code %s", ErrorCode(err))
			}
			if len(input) >= 8 && strings.Contains(ErrorMessage(err), string(input)) {
				t.Fatalf("error echoes input")
			}
			return
		}
		if !Luhn(pan.Reveal()) && pan.Brand() != BrandUnionPay || pan.Brand() == BrandUnknown || pan.Len() < 14 || pan.Len() > 19 {
			t.Fatalf("accepted invalid number of %d digits, brand %q", pan.Len(), pan.Brand())
		}
		if strings.Contains(pan.String(), string(pan.Reveal())) {
			t.Fatalf("String shows the number")
		}
	})
}

func FuzzParseExpiry(f *testing.F) {
	for _, s := range []string{"12/30", "1230", "1/27", "", "//", "99/9999", "00/00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpiry(s, testNow)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("error code %s", ErrorCode(err))
			}
			return
		}
		if e.Month < 1 || e.Month > 12 || e.Year < 2026 || e.Year > 2046 || (e.Year == 2026 && e.Month < 11) {
			t.Fatalf("accepted %+v from %q", e, s)
		}
	})
}

func FuzzCheckSecurityCode(f *testing.F) {
	for _, s := range []string{"123", "1234", "X", "I", "", "12a", "\xff"} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, code []byte, amex bool) {
		brand := BrandVisa
		if amex {
			brand = BrandAmex
		}
		presence, err := CheckSecurityCode(code, brand)
		if err != nil {
			return
		}
		switch presence {
		case CVCNotPresent, CVCIllegible:
			if len(code) != 1 {
				t.Fatalf("%q accepted as %s", code, presence)
			}
		case CVCProvided:
			if len(code) != brand.CVCLength() || !allDigits(string(code)) {
				t.Fatalf("%q accepted for %s", code, brand)
			}
		default:
			t.Fatalf("unknown presence %q", presence)
		}
	})
}
