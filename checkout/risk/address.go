package risk

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// NormalizeAddress is the form in which delivery addresses are compared, so
// that small spelling changes of the same address still match a blocklist
// entry and count as one address in the velocity rules. It returns
// "COUNTRY|postal|body" ("JP|1500002|神宮前1-2-3"), or "" for an empty
// address. The recipient's name is left out: a drop address stays bad
// whatever name is written on the parcel.
//
// The body is built from the address lines and, where the postal code does
// not already say it, the city and state:
//   - Unicode NFKC, so full-width and half-width forms match (１−２−３,
//     ｼﾌﾞﾔ), then lower case; ß is ss.
//   - Spaces, punctuation and every kind of dash (- ‐ ‑ – — − － ー 〜) are
//     removed, except that a break between two numbers becomes one "-":
//     "1 2 3", "1.2.3" and "1ー2ー3" are all "1-2-3".
//   - Japanese: 〒 is dropped; a postal code typed at the start of the
//     address is taken as the postal code; 丁目, 番地, 番, 号 and の between
//     numbers are hyphens, so "1丁目2番3号", "一丁目二番地三" and "1-2-3" match;
//     号室 and 室 after a room number go, 階 is "f" (3階 = 3F); kanji numerals
//     before 丁目/番/号/条 are digits; ヶ ケ ヵ が between kanji are one (霞ヶ関 =
//     霞が関), as are の ノ 之 (木ノ下 = 木之下); 大字 and 字 are optional. With a
//     postal code, which already names the prefecture and the municipality,
//     a leading 都道府県 and 市区町村 are dropped, however many times the
//     shopper repeated them across the state, city and line fields.
//   - English: USPS-style abbreviations (Street/St, Avenue/Ave, Road/Rd,
//     North/N ...), unit designators dropped (Apartment, Apt, #, Unit, Suite,
//     Ste, Room, Flat), ordinal words as numbers (Fifth = 5th), and
//     US state names as their codes.
//   - Non-JP addresses with a postal code keep only the street lines: the
//     code already names the city and state, which shoppers spell many ways.
//
// The order of the parts still matters ("Apt 4, 12 Main St" is not "12 Main
// St Apt 4"), and a building name written in one address and left out of
// another does not match: both are more than small spelling changes, and
// guessing would put innocent neighbours on a blocklist.
func NormalizeAddress(a checkout.Address) string {
	full, _ := addressForms(a, false)
	return full
}

// addressForms returns NormalizeAddress's form and the bare form the address
// has when its postal code is ignored, to match entries that were added
// without one (when withBare). They share the parsing, so Screen computes
// both at once.
func addressForms(a checkout.Address, withBare bool) (full, bare string) {
	country := normalizeCountry(a.Country)
	postal := normalizePostal(country, a.PostalCode)
	jp := country == "JP"
	if jp && postal == "" {
		// "〒150-0002 東京都渋谷区…" typed into one field: lift the code out,
		// from the first field that has anything in it.
		for _, f := range []*string{&a.State, &a.City, &a.Line1} {
			if strings.TrimSpace(*f) == "" {
				continue
			}
			if code, rest, ok := liftJPPostal(*f); ok {
				postal, *f = code, rest
			}
			break
		}
	}
	if jp {
		// The shopper repeated the prefecture or city in line 1
		// ("東京都渋谷区…" with city 渋谷区): keep one.
		line := normalizeText(a.Line1+" "+a.Line2, false)
		for _, f := range []*string{&a.State, &a.City} {
			if n := normalizeText(*f, false); n != "" && strings.Contains(line, n) {
				*f = ""
			}
		}
	}
	if postal == "" {
		full = addressBody(a, country, "")
		return full, full
	}
	if withBare {
		bare = addressBody(a, country, "")
	}
	return addressBody(a, country, postal), bare
}

