package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/i18n"
)

// adminFilter reads the user-list filters from the query string.
func adminFilter(q url.Values) (portal.UserFilter, error) {
	f := portal.UserFilter{TwoFA: q.Get("twofa"), Method: q.Get("method"), Role: q.Get("role"), AccountID: q.Get("account"), Query: q.Get("q"), Cursor: q.Get("cursor")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return f, &portal.Error{Code: portal.EINVALID, Field: "limit", Message: "The page size must be a number between 1 and 200."}
		}
		f.Limit = n
	}
	return f.Normalize()
}

func (s *Server) adminUserJSON(row *portal.UserRow) map[string]any {
	methods := row.Methods
	if methods == nil {
		methods = []string{}
	}
	return map[string]any{"id": row.ID, "email": row.Email, "name": row.Name, "role": row.Role, "account_id": row.AccountID,
		"created_at": unixTime(row.CreatedAt), "last_login_at": optionalTime(row.LastLoginAt), "failed_attempts": row.FailedAttempts,
		"twofa": map[string]any{"enabled": row.TwoFA, "methods": methods}}
}

func (s *Server) apiAdminUsers(w http.ResponseWriter, r *http.Request) error {
	f, err := adminFilter(r.URL.Query())
	if err != nil {
		return err
	}
	rows, next, err := s.Store.ListUsers(r.Context(), f)
	if err != nil {
		return err
	}
	users := []map[string]any{}
	for _, row := range rows {
		users = append(users, s.adminUserJSON(row))
	}
	var nc any
	if next != "" {
		nc = next
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users, "next_cursor": nc})
	return nil
}

// methodLabels names method types for people, in l's language.
func (s *Server) methodLabels(l *i18n.Localizer, types []string) string {
	var out []string
	for _, t := range types {
		if f := s.Factors.Get(t); f != nil {
			out = append(out, i18n.Text(f.Label()).Localize(l))
		} else {
			out = append(out, t)
		}
	}
	return strings.Join(out, ", ")
}

func (s *Server) handleAdminUsers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f, ferr := adminFilter(q)
	p := &page{Title: "All users", Form: map[string]string{"twofa": q.Get("twofa"), "method": q.Get("method"), "role": q.Get("role"), "account": q.Get("account"), "q": q.Get("q")}}
	if ferr != nil {
		p.Data = map[string]any{}
		return s.formError(w, r, "admin_users", p, ferr)
	}
	rows, next, err := s.Store.ListUsers(r.Context(), f)
	if err != nil {
		return s.formError(w, r, "admin_users", &page{Title: "All users", Form: p.Form, Data: map[string]any{}}, err)
	}
	var accounts []string
	for _, row := range rows {
		accounts = append(accounts, row.AccountID)
	}
	owners, err := s.Store.AccountOwners(r.Context(), accounts)
	if err != nil {
		return err
	}
	l := s.lang(r)
	var views []map[string]any
	for _, row := range rows {
		views = append(views, map[string]any{"Row": row, "Methods": s.methodLabels(l, row.Methods), "Owner": owners[row.AccountID]})
	}
	nextQ := url.Values{}
	for k, v := range p.Form {
		if v != "" {
			nextQ.Set(k, v)
		}
	}
	export := "/admin/users/export.csv?" + nextQ.Encode()
	if next != "" {
		nextQ.Set("cursor", next)
	}
	p.Data = map[string]any{"Rows": views, "Next": next, "NextQuery": nextQ.Encode(), "Export": export}
	s.render(w, r, http.StatusOK, "admin_users", p)
	return nil
}

