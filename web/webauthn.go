package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
)

// keyName checks the label a person gives a key.
func keyName(name, fallback string) (string, error) {
	name = strings.TrimSpace(name)
	if err := portal.CheckText("name", name, portal.SingleLine); err != nil {
		return "", err
	}
	switch {
	case name == "":
		return fallback, nil
	case utf8.RuneCountInString(name) > 60:
		return "", &portal.Error{Code: portal.EINVALID, Message: "A key name can be at most 60 characters.", Field: "name"}
	}
	return name, nil
}

// userMethods lists a user's confirmed methods.
func (s *Server) userMethods(r *http.Request) ([]*portal.Method, error) {
	tf, err := s.twoFactor(r.Context(), state(r).user)
	if err != nil {
		return nil, err
	}
	return tf.Methods, nil
}

func (s *Server) webAuthnOffered() error {
	if s.WebAuthn == nil {
		return portal.Errorf(portal.ENOTFOUND, "Security keys are not offered here.")
	}
	return nil
}

func (s *Server) apiWebAuthnRegisterBegin(w http.ResponseWriter, r *http.Request) error {
	return s.registerBegin(w, r, false)
}

func (s *Server) apiWebAuthnRegisterFinish(w http.ResponseWriter, r *http.Request) error {
	return s.registerFinish(w, r, false)
}

// registerBegin starts adding a security key, or a passkey.
func (s *Server) registerBegin(w http.ResponseWriter, r *http.Request, passkey bool) error {
	if err := s.webAuthnOffered(); err != nil {
		return err
	}
	if err := s.requireRecent(r); err != nil {
		return err
	}
	methods, err := s.userMethods(r)
	if err != nil {
		return err
	}
	opts, err := s.WebAuthn.BeginRegistration(r.Context(), state(r).user, methods, state(r).session.ID, passkey)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, opts)
	return nil
}

// registerFinish checks the authenticator's answer and adds the key or
// passkey as a method, confirmed (2FA turns on with the first).
func (s *Server) registerFinish(w http.ResponseWriter, r *http.Request, passkey bool) error {
	if err := s.webAuthnOffered(); err != nil {
		return err
	}
	var in struct {
		Name       string          `json:"name"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.requireRecent(r); err != nil {
		return err
	}
	fallback := "Security key"
	if passkey {
		fallback = "Passkey"
	}
	name, err := keyName(in.Name, fallback)
	if err != nil {
		return err
	}
	if len(in.Credential) == 0 {
		return portal.Errorf(portal.EINVALID, "The request needs the key's credential.")
	}
	methods, err := s.userMethods(r)
	if err != nil {
		return err
	}
	st := state(r)
	m, err := s.WebAuthn.FinishRegistration(r.Context(), st.user, methods, st.session.ID, name, in.Credential, passkey)
	if err != nil {
		s.Logger.Info("security key registration refused", logAttrs(r), "err", err)
		return err
	}
	if err := s.Store.CreateMethod(r.Context(), m); err != nil {
		return err
	}
	codes, err := s.confirmMethod(r.Context(), r, m)
	if err != nil {
		return err
	}
	return writeConfirmed(w, m, codes)
}

// apiWebAuthnLoginBegin serves the login step and re-authentication alike:
// the challenge is bound to the current session.
func (s *Server) apiWebAuthnLoginBegin(w http.ResponseWriter, r *http.Request) error {
	if err := s.webAuthnOffered(); err != nil {
		return err
	}
	methods, err := s.userMethods(r)
	if err != nil {
		return err
	}
	opts, err := s.WebAuthn.BeginLogin(r.Context(), state(r).user, methods, state(r).session.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, opts)
	return nil
}

func (s *Server) apiWebAuthnLoginFinish(w http.ResponseWriter, r *http.Request) error {
	if err := s.webAuthnOffered(); err != nil {
		return err
	}
	var in struct {
		Credential json.RawMessage `json:"credential"`
		Remember   bool            `json:"remember_browser"`
		Next       string          `json:"next"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	method, err := s.credentialMethod(r, in.Credential)
	if err != nil {
		return err
	}
	if _, err := s.secondStep(r.Context(), w, r, method, string(in.Credential), in.Remember); err != nil {
		return err
	}
	next := safeNext(in.Next)
	if next == "" {
		next = "/dashboard"
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "authenticated", "user": toUserJSON(state(r).user), "next": next})
	return nil
}

// credentialMethod is the type of the user's method whose credential
// answered (a security key or a passkey; both answer the second step), or
// a security key's when it is none of theirs (then refused as such).
func (s *Server) credentialMethod(r *http.Request, credential json.RawMessage) (string, error) {
	var c struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(credential, &c) != nil || c.ID == "" {
		return "", portal.Errorf(portal.EINVALID, "The security key's answer could not be read. Try again.")
	}
	methods, err := s.userMethods(r)
	if err != nil {
		return "", err
	}
	for _, m := range methods {
		if m.Type == portal.MethodPasskey && m.Data == c.ID {
			return portal.MethodPasskey, nil
		}
	}
	return portal.MethodWebAuthn, nil
}

// counterRegressed records a cloned-key warning as a security event.
func (s *Server) counterRegressed(r *http.Request, u *portal.User, err error) {
	if errors.Is(err, mfa.ErrCounterRegression) {
		s.Logger.Warn("security key counter went backwards", logAttrs(r), "user_id", u.ID, "err", err)
		s.securityEvent(r, u, portal.EventKeyCounterRegressed, "A security key was refused because its use counter went backwards; it may have been copied.")
	}
}

// rename and remove work for every kind of method; security keys are the
// ones people name.
func (s *Server) renameMethod(r *http.Request, id, name string) error {
	if err := s.requireRecent(r); err != nil {
		return err
	}
	name, err := keyName(name, "")
	if err != nil {
		return err
	}
	if name == "" {
		return &portal.Error{Code: portal.EINVALID, Message: "Enter a name.", Field: "name"}
	}
	if err := s.Store.RenameMethod(r.Context(), state(r).user.ID, id, name); err != nil {
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return portal.Errorf(portal.ENOTFOUND, "That method does not exist.")
		}
		return err
	}
	return nil
}

func (s *Server) apiMethodRename(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.renameMethod(r, r.PathValue("id"), in.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleMethodRename(w http.ResponseWriter, r *http.Request) error {
	err := formValues(r)
	if err == nil {
		err = s.renameMethod(r, r.PathValue("id"), r.PostForm.Get("name"))
	}
	if err != nil {
		return s.securityError(w, r, err)
	}
	s.setFlash(w, "renamed")
	redirect(w, r, "/account/security")
	return nil
}
