package mail_test

import (
	"context"
	"github.com/clientportal/portal/i18n"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mail"
	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/portaltest"
)

func TestLifetime(t *testing.T) {
	for d, want := range map[time.Duration]string{
		7 * 24 * time.Hour: "7 days",
		48 * time.Hour:     "2 days",
		24 * time.Hour:     "24 hours",
		36 * time.Hour:     "36 hours",
		time.Hour:          "1 hour",
		10 * time.Minute:   "10 minutes",
		90 * time.Minute:   "90 minutes",
	} {
		if got := mail.Lifetime(d); got != want {
			t.Errorf("Lifetime(%v) = %q, want %q", d, got, want)
		}
	}
}

// capture is a Sender and an outbox that keep what they are given.
type capture struct {
	portal.OutboxStore // only Enqueue is called
	sent               []*mail.Message
	queued             []*portal.OutboxMessage
}

func (c *capture) Send(_ context.Context, m *mail.Message) error {
	c.sent = append(c.sent, m)
	return nil
}

func (c *capture) Enqueue(_ context.Context, om *portal.OutboxMessage) error {
	c.queued = append(c.queued, om)
	return nil
}

var acme = portal.Brand{Name: "Acme Hosting", Color: "#00aa77", SupportURL: "https://acme.example/help", LogoURL: "/brand/logo"}

func newMailer(tb testing.TB, b portal.Brand) (*mail.Mailer, *capture) {
	c := &capture{}
	clock := portaltest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	return &mail.Mailer{Sender: c, Outbox: c, Keys: mustKeys(tb, mfa.NewKeySpec("k1")), Clock: clock,
		BaseURL: "https://portal.test", Brand: b}, c
}

// last returns the message last sent or queued (opened).
func (c *capture) last(tb testing.TB, m *mail.Mailer) *mail.Message {
	tb.Helper()
	if len(c.queued) > 0 {
		msg, err := mail.Open(m.Keys, c.queued[len(c.queued)-1])
		if err != nil {
			tb.Fatal(err)
		}
		return msg
	}
	if len(c.sent) == 0 {
		tb.Fatal("nothing sent")
	}
	return c.sent[len(c.sent)-1]
}

// checkBranded asserts what every email of the Acme portal shows.
func checkBranded(t *testing.T, msg *mail.Message) {
	t.Helper()
	for part, body := range map[string]string{"HTML": msg.HTML, "text": msg.Text} {
		for _, want := range []string{"Acme Hosting", "https://acme.example/help"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s part lacks %q:\n%s", part, want, body)
			}
		}
		if n := strings.Count(strings.ToLower(body), "if this was not you"); n > 1 {
			t.Errorf("%s part says \"If this was not you\" %d times:\n%s", part, n, body)
		}
		if strings.Contains(body, " on on ") {
			t.Errorf("%s part says \"on on\":\n%s", part, body)
		}
	}
	for _, want := range []string{
		"#00aa77",
		`src="https://portal.test/brand/logo"`, `alt="Acme Hosting"`,
		`<meta name="color-scheme" content="light dark">`,
		`<meta name="supported-color-schemes" content="light dark">`,
		"@media (prefers-color-scheme: dark)",
		"max-width:560px",
	} {
		if !strings.Contains(msg.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, msg.HTML)
		}
	}
	if strings.Contains(msg.HTML, "<link") {
		t.Error("HTML loads external CSS")
	}
}

func TestSendCode(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ purpose, subject, says string }{
		{portal.CodeLogin, "Your Acme Hosting sign-in code", "finish signing in"},
		{portal.CodeEnrol, "Your Acme Hosting code to confirm your email address", "two-factor method"},
	} {
		t.Run(tc.purpose, func(t *testing.T) {
			m, c := newMailer(t, acme)
			if err := m.SendCode(ctx, "a@example.com", "Ann", "", "482913", tc.purpose, 10*time.Minute); err != nil {
				t.Fatal(err)
			}
			msg := c.last(t, m)
			checkBranded(t, msg)
			if msg.Subject != tc.subject {
				t.Errorf("subject = %q, want %q", msg.Subject, tc.subject)
			}
			if strings.Contains(msg.Subject, "482913") {
				t.Errorf("the subject shows the code: %q", msg.Subject)
			}
			for _, body := range []string{msg.HTML, msg.Text} {
				for _, want := range []string{"482913", tc.says, "expires in 10 minutes", "Hello Ann,"} {
					if !strings.Contains(body, want) {
						t.Errorf("body lacks %q:\n%s", want, body)
					}
				}
				if n := strings.Count(strings.ToLower(body), "if this was not you"); n != 1 {
					t.Errorf("\"If this was not you\" %d times, want once", n)
				}
			}
		})
	}
}