// handleAdminExport streams the filtered list as CSV, page by page.
func (s *Server) handleAdminExport(w http.ResponseWriter, r *http.Request) error {
	f, err := adminFilter(r.URL.Query())
	if err != nil {
		return err
	}
	f.Limit = portal.MaxUserPage
	// The first page is read before the header goes out, so that a bad
	// cursor is still a 400.
	rows, next, err := s.Store.ListUsers(r.Context(), f)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="users.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	// The cells people read (role, two-factor status, methods) are in the
	// language of the request; the header's keys stay as they are.
	l := s.lang(r)
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "email", "name", "role", "account_owner_name", "account_owner_email", "account_id", "two_factor", "methods", "created_at", "last_login_at", "failed_attempts"})
	for {
		var accounts []string
		for _, row := range rows {
			accounts = append(accounts, row.AccountID)
		}
		owners, err := s.Store.AccountOwners(r.Context(), accounts)
		if err != nil {
			s.Logger.Error("csv export", logAttrs(r), "err", err)
			return nil // the header is out; the truncated file is the signal
		}
		for _, row := range rows {
			ownerName, ownerEmail := "", ""
			if o := owners[row.AccountID]; o != nil {
				ownerName, ownerEmail = o.Name, o.Email
			}
			status := l.T("Not activated")
			if row.TwoFA {
				status = l.T("Activated")
			}
			last := ""
			if row.LastLoginAt > 0 {
				last = unixTime(row.LastLoginAt)
			}
			cw.Write([]string{row.ID, csvSafe(row.Email), csvSafe(row.Name), csvSafe(i18n.Text(roleLabel(row.Role)).Localize(l)), csvSafe(ownerName), csvSafe(ownerEmail), row.AccountID, csvSafe(status), csvSafe(s.methodLabels(l, row.Methods)),
				unixTime(row.CreatedAt), last, strconv.Itoa(row.FailedAttempts)})
		}
		cw.Flush()
		if next == "" || cw.Error() != nil {
			return nil
		}
		f.Cursor = next
		if rows, next, err = s.Store.ListUsers(r.Context(), f); err != nil {
			s.Logger.Error("csv export", logAttrs(r), "err", err)
			return nil // the header is out; the truncated file is the signal
		}
	}
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// adminUser loads the user a staff page is about.
func (s *Server) adminUser(ctx context.Context, id string) (*portal.User, error) {
	u, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return nil, portal.Errorf(portal.ENOTFOUND, "There is no such user.")
	}
	return u, nil
}

func (s *Server) adminUserPage(r *http.Request, id string) (*page, error) {
	ctx := r.Context()
	u, err := s.adminUser(ctx, id)
	if err != nil {
		return nil, err
	}
	tf, err := s.twoFactor(ctx, u)
	if err != nil {
		return nil, err
	}
	events, err := s.Store.UserEvents(ctx, u.ID, 50)
	if err != nil {
		return nil, err
	}
	browsers, err := s.Store.UserBrowsers(ctx, u.ID, s.now().Unix())
	if err != nil {
		return nil, err
	}
	l := s.lang(r)
	var methods []map[string]any
	for _, m := range tf.Methods {
		// The method's own name is shown unless it only repeats the label
		// (in English or in l's language).
		label, name := s.methodLabels(l, []string{m.Type}), m.Name
		if name == label || name == s.methodLabels(s.catalog().Default(), []string{m.Type}) {
			name = ""
		}
		methods = append(methods, map[string]any{"Label": label, "Name": name, "CreatedAt": m.CreatedAt, "LastUsedAt": m.LastUsedAt})
	}
	var bs []map[string]any
	for _, b := range browsers {
		bs = append(bs, map[string]any{"Name": browserName(b.UserAgent), "IP": b.IP, "LastUsedAt": b.LastUsedAt})
	}
	owners, err := s.Store.AccountOwners(ctx, []string{u.AccountID})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range events {
		ids = append(ids, e.ActorID)
	}
	people, err := s.Store.UsersByIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	apps, err := s.Store.UserApps(ctx, u.ID, s.now().Unix())
	if err != nil {
		return nil, err
	}
	sessions, err := s.sessionViews(r, u.ID)
	if err != nil {
		return nil, err
	}
	return &page{Title: u.Name, Data: map[string]any{"Subject": u, "Owner": owners[u.AccountID], "People": people, "TwoFactor": tf, "Methods": methods,
		"Events": events, "Browsers": bs, "Apps": apps, "Sessions": sessions}}, nil
}