func addressBody(a checkout.Address, country, postal string) string {
	jp := country == "JP"
	var parts []string
	switch {
	case postal != "" && jp:
		parts = []string{a.City, a.Line1, a.Line2} // the prefecture is implied; a repeated one is stripped
	case postal != "":
		parts = []string{a.Line1, a.Line2}
	default:
		state := a.State
		if country == "US" {
			state = usStateCode(state)
		}
		parts = []string{state, a.City, a.Line1, a.Line2}
	}
	body := normalizeText(strings.Join(parts, " "), jp && postal != "")
	if country == "" && postal == "" && body == "" {
		return ""
	}
	return country + "|" + postal + "|" + body
}

// normalizeAddressKey re-normalises the string form NormalizeAddress returns
// (as a merchant may send it back for a blocklist entry). Applied to
// NormalizeAddress's own output it changes nothing.
func normalizeAddressKey(s string) string {
	country, rest, _ := strings.Cut(s, "|")
	postal, body, _ := strings.Cut(rest, "|")
	country = normalizeCountry(country)
	postal = normalizePostal(country, postal)
	body = normalizeText(body, country == "JP" && postal != "")
	if country == "" && postal == "" && body == "" {
		return ""
	}
	return country + "|" + postal + "|" + body
}

func normalizeCountry(c string) string {
	var b strings.Builder
	for _, r := range norm.NFKC.String(c) {
		switch {
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		}
	}
	c = b.String()
	if len(c) != 2 {
		return ""
	}
	if canon, ok := CanonicalCountry(c); ok {
		return canon // "UK" is GB
	}
	return c
}

// normalizePostal keeps the letters and digits of a postal code: JP
// 150-0002 is 1500002; a US ZIP+4 is its 5-digit ZIP.
func normalizePostal(country, p string) string {
	var b strings.Builder
	for _, r := range norm.NFKC.String(p) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case (r >= 'a' && r <= 'z') && country != "JP" && country != "US":
			b.WriteRune(r)
		case (r >= 'A' && r <= 'Z') && country != "JP" && country != "US":
			b.WriteRune(r - 'A' + 'a')
		}
	}
	s := b.String()
	if country == "US" && len(s) > 5 {
		s = s[:5]
	}
	return s
}

var jpPostalLead = regexp.MustCompile(`^[\s〒]*([0-9]{3})[\s\-‐‑–—−ー~〜]*([0-9]{4})(?:[^0-9]|$)`)

// liftJPPostal takes a postal code off the start of a field.
func liftJPPostal(field string) (code, rest string, ok bool) {
	f := norm.NFKC.String(field)
	m := jpPostalLead.FindStringSubmatchIndex(f)
	if m == nil {
		return "", field, false
	}
	return f[m[2]:m[3]] + f[m[4]:m[5]], f[m[5]:], true
}

const brk = ' ' // a break between tokens while normalising; gone from the result

// normalizeText normalises free address text. It runs passes until one
// changes nothing, so that the result is a fixed point: normalising it again
// gives it back (removing a space can join "ave nue" into a word the next
// pass abbreviates).
func normalizeText(s string, stripJP bool) string {
	if s == "" {
		return ""
	}
	for range 8 {
		t := normalizePass(s, stripJP)
		if t == s {
			break
		}
		s = t
	}
	return s
}

func normalizePass(s string, stripJP bool) string {
	s = norm.NFKC.String(strings.ToLower(norm.NFKC.String(s)))
	s = strings.ReplaceAll(s, "ß", "ss")
	rs := []rune(s)
	for i, r := range rs {
		rs[i] = classify(r)
	}
	rs = englishWords(rs)
	rs = kanjiNumerals(rs)
	rs = japaneseMarkers(rs)
	rs = japaneseKana(rs)
	rs = compact(rs)
	out := string(rs)
	if stripJP {
		out = stripJPPlace(out)
	}
	return out
}

// classify keeps letters, marks and digits and turns everything else
// (spaces, punctuation, symbols, dashes, the long-vowel mark used as a
// dash) into a break.
func classify(r rune) rune {
	switch {
	case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		return r
	case r < 0x80:
		return brk
	case r == 'ー': // katakana long vowel mark, typed as a dash in 1ー2ー3; in words it goes on both sides alike
		return brk
	case r == '〇':
		return r
	case unicode.IsLetter(r), unicode.IsMark(r), unicode.IsDigit(r):
		return r
	}
	return brk
}

