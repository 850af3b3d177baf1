package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/clientportal/portal"
)

var _ portal.AdminStore = (*DB)(nil)

// refreshTwoFactor recomputes the copies of a user's 2FA status (users.twofa,
// twofa_methods, twofa_since and the user_method_types rows) from their
// confirmed methods. Every transaction that confirms or deletes a method
// calls it last: ConfirmMethod, DeleteMethod, DisableTwoFactor.
func refreshTwoFactor(ctx context.Context, tx *sql.Tx, userID string) error {
	if err := lockUser(ctx, tx, userID); err != nil {
		return fmt.Errorf("refresh 2fa of %s: %w", userID, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT type, MIN(confirmed_at) FROM methods WHERE user_id = $1 AND confirmed_at > 0 GROUP BY type`, userID)
	if err != nil {
		return fmt.Errorf("refresh 2fa of %s: %w", userID, err)
	}
	var types []string
	var since int64
	for rows.Next() {
		var t string
		var at int64
		if err := rows.Scan(&t, &at); err != nil {
			rows.Close()
			return err
		}
		types = append(types, t)
		if since == 0 || at < since {
			since = at
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// Sorted in Go: string_agg and group_concat differ, and so may the
	// databases' collations.
	slices.Sort(types)
	if _, err := tx.ExecContext(ctx, `UPDATE users SET twofa = $1, twofa_methods = $2, twofa_since = $3 WHERE id = $4`,
		bool2int(len(types) > 0), strings.Join(types, ","), since, userID); err != nil {
		return fmt.Errorf("refresh 2fa of %s: %w", userID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_method_types WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("refresh 2fa of %s: %w", userID, err)
	}
	for _, t := range types {
		if _, err := tx.ExecContext(ctx, `INSERT INTO user_method_types (user_id, type, created_at)
			SELECT id, $2, created_at FROM users WHERE id = $1`, userID, t); err != nil {
			return fmt.Errorf("refresh 2fa of %s: %w", userID, err)
		}
	}
	return nil
}

// lockUser takes the user's row lock for the rest of tx. Every transaction
// that decides about a user's second factors from what it reads (is this
// the first method, the last one?) takes it before reading: on PostgreSQL,
// READ COMMITTED, two such transactions then take turns, and the second
// one's reads see the first one's changes. (SQLite's write transactions
// are serial anyway; the same statement is harmless there.)
func lockUser(ctx context.Context, tx *sql.Tx, userID string) error {
	_, err := tx.ExecContext(ctx, `UPDATE users SET twofa = twofa WHERE id = $1`, userID)
	return err
}

// adminColumns are the user columns of the staff list: userColumns without
// the password hash, which a list never needs, plus the 2FA copies.
const adminColumns = `u.id, u.account_id, u.email, u.email_key, u.name, u.role, u.disabled, u.email_verified_at, u.created_at, u.last_login_at, u.preferred_method, u.twofa, u.twofa_methods, u.twofa_since`

// ListUsers returns one page of the staff user list, newest first.
//
// Each page is one index range read backwards from the cursor: the order is
// (created_at DESC, id DESC) and every equality filter has an index ending
// in (created_at, id) — users_account, users_role, users_twofa,
// users_created, and user_method_types_list for a method. With several
// filters, driver picks the index and the other filters are tested row by
// row, which costs (rows per page) / (share of rows passing them). A search
// matching fewer than narrowRows emails and names is read from the
// email_key and users_name_lower ranges of its prefix instead, and sorted;
// a broader one is tested row by row, as a filter. That is quick while
// recent users match, but a broad search whose matches are all old users
// reads every newer row first (0.4 to 0.7 s at a million users, see
// BenchmarkListUsers).
func (db *DB) ListUsers(ctx context.Context, f portal.UserFilter) ([]*portal.UserRow, string, error) {
	f, err := f.Normalize()
	if err != nil {
		return nil, "", err
	}
	cur, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	narrow := false
	if f.Query != "" && f.AccountID == "" {
		if narrow, err = db.narrowSearch(ctx, f.Query); err != nil {
			return nil, "", err
		}
	}
	query, args := listUsersQuery(f, cur, narrow)
	rows, err := db.ro.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []*portal.UserRow
	keys := map[string]string{} // limits key -> user id
	for rows.Next() {
		var r portal.UserRow
		var emailKey, methods string
		var twofa int
		if err := rows.Scan(&r.ID, &r.AccountID, &r.Email, &emailKey, &r.Name, &r.Role, &r.Disabled, &r.EmailVerifiedAt,
			&r.CreatedAt, &r.LastLoginAt, &r.PreferredMethod, &twofa, &methods, &r.TwoFASince); err != nil {
			return nil, "", fmt.Errorf("list users: %w", err)
		}
		r.TwoFA = twofa == 1
		if methods != "" {
			r.Methods = strings.Split(methods, ",")
		}
		out = append(out, &r)
		if len(out) <= f.Limit {
			keys[portal.PasswordAccountLimit.Name+":"+emailKey] = r.ID
			keys[portal.SecondFactorUserLimit.Name+":"+r.ID] = r.ID
		}
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list users: %w", err)
	}
	rows.Close()
	// One row more than the page was asked for: there is a next page.
	var next string
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = encodeCursor(last.CreatedAt, last.ID)
	}
	if err := db.addFailedAttempts(ctx, out, keys); err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// Indexes a page can be read from, most selective first (see driver).
const (
	byAccount = iota // users_account
	byQuery          // email_key and users_name_lower ranges of a search
	byStaff          // users_role, role admin: staff are few
	byMethod         // user_method_types_list
	byRole           // users_role, owner or member
	byTwoFA          // users_twofa
	byCreated        // users_created: no filter with an index
)

// narrowRows is where a search stops being read from its index ranges:
// up to this many rows are cheap to fetch and sort (about 3 ms a thousand
// at a million users); a search matching more fills a page soon when rows
// are read in list order, if its matches are spread over time (some
// 50 × users / narrowRows rows, 25,000 at a million users).
const narrowRows = 2000

// narrowSearch reports whether the email and (without "@") name ranges of
// the search q hold fewer than narrowRows users. It counts at most
// narrowRows entries of each, from the indexes alone in SQLite (about a
// millisecond); PostgreSQL must visit rows for the name expression (up to
// some 12 ms at a million users). SQLite keeps no statistics unless asked,
// so it cannot judge this itself.
func (db *DB) narrowSearch(ctx context.Context, q string) (bool, error) {
	lo, hi := prefixRange(strings.ToLower(q))
	args := []any{lo}
	bound := func(col string) string {
		c := col + " >= $1"
		if hi != "" {
			c += " AND " + col + " < $2"
		}
		return "(SELECT COUNT(*) FROM (SELECT 1 FROM users WHERE " + c + " LIMIT " + strconv.Itoa(narrowRows) + ") r)"
	}
	if hi != "" {
		args = append(args, hi)
	}
	probe := "SELECT " + bound("email_key")
	if !strings.Contains(q, "@") {
		probe += " + " + bound("lower(name)")
	}
	var n int
	if err := db.ro.QueryRowContext(ctx, probe, args...).Scan(&n); err != nil {
		return false, fmt.Errorf("list users: search size: %w", err)
	}
	return n < narrowRows, nil
}

// driver picks the index a page of f is read from; narrow tells whether
// the search's ranges are small (narrowSearch). The choice is made here
// rather than left to the planner because SQLite keeps no statistics unless
// asked: given an account and a 2FA filter it read every user with 2FA to
// find the account's five. Accounts, narrow searches and staff are small
// sets; a method is rarer than a role of customers, which is rarer than one
// 2FA state.
func driver(f portal.UserFilter, narrow bool) int {
	switch {
	case f.AccountID != "":
		return byAccount
	case f.Query != "" && narrow:
		return byQuery
	case f.Role == portal.RoleAdmin:
		return byStaff
	case f.Method != "":
		return byMethod
	case f.Role != "":
		return byRole
	case f.TwoFA != "":
		return byTwoFA
	}
	return byCreated
}

// listUsersQuery builds the page query of f after cur (nil: first page).
// Only placeholders carry input; the SQL text comes from constants.
//
// Filters other than the driver's are written so that no index can serve
// them (an expression such as u.twofa + 0, or the role concatenated with
// an empty string), which leaves the planner one index to read, in both
// databases; they are then tested on each row read.
func listUsersQuery(f portal.UserFilter, cur *cursor, narrow bool) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	d := driver(f, narrow)
	from, created, id := "users u", "u.created_at", "u.id"
	var where []string
	if f.AccountID != "" {
		where = append(where, "u.account_id = "+arg(f.AccountID))
	}
	switch {
	case f.Method == "":
	case d == byMethod:
		// Page on the method's own index and join the user: one index
		// range however rare the method is.
		from, created, id = "user_method_types t JOIN users u ON u.id = t.user_id", "t.created_at", "t.user_id"
		where = append(where, "t.type = "+arg(f.Method))
	default:
		where = append(where, "EXISTS (SELECT 1 FROM user_method_types t WHERE t.user_id = u.id AND t.type = "+arg(f.Method)+")")
	}
	twofa, role := "u.twofa", "u.role"
	if d != byTwoFA {
		twofa = "u.twofa + 0"
	}
	if d != byRole && d != byStaff {
		role = "u.role || ''"
	}
	switch f.TwoFA {
	case portal.TwoFAActivated:
		where = append(where, twofa+" = 1")
	case portal.TwoFANotActivated:
		where = append(where, twofa+" = 0")
	}
	if f.Role != "" {
		where = append(where, role+" = "+arg(f.Role))
	}
	if f.Query != "" {
		// A prefix of the email or (without "@") of the name, ignoring
		// case. The LIKE keeps exact matches; the range beside it, when
		// this search drives the page, is what an index can read.
		q := strings.ToLower(f.Query)
		like := arg(escapeLike(q) + "%")
		var lo, hi string
		if d == byQuery {
			lo, hi = prefixRange(q)
			lo = arg(lo)
			if hi != "" {
				hi = arg(hi)
			}
		}
		match := func(col string) string {
			c := col + " LIKE " + like + ` ESCAPE '\'`
			if hi != "" {
				c = col + " < " + hi + " AND " + c
			}
			if lo != "" {
				c = col + " >= " + lo + " AND " + c
			}
			return "(" + c + ")"
		}
		if strings.Contains(q, "@") {
			where = append(where, match("u.email_key"))
		} else {
			// lower(u.name) is the expression of the users_name_lower index.
			where = append(where, "("+match("u.email_key")+" OR "+match("lower(u.name)")+")")
		}
	}
	if cur != nil {
		// A row value compares (created_at, id) as one key, which both
		// databases turn into a single index bound.
		where = append(where, "("+created+", "+id+") < ("+arg(cur.createdAt)+", "+arg(cur.id)+")")
	}
	q := "SELECT " + adminColumns + " FROM " + from
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + created + " DESC, " + id + " DESC LIMIT " + arg(f.Limit+1)
	return q, args
}