func (s *Server) handleAdminUser(w http.ResponseWriter, r *http.Request) error {
	p, err := s.adminUserPage(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "admin_user", p)
	return nil
}

// staffReset resets a user's 2FA: recent authentication and a reason are
// required; the audit event names who and why.
func (s *Server) staffReset(r *http.Request, id, reason string) error {
	if err := s.requireRecent(r); err != nil {
		return err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return &portal.Error{Code: portal.EINVALID, Message: "Give a reason: it is recorded and sent to the user.", Field: "reason"}
	}
	if len(reason) > 500 {
		return &portal.Error{Code: portal.EINVALID, Message: "Keep the reason under 500 characters.", Field: "reason"}
	}
	u, err := s.adminUser(r.Context(), id)
	if err != nil {
		return err
	}
	if u.IsStaff() && state(r).token != nil {
		return errTokenStaff
	}
	staff := state(r).user
	s.Logger.Info("staff reset 2FA", logAttrs(r), "user_id", u.ID, "staff_id", staff.ID)
	return s.ResetTwoFactor(r.Context(), u.ID, staff.ID, reason+" (by "+staff.Email+")")
}

func (s *Server) apiAdminReset(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.staffReset(r, r.PathValue("id"), in.Reason); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleAdminReset(w http.ResponseWriter, r *http.Request) error {
	err := formValues(r)
	id := r.PathValue("id")
	if err == nil {
		err = s.staffReset(r, id, r.PostForm.Get("reason"))
	}
	if err != nil {
		if portal.ErrorCode(err) == portal.EREAUTH {
			reauthFirst(w, r, "/admin/users/"+id)
			return nil
		}
		p, perr := s.adminUserPage(r, id)
		if perr != nil {
			return perr
		}
		return s.formError(w, r, "admin_user", p, err)
	}
	s.setFlash(w, "reset")
	redirect(w, r, "/admin/users/"+id)
	return nil
}

// recoveryPage builds the recovery queue; ?confirm=approve|deny&id= asks
// before deciding.
func (s *Server) recoveryPage(r *http.Request) (*page, error) {
	pending, err := s.Store.Recoveries(r.Context(), portal.RecoveryPending, 200)
	if err != nil {
		return nil, err
	}
	recent, err := s.Store.Recoveries(r.Context(), "", 50)
	if err != nil {
		return nil, err
	}
	var confirm *confirmation
	q := r.URL.Query()
	for _, req := range pending {
		if req.ID != q.Get("id") {
			continue
		}
		l := s.lang(r)
		switch q.Get("confirm") {
		case "approve":
			confirm = &confirmation{Question: l.T("Approve the recovery request of {{.Name}} ({{.Email}})?", "Name", req.Name, "Email", req.Email),
				Detail: l.T("Only if you verified who they are. Their two-factor authentication is removed after the waiting period; they are told now and can cancel by signing in with 2FA."),
				Action: "/admin/recovery/" + req.ID + "/approve", Button: l.T("Approve"), Cancel: "/admin/recovery", Note: l.T("Note to the user (optional)")}
		case "deny":
			confirm = &confirmation{Question: l.T("Deny the recovery request of {{.Name}} ({{.Email}})?", "Name", req.Name, "Email", req.Email), Detail: l.T("They are told, with your note."),
				Action: "/admin/recovery/" + req.ID + "/deny", Button: l.T("Deny"), Cancel: "/admin/recovery", Note: l.T("Why (sent to the user)"), Danger: true}
		}
	}
	return &page{Title: "Recovery requests", Data: map[string]any{"Confirm": confirm, "Pending": pending, "Recent": recent}}, nil
}

func (s *Server) handleAdminRecovery(w http.ResponseWriter, r *http.Request) error {
	p, err := s.recoveryPage(r)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "admin_recovery", p)
	return nil
}

