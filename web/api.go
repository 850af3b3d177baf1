package web

import (
	"net/http"
	"time"

	"github.com/clientportal/portal"
)

// userJSON is a user as the API shows it: never the password hash.
type userJSON struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	AccountID string `json:"account_id,omitempty"`
}

func toUserJSON(u *portal.User) *userJSON {
	return &userJSON{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, AccountID: u.AccountID}
}

func (s *Server) apiRegister(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Name     string `json:"name"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	u, err := s.register(r.Context(), r, in.Email, in.Name, in.Password)
	if err != nil {
		return err
	}
	s.event(r, u.ID, portal.EventUserCreated, "Registered")
	if err := s.sendVerification(r.Context(), u); err != nil {
		s.Logger.Error("queue verification email", logAttrs(r), "err", err)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"user": toUserJSON(u)})
	return nil
}

func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	res, err := s.login(r.Context(), w, r, in.Email, in.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) apiLogout(w http.ResponseWriter, r *http.Request) error {
	if err := s.endSession(r.Context(), w, r); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiReauth(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Password string `json:"password"`
		Method   string `json:"method"`
		Code     string `json:"code"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.reauthenticate(r.Context(), r, in.Password, in.Method, in.Code); err != nil {
		return err
	}
	until := s.now().Add(s.Sessions.Reauth).UTC().Format(time.RFC3339)
	writeJSON(w, http.StatusOK, map[string]string{"until": until})
	return nil
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) error {
	u := state(r).user
	tf, err := s.twoFactor(r.Context(), u)
	if err != nil {
		return err
	}
	methods := []map[string]any{}
	for _, m := range tf.Methods {
		methods = append(methods, methodJSON(m))
	}
	var preferred any
	if tf.Preferred != "" {
		preferred = tf.Preferred
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": u.ID, "email": u.Email, "name": u.Name, "role": u.Role, "account_id": u.AccountID, "locale": u.Locale,
		"twofa": map[string]any{"enabled": tf.Enabled, "methods": methods, "preferred": preferred, "backup_codes_remaining": tf.BackupRemaining},
	})
	return nil
}

// methodJSON shows a method without its secret.
func methodJSON(m *portal.Method) map[string]any {
	out := map[string]any{"id": m.ID, "type": m.Type, "name": m.Name, "created_at": unixTime(m.CreatedAt), "last_used_at": nil}
	if m.LastUsedAt > 0 {
		out["last_used_at"] = unixTime(m.LastUsedAt)
	}
	return out
}

// unixTime formats a Unix time as RFC 3339.
func unixTime(t int64) string { return time.Unix(t, 0).UTC().Format(time.RFC3339) }

func (s *Server) apiChangePassword(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.changePassword(r.Context(), r, in.Current, in.New); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiSetLocale stores the user's language: {"locale": "ms"}; "" goes back
// to following the browser.
func (s *Server) apiSetLocale(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Locale *string `json:"locale"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Locale == nil {
		return &portal.Error{Code: portal.EINVALID, Message: "Say which language: for example {\"locale\": \"ms\"}.", Field: "locale"}
	}
	u := state(r).user
	code := ""
	if *in.Locale != "" {
		l, ok := s.catalog().Get(*in.Locale)
		if !ok {
			return &portal.Error{Code: portal.EINVALID, Message: "The portal does not speak that language.", Field: "locale"}
		}
		code = l.Code
	}
	if err := s.Store.SetLocale(r.Context(), u.ID, code); err != nil {
		return err
	}
	u.Locale = code
	w.WriteHeader(http.StatusNoContent)
	return nil
}
