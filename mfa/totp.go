package mfa

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/clientportal/portal"
)

// TOTP is the time-based token factor (RFC 6238: SHA1, 6 digits, 30 s),
// the parameters every common authenticator app reads.
type TOTP struct {
	Store interface {
		ConsumeStep(ctx context.Context, methodID string, step, at int64) (bool, error)
	}
	Keys   *Keyring
	Issuer string
}

var _ Factor = (*TOTP)(nil)

const totpPeriod = 30

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Type implements Factor.
func (*TOTP) Type() string { return portal.MethodTOTP }

// Label implements Factor.
func (*TOTP) Label() string { return "Authenticator app" }

// Prompt implements Factor.
func (*TOTP) Prompt() string {
	return "Open your authenticator app and enter the 6-digit code it shows for this account."
}

// Numeric implements Factor.
func (*TOTP) Numeric() bool { return true }

// Enrolment is what the user needs to add the secret to an app.
type Enrolment struct {
	Secret  string // base32, no padding
	URI     string // otpauth://totp/…
	QRPNG   []byte
	Grouped string // the secret in groups of four, for typing
}

// NewSecret makes a 160-bit secret (crypto/rand) for a user and returns
// the enrolment to show and the sealed secret to store.
func (t *TOTP) NewSecret(userID, email string) (*Enrolment, string, error) {
	e, err := t.enrolment(email, nil)
	if err != nil {
		return nil, "", err
	}
	return e, t.Keys.Seal(userID, []byte(e.Secret)), nil
}

// Enrolment shows a pending method's secret again (until it is confirmed;
// after that the secret is never shown).
func (t *TOTP) Enrolment(m *portal.Method, email string) (*Enrolment, error) {
	if m.Confirmed() {
		return nil, portal.Errorf(portal.EFORBIDDEN, "The secret of a confirmed method is never shown again.")
	}
	secret, err := t.Keys.Open(m.UserID, m.Secret)
	if err != nil {
		return nil, err
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(string(secret))
	if err != nil {
		return nil, fmt.Errorf("stored totp secret: %w", err)
	}
	return t.enrolment(email, raw)
}

func (t *TOTP) enrolment(email string, secret []byte) (*Enrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: t.Issuer, AccountName: email, Period: totpPeriod, SecretSize: 20, Secret: secret, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, fmt.Errorf("generate totp secret: %w", err)
	}
	uri := keyURI(t.Issuer, email, key.Secret())
	png, err := QRCode(uri)
	if err != nil {
		return nil, err
	}
	return &Enrolment{Secret: key.Secret(), URI: uri, QRPNG: png, Grouped: Group(key.Secret(), 4)}, nil
}

// keyURI builds Google's Key URI format. The query is encoded here (the
// library leaves "&" and "+" in an issuer unescaped, which would cut or
// change it); spaces become %20, which every authenticator app reads.
func keyURI(issuer, account, secret string) string {
	q := url.Values{"secret": {secret}, "issuer": {issuer}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: strings.ReplaceAll(q.Encode(), "+", "%20")}
	return u.String()
}

// Group splits s into space-separated groups of n characters.
func Group(s string, n int) string {
	var parts []string
	for len(s) > n {
		parts = append(parts, s[:n])
		s = s[n:]
	}
	return strings.Join(append(parts, s), " ")
}

// Verify implements Factor: the code may match the current step or one step
// either side; a step is accepted once per method, ever.
func (t *TOTP) Verify(ctx context.Context, req *Request) (*Result, error) {
	res, step, err := t.Match(req)
	if err != nil {
		return nil, err
	}
	ok, err := t.Store.ConsumeStep(ctx, res.Method.ID, step, req.Now.Unix())
	if err != nil {
		return nil, err
	} else if !ok {
		// Replayed, or an earlier step than one already used.
		return nil, errCode
	}
	return res, nil
}

// Match checks a code without using it up: the result and the step it
// matched, which the caller must consume (MethodStore.ConsumeStep, or
// LoginStep.Use with the rest of a login) before treating it as a success.
func (t *TOTP) Match(req *Request) (*Result, int64, error) {
	var malformed error
	formed := false
	for _, m := range req.Methods {
		opts := totpParams(m.Data)
		code, err := NormalizeDigits(req.Code, opts.Digits.Length())
		if err != nil {
			malformed = err
			continue
		}
		formed = true
		secret, err := t.Keys.Open(m.UserID, m.Secret)
		if err != nil {
			return nil, 0, fmt.Errorf("open totp secret of method %s: %w", m.ID, err)
		}
		period := int64(opts.Period)
		step := req.Now.Unix() / period
		for _, off := range []int64{0, -1, 1} {
			want, err := totp.GenerateCodeCustom(string(secret), time.Unix((step+off)*period, 0), opts)
			if err != nil {
				return nil, 0, fmt.Errorf("totp code: %w", err)
			}
			if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
				return &Result{Method: m, Drift: int(off), BackupLeft: -1}, step + off, nil
			}
		}
	}
	if !formed && malformed != nil {
		return nil, 0, malformed
	}
	return nil, 0, errCode
}

