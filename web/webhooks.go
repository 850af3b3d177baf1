package web

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/webhook"
)

// Webhook endpoints: staff register a receiver's address and the event
// types it wants; the signing secret is shown once and kept sealed.

// CreateWebhook registers an endpoint and returns it with its secret.
func (s *Server) CreateWebhook(ctx context.Context, rawURL string, types []string) (*portal.WebhookEndpoint, string, error) {
	u, err := webhook.CheckURL(rawURL, s.WebhookAllowPrivate)
	if err != nil {
		// A portal error keeps its catalogue key; a plain one's sentence
		// is its own message ID.
		var perr *portal.Error
		if errors.As(err, &perr) {
			e := *perr
			e.Code, e.Field = portal.EINVALID, "url"
			return nil, "", &e
		}
		return nil, "", &portal.Error{Code: portal.EINVALID, Message: err.Error(), Field: "url"}
	}
	var chosen []string
	for _, t := range types {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if !contains(portal.WebhookTypeList, t) {
			e := portal.Msg(portal.EINVALID, "Unknown event type \"{{.Type}}\". Types: {{.Types}}.", "Type", portal.CleanText(t, 40), "Types", strings.Join(portal.WebhookTypeList, ", "))
			e.Field = "types"
			return nil, "", e
		}
		if !contains(chosen, t) {
			chosen = append(chosen, t)
		}
	}
	if len(chosen) == 0 {
		return nil, "", &portal.Error{Code: portal.EINVALID, Message: "Choose at least one event type.", Field: "types"}
	}
	if s.Keys == nil {
		return nil, "", portal.Errorf(portal.EUNAVAILABLE, "Webhooks need the portal's keys.")
	}
	now := s.now()
	secret := webhook.NewSecret()
	e := &portal.WebhookEndpoint{ID: portal.NewID(), URL: u, Types: chosen, CreatedAt: now.Unix(),
		// Only what happens from now on (ids carry the writer's wall clock).
		Start: portal.NewEventID(now)[:16]}
	e.Secret = s.Keys.Seal(e.ID, []byte(secret))
	if err := s.Store.CreateWebhook(ctx, e); err != nil {
		return nil, "", err
	}
	return e, secret, nil
}

func webhookJSON(e *portal.WebhookEndpoint) map[string]any {
	return map[string]any{"id": e.ID, "url": e.URL, "types": e.Types, "created_at": unixTime(e.CreatedAt)}
}

func deliveryJSON(d *portal.WebhookDelivery) map[string]any {
	status := "pending"
	switch {
	case d.DeliveredAt > 0:
		status = "delivered"
	case d.FailedAt > 0:
		status = "failed"
	}
	return map[string]any{"id": d.ID, "type": d.Type, "event_id": d.EventID, "status": status, "attempts": d.Attempts,
		"response_code": d.LastStatus, "error": d.LastError, "created_at": unixTime(d.CreatedAt), "next_at": optTime(d.NextAt),
		"delivered_at": optTime(d.DeliveredAt)}
}

