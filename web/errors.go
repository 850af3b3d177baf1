package web

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/clientportal/portal/i18n"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clientportal/portal"
)

// statuses maps error codes to HTTP statuses: the one table.
var statuses = map[string]int{
	portal.EINVALID:       http.StatusBadRequest,
	portal.ECREDENTIALS:   http.StatusUnauthorized,
	portal.ECODE:          http.StatusUnauthorized,
	portal.E2FAREQUIRED:   http.StatusUnauthorized,
	portal.EUNAUTHORIZED:  http.StatusUnauthorized,
	portal.EFORBIDDEN:     http.StatusForbidden,
	portal.EREAUTH:        http.StatusForbidden,
	portal.ESETUPREQUIRED: http.StatusForbidden,
	portal.ENOTFOUND:      http.StatusNotFound,
	portal.ECONFLICT:      http.StatusConflict,
	portal.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	portal.ERATELIMIT:     http.StatusTooManyRequests,
	portal.EUNAVAILABLE:   http.StatusServiceUnavailable,
	portal.EINTERNAL:      http.StatusInternalServerError,
}

// wrap turns an error-returning handler into an http.Handler.
func (s *Server) wrap(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.Error(w, r, err)
		}
	})
}

// Error writes err as JSON for the API and as a page otherwise. Internal
// errors are logged with the request id and shown as a generic sentence.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	code := portal.ErrorCode(err)
	st := state(r)
	if code == portal.EINTERNAL && unreachable(err) {
		// The database (or another service) is down or restarting: say so,
		// and when to try again, rather than that something broke.
		s.Logger.Error("service unreachable", "request_id", st.id, "path", r.URL.Path, "err", err)
		err = &portal.Error{Code: portal.EUNAVAILABLE, Message: "The service is briefly unavailable. Try again in a few seconds.", RetryAfter: 5 * time.Second}
		code = portal.EUNAVAILABLE
	} else if code == portal.EINTERNAL {
		s.Logger.Error("internal error", "request_id", st.id, "path", r.URL.Path, "err", err)
	}
	status := statuses[code]
	var e *portal.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	if isAPI(r) || strings.Contains(r.Header.Get("Accept"), "application/json") && !strings.Contains(r.Header.Get("Accept"), "text/html") {
		writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message(s.lang(r), err)}})
		return
	}
	s.render(w, r, status, "error", &page{Title: statusTitle(s.lang(r), status), Error: message(s.lang(r), err), Data: map[string]any{"Status": status, "Code": code}})
}

// statusTitle is the error page's title: the status's name (as
// http.StatusText says it in English) in l's language.
func statusTitle(l *i18n.Localizer, status int) string {
	switch status {
	case http.StatusBadRequest:
		return l.T("Bad Request")
	case http.StatusUnauthorized:
		return l.T("Unauthorized")
	case http.StatusForbidden:
		return l.T("Forbidden")
	case http.StatusNotFound:
		return l.T("Not Found")
	case http.StatusConflict:
		return l.T("Conflict")
	case http.StatusRequestEntityTooLarge:
		return l.T("Request Entity Too Large")
	case http.StatusTooManyRequests:
		return l.T("Too Many Requests")
	case http.StatusServiceUnavailable:
		return l.T("Service Unavailable")
	case http.StatusInternalServerError:
		return l.T("Internal Server Error")
	}
	return http.StatusText(status)
}

// unreachable reports whether err comes from a connection that failed or
// could not be made (a database restarting), not from a bad query.
func unreachable(err error) bool {
	var op *net.OpError
	// Drivers mark errors of statements never sent (a closed connection)
	// as safe to retry.
	var unsent interface{ SafeToRetry() bool }
	return errors.As(err, &op) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &unsent) && unsent.SafeToRetry()
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}

// decodeJSON reads one JSON object into v, turning every kind of bad input
// into a sentence a person understands, and checks every string in it with
// portal.CheckText (see checkJSON).
func decodeJSON(r *http.Request, v any) error {
	// The body is small (limitBody) and read once: the decoder reads it from
	// memory, and checkJSON sees the bytes it decoded.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return portal.Errorf(portal.ETOOLARGE, "The request is too large.")
		}
		return portal.Errorf(portal.EINVALID, "The request body could not be read.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	err = dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return portal.Errorf(portal.EINVALID, "The request body must hold a single JSON object.")
		}
		return checkJSON(body, v)
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return portal.Errorf(portal.EINVALID, "The request body is empty; send a JSON object.")
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return portal.Errorf(portal.EINVALID, "The request body is not valid JSON.")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return portal.Errorf(portal.EINVALID, "The request body must be a JSON object.")
		}
		return portal.Msg(portal.EINVALID, "The field \"{{.Field}}\" must be {{.Kind}}.", "Field", typ.Field, "Kind", jsonKind(typ.Type.Kind().String()))
	}
	return portal.Errorf(portal.EINVALID, "The request body could not be read.")
}

// jsonKind names a Go kind as a JSON type, for a person (a message ID;
// other kinds are shown as "JSON slice" and the like, untranslated).
func jsonKind(k string) i18n.Text {
	switch k {
	case "string":
		return i18n.Text("string")
	case "bool":
		return i18n.Text("boolean")
	case "int", "int64", "float64", "uint32":
		return i18n.Text("number")
	}
	return i18n.Text(fmt.Sprintf("JSON %s", k))
}

// formValues parses the posted form and checks every value with
// portal.CheckText. Handlers show its error on the form they serve.
func formValues(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return portal.Errorf(portal.ETOOLARGE, "The request is too large.")
		}
		return portal.Errorf(portal.EINVALID, "The form could not be read.")
	}
	return checkForm(r)
}

// aboutField is err about field when it names none (a copy: errors may be
// shared values); a wrong password stays about the password.
func aboutField(err error, field string) error {
	var e *portal.Error
	if !errors.As(err, &e) || e.Field != "" || e.Code == portal.ECREDENTIALS {
		return err
	}
	c := *e
	c.Field = field
	return &c
}

// setField is err about field, whatever it named (a copy).
func setField(err error, field string) error {
	var e *portal.Error
	if !errors.As(err, &e) {
		return err
	}
	c := *e
	c.Field = field
	return &c
}

// fieldOf is the form field err is about, or "".
func fieldOf(err error) string {
	var e *portal.Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// logAttrs is a short helper for request-scoped log lines.
func logAttrs(r *http.Request) slog.Attr { return slog.String("request_id", state(r).id) }
