package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/clientportal/portal"
)

// SeedOptions shapes the users SeedUsers makes. Zero values take the
// defaults named on each field.
type SeedOptions struct {
	// First numbers the first user: emails are u<First>@example.com,
	// u<First+1>@example.com and so on, so calls can add to one database.
	First int
	// TwoFAPercent of the users get one or two confirmed methods: 0 means
	// 40, a negative value none.
	TwoFAPercent int
	// AccountSize is the users per customer account, an owner and members
	// (default 5).
	AccountSize int
	// StaffEvery makes every StaffEvery-th user an admin (default 1000).
	StaffEvery int
	// Newest is the created_at of the last user (default 2026-01-01).
	// Users come in fours that share a second (so the list's id tie-break
	// matters), 30 seconds apart: a million users span about 87 days.
	Newest int64
	// Seed makes roles, names and methods reproducible (ids are random).
	Seed uint64
	// PasswordHash is every user's hash; the default is no valid hash, so
	// seeded users cannot sign in.
	PasswordHash string
	// Methods, when set, are the methods of every user with 2FA (instead
	// of a realistic random mix).
	Methods []string
	// Secret, when set, gives the sealed secret stored with each method;
	// without it methods have none and cannot be used to sign in.
	Secret func(userID, methodType string) string
}

