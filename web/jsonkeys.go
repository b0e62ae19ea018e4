package web

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// checkJSONKeys makes the merchant API's JSON strict where encoding/json is
// lenient: it matches object keys to fields without regard to case
// ({"AMOUNT":7} sets Amount) and lets a repeated key overwrite the first.
// Either lets two parsers of one body disagree (a gateway reads the first
// "amount", we read the second; OWASP API8:2023, JSON interoperability). It
// walks the body's tokens beside v's type and refuses, naming the key, a
// key repeated in one object and a struct key that is not exactly one of
// the fields' JSON names. The body has already decoded into v.
//
// Hand-written because encoding/json/v2, which refuses both by default, is
// still behind GOEXPERIMENT in Go 1.26, and go-json-experiment/json is its
// unreleased prototype; this is a small token walk over the decoder we use.
func checkJSONKeys(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return walkJSON(dec, reflect.TypeOf(v), "")
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// walkJSON reads one value from dec; t is the Go type it decodes into (nil:
// any type, only duplicates are checked).
func walkJSON(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)) {
		t = nil // its own parser reads it; duplicates are still refused
	}
	tok, err := dec.Token()
	if err != nil {
		return invalidJSON("", "the body is not valid JSON")
	}
	switch tok {
	case json.Delim('{'):
		var fields map[string]reflect.Type
		var elem reflect.Type
		if t != nil {
			switch t.Kind() {
			case reflect.Struct:
				fields = jsonFields(t)
			case reflect.Map:
				elem = t.Elem()
			}
		}
		seen := map[string]bool{}
		for dec.More() {
			keyTok, err := dec.Token()
			if err != nil {
				return invalidJSON("", "the body is not valid JSON")
			}
			key, _ := keyTok.(string)
			field := joinPath(path, key)
			if seen[key] {
				return invalidJSON(field, "field "+strconv.Quote(field)+" appears twice")
			}
			seen[key] = true
			next := elem
			if fields != nil {
				ft, ok := fields[key]
				if !ok {
					msg := "unknown field " + strconv.Quote(field)
					for name := range fields {
						if strings.EqualFold(name, key) {
							msg += " (field names are case-sensitive: " + strconv.Quote(name) + ")"
						}
					}
					return invalidJSON(field, msg)
				}
				next = ft
			}
			if err := walkJSON(dec, next, field); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := walkJSON(dec, elem, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	return nil
}

// jsonFields maps a struct's JSON names, exactly as encoding/json writes
// them, to their types; embedded structs' fields are promoted.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for n, typ := range jsonFields(ft) {
					out[n] = typ
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