// addFailedAttempts fills in FailedAttempts of the page's users from the
// consecutive login limits, with one query for the whole page. keys maps
// each limits key to its user.
func (db *DB) addFailedAttempts(ctx context.Context, page []*portal.UserRow, keys map[string]string) error {
	if len(page) == 0 {
		return nil
	}
	args := make([]any, 0, len(keys))
	marks := make([]string, 0, len(keys))
	for k := range keys {
		args = append(args, k)
		marks = append(marks, "$"+strconv.Itoa(len(args)))
	}
	rows, err := db.ro.QueryContext(ctx, `SELECT key, n FROM limits WHERE key IN (`+strings.Join(marks, ", ")+`)`, args...)
	if err != nil {
		return fmt.Errorf("failed attempts: %w", err)
	}
	defer rows.Close()
	failed := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return fmt.Errorf("failed attempts: %w", err)
		}
		failed[keys[k]] += n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("failed attempts: %w", err)
	}
	for _, r := range page {
		r.FailedAttempts = failed[r.ID]
	}
	return nil
}

// cursor is a position in the list: the last row of the previous page.
type cursor struct {
	createdAt int64
	id        string
}

// encodeCursor makes the opaque next-page cursor: base64url of "createdAt:id".
func encodeCursor(createdAt int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(createdAt, 10) + ":" + id))
}