// totpParams are an authenticator entry's settings, kept in Method.Data:
// empty for the portal's own (SHA1, 6 digits, 30 s), "SHA256/8/60" for an
// imported entry made elsewhere with other settings.
func totpParams(data string) totp.ValidateOpts {
	opts := totpOpts
	parts := strings.Split(data, "/")
	if len(parts) != 3 {
		return opts
	}
	switch parts[0] {
	case "SHA256":
		opts.Algorithm = otp.AlgorithmSHA256
	case "SHA512":
		opts.Algorithm = otp.AlgorithmSHA512
	}
	if parts[1] == "8" {
		opts.Digits = otp.DigitsEight
	}
	if p, err := strconv.Atoi(parts[2]); err == nil && p > 0 {
		opts.Period = uint(p)
	}
	return opts
}

// ImportTOTP reads an authenticator secret from another system: base32
// (spaces and padding ignored) or an otpauth://totp/ URI with its
// algorithm, digits and period. It returns the base32 secret to seal and
// the method's Data (its settings when they are not the portal's).
func ImportTOTP(s string) (secret, data string, err error) {
	alg, digits, period := "SHA1", 6, 30
	if strings.HasPrefix(strings.ToLower(s), "otpauth://") {
		u, perr := url.Parse(s)
		if perr != nil || !strings.EqualFold(u.Host, "totp") {
			return "", "", errors.New("not an otpauth://totp/ URI")
		}
		q := u.Query()
		s = q.Get("secret")
		if v := q.Get("algorithm"); v != "" {
			alg = strings.ToUpper(v)
		}
		if v := q.Get("digits"); v != "" {
			if digits, err = strconv.Atoi(v); err != nil {
				return "", "", errors.New("bad digits")
			}
		}
		if v := q.Get("period"); v != "" {
			if period, err = strconv.Atoi(v); err != nil {
				return "", "", errors.New("bad period")
			}
		}
	}
	secret = strings.ToUpper(strings.TrimRight(strings.ReplaceAll(strings.ReplaceAll(s, " ", ""), "-", ""), "="))
	raw, derr := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	switch {
	case derr != nil:
		return "", "", errors.New("the TOTP secret is not base32")
	case len(raw) < 10 || len(raw) > 64:
		return "", "", errors.New("the TOTP secret must be 80 to 512 bits")
	case alg != "SHA1" && alg != "SHA256" && alg != "SHA512":
		return "", "", fmt.Errorf("unsupported TOTP algorithm %q (SHA1, SHA256, SHA512)", alg)
	case digits != 6 && digits != 8:
		return "", "", errors.New("TOTP digits must be 6 or 8")
	case period != 30 && period != 60:
		return "", "", errors.New("TOTP period must be 30 or 60 seconds")
	}
	if alg != "SHA1" || digits != 6 || period != 30 {
		data = fmt.Sprintf("%s/%d/%d", alg, digits, period)
	}
	return secret, data, nil
}

// ConfirmCode checks a code against a secret being enrolled (not yet stored
// as confirmed) and returns the step it matched.
func (t *TOTP) ConfirmCode(m *portal.Method, code string, now time.Time) (int64, error) {
	code, err := NormalizeDigits(code, 6)
	if err != nil {
		return 0, err
	}
	secret, err := t.Keys.Open(m.UserID, m.Secret)
	if err != nil {
		return 0, err
	}
	step := now.Unix() / totpPeriod
	for _, off := range []int64{0, -1, 1} {
		want, _ := totp.GenerateCodeCustom(string(secret), time.Unix((step+off)*totpPeriod, 0), totpOpts)
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step + off, nil
		}
	}
	return 0, errCode
}

// NormalizeDigits accepts exactly n ASCII digits, ignoring spaces and
// dashes that people type or paste ("123 456").
func NormalizeDigits(s string, n int) (string, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return "", portal.Msg(portal.EINVALID, "Enter the {{.Digits}}-digit code.", "Digits", n)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", portal.Msg(portal.EINVALID, "The code must be {{.Digits}} digits (0–9), with nothing else.", "Digits", n)
		}
	}
	if len(s) != n {
		return "", portal.Msg(portal.EINVALID, "The code must be exactly {{.Digits}} digits.", "Digits", n)
	}
	return s, nil
}

// QRCode renders text as a PNG QR code with integer-sized modules and the
// standard four-module quiet zone, so phone cameras read it at normal zoom.
func QRCode(text string) ([]byte, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("qr encode: %w", err)
	}
	const scale, quiet = 6, 4
	n := code.Bounds().Dx()
	size := (n + 2*quiet) * scale
	img := image.NewGray(image.Rect(0, 0, size, size))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if code.At(x, y) == color.Black || isDark(code.At(x, y)) {
				for dy := 0; dy < scale; dy++ {
					for dx := 0; dx < scale; dx++ {
						img.SetGray((x+quiet)*scale+dx, (y+quiet)*scale+dy, color.Gray{})
					}
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func isDark(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r+g+b < 3*0x8000
}
