package main_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// authenticator is what a phone app knows after scanning the QR code. It
// computes codes with its own RFC 6238 implementation, independent of the
// portal's.
type authenticator struct{ key []byte }

func (a authenticator) code(at time.Time) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(at.Unix()/30))
	mac := hmac.New(sha1.New, a.key)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", bin%1000000)
}

// scanQR decodes the QR code image of the page into an authenticator.
func scanQR(t *testing.T, ctx context.Context) authenticator {
	return scanQRFor(t, ctx, "ada@example.com")
}

// scanQRFor is scanQR for the account email.
func scanQRFor(t *testing.T, ctx context.Context, email string) authenticator {
	t.Helper()
	src, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("img.qr"), "src"))
	if err != nil || !src.Exists {
		t.Fatalf("no QR image: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src.Value, "data:image/png;base64,"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	bmp, _ := gozxing.NewBinaryBitmapFromImage(img)
	// The image is the barcode itself (PURE_BARCODE); gozxing's camera-style
	// detector misreads some valid version 8 codes that zbar decodes.
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		t.Fatalf("QR code does not decode: %v", err)
	}
	u, err := url.Parse(res.GetText())
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("QR holds %q, not an otpauth://totp URI", res.GetText())
	}
	q := u.Query()
	if q.Get("algorithm") != "SHA1" || q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("issuer") != "Client Portal" || u.Path != "/Client Portal:"+email {
		t.Fatalf("otpauth URI %s", u)
	}
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(q.Get("secret")))
	if err != nil || len(key) != 20 {
		t.Fatalf("secret in the QR: %v", err)
	}
	// The secret typed by hand is the same.
	if typed := text(t, ctx, "#secret"); strings.ReplaceAll(typed, " ", "") != q.Get("secret") {
		t.Fatalf("the grouped secret %q differs from the QR's", typed)
	}
	return authenticator{key: key}
}