func (s *Server) handleAdminRecoveryDecide(w http.ResponseWriter, r *http.Request) error {
	err := formValues(r)
	approve := strings.HasSuffix(r.URL.Path, "/approve")
	if err == nil {
		_, err = s.decideRecovery(r.Context(), r, r.PathValue("id"), approve, r.PostForm.Get("note"))
	}
	if err != nil {
		if portal.ErrorCode(err) == portal.EREAUTH {
			reauthFirst(w, r, "/admin/recovery")
			return nil
		}
		p, perr := s.recoveryPage(r)
		if perr != nil {
			return perr
		}
		return s.formError(w, r, "admin_recovery", p, err)
	}
	if approve {
		s.setFlash(w, "approved")
	} else {
		s.setFlash(w, "denied")
	}
	redirect(w, r, "/admin/recovery")
	return nil
}

// eventFilter reads the event-log filters.
func (s *Server) eventFilter(ctx context.Context, q url.Values) (portal.EventFilter, error) {
	f := portal.EventFilter{Type: strings.TrimSpace(q.Get("type")), Before: q.Get("before"), Limit: 100}
	if who := strings.TrimSpace(q.Get("user")); who != "" {
		if strings.Contains(who, "@") {
			u, err := s.Store.UserByEmail(ctx, who)
			if err != nil {
				return f, &portal.Error{Code: portal.EINVALID, Field: "user", Message: "No user has that email address."}
			}
			who = u.ID
		}
		f.UserID = who
	}
	for _, d := range []struct {
		key string
		dst *int64
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(d.key); v != "" {
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				if t, err = time.Parse(time.RFC3339, v); err != nil {
					return f, &portal.Error{Code: portal.EINVALID, Field: d.key, Message: "Dates look like 2026-03-01."}
				}
			}
			*d.dst = t.Unix()
		}
	}
	if len(f.Type) > 64 {
		return f, portal.Errorf(portal.EINVALID, "The filter is too long.")
	}
	if after, ok := q["after"]; ok {
		// Reading forward, for a system that follows the log: events
		// newer than the cursor, oldest first, up to 5 seconds ago (an
		// event written late in its transaction is not passed over).
		if a := after[0]; a != "" && !portal.ValidEventID(a) {
			return f, &portal.Error{Code: portal.EINVALID, Field: "after", Message: "The cursor is not valid. Start again with after= (empty) or the last id you read."}
		}
		f.Forward, f.After = true, after[0]
		// Event ids carry the database writer's wall clock.
		f.Before = fmt.Sprintf("%016x", time.Now().Add(-s.eventSettle()).UnixNano())
		return f, nil
	}
	if f.Before != "" && !portal.ValidEventID(f.Before) {
		return f, &portal.Error{Code: portal.EINVALID, Field: "before", Message: "The page cursor is not valid. Start again from the first page."}
	}
	return f, nil
}

func (s *Server) apiAdminEvents(w http.ResponseWriter, r *http.Request) error {
	f, err := s.eventFilter(r.Context(), r.URL.Query())
	if err != nil {
		return err
	}
	evs, err := s.Store.Events(r.Context(), f)
	if err != nil {
		return err
	}
	l := s.lang(r)
	out := []map[string]any{}
	for _, e := range evs {
		out = append(out, map[string]any{"id": e.ID, "user_id": e.UserID, "actor_id": e.ActorID, "type": e.Type, "title": i18n.Text(portal.EventTitle(e.Type)).Localize(l),
			"detail": e.Detail, "ip": e.IP, "created_at": unixTime(e.CreatedAt)})
	}
	if f.Forward {
		// The cursor to ask with next: the last event read, or the same.
		next := f.After
		if len(evs) > 0 {
			next = evs[len(evs)-1].ID
		}
		writeJSON(w, http.StatusOK, map[string]any{"events": out, "next_after": next})
		return nil
	}
	var next any
	if len(evs) == f.Limit {
		next = evs[len(evs)-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "next_before": next})
	return nil
}

