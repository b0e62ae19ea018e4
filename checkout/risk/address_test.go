package risk

import (
	"testing"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// jp is a Japanese address with a postal code and everything in line 1.
func jp(postal, line1 string) checkout.Address {
	return checkout.Address{Country: "JP", PostalCode: postal, Line1: line1}
}

func us(postal, line1, line2 string) checkout.Address {
	return checkout.Address{Country: "US", PostalCode: postal, Line1: line1, Line2: line2}
}

func TestNormalizeAddressForms(t *testing.T) {
	tests := []struct {
		name string
		in   checkout.Address
		want string
	}{
		{"empty", checkout.Address{}, ""},
		{"name only is empty", checkout.Address{Name: "山田太郎"}, ""},
		{"jp canonical", jp("150-0002", "東京都渋谷区渋谷1丁目2番3号"), "JP|1500002|渋谷1-2-3"},
		{"jp without postal keeps prefecture and city", checkout.Address{Country: "JP", State: "東京都", City: "渋谷区", Line1: "渋谷1-2-3"}, "JP||東京都渋谷区渋谷1-2-3"},
		{"jp place names with numerals stay", jp("1000001", "千代田区千代田1-1"), "JP|1000001|千代田1-1"},
		{"jp 八王子 is a name", checkout.Address{Country: "JP", City: "八王子市", Line1: "元本郷町三丁目24番1号"}, "JP||八王子市元本郷町3-24-1"},
		{"jp room and floor", jp("1500002", "渋谷1-2-3 渋谷ビル3階301号室"), "JP|1500002|渋谷1-2-3渋谷ビル3f301"},
		{"jp 十 numerals", jp("1000001", "本町二十三番地"), "JP|1000001|本町23"},
		{"jp 百 numerals", jp("1000001", "本町百二番"), "JP|1000001|本町102"},
		{"us canonical", us("94103-1234", "123 North Main Street", "Apartment 4B"), "US|94103|123nmainst4b"},
		{"us no postal keeps city and state code", checkout.Address{Country: "US", City: "Springfield", State: "Illinois", Line1: "742 Evergreen Terrace"}, "US||ilspringfield742evergreenter"},
		{"gb postcode, UK is GB", checkout.Address{Country: "UK", PostalCode: "SW1A 1AA", Line1: "10 Downing Street"}, "GB|sw1a1aa|10downingst"},
		{"unknown country", checkout.Address{Line1: "1 Main St"}, "||1mainst"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NormalizeAddress(tt.in); got != tt.want {
				t.Errorf("NormalizeAddress(%+v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// Pairs of the same address, spelled differently, that must match.
func TestNormalizeAddressSame(t *testing.T) {
	tests := []struct {
		name string
		a, b checkout.Address
	}{
		// Japanese: width, dashes, numbers.
		{"full-width digits and dash", jp("1500002", "渋谷区渋谷１－２－３"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"丁目番号", jp("1500002", "渋谷区渋谷1丁目2番3号"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"kanji numerals", jp("1500002", "渋谷区渋谷一丁目二番三号"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"kanji numerals, trailing 番地", jp("1500002", "渋谷区渋谷一丁目二番地三"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"番地", jp("1500002", "渋谷区渋谷1丁目2番地3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"番地の", jp("1500002", "渋谷区渋谷1丁目2番地の3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"の between numbers", jp("1500002", "渋谷区渋谷1丁目2の3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"丁目 then hyphens", jp("1500002", "渋谷区渋谷1丁目2-3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"long vowel mark as dash", jp("1500002", "渋谷区渋谷1ー2ー3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"half-width long vowel mark", jp("1500002", "渋谷区渋谷1ｰ2ｰ3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"minus sign", jp("1500002", "渋谷区渋谷1−2−3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"hyphen U+2010", jp("1500002", "渋谷区渋谷1‐2‐3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"non-breaking hyphen", jp("1500002", "渋谷区渋谷1‑2‑3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"en dash", jp("1500002", "渋谷区渋谷1–2–3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"em dash", jp("1500002", "渋谷区渋谷1—2—3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"wave dash", jp("1500002", "渋谷区渋谷1〜2〜3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"full-width tilde", jp("1500002", "渋谷区渋谷1～2～3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"spaces for dashes", jp("1500002", "渋谷区渋谷 1 2 3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"ideographic spaces", jp("1500002", "渋谷区　渋谷　1-2-3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"full-width space and digits", jp("1500002", "渋谷区渋谷　１丁目２番３号"), jp("1500002", "渋谷区渋谷1-2-3")},
		// Postal codes.
		{"postal with hyphen", jp("150-0002", "渋谷区渋谷1-2-3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"postal full-width", jp("１５０－０００２", "渋谷区渋谷1-2-3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"postal with 〒", jp("〒150-0002", "渋谷区渋谷1-2-3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"postal typed in line 1", jp("", "〒150-0002 東京都渋谷区渋谷1-2-3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"postal typed in line 1 without 〒", jp("", "150-0002 東京都渋谷区渋谷1-2-3"), jp("1500002", "渋谷区渋谷1-2-3")},
		{"postal typed in the state field", checkout.Address{Country: "JP", State: "〒150-0002 東京都", City: "渋谷区", Line1: "渋谷1-2-3"}, jp("1500002", "渋谷区渋谷1-2-3")},
		{"country lower case", checkout.Address{Country: "jp", PostalCode: "1500002", Line1: "渋谷区渋谷1-2-3"}, jp("1500002", "渋谷区渋谷1-2-3")},
		// Prefecture and municipality, given the postal code.
		{"prefecture in state and line 1", checkout.Address{Country: "JP", PostalCode: "1500002", State: "東京都", Line1: "東京都渋谷区渋谷1-2-3"}, jp("1500002", "渋谷区渋谷1-2-3")},
		{"city in its field or in line 1", checkout.Address{Country: "JP", PostalCode: "1500002", State: "東京都", City: "渋谷区", Line1: "渋谷1-2-3"}, jp("1500002", "東京都渋谷区渋谷1-2-3")},
		{"city repeated", checkout.Address{Country: "JP", PostalCode: "1500002", City: "渋谷区", Line1: "東京都渋谷区渋谷1-2-3"}, jp("1500002", "渋谷1-2-3")},
		{"municipality left out", jp("1500002", "渋谷1-2-3"), jp("1500002", "東京都渋谷区渋谷1丁目2番3号")},
		{"designated city ward", jp("5300001", "大阪府大阪市北区梅田1-2-3"), checkout.Address{Country: "JP", PostalCode: "530-0001", City: "大阪市北区", Line1: "梅田1丁目2番3号"}},
		{"城 city 四日市市", jp("5100000", "三重県四日市市安島1-2-3"), jp("5100000", "安島1-2-3")},
		{"city containing 町 町田市", jp("1940013", "東京都町田市原町田1-2-3"), jp("1940013", "原町田1-2-3")},
		{"郡 and 町", jp("2500311", "神奈川県足柄下郡箱根町湯本1-2"), jp("2500311", "湯本1-2")},
		{"京都府京都市", jp("6008216", "京都府京都市下京区東塩小路町1-2"), jp("6008216", "東塩小路町1-2")},
		// Kana variants and optional words.
		{"ヶ and が", jp("1000013", "千代田区霞ヶ関3-2-1"), jp("1000013", "千代田区霞が関三丁目2番1号")},
		{"ケ and ヶ", jp("1000013", "霞ケ関3-2-1"), jp("1000013", "霞ヶ関3-2-1")},
		{"small ヵ", jp("1000013", "霞ヵ関3-2-1"), jp("1000013", "霞ヶ関3-2-1")},
		{"ヶ丘 and が丘", jp("1520035", "目黒区自由が丘1-2-3"), jp("1520035", "目黒区自由ヶ丘1-2-3")},
		{"ノ and の", jp("9999999", "木ノ下1-2"), jp("9999999", "木の下1-2")},
		{"之 and ノ", jp("9999999", "木之下1-2"), jp("9999999", "木ノ下1-2")},
		{"大字 and 字", jp("9999999", "ある郡ある町大字上野字中原123番地"), jp("9999999", "ある郡ある町上野中原123")},
		{"字 after 町", checkout.Address{Country: "JP", City: "ある郡ある町", Line1: "字中原123"}, checkout.Address{Country: "JP", City: "ある郡ある町", Line1: "中原123"}},
		{"half-width katakana building", jp("1500002", "渋谷1-2-3 ｼﾌﾞﾔﾊｲﾂ"), jp("1500002", "渋谷1-2-3 シブヤハイツ")},
		{"room 号室", jp("1500002", "渋谷1-2-3 渋谷ハイツ101号室"), jp("1500002", "渋谷1-2-3 渋谷ハイツ 101")},
		{"room 室", jp("1500002", "渋谷1-2-3 渋谷ハイツ101室"), jp("1500002", "渋谷1-2-3 渋谷ハイツ101")},
		{"floor 階 and F", jp("1500002", "渋谷1-2-3 渋谷ビル3階"), jp("1500002", "渋谷1-2-3 渋谷ビル 3F")},
		{"floor full-width F", jp("1500002", "渋谷1-2-3 渋谷ビル３Ｆ"), jp("1500002", "渋谷1-2-3 渋谷ビル3f")},
		{"full-width latin building", jp("1500002", "渋谷1-2-3 ＡＢＣビル"), jp("1500002", "渋谷1-2-3 abcビル")},
		{"line 2 split", checkout.Address{Country: "JP", PostalCode: "1500002", Line1: "渋谷1-2-3", Line2: "渋谷ハイツ101"}, jp("1500002", "渋谷1-2-3 渋谷ハイツ101")},
		{"hokkaido 条", jp("0600001", "札幌市中央区北一条西二丁目"), jp("0600001", "北1条西2")},
		{"romanised chome", jp("1500001", "Jingumae 1-chome 2-3"), jp("1500001", "JINGUMAE 1-2-3")},
		// English.
		{"street and north", us("94103", "123 North Main Street", ""), us("94103", "123 N. Main St.", "")},
		{"case", us("94103", "123 MAIN ST", ""), us("94103", "123 main st", "")},
		{"apartment and apt", us("94103", "123 Main St", "Apartment 4B"), us("94103", "123 Main St", "Apt 4B")},
		{"apt and #", us("94103", "123 Main St", "Apt 4B"), us("94103", "123 Main St #4B", "")},
		{"unit and #", us("94103", "123 Main St Unit 4B", ""), us("94103", "123 Main St # 4B", "")},
		{"suite and ste", us("94103", "500 Market St Suite 200", ""), us("94103", "500 Market St., Ste. 200", "")},
		{"line 2 split", us("94103", "123 Main St", "Apt 4"), us("94103", "123 Main St Apt 4", "")},
		{"punctuation", us("94103", "123 Main St., Apt. 4", ""), us("94103", "123 Main St Apt 4", "")},
		{"ordinal words", us("10001", "350 Fifth Avenue", ""), us("10001", "350 5th Ave", "")},
		{"twentieth", us("10001", "1 Twentieth Street", ""), us("10001", "1 20th St", "")},
		{"road", us("10001", "9 Mill Road", ""), us("10001", "9 Mill Rd", "")},
		{"boulevard", us("90028", "6925 Hollywood Boulevard", ""), us("90028", "6925 Hollywood Blvd", "")},
		{"drive lane court place", us("10001", "1 Oak Drive 2 Elm Lane 3 Ash Court 4 Fir Place", ""), us("10001", "1 Oak Dr 2 Elm Ln 3 Ash Ct 4 Fir Pl", "")},
		{"highway parkway", us("10001", "10 Pacific Coast Highway, 5 Garden State Parkway", ""), us("10001", "10 Pacific Coast Hwy 5 Garden State Pkwy", "")},
		{"southwest", us("20001", "100 Southwest Maryland Avenue", ""), us("20001", "100 SW Maryland Ave", "")},
		{"zip+4", us("94103-1234", "123 Main St", ""), us("94103", "123 Main St", "")},
		{"city and state implied by zip", checkout.Address{Country: "US", PostalCode: "94103", City: "San Francisco", State: "CA", Line1: "123 Main St"}, checkout.Address{Country: "US", PostalCode: "94103", City: "SF", State: "California", Line1: "123 Main St"}},
		{"state name and code", checkout.Address{Country: "US", City: "Springfield", State: "Illinois", Line1: "742 Evergreen Terrace"}, checkout.Address{Country: "US", City: "Springfield", State: "IL", Line1: "742 Evergreen Ter."}},
		{"two-word state", checkout.Address{Country: "US", City: "Albany", State: "New York", Line1: "1 State St"}, checkout.Address{Country: "US", City: "Albany", State: "NY", Line1: "1 State St"}},
		{"full-width english", us("94103", "１２３ Ｍａｉｎ Ｓｔ", ""), us("94103", "123 Main St", "")},
		{"uk and gb, postcode spacing", checkout.Address{Country: "UK", PostalCode: "SW1A 1AA", Line1: "Flat 3, 10 Downing Street"}, checkout.Address{Country: "GB", PostalCode: "sw1a1aa", Line1: "3 10 Downing St"}},
		{"german sharp s", checkout.Address{Country: "DE", PostalCode: "10115", Line1: "Hauptstraße 5"}, checkout.Address{Country: "DE", PostalCode: "10115", Line1: "HAUPTSTRASSE 5"}},
		{"name ignored", checkout.Address{Name: "A", Country: "US", PostalCode: "94103", Line1: "1 Main St"}, checkout.Address{Name: "B", Country: "US", PostalCode: "94103", Line1: "1 Main St"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			na, nb := NormalizeAddress(tt.a), NormalizeAddress(tt.b)
			if na != nb {
				t.Errorf("should match:\n  %+v -> %q\n  %+v -> %q", tt.a, na, tt.b, nb)
			}
		})
	}
}

// Pairs of different addresses that must not match.
func TestNormalizeAddressDifferent(t *testing.T) {
	tests := []struct {
		name string
		a, b checkout.Address
	}{
		{"jp other 号", jp("1500002", "渋谷1-2-3"), jp("1500002", "渋谷1-2-4")},
		{"jp number boundary", jp("1500002", "渋谷1-23"), jp("1500002", "渋谷12-3")},
		{"jp number boundary with 丁目", jp("1500002", "渋谷1丁目23"), jp("1500002", "渋谷12丁目3")},
		{"jp room given or not", jp("1500002", "渋谷1-2-3"), jp("1500002", "渋谷1-2-3-101")},
		{"jp other room", jp("1500002", "渋谷1-2-3 渋谷ハイツ101号室"), jp("1500002", "渋谷1-2-3 渋谷ハイツ102号室")},
		{"jp other town", jp("1500002", "渋谷1-2-3"), jp("1500002", "道玄坂1-2-3")},
		{"jp other postal code", jp("1500002", "渋谷1-2-3"), jp("1500001", "渋谷1-2-3")},
		{"jp other country", jp("1500002", "渋谷1-2-3"), checkout.Address{Country: "KR", PostalCode: "1500002", Line1: "渋谷1-2-3"}},
		{"jp name with numeral is not a number", jp("1080073", "三田1-2-3"), jp("1080073", "3田1-2-3")},
		{"jp building name given or not", jp("1500002", "渋谷1-2-3 渋谷ハイツ101"), jp("1500002", "渋谷1-2-3-101")},
		{"jp other floor", jp("1500002", "渋谷ビル3階"), jp("1500002", "渋谷ビル4階")},
		{"jp other chome in kanji", jp("1500002", "渋谷一丁目2-3"), jp("1500002", "渋谷二丁目2-3")},
		{"us street vs avenue", us("94103", "123 Main St", ""), us("94103", "123 Main Ave", "")},
		{"us other apartment", us("94103", "123 Main St Apt 4", ""), us("94103", "123 Main St Apt 5", "")},
		{"us north vs south", us("94103", "123 N Main St", ""), us("94103", "123 S Main St", "")},
		{"us number boundary", us("94103", "Unit 12, 3 Main St", ""), us("94103", "Unit 1, 23 Main St", "")},
		{"us 12 3rd vs 123rd", us("10001", "12 3rd St", ""), us("10001", "123rd St", "")},
		{"us house number", us("94103", "1 Main St", ""), us("94103", "11 Main St", "")},
		{"us other zip", us("94103", "1 Main St", ""), us("94104", "1 Main St", "")},
		{"us other city without zip", checkout.Address{Country: "US", City: "Springfield", State: "IL", Line1: "1 Main St"}, checkout.Address{Country: "US", City: "Springfield", State: "MO", Line1: "1 Main St"}},
		{"us order of parts", us("94103", "Apt 4, 12 Main St", ""), us("94103", "12 Main St Apt 4", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			na, nb := NormalizeAddress(tt.a), NormalizeAddress(tt.b)
			if na == nb {
				t.Errorf("should differ, both are %q:\n  %+v\n  %+v", na, tt.a, tt.b)
			}
		})
	}
}

func TestNormalizeAddressKey(t *testing.T) {
	for _, a := range []checkout.Address{
		jp("150-0002", "東京都渋谷区渋谷1丁目2番3号 渋谷ハイツ101号室"),
		us("94103-1234", "123 North Main Street", "Apartment 4B"),
		{Country: "JP", State: "東京都", City: "渋谷区", Line1: "渋谷一丁目二番三号"},
	} {
		n := NormalizeAddress(a)
		if got := normalizeAddressKey(n); got != n {
			t.Errorf("normalizeAddressKey(%q) = %q, want it unchanged", n, got)
		}
		k, err := NewListKey(ListAddress, n)
		if err != nil || k.Value != n {
			t.Errorf("NewListKey(address, %q) = %v, %v", n, k, err)
		}
	}
}

func TestParseKanjiNumber(t *testing.T) {
	for in, want := range map[string]int{
		"一": 1, "九": 9, "十": 10, "十一": 11, "二十": 20, "二十三": 23, "百": 100, "百二": 102,
		"三百四十五": 345, "千": 1000, "二千三": 2003, "二三": 23, "一〇一": 101,
	} {
		if got := parseKanjiNumber([]rune(in)); got != want {
			t.Errorf("parseKanjiNumber(%q) = %d, want %d", in, got, want)
		}
	}
}

func FuzzNormalizeAddress(f *testing.F) {
	f.Add("JP", "150-0002", "東京都", "渋谷区", "渋谷一丁目二番地三", "渋谷ハイツ１０１号室")
	f.Add("jp", "", "", "", "〒150-0002 東京都渋谷区渋谷1ー2ー3", "")
	f.Add("US", "94103-1234", "California", "San Francisco", "123 North Main Street", "Apt 4B")
	f.Add("", "", "", "", "ave nue a part ment 2 d", "")
	f.Add("JP", "1000013", "", "", "千代田区霞 が 関 三 丁 目", "")
	f.Add("JP", "5100000", "三重県", "四日市市", "四日市市市場町1", "")
	f.Fuzz(func(t *testing.T, country, postal, state, city, line1, line2 string) {
		a := checkout.Address{Country: country, PostalCode: postal, State: state, City: city, Line1: line1, Line2: line2}
		n := NormalizeAddress(a)
		if again, bare := addressForms(a, true); again != n || normalizeAddressKey(bare) != bare {
			t.Fatalf("not deterministic for %+v, or bare form %q unstable", a, bare)
		}
		if k := normalizeAddressKey(n); k != n {
			t.Fatalf("string form not stable: %+v\n  -> %q\n  -> %q", a, n, k)
		}
		for _, strip := range []bool{false, true} {
			once := normalizeText(line1, strip)
			if twice := normalizeText(once, strip); twice != once {
				t.Fatalf("normalizeText(strip=%v) not idempotent: %q -> %q -> %q", strip, line1, once, twice)
			}
		}
	})
}