func isDigit(r rune) bool  { return r >= '0' && r <= '9' }
func isASCIIL(r rune) bool { return r >= 'a' && r <= 'z' }

// prevSig is the last rune of rs that is not a break, or 0.
func prevSig(rs []rune) rune {
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i] != brk {
			return rs[i]
		}
	}
	return 0
}

// nextSig is the first rune of rs at or after i that is not a break, or 0.
func nextSig(rs []rune, i int) rune {
	for ; i < len(rs); i++ {
		if rs[i] != brk {
			return rs[i]
		}
	}
	return 0
}

// enWords maps English address words to one spelling; "" drops the word
// (unit designators: "Apt 4", "#4", "Unit 4" and "Suite 4" are one place).
// Abbreviations follow USPS Publication 28.
var enWords = map[string]string{
	"street": "st", "str": "st", "strt": "st", "saint": "st",
	"avenue": "ave", "av": "ave", "aven": "ave", "avenu": "ave", "avn": "ave",
	"road": "rd", "boulevard": "blvd", "boul": "blvd", "drive": "dr", "drv": "dr",
	"lane": "ln", "court": "ct", "place": "pl", "terrace": "ter", "highway": "hwy",
	"parkway": "pkwy", "pky": "pkwy", "circle": "cir", "square": "sq", "trail": "trl",
	"route": "rte", "mount": "mt", "fort": "ft", "heights": "hts", "crescent": "cres",
	"gardens": "gdns", "expressway": "expy", "freeway": "fwy", "center": "ctr", "centre": "ctr",
	"building": "bldg", "floor": "fl", "point": "pt", "junction": "jct",
	"north": "n", "south": "s", "east": "e", "west": "w",
	"northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
	"apartment": "", "apt": "", "unit": "", "suite": "", "ste": "", "room": "", "rm": "",
	"flat": "", "number": "", "no": "",
	"first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th",
	"sixth": "6th", "seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th",
	"eleventh": "11th", "twelfth": "12th", "thirteenth": "13th", "fourteenth": "14th",
	"fifteenth": "15th", "sixteenth": "16th", "seventeenth": "17th", "eighteenth": "18th",
	"nineteenth": "19th", "twentieth": "20th",
}

// englishWords rewrites runs of ASCII letters.
func englishWords(rs []rune) []rune {
	out := make([]rune, 0, len(rs))
	for i := 0; i < len(rs); {
		if !isASCIIL(rs[i]) {
			out = append(out, rs[i])
			i++
			continue
		}
		j := i
		for j < len(rs) && isASCIIL(rs[j]) {
			j++
		}
		word := string(rs[i:j])
		afterDigit := len(out) > 0 && isDigit(out[len(out)-1])
		switch {
		case word == "chome" && isDigit(prevSig(out)):
			out = append(out, brk) // romanised 丁目: "1-chome 2-3" is 1-2-3
		case afterDigit:
			out = append(out, rs[i:j]...) // 4th, 4b, 3f
		default:
			if rep, ok := enWords[word]; ok {
				if rep == "" {
					out = append(out, brk)
				} else {
					out = append(out, []rune(rep)...)
				}
			} else {
				out = append(out, rs[i:j]...)
			}
		}
		i = j
	}
	return out
}

var kanjiDigits = map[rune]int{'〇': 0, '零': 0, '一': 1, '二': 2, '三': 3, '四': 4, '五': 5, '六': 6, '七': 7, '八': 8, '九': 9}
var kanjiMultipliers = map[rune]int{'十': 10, '百': 100, '千': 1000}

func isKanjiNumeral(r rune) bool {
	_, d := kanjiDigits[r]
	_, m := kanjiMultipliers[r]
	return d || m
}

// numberedMarkers follow a number in a Japanese address; kanji numerals
// before them are read as digits (一丁目, 北一条, 三番地, 二十三号).
var numberedMarkers = []string{"丁目", "番", "号", "条", "地割", "線", "階", "室"}

