package portal

import (
	"strings"

	"github.com/clientportal/portal/i18n"
	"unicode"
	"unicode/utf8"
)

// TextKind says which characters a field of text accepts.
type TextKind int

// Kinds of text.
const (
	// SingleLine text (names, filters, ids, codes) holds no control
	// character at all: no NUL, no line break, no tab, no escape.
	SingleLine TextKind = iota
	// MultiLine free text (a recovery message, a staff reason or note) may
	// hold line breaks and tabs, and no other control character.
	MultiLine
	// Secret text (a password being checked) is compared, never stored as
	// text, so any character passes; only UTF-8 is required.
	Secret
)

// CheckText is the one check of text that comes from outside: it must be
// UTF-8 (PostgreSQL refuses anything else, SQLite would store it as is)
// and hold no control character that makes no sense in a field of its kind
// (NUL, which PostgreSQL refuses too, never does). field names the field in
// the error, which is EINVALID with Field set. Lengths and formats are the
// caller's to check.
func CheckText(field, s string, kind TextKind) error {
	// Printable ASCII, by far the most common, needs no decoding.
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] < 0x7f {
		i++
	}
	if i == len(s) {
		return nil
	}
	if !utf8.ValidString(s[i:]) {
		return textError(field, notUTF8)
	}
	if kind == Secret {
		return nil
	}
	for _, r := range s[i:] {
		switch {
		case !unicode.IsControl(r):
		case kind == MultiLine && (r == '\n' || r == '\r' || r == '\t'):
		case kind == MultiLine:
			return textError(field, controlInFreeText)
		default:
			return textError(field, controlInLine)
		}
	}
	return nil
}

// What is wrong with a text, for textError.
const (
	notUTF8 = iota
	controlInFreeText
	controlInLine
)

// textError names the field in the sentence when its name is a plain
// identifier; a name the client made up is not repeated back.
func textError(field string, problem int) *Error {
	if field == "" || strings.ContainsFunc(field, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) || len(field) > 40 {
		switch problem {
		case notUTF8:
			return &Error{Code: EINVALID, Message: "A field is not valid text: send it as UTF-8."}
		case controlInFreeText:
			return &Error{Code: EINVALID, Message: "A field contains a control character (such as a NUL byte); only line breaks and tabs are allowed."}
		}
		return &Error{Code: EINVALID, Message: "A field contains a control character (such as a NUL byte, a tab or a line break), which is not allowed there."}
	}
	// The field's name, as the API and the forms spell it, is not translated.
	var label any = strings.ReplaceAll(field, "_", " ")
	if field == "q" {
		label = i18n.Text("search")
	}
	var e *Error
	switch problem {
	case notUTF8:
		e = Msg(EINVALID, "The {{.Field}} field is not valid text: send it as UTF-8.", "Field", label)
	case controlInFreeText:
		e = Msg(EINVALID, "The {{.Field}} field contains a control character (such as a NUL byte); only line breaks and tabs are allowed.", "Field", label)
	default:
		e = Msg(EINVALID, "The {{.Field}} field contains a control character (such as a NUL byte, a tab or a line break), which is not allowed there.", "Field", label)
	}
	e.Field = field
	return e
}

// CleanText makes text the client sent in passing (a User-Agent header) fit
// to store: bytes that are not UTF-8 and control characters become U+FFFD,
// and the result is cut to at most n bytes on a character boundary.
// Unlike input a person typed, such text is cleaned rather than refused:
// an odd header must not stop a login.
func CleanText(s string, n int) string {
	i := 0
	for i < len(s) && i < n && s[i] >= 0x20 && s[i] < 0x7f {
		i++
	}
	if i == len(s) || i == n {
		return s[:i]
	}
	var b strings.Builder
	b.Grow(min(len(s), n))
	b.WriteString(s[:i])
	for _, r := range s[i:] {
		// Ranging over a string yields U+FFFD for each byte that is not UTF-8.
		if unicode.IsControl(r) {
			r = utf8.RuneError
		}
		if b.Len()+utf8.RuneLen(r) > n {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
