package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/i18n"
	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/password"
)

// Importing customers from another system: a CSV file with a header
// (email,name,role,account,password_hash,totp_secret; only email is
// required) or JSON Lines with the same keys. Password hashes are kept in
// their scheme (password.CheckImported) and replaced by argon2id at the
// customer's next sign-in; TOTP secrets are sealed, so authenticator
// entries keep working. Rows with the same account share one account,
// created by its owner's row. A user whose address exists is left as it
// is, so running the same file again changes nothing; a bad line is
// reported with its number and nothing of it is written.

// importColumns are the fields a row may have.
var importColumns = []string{"email", "name", "role", "account", "password_hash", "totp_secret"}

// ImportReport is what an import did (or, in a dry run, would do).
type ImportReport struct {
	Created, Unchanged int
	// Problems are "line N: reason", in line order, in English (Local
	// says them in another language).
	Problems []string
	// NotImported is how many lines were not imported (Problems may list
	// fewer: see listed).
	NotImported int
	lines       []lineProblem
	// listed caps how many problems are said one by one (0: all); the
	// rest are counted in a last line.
	listed int
}

// MaxImportRows bounds the lines of one import over the API (a body of at
// most 16 MiB, about 100,000 users): every line, and every bad line's
// problem, is held until the answer, so a file of a million one-letter
// lines must not be read to its end.
const MaxImportRows = 150_000

// maxListedProblems is how many problems an API answer lists one by one.
const maxListedProblems = 1000

// lineProblem is why one line was not imported.
type lineProblem struct {
	line int
	err  error // a *portal.Error, or an internal error
}

// Local returns the problems in l's language.
func (rep *ImportReport) Local(l *i18n.Localizer) []string {
	lines := rep.lines
	if rep.listed > 0 && len(lines) > rep.listed {
		lines = lines[:rep.listed]
	}
	out := make([]string, 0, len(lines)+1)
	for _, p := range lines {
		out = append(out, l.T("line {{.Line}}: {{.Problem}}", "Line", p.line, "Problem", portal.LocalMessage(l, p.err)))
	}
	if more := len(rep.lines) - len(lines); more > 0 {
		out = append(out, l.N("… and {{.Count}} more lines not imported", more))
	}
	return out
}

// importRow is one parsed line.
type importRow struct {
	line   int
	fields map[string]string
	err    string        // why the line could not be read, in English
	bad    *portal.Error // the same, to be said in any language
}

// badRow is a line that could not be read, and why.
func badRow(line int, why *portal.Error) importRow {
	return importRow{line: line, err: why.Message, bad: why}
}

// problem is a line's problem in words: a catalogue message with its
// named values (the English words of the file's fault).
func problem(key string, kv ...any) *portal.Error {
	return portal.Msg(portal.EINVALID, key, kv...)
}

// importBatch is how many users one transaction writes.
const importBatch = 1000

