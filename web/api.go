package web

import (
	"net/http"

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
	u, err := s.register(r.Context(), in.Email, in.Name, in.Password)
	if err != nil {
		return err
	}
	s.event(r, u.ID, portal.EventUserCreated, "Registered")
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
	if err := s.reauth(r.Context(), r, in.Password); err != nil {
		return err
	}
	until := s.now().Add(s.Sessions.Reauth).UTC().Format("2006-01-02T15:04:05Z07:00")
	writeJSON(w, http.StatusOK, map[string]string{"until": until})
	return nil
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) error {
	u := state(r).user
	writeJSON(w, http.StatusOK, map[string]any{
		"id": u.ID, "email": u.Email, "name": u.Name, "role": u.Role, "account_id": u.AccountID,
		"twofa": map[string]any{"enabled": false, "methods": []any{}, "preferred": nil, "backup_codes_remaining": 0},
	})
	return nil
}

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