var errCursor = &portal.Error{Code: portal.EINVALID, Field: "cursor",
	Message: "The page cursor is not valid. Start again from the first page."}

// decodeCursor reads a cursor made by encodeCursor; "" is the first page.
func decodeCursor(s string) (*cursor, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > 200 {
		return nil, errCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errCursor
	}
	at, id, ok := strings.Cut(string(b), ":")
	if !ok || id == "" || strings.ContainsFunc(id, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsPrint(r) }) {
		return nil, errCursor
	}
	n, err := strconv.ParseInt(at, 10, 64)
	if err != nil || n < 0 {
		return nil, errCursor
	}
	return &cursor{createdAt: n, id: id}, nil
}

// escapeLike quotes the LIKE wildcards of s for ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// prefixRange returns bounds lo <= s < hi holding every string s that
// starts with p, for an index range; hi is "" when there is no upper bound.
// hi is p cut after its last ASCII letter or digit that is not "z", which is
// bumped to the next one in 0-9a-z: that order is the same in byte order
// (SQLite, PostgreSQL's C collation) and in the linguistic collations
// PostgreSQL databases are often created with, where punctuation and spaces
// count only after letters, so bumping one of those would not give an upper
// bound. The range may hold more than the prefix; the LIKE beside it keeps
// the exact matches.
func prefixRange(p string) (lo, hi string) {
	for i := len(p) - 1; i >= 0; i-- {
		switch c := p[i]; {
		case c == '9':
			return p, p[:i] + "a"
		case c >= '0' && c < '9' || c >= 'a' && c < 'z':
			return p, p[:i] + string(c+1)
		}
	}
	return p, ""
}

