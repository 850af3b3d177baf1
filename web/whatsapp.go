package web

import (
	"context"
	"net/http"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/i18n"
	"github.com/clientportal/portal/mfa"
)

// beginWhatsApp starts enrolling a WhatsApp number (a new number is a new
// method): the number is validated, normalised to E.164 and sent a code.
func (s *Server) beginWhatsApp(ctx context.Context, r *http.Request, phone string) (*mfa.Sent, error) {
	if err := s.requireRecent(r); err != nil {
		return nil, err
	}
	if s.WhatsApp == nil {
		return nil, portal.Errorf(portal.ENOTFOUND, "WhatsApp codes are not offered here.")
	}
	// Paid messages are for customers we can reach: a throw-away account
	// with no verified address sends none.
	if state(r).user.EmailVerifiedAt == 0 {
		return nil, portal.Errorf(portal.ECONFLICT, "Verify your email address first: use the link we emailed you, or ask for a new one on the Security page.")
	}
	e164, err := mfa.NormalizePhone(phone)
	if err != nil {
		return nil, err
	}
	return s.beginCodeMethod(ctx, r, s.WhatsApp, e164)
}

// confirmWhatsApp confirms the pending number; a previous WhatsApp number
// is replaced by it.
func (s *Server) confirmWhatsApp(ctx context.Context, r *http.Request, code string) (*portal.Method, []string, error) {
	if s.WhatsApp == nil {
		return nil, nil, portal.Errorf(portal.ENOTFOUND, "WhatsApp codes are not offered here.")
	}
	m, codes, err := s.confirmCodeMethod(ctx, r, s.WhatsApp, code)
	if err != nil {
		return nil, nil, err
	}
	u := state(r).user
	tf, err := s.twoFactor(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	for _, old := range tf.Methods {
		if old.Type == portal.MethodWhatsApp && old.ID != m.ID {
			rec, err := s.record(r, u, portal.EventMethodRemoved, "WhatsApp number "+mfa.MaskPhone(old.Data)+" replaced by "+mfa.MaskPhone(m.Data)+".")
			if err != nil {
				return nil, nil, err
			}
			if err := s.Store.DeleteMethod(ctx, u.ID, old.ID, rec); err != nil {
				return nil, nil, err
			}
			s.queued()
		}
	}
	return m, codes, nil
}

func (s *Server) apiWhatsAppBegin(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Phone string `json:"phone"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	sent, err := s.beginWhatsApp(r.Context(), r, in.Phone)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, sentJSON(sent))
	return nil
}

func (s *Server) apiWhatsAppConfirm(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Code string `json:"code"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	m, codes, err := s.confirmWhatsApp(r.Context(), r, in.Code)
	if err != nil {
		return err
	}
	return writeConfirmed(w, m, codes)
}

func (s *Server) handleWhatsAppBegin(w http.ResponseWriter, r *http.Request) error {
	err := formValues(r)
	if s.requireRecent(r) != nil {
		reauthFirst(w, r, "/account/2fa")
		return nil
	}
	phone := r.PostForm.Get("phone")
	if err == nil {
		_, err = s.beginWhatsApp(r.Context(), r, phone)
	}
	if err != nil {
		p, perr := s.codeSetupPage(r, s.whatsAppEnroller(), i18n.Text("Add WhatsApp as a two-factor method"))
		if perr != nil {
			return perr
		}
		if fieldOf(err) == "phone" {
			// A new number was refused: ask for it again.
			delete(p.Data, "Retry")
		}
		p.Form = map[string]string{"phone": phone}
		return s.formError(w, r, "whatsapp_setup", p, err)
	}
	s.setFlash(w, "code_sent")
	redirect(w, r, "/account/2fa/whatsapp")
	return nil
}

func (s *Server) handleWhatsAppSetupPage(w http.ResponseWriter, r *http.Request) error {
	if s.WhatsApp == nil {
		return portal.Errorf(portal.ENOTFOUND, "WhatsApp codes are not offered here.")
	}
	p, err := s.codeSetupPage(r, s.whatsAppEnroller(), i18n.Text("Add WhatsApp as a two-factor method"))
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "whatsapp_setup", p)
	return nil
}

func (s *Server) handleWhatsAppConfirm(w http.ResponseWriter, r *http.Request) error {
	err := formValues(r)
	if s.requireRecent(r) != nil {
		reauthFirst(w, r, "/account/2fa")
		return nil
	}
	var codes []string
	if err == nil {
		_, codes, err = s.confirmWhatsApp(r.Context(), r, r.PostForm.Get("code"))
	}
	if err != nil {
		p, perr := s.codeSetupPage(r, s.whatsAppEnroller(), i18n.Text("Add WhatsApp as a two-factor method"))
		if perr != nil {
			return perr
		}
		p.Data["Retry"] = true
		return s.formError(w, r, "whatsapp_setup", p, setField(err, "code"))
	}
	return s.showConfirmed(w, r, codes)
}