// ImportUsers reads a CSV or JSON Lines file of users and writes the new
// ones (none when dryRun). Staff rows are taken only with staff allowed
// (the command line); a row joins only an account its file creates.
func (s *Server) ImportUsers(ctx context.Context, in io.Reader, dryRun, staff bool) (*ImportReport, error) {
	maxRows := 0 // the command line reads the operator's file whole
	if !staff {
		maxRows = MaxImportRows
	}
	rows, err := readImport(in, maxRows)
	if err != nil {
		// The file's fault (a header, a line too long to read, too many
		// lines).
		return nil, err
	}
	rep := &ImportReport{}
	if !staff {
		rep.listed = maxListedProblems
	}
	problems := map[int]error{}
	now := s.now().Unix()
	seen := map[string]int{}         // email key → line
	accounts := map[string]string{}  // account key → account id
	ownerLine := map[string]int{}    // account key → its owner's line
	var owners, others []*importPlan // owners first: members join their accounts
	for _, r := range rows {
		if r.bad != nil {
			problems[r.line] = r.bad
			continue
		}
		p, err := s.planImport(r, now)
		if err == nil && p.u.Role == portal.RoleAdmin && !staff {
			err = problem("staff are imported only with portal import users on the server")
		}
		if err != nil {
			// The row's own fault, in words (a portal error).
			problems[r.line] = err
			continue
		}
		if first, dup := seen[p.key]; dup {
			problems[r.line] = problem("the address is also on line {{.Line}}", "Line", first)
			continue
		}
		seen[p.key] = r.line
		if p.u.Role == portal.RoleOwner {
			owners = append(owners, p)
		} else {
			others = append(others, p)
		}
	}
	var write []*importPlan
	for _, p := range append(owners, others...) {
		// An address that exists is left as it is; its account is not
		// one the file may add people to (a row must not join a
		// customer's account by naming it).
		if _, err := s.Store.UserByEmail(ctx, p.key); err == nil {
			rep.Unchanged++
			if p.u.Role == portal.RoleOwner && p.account != "" && ownerLine[p.account] == 0 {
				ownerLine[p.account] = p.line // the account still has one owner
			}
			continue
		} else if !errors.Is(err, portal.ErrNotFound) {
			return nil, err
		}
		switch p.u.Role {
		case portal.RoleOwner:
			if first := ownerLine[p.account]; p.account != "" && first != 0 {
				problems[p.line] = problem("account \"{{.Account}}\" has its owner on line {{.Line}} (an account has one owner; make this row a member)", "Account", p.account, "Line", first)
				continue
			}
			name := p.account
			if name == "" {
				name = p.u.Name
			}
			p.acct = &portal.Account{ID: portal.NewID(), Name: name, CreatedAt: now}
			p.u.AccountID = p.acct.ID
			if p.account != "" {
				accounts[p.account], ownerLine[p.account] = p.acct.ID, p.line
			}
		case portal.RoleMember:
			id := accounts[p.account]
			if id == "" {
				problems[p.line] = problem("no new owner of account \"{{.Account}}\" in the file (a member joins an account the same file creates)", "Account", p.account)
				continue
			}
			p.u.AccountID = id
		}
		write = append(write, p)
	}
	if dryRun {
		rep.Created = len(write)
	} else {
		for i := 0; i < len(write); i += importBatch {
			batch := write[i:min(i+importBatch, len(write))]
			out := make([]*portal.ImportedUser, len(batch))
			for j, p := range batch {
				out[j] = &portal.ImportedUser{User: p.u, Account: p.acct, TOTP: p.totp,
					Event: &portal.Event{UserID: p.u.ID, Type: portal.EventUserCreated, Detail: "Imported", CreatedAt: now}}
			}
			errs, err := s.Store.ImportUsers(ctx, out)
			if err != nil {
				return nil, err
			}
			for j, e := range errs {
				if e != nil {
					problems[batch[j].line] = e
				} else {
					rep.Created++
				}
			}
		}
	}
	for _, r := range rows {
		if err, ok := problems[r.line]; ok {
			rep.lines = append(rep.lines, lineProblem{line: r.line, err: err})
		}
	}
	rep.NotImported = len(rep.lines)
	rep.Problems = rep.Local(s.catalog().Default())
	return rep, nil
}

// importPlan is a checked row, ready to write.
type importPlan struct {
	line    int
	key     string // the normalised address
	account string
	u       *portal.User
	acct    *portal.Account
	totp    *portal.Method
}

// planImport checks one row and builds its user.
func (s *Server) planImport(r importRow, now int64) (*importPlan, error) {
	f := r.fields
	key, display, err := portal.NormalizeEmail(f["email"])
	if err != nil {
		return nil, err
	}
	name := strings.TrimSpace(f["name"])
	if name == "" {
		name, _, _ = strings.Cut(display, "@")
	}
	if name, err = portal.NormalizeName(name); err != nil {
		return nil, err
	}
	account := strings.TrimSpace(f["account"])
	if err := portal.CheckText("account", account, portal.SingleLine); err != nil {
		return nil, err
	}
	role := portal.RoleOwner
	switch strings.ToLower(strings.TrimSpace(f["role"])) {
	case "", "owner":
	case "member":
		role = portal.RoleMember
		if account == "" {
			return nil, problem("a member needs the account they belong to")
		}
	case "admin", "staff":
		role, account = portal.RoleAdmin, ""
	default:
		return nil, problem("unknown role \"{{.Role}}\" (owner, member or admin)", "Role", portal.CleanText(f["role"], 20))
	}
	hash := strings.TrimSpace(f["password_hash"])
	if hash == "" {
		hash = password.NoPassword
	} else if err := password.CheckImported(hash); err != nil {
		// The check's words are English only.
		return nil, problem("password_hash: {{.Error}}", "Error", err.Error())
	}
	u := &portal.User{ID: portal.NewID(), Email: display, Name: name, Role: role, PasswordHash: hash, CreatedAt: now}
	p := &importPlan{line: r.line, key: key, account: account, u: u}
	if t := strings.TrimSpace(f["totp_secret"]); t != "" {
		if s.TOTP == nil {
			return nil, problem("totp_secret: authenticator apps are not set up on this portal")
		}
		secret, data, err := mfa.ImportTOTP(t)
		if err != nil {
			// The check's words are English only.
			return nil, problem("totp_secret: {{.Error}}", "Error", err.Error())
		}
		p.totp = &portal.Method{ID: portal.NewID(), UserID: u.ID, Type: portal.MethodTOTP, Name: "Authenticator app",
			Secret: s.TOTP.Keys.Seal(u.ID, []byte(secret)), Data: data, ConfirmedAt: now, CreatedAt: now}
		u.PreferredMethod = portal.MethodTOTP
	}
	return p, nil
}

// readImport reads every row of a CSV (with a header) or JSON Lines file,
// at most maxRows of them (0: any number).
func readImport(in io.Reader, maxRows int) ([]importRow, error) {
	br := bufio.NewReaderSize(in, 64<<10)
	head, _ := br.Peek(512)
	if first := bytes.TrimLeft(head, " \t\r\n\ufeff"); len(first) > 0 && first[0] == '{' {
		return readJSONLines(br, maxRows)
	}
	return readCSV(br, maxRows)
}