// TwoFactorStats counts users, and users with 2FA, by role and by method.
// It reads the whole users_role_twofa and user_method_types_list indexes:
// meant for a statistics page, not for every list page.
func (db *DB) TwoFactorStats(ctx context.Context) (*portal.TwoFactorStats, error) {
	st := &portal.TwoFactorStats{ByRole: map[string]portal.RoleAdoption{}, ByMethod: map[string]int{}}
	rows, err := db.ro.QueryContext(ctx, `SELECT role, twofa, COUNT(*) FROM users GROUP BY role, twofa`)
	if err != nil {
		return nil, fmt.Errorf("2fa stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var role string
		var twofa, n int
		if err := rows.Scan(&role, &twofa, &n); err != nil {
			return nil, fmt.Errorf("2fa stats: %w", err)
		}
		a := st.ByRole[role]
		a.Total += n
		st.Total += n
		if twofa == 1 {
			a.Enabled += n
			st.Enabled += n
		}
		st.ByRole[role] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("2fa stats: %w", err)
	}
	rows.Close()
	rows, err = db.ro.QueryContext(ctx, `SELECT type, COUNT(*) FROM user_method_types GROUP BY type`)
	if err != nil {
		return nil, fmt.Errorf("2fa stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var typ string
		var n int
		if err := rows.Scan(&typ, &n); err != nil {
			return nil, fmt.Errorf("2fa stats: %w", err)
		}
		st.ByMethod[typ] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("2fa stats: %w", err)
	}
	return st, nil
}

// day is the length of the chart's buckets, UTC days.
const day = 24 * 60 * 60

// AdoptionHistory returns the adoption chart: per UTC day, how many of the
// users with 2FA today first confirmed a method that day (users.twofa_since,
// their earliest confirmed method still present), and the running total.
// It reads the users_twofa_since index over every user with 2FA, counting
// those before the chart's first day in one group.
func (db *DB) AdoptionHistory(ctx context.Context, now int64, days int) ([]portal.DayPoint, error) {
	if days < 1 || days > 3660 {
		return nil, &portal.Error{Code: portal.EINVALID, Field: "days", Message: "The chart can show 1 to 3660 days."}
	}
	today := now / day
	first := today - int64(days) + 1
	// Integer division gives the day in both databases; day 0 gathers
	// everyone before the chart.
	rows, err := db.ro.QueryContext(ctx, `SELECT CASE WHEN twofa_since < $1 THEN 0 ELSE twofa_since / 86400 END AS d, COUNT(*)
		FROM users WHERE twofa_since > 0 AND twofa_since < $2 GROUP BY d`, first*day, (today+1)*day)
	if err != nil {
		return nil, fmt.Errorf("adoption history: %w", err)
	}
	defer rows.Close()
	out := make([]portal.DayPoint, days)
	for i := range out {
		out[i].Day = (first + int64(i)) * day
	}
	total := 0
	for rows.Next() {
		var d int64
		var n int
		if err := rows.Scan(&d, &n); err != nil {
			return nil, fmt.Errorf("adoption history: %w", err)
		}
		if d < first {
			total += n
		} else {
			out[d-first].New = n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("adoption history: %w", err)
	}
	for i := range out {
		total += out[i].New
		out[i].Total = total
	}
	// The chart starts on the day of the first user: days before the
	// portal had users would draw a flat line at nothing.
	var firstUser int64
	if err := db.ro.QueryRowContext(ctx, `SELECT COALESCE(MIN(created_at), 0) FROM users`).Scan(&firstUser); err != nil {
		return nil, fmt.Errorf("adoption history: %w", err)
	}
	for len(out) > 1 && out[0].Day+day <= firstUser {
		out = out[1:]
	}
	return out, nil
}

// UsersByIDs finds users by id, in one query.
func (db *DB) UsersByIDs(ctx context.Context, ids []string) (map[string]*portal.User, error) {
	return db.usersWhere(ctx, "u.id", ids, "")
}

// AccountOwners finds the owners of accounts, by account id.
func (db *DB) AccountOwners(ctx context.Context, accountIDs []string) (map[string]*portal.User, error) {
	owners, err := db.usersWhere(ctx, "u.account_id", accountIDs, portal.RoleOwner)
	if err != nil {
		return nil, err
	}
	byAccount := map[string]*portal.User{}
	for _, u := range owners {
		byAccount[u.AccountID] = u
	}
	return byAccount, nil
}

// usersWhere reads the users whose column is one of values (and of role,
// when given), keyed by id.
func (db *DB) usersWhere(ctx context.Context, column string, values []string, role string) (map[string]*portal.User, error) {
	out := map[string]*portal.User{}
	values = slices.Compact(slices.Sorted(slices.Values(values)))
	if len(values) > 0 && values[0] == "" {
		values = values[1:]
	}
	if len(values) == 0 {
		return out, nil
	}
	args := make([]any, 0, len(values)+1)
	marks := make([]string, 0, len(values))
	for _, v := range values {
		args = append(args, v)
		marks = append(marks, "$"+strconv.Itoa(len(args)))
	}
	q := `SELECT ` + userColumns + ` FROM users u WHERE ` + column + ` IN (` + strings.Join(marks, ", ") + `)`
	if role != "" {
		args = append(args, role)
		q += ` AND u.role = $` + strconv.Itoa(len(args))
	}
	users, err := queryAll(ctx, db, func(row scanner) (*portal.User, error) {
		var u portal.User
		return &u, scanUser(row, &u)
	}, q, args...)
	for _, u := range users {
		out[u.ID] = u
	}
	return out, err
}