func hasPrefixRunes(rs []rune, i int, s string) bool {
	for _, r := range s {
		if i >= len(rs) || rs[i] != r {
			return false
		}
		i++
	}
	return true
}

func kanjiNumerals(rs []rune) []rune {
	out := make([]rune, 0, len(rs))
	for i := 0; i < len(rs); {
		if !isKanjiNumeral(rs[i]) {
			out = append(out, rs[i])
			i++
			continue
		}
		j := i
		for j < len(rs) && isKanjiNumeral(rs[j]) {
			j++
		}
		k := j
		for k < len(rs) && rs[k] == brk {
			k++
		}
		marked := false
		for _, m := range numberedMarkers {
			marked = marked || hasPrefixRunes(rs, k, m)
		}
		// A numeral that ends an address after a number (一丁目二番地三) is a
		// number too, when nothing but a break or a digit follows it.
		standalone := j == len(rs) || rs[j] == brk || isDigit(rs[j])
		if (marked || (standalone && afterNumberContext(out))) && j-i <= 6 {
			out = append(out, []rune(strconv.Itoa(parseKanjiNumber(rs[i:j])))...)
		} else {
			out = append(out, rs[i:j]...) // 千代田, 八王子, 三田: names, not numbers
		}
		i = j
	}
	return out
}

// afterNumberContext reports whether out ends in a number, or in a number
// and the marker after it (1丁目, 2番地), breaks aside.
func afterNumberContext(out []rune) bool {
	end := len(out)
	for end > 0 && out[end-1] == brk {
		end--
	}
	if end > 0 && isDigit(out[end-1]) {
		return true
	}
	for _, m := range afterNumber {
		n := len([]rune(m.marker))
		if end >= n && string(out[end-n:end]) == m.marker {
			return isDigit(prevSig(out[:end-n]))
		}
	}
	return false
}

// parseKanjiNumber reads 二十三 (23), 百二 (102) and digit-by-digit 二三 (23).
func parseKanjiNumber(rs []rune) int {
	total, cur, have := 0, 0, false
	for _, r := range rs {
		if d, ok := kanjiDigits[r]; ok {
			if have {
				cur = cur*10 + d
			} else {
				cur, have = d, true
			}
			continue
		}
		if !have {
			cur = 1
		}
		total += cur * kanjiMultipliers[r]
		cur, have = 0, false
	}
	return total + cur
}

// afterNumber are what follows a number in a Japanese address, longest
// first, and what each becomes: a break (a hyphen between numbers), or "f".
var afterNumber = []struct {
	marker string
	to     rune
}{
	{"丁目", brk}, {"番地", brk}, {"号室", brk}, {"地割", brk},
	{"番", brk}, {"号", brk}, {"条", brk}, {"室", brk}, {"階", 'f'},
}

func japaneseMarkers(rs []rune) []rune {
	out := make([]rune, 0, len(rs))
	for i := 0; i < len(rs); {
		if isDigit(prevSig(out)) {
			matched := false
			for _, m := range afterNumber {
				if hasPrefixRunes(rs, i, m.marker) {
					out = append(out, m.to)
					i += len([]rune(m.marker))
					matched = true
					break
				}
			}
			if matched {
				continue
			}
			if (rs[i] == 'の' || rs[i] == 'ノ' || rs[i] == '之') && isDigit(nextSig(rs, i+1)) {
				out = append(out, brk) // 2の3 is 2-3
				i++
				continue
			}
		}
		out = append(out, rs[i])
		i++
	}
	return out
}

var jpMunicipalityEnd = map[rune]bool{'町': true, '村': true, '区': true, '市': true, '郡': true}

// japaneseKana unifies the small ke and the no between kanji, and drops
// 大字 and 字.
func japaneseKana(rs []rune) []rune {
	out := make([]rune, 0, len(rs))
	aza := false // a 大字 was dropped: the next 字 before a number goes too
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '大' && i+1 < len(rs) && rs[i+1] == '字':
			out = append(out, brk)
			i++
			aza = true
			continue
		case r == '字' && (aza || jpMunicipalityEnd[prevSig(out)]):
			out = append(out, brk)
			aza = false
			continue
		case isDigit(r):
			aza = false
		}
		between := unicode.Is(unicode.Han, prevSig(out)) && unicode.Is(unicode.Han, nextSig(rs, i+1))
		switch {
		case between && (r == 'ヶ' || r == 'ケ' || r == 'ヵ' || r == 'が'):
			r = 'ケ'
		case between && (r == 'の' || r == 'ノ' || r == '之'):
			r = 'ノ'
		}
		out = append(out, r)
	}
	return out
}

