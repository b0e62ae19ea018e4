package web

import (
	"bytes"
	"errors"
)

// formField is one name=value pair of an application/x-www-form-urlencoded
// body. Both are sub-slices of the body buffer, decoded in place.
type formField struct {
	name, value []byte
}

// maxFormFields bounds the pairs of a card form (four, and the optional
// 3-D Secure authentication).
const maxFormFields = 8

var (
	errFormEscape   = errors.New("form: malformed percent escape")
	errFormTooMany  = errors.New("form: too many fields")
	errFormNameless = errors.New("form: field without a name")
)

// parseForm parses an urlencoded body in place: '+' becomes a space and %XX
// its byte, written over the encoded text, so that every name and value is a
// sub-slice of body and nothing is copied. This keeps the card number and
// the security code in one buffer the handler owns and zeroes (PCI DSS
// 3.3.1.2), which url.ParseQuery, Request.ParseForm and gin's PostForm
// cannot do: they copy into strings that cannot be wiped. Empty pairs
// ("a=1&&b=2") are skipped, as url.ParseQuery does. The fields are appended
// to dst[:0]; body is modified.
func parseForm(body []byte, dst []formField) ([]formField, error) {
	fields := dst[:0]
	for len(body) > 0 {
		var pair []byte
		if i := bytes.IndexByte(body, '&'); i >= 0 {
			pair, body = body[:i], body[i+1:]
		} else {
			pair, body = body, nil
		}
		if len(pair) == 0 {
			continue
		}
		if len(fields) == maxFormFields {
			return nil, errFormTooMany
		}
		name, value := pair, pair[len(pair):]
		if i := bytes.IndexByte(pair, '='); i >= 0 {
			name, value = pair[:i], pair[i+1:]
		}
		var err error
		if name, err = unescapeInPlace(name); err != nil {
			return nil, err
		}
		if len(name) == 0 {
			return nil, errFormNameless
		}
		if value, err = unescapeInPlace(value); err != nil {
			return nil, err
		}
		fields = append(fields, formField{name: name, value: value})
	}
	return fields, nil
}

// unescapeInPlace decodes '+' and %XX within b and returns the decoded
// prefix of b. The write position never passes the read position, so the
// decoding needs no second buffer.
func unescapeInPlace(b []byte) ([]byte, error) {
	w := 0
	for r := 0; r < len(b); r++ {
		switch c := b[r]; c {
		case '+':
			b[w] = ' '
		case '%':
			if r+2 >= len(b) {
				return nil, errFormEscape
			}
			hi, ok1 := unhex(b[r+1])
			lo, ok2 := unhex(b[r+2])
			if !ok1 || !ok2 {
				return nil, errFormEscape
			}
			b[w] = hi<<4 | lo
			r += 2
		default:
			b[w] = c
		}
		w++
	}
	// The tail beyond w still holds encoded text: zero it, so that no
	// fragment of a field lingers outside the slices handed out.
	clear(b[w:])
	return b[:w:w], nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