func (s *Server) apiAdminWebhooks(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Store.Webhooks(r.Context())
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, e := range list {
		out = append(out, webhookJSON(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out, "types": portal.WebhookTypeList})
	return nil
}

func (s *Server) apiAdminWebhookCreate(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		URL   string   `json:"url"`
		Types []string `json:"types"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.requireRecent(r); err != nil {
		return err
	}
	e, secret, err := s.CreateWebhook(r.Context(), in.URL, in.Types)
	if err != nil {
		return err
	}
	s.event(r, state(r).user.ID, portal.EventWebhookSaved, e.URL)
	out := webhookJSON(e)
	out["secret"] = secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) deleteWebhook(r *http.Request, id string) error {
	if err := s.requireRecent(r); err != nil {
		return err
	}
	if err := s.Store.DeleteWebhook(r.Context(), id); err != nil {
		if errors.Is(err, portal.ErrNotFound) {
			return portal.Errorf(portal.ENOTFOUND, "There is no such webhook endpoint.")
		}
		return err
	}
	s.event(r, state(r).user.ID, portal.EventWebhookDeleted, id)
	return nil
}

func (s *Server) apiAdminWebhookDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.deleteWebhook(r, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiAdminWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Store.WebhookDeliveries(r.Context(), r.PathValue("id"), 100)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, d := range list {
		out = append(out, deliveryJSON(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": out})
	return nil
}

func (s *Server) resendWebhook(r *http.Request, id string) error {
	if err := s.Store.ResendWebhook(r.Context(), id, s.now().Unix()); err != nil {
		if errors.Is(err, portal.ErrNotFound) {
			return portal.Errorf(portal.ENOTFOUND, "There is no such delivery.")
		}
		return err
	}
	s.event(r, state(r).user.ID, portal.EventWebhookResent, id)
	return nil
}

func (s *Server) apiAdminWebhookResend(w http.ResponseWriter, r *http.Request) error {
	if err := s.resendWebhook(r, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// webhooksPage is the console's Webhooks page: each endpoint with its
// newest deliveries.
func (s *Server) webhooksPage(r *http.Request) (*page, error) {
	list, err := s.Store.Webhooks(r.Context())
	if err != nil {
		return nil, err
	}
	type view struct {
		*portal.WebhookEndpoint
		Deliveries []map[string]any
	}
	var views []view
	var confirm *confirmation
	q := r.URL.Query()
	for _, e := range list {
		ds, err := s.Store.WebhookDeliveries(r.Context(), e.ID, 10)
		if err != nil {
			return nil, err
		}
		v := view{WebhookEndpoint: e}
		for _, d := range ds {
			v.Deliveries = append(v.Deliveries, deliveryJSON(d))
		}
		views = append(views, v)
		if q.Get("confirm") == "delete-webhook" && q.Get("id") == e.ID {
			l := s.lang(r)
			confirm = &confirmation{Question: l.T("Delete the endpoint {{.URL}}?", "URL", e.URL), Detail: l.T("It gets no more events; its delivery log goes too."),
				Action: "/admin/webhooks/" + e.ID + "/delete", Button: l.T("Delete"), Cancel: "/admin/webhooks", Danger: true}
		}
	}
	return &page{Title: "Webhooks", Form: map[string]string{}, Data: map[string]any{"Endpoints": views, "Types": portal.WebhookTypeList, "Confirm": confirm}}, nil
}

func (s *Server) handleAdminWebhooks(w http.ResponseWriter, r *http.Request) error {
	p, err := s.webhooksPage(r)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "admin_webhooks", p)
	return nil
}

func (s *Server) handleAdminWebhooksForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	if err := s.requireRecent(r); err != nil {
		reauthFirst(w, r, "/admin/webhooks")
		return nil
	}
	e, secret, err := s.CreateWebhook(r.Context(), r.PostForm.Get("url"), r.PostForm["types"])
	p, perr := s.webhooksPage(r)
	if perr != nil {
		return perr
	}
	if err != nil {
		p.Form["url"] = r.PostForm.Get("url")
		return s.formError(w, r, "admin_webhooks", p, err)
	}
	s.event(r, state(r).user.ID, portal.EventWebhookSaved, e.URL)
	if p, err = s.webhooksPage(r); err != nil {
		return err
	}
	p.Data["Created"], p.Data["Secret"] = e, secret
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, "admin_webhooks", p)
	return nil
}

func (s *Server) handleAdminWebhookDelete(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	if err := s.deleteWebhook(r, r.PathValue("id")); err != nil {
		if portal.ErrorCode(err) == portal.EREAUTH {
			reauthFirst(w, r, "/admin/webhooks")
			return nil
		}
		return err
	}
	s.setFlash(w, "webhook_deleted")
	redirect(w, r, "/admin/webhooks")
	return nil
}

func (s *Server) handleAdminWebhookResend(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	if err := s.resendWebhook(r, r.PathValue("id")); err != nil {
		return err
	}
	s.setFlash(w, "webhook_resent")
	redirect(w, r, "/admin/webhooks")
	return nil
}
