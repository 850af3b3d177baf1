package yubico

import (
	"fmt"
	"strings"
)

// modhex is the YubiKey's keyboard-layout-independent hex alphabet: the
// i-th letter stands for the hex digit i.
const modhex = "cbdefghijklnrtuv"

// Lengths of a Yubico OTP: a public id of up to 16 modhex characters (12 as
// a YubiKey ships) followed by 32 characters of encrypted token.
const (
	tokenLen       = 32
	minPublicIDLen = 2
	maxPublicIDLen = 16
	minOTPLen      = tokenLen + minPublicIDLen
	maxOTPLen      = tokenLen + maxPublicIDLen
)

// ParseOTP checks that otp looks like a Yubico OTP and returns the public id
// of the key that made it (every character but the last 32, usually 12 of
// them). Surrounding spaces are ignored and upper case is accepted, so the
// code a person pasted or typed with Caps Lock on still parses. The OTP's
// cryptographic part is not checked: only a validation server can do that
// (see Client.Verify). A malformed OTP gives an *Error of KindInvalidOTP,
// whose message never repeats the input (it may be a password pasted into
// the wrong field).
func ParseOTP(otp string) (publicID string, err error) {
	_, publicID, err = normalize(otp)
	return publicID, err
}

// normalize returns otp trimmed and in lower case, as it is sent to the
// validation servers, and its public id.
func normalize(otp string) (norm, publicID string, err error) {
	s := strings.TrimSpace(otp)
	if s == "" {
		return "", "", invalidOTP("it is empty")
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		// Fold ASCII only: strings.ToLower would turn characters such as
		// the Kelvin sign into 'k' and let them pass as modhex.
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if strings.IndexByte(modhex, c) < 0 {
			return "", "", invalidOTP("it holds a character outside the modhex alphabet " + modhex)
		}
		b = append(b, c)
	}
	if len(b) < minOTPLen || len(b) > maxOTPLen {
		return "", "", invalidOTP(fmt.Sprintf("it has %d characters, want %d to %d (a public id of %d to %d and a %d-character token)",
			len(b), minOTPLen, maxOTPLen, minPublicIDLen, maxPublicIDLen, tokenLen))
	}
	norm = string(b)
	return norm, norm[:len(norm)-tokenLen], nil
}

func invalidOTP(reason string) *Error {
	return &Error{Kind: KindInvalidOTP, reason: reason}
}
