package mfa

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/clientportal/portal"
)

// Kinds of stored WebAuthn challenge (one-time tokens bound to a session).
const (
	tokenWebAuthnRegister = "webauthn_register"
	tokenWebAuthnLogin    = "webauthn_login"
	tokenPasskeyRegister  = "passkey_register"
	// A passwordless sign-in's challenge names no user: it is bound to the
	// browser that asked for it (a short-lived cookie).
	tokenPasskeyLogin = "passkey_login"
)

// ChallengeTTL is how long a WebAuthn challenge may be answered (SPEC §8).
const ChallengeTTL = 5 * time.Minute

// ErrCounterRegression is returned when a security key's signature counter
// went backwards: the key may have been cloned.
var ErrCounterRegression = errors.New("signature counter went backwards")

// WebAuthn is the security-key factor (FIDO2/U2F keys such as YubiKeys and
// platform authenticators). Challenges are random, bound to the session,
// single use and expire after 5 minutes; each credential is stored sealed
// with its signature counter in the method's LastStep.
type WebAuthn struct {
	RP    *webauthn.WebAuthn
	Keys  *Keyring
	Clock portal.Clock
	Store interface {
		CreateToken(ctx context.Context, t *portal.Token) error
		DeleteToken(ctx context.Context, kind, id string) error
		ConsumeToken(ctx context.Context, kind, id string, now int64) (*portal.Token, error)
		UpdateStep(ctx context.Context, methodID string, old, new, at int64) (bool, error)
	}
}

var _ Factor = (*WebAuthn)(nil)

// NewRelyingParty configures go-webauthn for the portal at baseURL: the
// relying party id is the host, the only accepted origin the base URL's.
func NewRelyingParty(name, origin, host string) (*webauthn.WebAuthn, error) {
	return webauthn.New(&webauthn.Config{
		RPID: host, RPDisplayName: name, RPOrigins: []string{origin},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: ChallengeTTL, TimeoutUVD: ChallengeTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: ChallengeTTL, TimeoutUVD: ChallengeTTL},
		},
	})
}

// Type implements Factor.
func (*WebAuthn) Type() string { return portal.MethodWebAuthn }

// Label implements Factor.
func (*WebAuthn) Label() string { return "Security key" }

// Prompt implements Factor.
func (*WebAuthn) Prompt() string {
	return "Insert or hold your security key near the device and press “Use security key”, then touch the key when it blinks."
}

// Numeric implements Factor.
func (*WebAuthn) Numeric() bool { return false }

// waUser adapts a portal user and their keys to go-webauthn.
type waUser struct {
	u     *portal.User
	creds []webauthn.Credential
}

func (w *waUser) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w *waUser) WebAuthnName() string                       { return w.u.Email }
func (w *waUser) WebAuthnDisplayName() string                { return w.u.Name }
func (w *waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// isCredential reports whether a method holds a WebAuthn credential: a
// security key or a passkey (both answer the second step).
func isCredential(m *portal.Method) bool {
	return m.Type == portal.MethodWebAuthn || m.Type == portal.MethodPasskey
}

// user opens the sealed credentials of the user's confirmed keys and
// passkeys; the counter comes from the row, where it is kept current.
func (f *WebAuthn) user(u *portal.User, methods []*portal.Method) (*waUser, error) {
	wu := &waUser{u: u}
	for _, m := range methods {
		if !isCredential(m) || !m.Confirmed() {
			continue
		}
		raw, err := f.Keys.Open(m.UserID, m.Secret)
		if err != nil {
			return nil, err
		}
		var c webauthn.Credential
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("stored credential of method %s: %w", m.ID, err)
		}
		c.Authenticator.SignCount = uint32(m.LastStep)
		wu.creds = append(wu.creds, c)
	}
	return wu, nil
}

// saveChallenge stores session data for binding, replacing an older one.
func (f *WebAuthn) saveChallenge(ctx context.Context, kind, userID, binding string, sd *webauthn.SessionData) error {
	data, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	id := portal.HashToken(kind + ":" + binding)
	if err := f.Store.DeleteToken(ctx, kind, id); err != nil {
		return err
	}
	now := f.Clock.Now()
	return f.Store.CreateToken(ctx, &portal.Token{ID: id, Kind: kind, UserID: userID, Data: string(data), CreatedAt: now.Unix(), ExpiresAt: now.Add(ChallengeTTL).Unix()})
}

