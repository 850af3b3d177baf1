package web

import (
	"context"
	"net/http"

	"github.com/clientportal/portal"
)

// enrolYubicoOTP binds a YubiKey to the user: the OTP it types is checked
// with the validation servers, and its public id is stored.
func (s *Server) enrolYubicoOTP(ctx context.Context, r *http.Request, otp, name string) (*portal.Method, []string, error) {
	if s.YubicoOTP == nil {
		return nil, nil, portal.Errorf(portal.ENOTFOUND, "YubiKey one-time passwords are not offered here.")
	}
	if err := s.requireRecent(r); err != nil {
		return nil, nil, err
	}
	name, err := keyName(name, "YubiKey")
	if err != nil {
		return nil, nil, err
	}
	u := state(r).user
	tf, err := s.twoFactor(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	id, err := s.YubicoOTP.Check(ctx, otp)
	if err != nil {
		s.logSendError(r, portal.MethodYubicoOTP, err)
		return nil, nil, err
	}
	for _, m := range tf.Methods {
		if m.Type == portal.MethodYubicoOTP && m.Data == id {
			return nil, nil, portal.Errorf(portal.ECONFLICT, "This YubiKey is already registered.")
		}
	}
	m := &portal.Method{ID: portal.NewID(), UserID: u.ID, Type: portal.MethodYubicoOTP, Name: name, Data: id, CreatedAt: s.now().Unix()}
	if err := s.Store.CreateMethod(ctx, m); err != nil {
		return nil, nil, err
	}
	codes, err := s.confirmMethod(ctx, r, m)
	return m, codes, err
}

func (s *Server) apiYubicoEnrol(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		OTP  string `json:"otp"`
		Name string `json:"name"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	m, codes, err := s.enrolYubicoOTP(r.Context(), r, in.OTP, in.Name)
	if err != nil {
		return err
	}
	return writeConfirmed(w, m, codes)
}

func (s *Server) handleYubicoEnrol(w http.ResponseWriter, r *http.Request) error {
	err := formValues(r)
	if s.requireRecent(r) != nil {
		reauthFirst(w, r, "/account/2fa")
		return nil
	}
	var codes []string
	if err == nil {
		_, codes, err = s.enrolYubicoOTP(r.Context(), r, r.PostForm.Get("otp"), r.PostForm.Get("name"))
	}
	if err != nil {
		p, perr := s.twoFactorStartPage(r)
		if perr != nil {
			return perr
		}
		if fieldOf(err) == "" {
			err = setField(err, "otp")
		}
		return s.formError(w, r, "twofa_start", p, err)
	}
	return s.showConfirmed(w, r, codes)
}