func TestSendLink(t *testing.T) {
	ctx := context.Background()
	m, c := newMailer(t, acme)
	link := "https://portal.test/verify-email?token=abc123"
	if err := m.SendLink(ctx, "a@example.com", "Ann", "", portal.Letter{Subject: i18n.M("Confirm your email address"), Intro: i18n.M("Please confirm that this is your email address."),
		Button: i18n.M("Confirm email address")}, link, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	msg := c.last(t, m)
	checkBranded(t, msg)
	if msg.Subject != "Confirm your email address" {
		t.Errorf("subject = %q", msg.Subject)
	}
	// The button, then the same link written out.
	if n := strings.Count(msg.HTML, `href="`+link+`"`); n != 2 {
		t.Errorf("the link is the href of %d elements, want 2 (button and fallback):\n%s", n, msg.HTML)
	}
	if !strings.Contains(msg.HTML, ">"+link+"</a>") {
		t.Errorf("HTML does not show the link as text:\n%s", msg.HTML)
	}
	button := regexp.MustCompile(`<td bgcolor="#00aa77"[^>]*>\s*<a href="` + regexp.QuoteMeta(link) + `"[^>]*color:(#[0-9a-f]{6})`).FindStringSubmatch(msg.HTML)
	if button == nil || button[1] != portal.OnColor("#00aa77") {
		t.Errorf("no button in the brand colour with readable text: %v\n%s", button, msg.HTML)
	}
	for _, body := range []string{msg.HTML, msg.Text} {
		for _, want := range []string{"Confirm email address", "expires in 24 hours", "you can ignore it"} {
			if !strings.Contains(body, want) {
				t.Errorf("body lacks %q:\n%s", want, body)
			}
		}
	}
	if !strings.Contains(msg.Text, link) {
		t.Errorf("text lacks the link:\n%s", msg.Text)
	}

	// An intro that already says what to do if it was not them: no
	// second word on it.
	if err := m.SendLink(ctx, "a@example.com", "Ann", "", portal.Letter{Subject: i18n.M("Two-factor sign-in is frozen on your account"),
		Intro:  i18n.M("Two-factor sign-in is frozen. If it was not you, change your password as soon as you are signed in."),
		Button: i18n.M("Unlock two-factor sign-in")}, link, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	msg = c.last(t, m)
	for _, body := range []string{msg.HTML, msg.Text} {
		if strings.Contains(body, "ignore") {
			t.Errorf("the unlock email also says to ignore it:\n%s", body)
		}
	}
}

func TestNotice(t *testing.T) {
	m, _ := newMailer(t, acme)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Unix()
	for _, kind := range []string{
		portal.EventLoginSucceeded, portal.EventLoginFailed, portal.EventLoginLocked, portal.EventPasswordChanged,
		portal.EventPasswordResetRequested, portal.EventUserCreated, portal.EventReauthenticated, portal.EventLogout,
		portal.EventTwoFactorEnabled, portal.EventTwoFactorDisabled, portal.EventMethodAdded, portal.EventMethodRemoved,
		portal.EventSecondFactorOK, portal.EventSecondFactorFailed, portal.EventSecondFactorLocked, portal.EventSecondFactorFrozen,
		portal.EventSecondFactorUnlock, portal.EventBackupGenerated, portal.EventBackupUsed, portal.EventBackupLow,
		portal.EventClockDrift, portal.EventAdminReset, portal.EventEmailVerified, portal.EventEmailChangeRequest,
		portal.EventEmailChanged, portal.EventCodeSent, portal.EventKeyCounterRegressed, portal.EventRecoveryRequested,
		portal.EventRecoveryApproved, portal.EventRecoveryDenied, portal.EventRecoveryCancelled, portal.EventRecoveryCompleted,
		portal.EventBrowserRemembered, portal.EventBrowserRevoked, portal.EventMemberInvited, portal.EventMemberRemoved,
		portal.EventInvitationRevoked,
	} {
		om, err := m.Message(&portal.Notification{To: "a@example.com", Name: "Ann", Kind: kind, Detail: "First line.\nSecond line.", IP: "192.0.2.7", At: at})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.Open(m.Keys, om)
		if err != nil {
			t.Fatal(err)
		}
		checkBranded(t, msg)
		title := portal.EventTitle(kind)
		if msg.Subject != title {
			t.Errorf("%s: subject = %q, want %q", kind, msg.Subject, title)
		}
		for _, body := range []string{msg.HTML, msg.Text} {
			for _, want := range []string{
				title, "This happened on your Acme Hosting account (a@example.com) at 1 Mar 2026, 12:00 UTC.",
				"First line.", "Second line.", "192.0.2.7", "https://portal.test/account/security",
			} {
				if !strings.Contains(body, want) {
					t.Errorf("%s: body lacks %q:\n%s", kind, want, body)
				}
			}
			if n := strings.Count(strings.ToLower(body), "if this was not you"); n != 1 {
				t.Errorf("%s: \"If this was not you\" %d times, want once:\n%s", kind, n, body)
			}
		}
	}
}

// TestEscaping: the operator's and the user's names are text in the HTML
// part, never markup.
func TestEscaping(t *testing.T) {
	b := acme
	b.Name = `Acme <script>alert(1)</script>`
	m, c := newMailer(t, b)
	if err := m.SendCode(context.Background(), "a@example.com", "<b>Ann</b>", "", "482913", portal.CodeLogin, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	msg := c.last(t, m)
	if strings.Contains(msg.HTML, "<script>") || strings.Contains(msg.HTML, "<b>Ann") {
		t.Errorf("HTML holds the names as markup:\n%s", msg.HTML)
	}
	if !strings.Contains(msg.HTML, "Acme &lt;script&gt;") {
		t.Errorf("HTML lacks the escaped name:\n%s", msg.HTML)
	}
}

// TestDefaultBrand: an operator who set nothing gets the portal's name and
// colour, and no empty logo, support or legal links.
func TestDefaultBrand(t *testing.T) {
	m, c := newMailer(t, portal.Brand{})
	if err := m.SendCode(context.Background(), "a@example.com", "", "", "482913", portal.CodeLogin, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	msg := c.last(t, m)
	if msg.Subject != "Your Client Portal sign-in code" {
		t.Errorf("subject = %q", msg.Subject)
	}
	if !strings.Contains(msg.HTML, portal.DefaultBrandColor) {
		t.Errorf("HTML lacks the default colour:\n%s", msg.HTML)
	}
	for _, bad := range []string{"<img", `href=""`, "Need help", "Privacy", "Hello ,"} {
		if strings.Contains(msg.HTML, bad) || strings.Contains(msg.Text, bad) {
			t.Errorf("an email without brand links shows %q:\n%s\n%s", bad, msg.HTML, msg.Text)
		}
	}
}

// TestSendSignInAlert: a new sign-in alert carries both answers, each as a
// button and as an address to copy, and says how long securing works.
func TestSendSignInAlert(t *testing.T) {
	m, c := newMailer(t, acme)
	mine, secure := "https://portal.test/secure?token=t0k&answer=me", "https://portal.test/secure?token=t0k"
	if err := m.SendSignInAlert(context.Background(), "a@example.com", "Ann", "", i18n.M("New sign-in to your Acme account"),
		i18n.M("Someone signed in to your Acme account from a browser it had not seen before."), mine, secure, 7*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	msg := c.last(t, m)
	checkBranded(t, msg)
	for _, link := range []string{mine, secure} {
		if n := strings.Count(msg.HTML, `href="`+htmlEscaped(link)+`"`); n != 2 {
			t.Errorf("%s is the href of %d elements, want 2 (button and address):\n%s", link, n, msg.HTML)
		}
		if !strings.Contains(msg.Text, link) {
			t.Errorf("the text lacks %s:\n%s", link, msg.Text)
		}
	}
	for _, body := range []string{msg.HTML, msg.Text} {
		for _, want := range []string{"Yes, this was me", "No, secure my account", "expires in 7 days", "from a browser it had not seen before"} {
			if !strings.Contains(body, want) {
				t.Errorf("body lacks %q:\n%s", want, body)
			}
		}
	}
}

// htmlEscaped is s as html/template writes it in an attribute.
func htmlEscaped(s string) string { return strings.ReplaceAll(s, "&", "&amp;") }

// TestSendCodeInLanguage: a code email in Malay and in Arabic: subject,
// text and HTML in the language, the HTML marked with its lang and
// direction, the code unchanged.
func TestSendCodeInLanguage(t *testing.T) {
	for _, code := range []string{"ms", "ar"} {
		l, _ := i18n.Builtin().Get(code)
		subject := l.T("Your {{.Brand}} sign-in code", "Brand", "Acme Hosting")
		body := l.T("Enter it on the sign-in page to finish signing in.")
		if !l.Translated("Your {{.Brand}} sign-in code") || !l.Translated("Enter it on the sign-in page to finish signing in.") {
			t.Fatalf("%s lacks the code email's messages", code)
		}
		m, c := newMailer(t, acme)
		if err := m.SendCode(context.Background(), "a@example.com", "Ann", code, "482913", portal.CodeLogin, 10*time.Minute); err != nil {
			t.Fatal(err)
		}
		msg := c.last(t, m)
		if msg.Subject != subject {
			t.Errorf("%s: subject %q, want %q", code, msg.Subject, subject)
		}
		for _, part := range []string{msg.Text, msg.HTML} {
			if !strings.Contains(part, body) || !strings.Contains(part, "482913") || strings.Contains(part, "finish signing in") {
				t.Errorf("%s: body not in the language:\n%s", code, part)
			}
		}
		if want := `<html lang="` + code + `" dir="` + l.Dir() + `">`; !strings.Contains(msg.HTML, want) {
			t.Errorf("%s: HTML lacks %s", code, want)
		}
	}
}