// compact removes breaks, keeping one "-" where a break separated two numbers.
func compact(rs []rune) []rune {
	out := make([]rune, 0, len(rs))
	pending := false
	for _, r := range rs {
		if r == brk {
			pending = len(out) > 0
			continue
		}
		if pending && isDigit(out[len(out)-1]) && isDigit(r) {
			out = append(out, '-')
		}
		pending = false
		out = append(out, r)
	}
	return out
}

var prefectures = []string{
	"北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県", "群馬県",
	"埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県", "山梨県", "長野県",
	"岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県",
	"鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県", "高知県", "福岡県",
	"佐賀県", "長崎県", "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県",
}

// jpMunicipality matches a leading 市区町村: a 郡 and its 町/村, or a 市 with
// an optional 区, or a 区. Names that themselves contain 市, 町 or 村 are
// listed, since the general form cannot tell them from the suffix.
var jpMunicipality = regexp.MustCompile(`^(?:` +
	`[^0-9\-市区郡町村]{1,6}郡[^0-9\-市区郡町村]{1,6}[町村]` +
	`|(?:四日市|廿日市|町田|市川|市原|大町|十日町|村上|村山|東村山|武蔵村山|野々市|[^0-9\-市区郡町村]{1,6})市(?:[^0-9\-市区郡町村]{1,5}区)?` +
	`|[^0-9\-市区郡町村]{1,5}区)`)

// stripJPPlace drops a leading prefecture and municipality, repeatedly (the
// shopper may have typed them in the city field and again in line 1), but
// never the whole body.
func stripJPPlace(s string) string {
	for range 4 {
		t := s
		for _, p := range prefectures {
			if rest, ok := strings.CutPrefix(t, p); ok && rest != "" {
				t = rest
				break
			}
		}
		if m := jpMunicipality.FindStringIndex(t); m != nil && m[1] < len(t) {
			t = t[m[1]:]
		}
		if t == s {
			break
		}
		s = t
	}
	return s
}

var usStates = map[string]string{
	"alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca",
	"colorado": "co", "connecticut": "ct", "delaware": "de", "district of columbia": "dc",
	"florida": "fl", "georgia": "ga", "hawaii": "hi", "idaho": "id", "illinois": "il",
	"indiana": "in", "iowa": "ia", "kansas": "ks", "kentucky": "ky", "louisiana": "la",
	"maine": "me", "maryland": "md", "massachusetts": "ma", "michigan": "mi", "minnesota": "mn",
	"mississippi": "ms", "missouri": "mo", "montana": "mt", "nebraska": "ne", "nevada": "nv",
	"new hampshire": "nh", "new jersey": "nj", "new mexico": "nm", "new york": "ny",
	"north carolina": "nc", "north dakota": "nd", "ohio": "oh", "oklahoma": "ok", "oregon": "or",
	"pennsylvania": "pa", "rhode island": "ri", "south carolina": "sc", "south dakota": "sd",
	"tennessee": "tn", "texas": "tx", "utah": "ut", "vermont": "vt", "virginia": "va",
	"washington": "wa", "west virginia": "wv", "wisconsin": "wi", "wyoming": "wy",
	"puerto rico": "pr", "guam": "gu", "virgin islands": "vi", "american samoa": "as",
}

// usStateCode spells a US state as its two-letter code ("New York" is NY).
func usStateCode(s string) string {
	key := strings.Join(strings.FieldsFunc(strings.ToLower(norm.NFKC.String(s)), func(r rune) bool {
		return !unicode.IsLetter(r)
	}), " ")
	if code, ok := usStates[key]; ok {
		return code
	}
	return s
}
