package web

import (
	"bytes"
	"net/url"
	"reflect"
	"testing"
	"unsafe"
)

func TestParseForm(t *testing.T) {
	tests := []struct {
		in   string
		want [][2]string
		err  error
	}{
		{"", nil, nil},
		{"number=4242+4242&cvc=123", [][2]string{{"number", "4242 4242"}, {"cvc", "123"}}, nil},
		{"expiry=12%2F30&name=%E5%B1%B1%E7%94%B0", [][2]string{{"expiry", "12/30"}, {"name", "山田"}}, nil},
		{"a=%41%42%6a&&b", [][2]string{{"a", "ABj"}, {"b", ""}}, nil},
		{"a=b=c", [][2]string{{"a", "b=c"}}, nil},
		{"%61=1", [][2]string{{"a", "1"}}, nil},
		{"a=%", nil, errFormEscape},
		{"a=%4", nil, errFormEscape},
		{"a=%4g", nil, errFormEscape},
		{"=1", nil, errFormNameless},
		{"a&b&c&d&e&f&g&h&i", nil, errFormTooMany},
	}
	for _, tc := range tests {
		body := []byte(tc.in)
		fields, err := parseForm(body, nil)
		if err != tc.err {
			t.Errorf("%q: err %v, want %v", tc.in, err, tc.err)
			continue
		}
		var got [][2]string
		for _, f := range fields {
			got = append(got, [2]string{string(f.name), string(f.value)})
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The card number and the security code must be sub-slices of the body
// buffer, so that zeroing the buffer zeroes them (no copy exists).
func TestParseFormInPlace(t *testing.T) {
	body := []byte("number=4242+4242+4242+4242&expiry=12%2F40&name=A&cvc=%31%32%33")
	fields, err := parseForm(body, make([]formField, 0, maxFormFields))
	if err != nil {
		t.Fatal(err)
	}
	form, err := payFormOf(fields)
	if err != nil {
		t.Fatal(err)
	}
	if string(form.number) != "4242 4242 4242 4242" || string(form.cvc) != "123" {
		t.Fatalf("decoded %q %q", form.number, form.cvc)
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(body)))
	end := start + uintptr(len(body))
	for name, s := range map[string][]byte{"number": form.number, "cvc": form.cvc, "expiry": form.expiry, "name": form.name} {
		p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
		if p < start || p+uintptr(len(s)) > end {
			t.Errorf("%s is not inside the body buffer", name)
		}
		if cap(s) != len(s) {
			t.Errorf("%s has spare capacity: an append would overwrite the buffer", name)
		}
	}
	clear(body)
	if !bytes.Equal(form.number, make([]byte, len(form.number))) || !bytes.Equal(form.cvc, []byte{0, 0, 0}) {
		t.Errorf("zeroing the buffer did not zero the fields")
	}
	// The encoded leftovers behind each decoded value are zeroed too.
	body = []byte("cvc=%31%32%33")
	parseForm(body, nil)
	if !bytes.Equal(body, []byte("cvc=123\x00\x00\x00\x00\x00\x00")) {
		t.Errorf("left over: %q", body)
	}
}

// FuzzParsePayForm: the in-place parser never panics, never returns more
// fields than the body has pairs, keeps every field inside the body, and
// agrees with url.ParseQuery on '+' and %XX decoding.
func FuzzParsePayForm(f *testing.F) {
	for _, s := range []string{
		"number=4242424242424242&expiry=12%2F30&name=TARO+YAMADA&cvc=123",
		"number=3782+822463+10005&expiry=12+%2F+2030&name=%E5%B1%B1%E7%94%B0&cvc=1234",
		"cvc=X", "cvc=I", "a=%", "a=%zz", "%", "&&&", "=", "a==", "+=+", "a=1;b=2",
		"%00=%00", "number=%ff%fe", "a&b&c&d&e&f&g&h", "a&b&c&d&e&f&g&h&i",
		"number=3530111333300000&expiry=12%2F30&name=TARO&cvc=123&payment_method=installments&installments=6",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := string(body)
		pairs := 0
		for _, p := range bytes.Split(body, []byte("&")) {
			if len(p) > 0 {
				pairs++
			}
		}
		fields, err := parseForm(body, nil)
		if err != nil {
			return
		}
		if len(fields) > pairs || len(fields) > maxFormFields {
			t.Fatalf("%d fields from %d pairs", len(fields), pairs)
		}
		start := uintptr(unsafe.Pointer(unsafe.SliceData(body)))
		for _, fl := range append([][]byte{}, fieldBytes(fields)...) {
			if len(fl) == 0 {
				continue
			}
			p := uintptr(unsafe.Pointer(unsafe.SliceData(fl)))
			if p < start || p+uintptr(len(fl)) > start+uintptr(len(body)) {
				t.Fatalf("a field lies outside the body")
			}
		}
		if bytes.ContainsRune([]byte(orig), ';') {
			return // url.ParseQuery refuses semicolons; the parser takes them as text
		}
		want, qerr := url.ParseQuery(orig)
		if qerr != nil {
			t.Fatalf("parseForm accepted %q, url.ParseQuery refused: %v", orig, qerr)
		}
		got := url.Values{}
		for _, fl := range fields {
			got.Add(string(fl.name), string(fl.value))
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: parseForm %v, url.ParseQuery %v", orig, got, want)
		}
	})
}

func fieldBytes(fields []formField) [][]byte {
	var out [][]byte
	for _, f := range fields {
		out = append(out, f.name, f.value)
	}
	return out
}