// errTooManyRows refuses a file longer than an import over the API takes.
func errTooManyRows(maxRows int) error {
	return problem("the file has more than {{.Max}} lines: send it in parts, or use portal import users on the server", "Max", maxRows)
}

func readCSV(in io.Reader, maxRows int) ([]importRow, error) {
	cr := csv.NewReader(in)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, problem("line 1: the header could not be read: {{.Error}}", "Error", err.Error())
	}
	for i, h := range header {
		header[i] = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !contains(importColumns, header[i]) {
			return nil, problem("line 1: unknown column \"{{.Column}}\" (columns: {{.Columns}})", "Column", portal.CleanText(header[i], 40), "Columns", strings.Join(importColumns, ","))
		}
	}
	if !contains(header, "email") {
		return nil, problem("line 1: the header has no email column")
	}
	var rows []importRow
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		if maxRows > 0 && len(rows) >= maxRows {
			return nil, errTooManyRows(maxRows)
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, problem("the file could not be read: {{.Error}}", "Error", err.Error())
			}
			line := pe.Line
			// A broken line is one problem; the file goes on.
			rows = append(rows, badRow(line, problem("not valid CSV: {{.Error}}", "Error", pe.Err.Error())))
			continue
		}
		line, _ := cr.FieldPos(0) // only valid for a record read without error
		f := map[string]string{}
		for i, v := range rec {
			f[header[i]] = v
		}
		rows = append(rows, importRow{line: line, fields: f})
	}
}

func readJSONLines(in io.Reader, maxRows int) ([]importRow, error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var rows []importRow
	for n := 1; sc.Scan(); n++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if maxRows > 0 && len(rows) >= maxRows {
			return nil, errTooManyRows(maxRows)
		}
		rows = append(rows, jsonRow(n, b))
	}
	if err := sc.Err(); err != nil {
		return nil, problem("the file could not be read: {{.Error}}", "Error", err.Error())
	}
	return rows, nil
}

// jsonRow reads one JSON Lines object of strings with known keys.
func jsonRow(n int, b []byte) importRow {
	// Go's decoder turns bytes that are not UTF-8, and an escaped
	// surrogate without its pair, into U+FFFD without a word.
	if !utf8.Valid(b) || loneSurrogate(b) {
		return badRow(n, problem("A field is not valid text: send it as UTF-8."))
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil || v == nil {
		return badRow(n, problem("not a JSON object"))
	}
	f := map[string]string{}
	for k, x := range v {
		if !contains(importColumns, k) {
			return badRow(n, problem("unknown key \"{{.Key}}\" (keys: {{.Keys}})", "Key", portal.CleanText(k, 40), "Keys", strings.Join(importColumns, ", ")))
		}
		str, ok := x.(string)
		if !ok && x != nil {
			return badRow(n, problem("the value of \"{{.Key}}\" is not a string", "Key", k))
		}
		f[k] = str
	}
	return importRow{line: n, fields: f}
}

// apiAdminImport imports users from the body (CSV with a header, or JSON
// Lines; up to the request size limit, so a large file goes in parts or
// through `portal import users`); ?dry_run=1 writes nothing.
func (s *Server) apiAdminImport(w http.ResponseWriter, r *http.Request) error {
	if err := s.requireRecent(r); err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return portal.Errorf(portal.ETOOLARGE, "The file is too large for one request: send it in parts, or use portal import users.")
		}
		return portal.Errorf(portal.EINVALID, "The request body could not be read.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return portal.Errorf(portal.EINVALID, "Send the users as CSV with a header line, or as JSON Lines.")
	}
	// A dry run that is not understood must not import: present at all,
	// dry_run is one usual spelling of true or false ("?dry_run" alone,
	// "?dry_run=" and a repeated one are refused).
	dry := false
	if vs, ok := r.URL.Query()["dry_run"]; ok {
		if len(vs) == 1 {
			dry, err = strconv.ParseBool(vs[0])
		}
		if len(vs) != 1 || err != nil {
			return portal.Msg(portal.EINVALID, "The field \"{{.Field}}\" must be {{.Kind}}.", "Field", "dry_run", "Kind", jsonKind("bool"))
		}
	}
	rep, err := s.ImportUsers(r.Context(), bytes.NewReader(body), dry, false)
	if err != nil {
		return err
	}
	problems := rep.Local(s.lang(r))
	detail := fmt.Sprintf("%d created, %d unchanged, %d not imported", rep.Created, rep.Unchanged, rep.NotImported)
	if dry {
		detail += " (dry run)"
	}
	s.event(r, "", portal.EventUsersImported, detail)
	writeJSON(w, http.StatusOK, map[string]any{"dry_run": dry, "created": rep.Created, "unchanged": rep.Unchanged, "problems": problems})
	return nil
}