func (s *Server) handleAdminEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	p := &page{Title: "Security events", Form: map[string]string{"user": q.Get("user"), "type": q.Get("type"), "since": q.Get("since"), "until": q.Get("until")}, Data: map[string]any{}}
	f, err := s.eventFilter(r.Context(), q)
	if err != nil {
		return s.formError(w, r, "admin_events", p, err)
	}
	evs, err := s.Store.Events(r.Context(), f)
	if err != nil {
		return err
	}
	p.Data["Events"] = evs
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.UserID, e.ActorID)
	}
	people, err := s.Store.UsersByIDs(r.Context(), ids)
	if err != nil {
		return err
	}
	p.Data["People"] = people
	if len(evs) == f.Limit {
		nq := url.Values{}
		for k, v := range p.Form {
			if v != "" {
				nq.Set(k, v)
			}
		}
		nq.Set("before", evs[len(evs)-1].ID)
		p.Data["NextQuery"] = nq.Encode()
	}
	s.render(w, r, http.StatusOK, "admin_events", p)
	return nil
}

// statsTTL is how long adoption numbers are reused: they count the whole
// user table (100–200 ms at a million users), and a minute old is fresh
// enough for a chart or a Prometheus scrape.
const statsTTL = time.Minute

// statsCache holds the last adoption numbers.
type statsCache struct {
	mu   sync.Mutex
	at   time.Time
	st   *portal.TwoFactorStats
	hist []portal.DayPoint
}

// stats gathers the adoption numbers and the 90-day chart, reusing them for
// statsTTL.
func (s *Server) stats(ctx context.Context) (*portal.TwoFactorStats, []portal.DayPoint, error) {
	c := &s.statsCache
	c.mu.Lock()
	defer c.mu.Unlock()
	now := s.now()
	if c.st != nil && now.Sub(c.at) < statsTTL && !now.Before(c.at) {
		return c.st, c.hist, nil
	}
	st, err := s.Store.TwoFactorStats(ctx)
	if err != nil {
		return nil, nil, err
	}
	hist, err := s.Store.AdoptionHistory(ctx, now.Unix(), 90)
	if err != nil {
		return nil, nil, err
	}
	c.at, c.st, c.hist = now, st, hist
	return st, hist, nil
}

func (s *Server) apiAdminStats(w http.ResponseWriter, r *http.Request) error {
	st, hist, err := s.stats(r.Context())
	if err != nil {
		return err
	}
	byRole := map[string]any{}
	for role, a := range st.ByRole {
		byRole[role] = map[string]any{"total": a.Total, "enabled": a.Enabled, "share": share(a.Enabled, a.Total)}
	}
	byMethod := map[string]any{}
	for m, n := range st.ByMethod {
		byMethod[m] = map[string]any{"users": n, "share": share(n, st.Total)}
	}
	var points []map[string]any
	for _, p := range hist {
		points = append(points, map[string]any{"day": time.Unix(p.Day, 0).UTC().Format("2006-01-02"), "new": p.New, "total": p.Total})
	}
	writeJSON(w, http.StatusOK, map[string]any{"total": st.Total, "enabled": st.Enabled, "share": share(st.Enabled, st.Total),
		"by_role": byRole, "by_method": byMethod, "history": points})
	return nil
}

func share(n, total int) float64 {
	if total == 0 {
		return 0
	}
	return float64(int(float64(n)/float64(total)*1000+0.5)) / 1000
}

func (s *Server) handleAdminStats(w http.ResponseWriter, r *http.Request) error {
	st, hist, err := s.stats(r.Context())
	if err != nil {
		return err
	}
	l := s.lang(r)
	s.render(w, r, http.StatusOK, "admin_stats", &page{Title: "Two-factor adoption", Data: map[string]any{
		"Stats": st, "Share": percent(l, share(st.Enabled, st.Total)), "Chart": adoptionChart(l, hist, st.Total),
		"Methods": s.methodShares(l, st),
	}})
	return nil
}