// takeChallenge consumes the session data of binding: a challenge is
// answered once, within 5 minutes, by the session it was issued to.
func (f *WebAuthn) takeChallenge(ctx context.Context, kind, userID, binding string) (*webauthn.SessionData, error) {
	t, err := f.Store.ConsumeToken(ctx, kind, portal.HashToken(kind+":"+binding), f.Clock.Now().Unix())
	if err != nil || t.UserID != userID {
		return nil, portal.Errorf(portal.ECODE, "The security key request expired or was already used. Try again.")
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal([]byte(t.Data), &sd); err != nil {
		return nil, err
	}
	return &sd, nil
}

// BeginRegistration returns the options for navigator.credentials.create:
// a security key, or with passkey a discoverable credential that requires
// user verification (a passkey).
func (f *WebAuthn) BeginRegistration(ctx context.Context, u *portal.User, methods []*portal.Method, binding string, passkey bool) (*protocol.CredentialCreation, error) {
	wu, err := f.user(u, methods)
	if err != nil {
		return nil, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range wu.creds {
		exclude = append(exclude, c.Descriptor())
	}
	kind, sel := tokenWebAuthnRegister, protocol.AuthenticatorSelection{ResidentKey: protocol.ResidentKeyRequirementDiscouraged, UserVerification: protocol.VerificationPreferred}
	if passkey {
		kind, sel = tokenPasskeyRegister, protocol.AuthenticatorSelection{ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(), UserVerification: protocol.VerificationRequired}
	}
	opts, sd, err := f.RP.BeginRegistration(wu,
		webauthn.WithExclusions(exclude),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithAuthenticatorSelection(sel),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()))
	if err != nil {
		return nil, fmt.Errorf("begin webauthn registration: %w", err)
	}
	return opts, f.saveChallenge(ctx, kind, u.ID, binding, sd)
}

// errNotPasskey refuses a credential the authenticator did not keep (not
// discoverable): it could not sign in without an email address.
var errNotPasskey = portal.Errorf(portal.ECODE, "This authenticator cannot keep a passkey. Use your phone, your computer's screen lock or a security key that supports passkeys, or add it as a security key instead.")

// FinishRegistration checks the authenticator's answer and returns the new
// method (confirmed by this very ceremony) to store: a passkey when the
// ceremony was begun for one, with user verification checked and a
// credential the authenticator keeps.
func (f *WebAuthn) FinishRegistration(ctx context.Context, u *portal.User, methods []*portal.Method, binding, name string, body []byte, passkey bool) (*portal.Method, error) {
	kind, typ := tokenWebAuthnRegister, portal.MethodWebAuthn
	if passkey {
		kind, typ = tokenPasskeyRegister, portal.MethodPasskey
	}
	sd, err := f.takeChallenge(ctx, kind, u.ID, binding)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return nil, portal.Errorf(portal.EINVALID, "The security key's answer could not be read. Try again.")
	}
	wu, err := f.user(u, methods)
	if err != nil {
		return nil, err
	}
	cred, err := f.RP.CreateCredential(wu, *sd, parsed)
	if err != nil {
		if passkey && !parsed.Response.AttestationObject.AuthData.Flags.HasUserVerified() {
			return nil, &wrapped{public: portal.Errorf(portal.ECODE, "A passkey needs your fingerprint, face or device PIN, and this authenticator did not check one. Try again, or add it as a security key instead."), cause: err}
		}
		return nil, &wrapped{public: portal.Errorf(portal.ECODE, "The security key could not be registered. Try again."), cause: err}
	}
	if props := parsed.ClientExtensionResults.CredProps; passkey && props != nil && props.RK != nil && !*props.RK {
		return nil, errNotPasskey
	}
	sealed, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	now := f.Clock.Now().Unix()
	return &portal.Method{ID: portal.NewID(), UserID: u.ID, Type: typ, Name: name,
		Secret: f.Keys.Seal(u.ID, sealed), Data: base64.RawURLEncoding.EncodeToString(cred.ID),
		LastStep: int64(cred.Authenticator.SignCount), CreatedAt: now}, nil
}

// BeginLogin returns the options for navigator.credentials.get, listing
// the user's keys.
func (f *WebAuthn) BeginLogin(ctx context.Context, u *portal.User, methods []*portal.Method, binding string) (*protocol.CredentialAssertion, error) {
	wu, err := f.user(u, methods)
	if err != nil {
		return nil, err
	}
	if len(wu.creds) == 0 {
		return nil, portal.Errorf(portal.EINVALID, "You have no security key registered.")
	}
	opts, sd, err := f.RP.BeginLogin(wu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("begin webauthn login: %w", err)
	}
	return opts, f.saveChallenge(ctx, tokenWebAuthnLogin, u.ID, binding, sd)
}

// BeginPasskeyLogin returns the options for a sign-in by passkey alone:
// no user is named (the browser offers its passkeys for the portal) and
// user verification is required. conditional is passkey autofill
// (mediation "conditional"). The challenge is bound to binding, the
// asking browser's.
func (f *WebAuthn) BeginPasskeyLogin(ctx context.Context, binding string, conditional bool) (*protocol.CredentialAssertion, error) {
	mediation := protocol.MediationDefault
	if conditional {
		mediation = protocol.MediationConditional
	}
	opts, sd, err := f.RP.BeginDiscoverableMediatedLogin(mediation, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("begin passkey login: %w", err)
	}
	return opts, f.saveChallenge(ctx, tokenPasskeyLogin, "", binding, sd)
}