func texts(t *testing.T, ctx context.Context, sel string) []string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll(`+fmt.Sprintf("%q", sel)+`)).map(e => e.textContent.trim())`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBrowserTwoFactor walks the whole 2FA life in Chromium: enable with a
// scanned QR code, sign in with a code, sign in with a backup code,
// regenerate the codes and turn 2FA off.
func TestBrowserTwoFactor(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := portaltest.Browser(t)
		clock := portaltest.NewClock(time.Now().Truncate(30 * time.Second))
		p := runPortalClock(t, clock, map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, dialect), "PORTAL_SECRET_KEYS": testKeys})

		do(t, ctx, chromedp.Navigate(p.URL+"/register"), chromedp.WaitVisible(chromedp.CSS("#name")),
			fill(map[string]string{"#name": "Ada Lovelace", "#email": "ada@example.com", "#password": "analytical engine 1843", "#password_confirm": "analytical engine 1843"}),
			click("main button[type=submit]"), chromedp.WaitVisible(chromedp.CSS(".flash")))

		// Security → Click here to enable → Get started → QR code.
		do(t, ctx, chromedp.Navigate(p.URL+"/account/security"), chromedp.WaitVisible(chromedp.CSS("#twofa-h")))
		do(t, ctx, click(`a[href="/account/2fa"]`), chromedp.WaitVisible(chromedp.CSS("fieldset.choice")))
		do(t, ctx, click("fieldset.choice button"), chromedp.WaitVisible(chromedp.CSS("img.qr")))
		screenshot(t, ctx, "totp-setup")
		app := scanQR(t, ctx)

		// A wrong code is explained; the right one turns 2FA on.
		do(t, ctx, fill(map[string]string{"#code": "000000"}), click("main form button"), chromedp.WaitVisible(chromedp.CSS(".alert")))
		do(t, ctx, fill(map[string]string{"#code": app.code(clock.Now())}), click("main form button"), chromedp.WaitVisible(chromedp.CSS("#backup-codes")))
		screenshot(t, ctx, "backup-codes")
		codes := texts(t, ctx, "#backup-codes li")
		if len(codes) != 10 {
			t.Fatalf("%d backup codes shown", len(codes))
		}
		if href, _ := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("a[download]"), "href")); !strings.Contains(href.Value, codes[0]) {
			t.Fatal("the .txt download lacks the codes")
		}
		do(t, ctx, click("a.button.primary"), chromedp.WaitVisible(chromedp.CSS("#twofa-h")))
		if s := text(t, ctx, "#twofa-h + p"); !strings.Contains(s, "Activated") {
			t.Fatalf("status after enabling: %q", s)
		}

		signOut := chromedp.Steps(signOutClick(), chromedp.WaitVisible(chromedp.CSS("#password")))
		signIn := chromedp.Steps(chromedp.Navigate(p.URL+"/login"), chromedp.WaitVisible(chromedp.CSS("#email")),
			fill(map[string]string{"#email": "ada@example.com", "#password": "analytical engine 1843"}),
			click("main button[type=submit]"), chromedp.WaitVisible(chromedp.CSS("#code")))

		// Sign in with a code from the app.
		do(t, ctx, signOut)
		clock.Add(30 * time.Second)
		do(t, ctx, signIn)
		screenshot(t, ctx, "login-2fa")
		do(t, ctx, fill(map[string]string{"#code": app.code(clock.Now())}), click("main form button"), chromedp.WaitVisible(chromedp.CSS("nav")))
		if h := text(t, ctx, "h1"); h != "Welcome, Ada Lovelace" {
			t.Fatalf("after the code: %q", h)
		}

		// Sign in with a backup code: it leads to the Security page.
		do(t, ctx, signOut, signIn, click(`a[href="/login/2fa?method=backup_code"]`), chromedp.WaitVisible(chromedp.CSS(".backup-input")))
		do(t, ctx, fill(map[string]string{"#code": strings.ToLower(codes[0])}), click("main form button"), chromedp.WaitVisible(chromedp.CSS("#twofa-h")))
		if f := text(t, ctx, ".flash"); !strings.Contains(f, "backup code") {
			t.Fatalf("no backup-code prompt: %q", f)
		}
		if s := text(t, ctx, "#backup-left"); s != "9 of 10 backup codes left." {
			t.Fatalf("backup count: %q", s)
		}

		// Regenerate: the shown set is new and the old one is dead.
		do(t, ctx, click(`form[action="/account/2fa/backup_codes"] button`), chromedp.WaitVisible(chromedp.CSS("#backup-codes")))
		fresh := texts(t, ctx, "#backup-codes li")
		if len(fresh) != 10 || fresh[0] == codes[0] {
			t.Fatalf("regenerated codes: %v", fresh)
		}
		do(t, ctx, click("a.button.primary"), chromedp.WaitVisible(chromedp.CSS("#twofa-h")))
		do(t, ctx, signOut, signIn, click(`a[href="/login/2fa?method=backup_code"]`), chromedp.WaitVisible(chromedp.CSS(".backup-input")),
			fill(map[string]string{"#code": codes[1]}), click("main form button"), chromedp.WaitVisible(chromedp.CSS(".alert")))
		do(t, ctx, fill(map[string]string{"#code": fresh[0]}), click("main form button"), chromedp.WaitVisible(chromedp.CSS("#twofa-h")))
		screenshot(t, ctx, "security-2fa")

		// Turn it off with the password and a current code.
		clock.Add(30 * time.Second)
		do(t, ctx, click("#open-disable"), chromedp.WaitVisible(chromedp.CSS("#disable_password")),
			fill(map[string]string{"#disable_password": "analytical engine 1843", "#disable_code": app.code(clock.Now())}),
			clearNotes(), click(`form[action="/account/2fa/disable"] button`), chromedp.WaitVisible(chromedp.CSS(".flash")))
		if s := text(t, ctx, "#twofa-h + p"); !strings.Contains(s, "Not activated") {
			t.Fatalf("status after disabling: %q", s)
		}
		do(t, ctx, signOut)
		do(t, ctx, chromedp.Navigate(p.URL+"/login"), chromedp.WaitVisible(chromedp.CSS("#email")),
			fill(map[string]string{"#email": "ada@example.com", "#password": "analytical engine 1843"}),
			click("main button[type=submit]"), chromedp.WaitVisible(chromedp.CSS("nav")))
	})
}

// base32NoPad decodes TOTP secrets.
var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)