func (s *Server) methodShares(l *i18n.Localizer, st *portal.TwoFactorStats) []map[string]any {
	var out []map[string]any
	for _, f := range s.Factors.All() {
		if f.Type() == portal.MethodBackupCode {
			continue
		}
		n := st.ByMethod[f.Type()]
		out = append(out, map[string]any{"Label": i18n.Text(f.Label()).Localize(l), "Users": n, "Share": percent(l, share(n, st.Total))})
	}
	return out
}

func (s *Server) handleAdminSettings(w http.ResponseWriter, r *http.Request) error {
	set, err := s.settings(r.Context())
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "admin_settings", &page{Title: "Settings", Data: map[string]any{"Settings": set, "WaitHours": int(set.RecoveryWait / time.Hour)}})
	return nil
}

// saveSettings validates and stores the staff settings.
func (s *Server) saveSettings(r *http.Request, policy string, remember, alerts bool, waitHours string) error {
	if err := s.requireRecent(r); err != nil {
		return err
	}
	switch policy {
	case portal.PolicyOptional, portal.PolicyStaff, portal.PolicyEveryone:
	default:
		return &portal.Error{Code: portal.EINVALID, Message: "Choose optional, staff or everyone.", Field: "policy"}
	}
	h, err := strconv.Atoi(strings.TrimSpace(waitHours))
	if err != nil || h < 1 || h > 24*30 {
		return &portal.Error{Code: portal.EINVALID, Message: "The waiting period is a number of hours from 1 to 720.", Field: "recovery_wait_hours"}
	}
	if err := s.Store.SaveSettings(r.Context(), &portal.Settings{TwoFactorPolicy: policy, RememberBrowsers: remember, RecoveryWait: time.Duration(h) * time.Hour, NewDeviceAlerts: alerts}, sessionID(r)); err != nil {
		return err
	}
	// The staff member's own event (none for an API token).
	who := ""
	if st := state(r); st.user != nil {
		who = st.user.ID
	}
	s.event(r, who, portal.EventPolicyChanged, fmt.Sprintf("Settings saved: two-factor policy %s, remember browsers %t, recovery wait %d h, new sign-in alerts %t.", policy, remember, h, alerts))
	return nil
}

func (s *Server) handleAdminSettingsForm(w http.ResponseWriter, r *http.Request) error {
	err := formValues(r)
	f := r.PostForm
	if err == nil {
		err = s.saveSettings(r, f.Get("policy"), f.Get("remember_browsers") != "", f.Get("new_device_alerts") != "", f.Get("recovery_wait_hours"))
	}
	if err != nil {
		if portal.ErrorCode(err) == portal.EREAUTH {
			reauthFirst(w, r, "/admin/settings")
			return nil
		}
		set, _ := s.settings(r.Context())
		return s.formError(w, r, "admin_settings", &page{Title: "Settings", Data: map[string]any{"Settings": set, "WaitHours": f.Get("recovery_wait_hours")}}, err)
	}
	s.setFlash(w, "settings")
	redirect(w, r, "/admin/settings")
	return nil
}

func (s *Server) apiAdminSettings(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Policy   string `json:"twofa_policy"`
		Remember *bool  `json:"remember_browsers"`
		Wait     int    `json:"recovery_wait_hours"`
		Alerts   *bool  `json:"new_device_alerts"` // optional: unchanged when absent
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Remember == nil {
		return portal.Errorf(portal.EINVALID, "Send twofa_policy, remember_browsers and recovery_wait_hours.")
	}
	if in.Alerts == nil {
		set, err := s.settings(r.Context())
		if err != nil {
			return err
		}
		in.Alerts = &set.NewDeviceAlerts
	}
	if err := s.saveSettings(r, in.Policy, *in.Remember, *in.Alerts, strconv.Itoa(in.Wait)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