// SeedUsers adds n users, their accounts and confirmed methods (without
// secrets unless opts.Secret gives them) straight into the
// tables, 1,000 rows per INSERT and 50,000 users per transaction, fast
// enough for a million users. It is for benchmarks and load-testing tools,
// never for a portal in use: it bypasses every check of CreateUser and
// ConfirmMethod, and writes the 2FA copies refreshTwoFactor keeps itself.
func (db *DB) SeedUsers(ctx context.Context, n int, opts SeedOptions) error {
	if opts.TwoFAPercent == 0 {
		opts.TwoFAPercent = 40
	}
	if opts.AccountSize <= 0 {
		opts.AccountSize = 5
	}
	if opts.StaffEvery <= 0 {
		opts.StaffEvery = 1000
	}
	if opts.Newest == 0 {
		opts.Newest = 1767225600
	}
	if opts.PasswordHash == "" {
		opts.PasswordHash = "seeded-user-without-password"
	}
	if db.Dialect == SQLite {
		// Random ids and emails land all over their indexes; a page cache
		// larger than the default 2 MB keeps those pages in memory.
		if _, err := db.rw.ExecContext(ctx, `PRAGMA cache_size = -262144`); err != nil {
			return fmt.Errorf("seed users: %w", err)
		}
		defer db.rw.ExecContext(context.WithoutCancel(ctx), `PRAGMA cache_size = -2000`)
	}
	rnd := rand.New(rand.NewPCG(opts.Seed, uint64(opts.First)))
	first := []string{"Ada", "Alan", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Frances", "Edsger", "Radia", "Donald"}
	last := []string{"Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Thompson", "Hamilton", "Ritchie", "Allen", "Dijkstra", "Perlman", "Knuth"}
	// Method types by share of the users with 2FA, as portals tend to see.
	types := []struct {
		typ    string
		weight int
	}{{portal.MethodTOTP, 60}, {portal.MethodWebAuthn, 18}, {portal.MethodEmail, 12}, {portal.MethodWhatsApp, 6}, {portal.MethodYubicoOTP, 4}}
	pick := func() string {
		w := rnd.IntN(100)
		for _, t := range types {
			if w < t.weight {
				return t.typ
			}
			w -= t.weight
		}
		return portal.MethodTOTP
	}
	var acct string
	inAcct := opts.AccountSize // users in the current account; full: start one
	const perTx = 50000
	for done := 0; done < n; done += perTx {
		size := min(perTx, n-done)
		err := db.tx(ctx, func(tx *sql.Tx) error {
			accounts := newBatch(tx, `INSERT INTO accounts (id, name, created_at) VALUES `)
			users := newBatch(tx, `INSERT INTO users (id, account_id, email, email_key, name, role, password_hash, email_verified_at, created_at, preferred_method, twofa, twofa_methods, twofa_since) VALUES `)
			methods := newBatch(tx, `INSERT INTO methods (id, user_id, type, name, secret, confirmed_at, created_at) VALUES `)
			umt := newBatch(tx, `INSERT INTO user_method_types (user_id, type, created_at) VALUES `)
			for k := done; k < done+size; k++ {
				num := opts.First + k
				at := opts.Newest - int64((n-1-k)/4)*30
				id := portal.NewID()
				email := "u" + strconv.Itoa(num) + "@example.com"
				name := first[rnd.IntN(len(first))] + " " + last[rnd.IntN(len(last))]
				role, account := portal.RoleMember, acct
				switch {
				case (num+1)%opts.StaffEvery == 0:
					role, account = portal.RoleAdmin, ""
				case inAcct >= opts.AccountSize:
					acct, inAcct = portal.NewID(), 0
					role, account = portal.RoleOwner, acct
					accounts.add(acct, name, at)
				}
				if role != portal.RoleAdmin {
					inAcct++
				}
				var mine []string
				switch {
				case rnd.IntN(100) >= opts.TwoFAPercent:
				case opts.Methods != nil:
					mine = opts.Methods
				default:
					mine = append(mine, pick())
					if t := pick(); rnd.IntN(4) == 0 && t != mine[0] {
						mine = append(mine, t)
					}
				}
				preferred, since := "", int64(0)
				if len(mine) > 0 {
					preferred, since = mine[0], at+60
				}
				sorted := slices.Sorted(slices.Values(mine))
				users.add(id, account, email, email, name, role, opts.PasswordHash, at, at, preferred,
					bool2int(len(mine) > 0), strings.Join(sorted, ","), since)
				for _, t := range mine {
					secret := ""
					if opts.Secret != nil {
						secret = opts.Secret(id, t)
					}
					methods.add(portal.NewID(), id, t, t, secret, at+60, at+30)
				}
				for _, t := range sorted {
					umt.add(id, t, at)
				}
			}
			// Parents first: methods and types refer to users.
			for _, b := range []*batch{accounts, users, methods, umt} {
				if err := b.flush(ctx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed users: %w", err)
		}
	}
	// Statistics and a visibility map, as PostgreSQL's autovacuum would
	// make soon after a bulk load. SQLite keeps no statistics unless asked
	// and is left as a portal in use would be.
	if db.Dialect == Postgres {
		if _, err := db.rw.ExecContext(ctx, `VACUUM ANALYZE`); err != nil {
			return fmt.Errorf("seed users: vacuum: %w", err)
		}
	}
	return nil
}

// SeededUser is a user SeedUsers made, as benchmarks address them.
type SeededUser struct {
	ID, Email string
}

// SeededUsers returns up to n users with two-factor authentication, staff
// or not, in email order: the pool a load test signs in with.
func (db *DB) SeededUsers(ctx context.Context, n int, staff bool) ([]SeededUser, error) {
	op := "<>"
	if staff {
		op = "="
	}
	return queryAll(ctx, db, func(row scanner) (SeededUser, error) {
		var u SeededUser
		err := row.Scan(&u.ID, &u.Email)
		return u, err
	}, `SELECT id, email FROM users WHERE twofa = 1 AND role `+op+` $1 ORDER BY email LIMIT $2`, portal.RoleAdmin, n)
}

// SeedSessions stores many sessions at once, 1,000 per INSERT, for load
// tests that start from signed-in (or half signed-in) users. Like
// SeedUsers it is never for a portal in use.
func (db *DB) SeedSessions(ctx context.Context, sessions []*portal.Session) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		b := newBatch(tx, `INSERT INTO sessions (id, user_id, level, created_at, last_seen_at, reauth_at, user_agent, ip) VALUES `)
		for _, s := range sessions {
			b.add(s.ID, s.UserID, s.Level, s.CreatedAt, s.LastSeenAt, s.ReauthAt, s.UserAgent, s.IP)
		}
		if err := b.flush(ctx); err != nil {
			return fmt.Errorf("seed sessions: %w", err)
		}
		return nil
	})
}

// batch gathers rows for multi-row INSERTs into one table. Rows wait in
// memory until flush, so a transaction can send parents before children.
//
// Values are written into the SQL as literals, not bound: the SQLite driver
// looks each bound parameter's name up in a list, which makes statements
// with thousands of parameters quadratic (minutes for a million users).
// Every value is a number or a quoted string made by SeedUsers.
type batch struct {
	tx   *sql.Tx
	head string   // "INSERT INTO t (a, b) VALUES "
	rows []string // "(1, 'a')"
}

func newBatch(tx *sql.Tx, head string) *batch { return &batch{tx: tx, head: head} }

// add queues one row of int, int64 and string values.
func (b *batch) add(vals ...any) {
	var r strings.Builder
	r.WriteByte('(')
	for i, v := range vals {
		if i > 0 {
			r.WriteString(", ")
		}
		switch v := v.(type) {
		case int:
			r.WriteString(strconv.Itoa(v))
		case int64:
			r.WriteString(strconv.FormatInt(v, 10))
		case string:
			r.WriteString("'" + strings.ReplaceAll(v, "'", "''") + "'")
		default:
			panic(fmt.Sprintf("batch: unsupported value %T", v))
		}
	}
	r.WriteByte(')')
	b.rows = append(b.rows, r.String())
}

// flush inserts the queued rows, 1,000 per statement.
func (b *batch) flush(ctx context.Context) error {
	const perStmt = 1000
	for len(b.rows) > 0 {
		n := min(perStmt, len(b.rows))
		if _, err := b.tx.ExecContext(ctx, b.head+strings.Join(b.rows[:n], ", ")); err != nil {
			return err
		}
		b.rows = b.rows[n:]
	}
	return nil
}

// SeedAuthCodes stores completed authorization requests with their codes'
// hashes, in batches (for `portal bench`).
func (db *DB) SeedAuthCodes(ctx context.Context, reqs []*portal.AuthRequest, codeHashes []string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		// A code is redeemed only while the sign-in behind it stands: each
		// user gets a session (whose token nobody holds) for its codes.
		sessions := map[string]string{}
		for _, r := range reqs {
			if sessions[r.UserID] != "" {
				continue
			}
			sessions[r.UserID] = portal.HashToken(portal.NewID())
			if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, user_id, level, created_at, last_seen_at, reauth_at, user_agent, ip, auth_epoch, amr)
				SELECT $1, id, $2, $3, $3, 0, '', '', auth_epoch, $4 FROM users WHERE id = $5`,
				sessions[r.UserID], portal.LevelFull, r.CreatedAt, r.AMR, r.UserID); err != nil {
				return fmt.Errorf("seed the sessions of authorization codes: %w", err)
			}
		}
		b := newBatch(tx, `INSERT INTO oidc_requests (id, app_id, data, user_id, auth_time, amr, done, session_id, code_hash, code_used_at, created_at, expires_at) VALUES `)
		for i, r := range reqs {
			b.add(r.ID, r.AppID, string(r.Data), r.UserID, r.AuthTime, r.AMR, 1, sessions[r.UserID], codeHashes[i], 0, r.CreatedAt, r.ExpiresAt)
		}
		if err := b.flush(ctx); err != nil {
			return fmt.Errorf("seed authorization codes: %w", err)
		}
		return nil
	})
}