// PasskeyOwner reads whose account a passkey's answer claims (its user
// handle) and which credential answered (as stored in Method.Data), so the
// sign-in can be counted against that account's limit before the answer
// is checked.
func PasskeyOwner(body []byte) (owner, credential string, err error) {
	if len(body) == 0 || len(body) > 32<<10 {
		return "", "", portal.Errorf(portal.EINVALID, "Use your passkey to answer the request.")
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return "", "", portal.Errorf(portal.EINVALID, "The passkey's answer could not be read. Try again.")
	}
	owner = string(parsed.Response.UserHandle)
	if owner == "" {
		return "", "", portal.Errorf(portal.EINVALID, "This credential is a security key, not a passkey: sign in with your email and password, then use the key.")
	}
	if !portal.ValidID(owner) {
		// Not a handle the portal gives (the portal's user ids).
		return "", "", portal.Errorf(portal.EINVALID, "This passkey is not one of this site's. Sign in with your email address and password.")
	}
	return owner, base64.RawURLEncoding.EncodeToString(parsed.RawID), nil
}

// Passkey is the passkey factor: a WebAuthn credential with user
// verification that the authenticator keeps. After a password it answers
// the second step like a security key; alone it is a complete sign-in.
type Passkey struct{ *WebAuthn }

var _ Factor = Passkey{}

// Type implements Factor.
func (Passkey) Type() string { return portal.MethodPasskey }

// Label implements Factor.
func (Passkey) Label() string { return "Passkey" }

// Prompt implements Factor.
func (Passkey) Prompt() string {
	return "Press “Use passkey”, then confirm with your fingerprint, face or screen lock."
}

// Verify implements Factor: req.Code is the JSON of the assertion.
func (f *WebAuthn) Verify(ctx context.Context, req *Request) (*Result, error) {
	if req.Code == "" || len(req.Code) > 32<<10 {
		return nil, portal.Errorf(portal.EINVALID, "Use your security key to answer the request.")
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(bytes.NewReader([]byte(req.Code)))
	if err != nil {
		return nil, portal.Errorf(portal.EINVALID, "The security key's answer could not be read. Try again.")
	}
	kind, owner := tokenWebAuthnLogin, req.User.ID
	if req.Passwordless {
		kind, owner = tokenPasskeyLogin, ""
	}
	sd, err := f.takeChallenge(ctx, kind, owner, req.LoginID)
	if err != nil {
		return nil, err
	}
	wu, err := f.user(req.User, req.Methods)
	if err != nil {
		return nil, err
	}
	var cred *webauthn.Credential
	if req.Passwordless {
		// The challenge required user verification, which go-webauthn
		// checks; the user handle must be this user's.
		cred, err = f.RP.ValidateDiscoverableLogin(func(_, handle []byte) (webauthn.User, error) {
			if string(handle) != req.User.ID {
				return nil, errors.New("the passkey belongs to another account")
			}
			return wu, nil
		}, *sd, parsed)
	} else {
		cred, err = f.RP.ValidateLogin(wu, *sd, parsed)
	}
	if err != nil {
		if req.Passwordless && !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
			return nil, &wrapped{public: portal.Errorf(portal.ECODE, "Signing in with a passkey needs your fingerprint, face or device PIN, and this authenticator did not check one. Sign in with your password instead."), cause: err}
		}
		return nil, &wrapped{public: portal.Errorf(portal.ECODE, "The security key's answer was not accepted."), cause: err}
	}
	id := base64.RawURLEncoding.EncodeToString(cred.ID)
	for _, m := range req.Methods {
		if !isCredential(m) || m.Data != id {
			continue
		}
		newCount := int64(cred.Authenticator.SignCount)
		if cred.Authenticator.CloneWarning {
			return nil, &wrapped{public: portal.Errorf(portal.ECODE, "This security key was refused because its use counter went backwards, which can mean it was copied. Use another method and contact support."),
				cause: fmt.Errorf("%w: method %s stored %d, got %d", ErrCounterRegression, m.ID, m.LastStep, newCount)}
		}
		// Keep the counter current; a concurrent use of the same key loses.
		ok, err := f.Store.UpdateStep(ctx, m.ID, m.LastStep, newCount, req.Now.Unix())
		if err != nil {
			return nil, err
		} else if !ok {
			return nil, errCode
		}
		return &Result{Method: m, BackupLeft: -1}, nil
	}
	return nil, errCode
}
