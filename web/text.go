package web

import (
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/clientportal/portal"
)

// Every piece of text a request carries passes portal.CheckText before a
// handler sees it: formValues checks posted fields, decodeJSON every string
// it decoded, and the guard the path and the query string. Handlers still
// check lengths and formats; what no field accepts is refused here, once.

// textKinds are the fields whose text is not one line: free text, and
// passwords, which are only hashed or compared (password.Validate holds new
// ones to SingleLine). Every other field, query parameter and path is
// portal.SingleLine.
var textKinds = map[string]portal.TextKind{
	"message": portal.MultiLine, "note": portal.MultiLine, "reason": portal.MultiLine,
	// An app's addresses, one per line (each is then checked as a URL).
	"redirect_uris": portal.MultiLine, "post_logout_redirect_uris": portal.MultiLine,
	"password": portal.Secret, "password_confirm": portal.Secret, "current_password": portal.Secret,
	"new_password": portal.Secret, "new_password_confirm": portal.Secret,
}

// checkField checks one named value.
func checkField(name, value string) error {
	return portal.CheckText(name, value, textKinds[name])
}

// checkForm checks every posted value.
func checkForm(r *http.Request) error {
	for k, vs := range r.PostForm {
		for _, v := range vs {
			if err := checkField(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkURL checks the path (whose ids reach the database) and every query
// value.
func checkURL(r *http.Request) error {
	if portal.CheckText("path", r.URL.Path, portal.SingleLine) != nil {
		return portal.Errorf(portal.EINVALID, "The address is not valid: part of it is not UTF-8 text or holds a control character.")
	}
	if r.URL.RawQuery == "" {
		return nil
	}
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			if err := checkField(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkJSON checks every string decodeJSON decoded from body into v, named
// by its JSON field. Go's decoder turns bytes that are not UTF-8, and an
// escaped surrogate without its pair, into U+FFFD without a word: such a
// body is refused, naming the field the replacement landed in if any.
func checkJSON(body []byte, v any) error {
	replaced := !utf8.Valid(body) || loneSurrogate(body)
	if err := checkValue(reflect.ValueOf(v), "", replaced); err != nil {
		return err
	}
	if replaced {
		return portal.Errorf(portal.EINVALID, "The request body is not valid UTF-8 text.")
	}
	return nil
}

// checkValue walks a decoded value: strings in structs, pointers, slices
// and maps. Byte slices (json.RawMessage) were checked with the body.
func checkValue(v reflect.Value, name string, replaced bool) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return checkValue(v.Elem(), name, replaced)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || n == "-" {
				continue
			}
			if n == "" {
				n = f.Name
			}
			if err := checkValue(v.Field(i), n, replaced); err != nil {
				return err
			}
		}
	case reflect.String:
		s := v.String()
		if replaced && strings.ContainsRune(s, utf8.RuneError) {
			// What the decoder replaced was not UTF-8: say so as CheckText
			// says it of the original.
			return portal.CheckText(name, "\xff", portal.Secret)
		}
		return checkField(name, s)
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil
		}
		for i := range v.Len() {
			if err := checkValue(v.Index(i), name, replaced); err != nil {
				return err
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if err := checkValue(it.Key(), name, replaced); err != nil {
				return err
			}
			if err := checkValue(it.Value(), name, replaced); err != nil {
				return err
			}
		}
	}
	return nil
}

// loneSurrogate reports whether a JSON text escapes a UTF-16 surrogate
// (\ud800 to \udfff) that is not half of a pair.
func loneSurrogate(b []byte) bool {
	for i := bytes.IndexByte(b, '\\'); i >= 0 && i+1 < len(b); {
		if b[i+1] != 'u' {
			// \\, \" and the like: skip the escaped character.
			i = nextBackslash(b, i+2)
			continue
		}
		r := hex4(b, i+2)
		switch {
		case r >= 0xdc00 && r <= 0xdfff:
			return true // a second half alone
		case r >= 0xd800 && r <= 0xdbff:
			if len(b) < i+12 || b[i+6] != '\\' || b[i+7] != 'u' {
				return true
			}
			if lo := hex4(b, i+8); lo < 0xdc00 || lo > 0xdfff {
				return true
			}
			i = nextBackslash(b, i+12)
		default:
			i = nextBackslash(b, i+2)
		}
	}
	return false
}

// nextBackslash is the index of the next backslash at or after i, or -1.
func nextBackslash(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	if j := bytes.IndexByte(b[i:], '\\'); j >= 0 {
		return i + j
	}
	return -1
}

// hex4 reads the four hex digits at b[i:], or returns -1.
func hex4(b []byte, i int) int {
	if len(b) < i+4 {
		return -1
	}
	n := 0
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int(c-'A'+10)
		default:
			return -1
		}
	}
	return n
}
