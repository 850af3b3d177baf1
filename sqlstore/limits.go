package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clientportal/portal"
)

var _ portal.LimitStore = (*DB)(nil)

// errRefused rolls back a transaction that reached a limit.
var errRefused = errors.New("attempt refused")

// TakeAttempts reserves an attempt on each counter in one transaction;
// when one is at its limit the transaction is rolled back, so nothing is
// taken.
func (db *DB) TakeAttempts(ctx context.Context, now time.Time, attempts ...portal.Attempt) (*portal.Taken, error) {
	var taken *portal.Taken
	err := db.group(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		taken, err = takeAttempts(ctx, tx, now, attempts)
		return err
	})
	if err != nil && !errors.Is(err, errRefused) {
		return nil, fmt.Errorf("take attempts: %w", err)
	}
	return taken, nil
}

// takeAttempts takes the attempts in tx, returning errRefused (with the
// refusal in Taken) at the first counter at its limit.
func takeAttempts(ctx context.Context, tx *sql.Tx, now time.Time, attempts []portal.Attempt) (*portal.Taken, error) {
	taken := &portal.Taken{OK: true}
	for i, a := range attempts {
		ok, retry, n, err := takeAttempt(ctx, tx, a.Policy, a.Key, now)
		if err != nil {
			return nil, err
		} else if !ok {
			return &portal.Taken{Refused: i, Retry: retry, Frozen: a.Policy.Frozen(n)}, errRefused
		}
		taken.Counts = append(taken.Counts, n)
	}
	return taken, nil
}

// TakeAttempt reserves one attempt under p for key at now. When the limit
// is reached it returns ok=false and how long to wait.
func (db *DB) TakeAttempt(ctx context.Context, p portal.LimitPolicy, key string, now time.Time) (bool, time.Duration, int, error) {
	return takeAttempt(ctx, db.rw, p, key, now)
}

// takeAttempt reserves an attempt with one atomic upsert: the row is only
// updated (and a row returned) while the limit allows it, so parallel
// requests on any number of replicas are counted exactly.
func takeAttempt(ctx context.Context, q execer, p portal.LimitPolicy, key string, now time.Time) (bool, time.Duration, int, error) {
	take := takeStmt(p, key, now)
	var n int
	err := q.QueryRowContext(ctx, take.sql, take.args...).Scan(&n)
	if err == nil {
		return true, 0, n, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return false, 0, 0, fmt.Errorf("take attempt %s: %w", p.Name, err)
	}
	// Over the limit: read when it lifts.
	read := limitStmt(p, key)
	var start, until int64
	if err := q.QueryRowContext(ctx, read.sql, read.args...).Scan(&n, &start, &until); err != nil {
		return false, 0, 0, fmt.Errorf("read limit %s: %w", p.Name, err)
	}
	return false, retryAfter(p, start, until, now), n, nil
}

// checkAttempts reports whether one more attempt on each counter would be
// allowed, without taking it: nil, or the refusal (the first counter at its
// limit); and which counters exist at all. Exact only inside a transaction
// that holds the write lock.
func checkAttempts(ctx context.Context, tx *sql.Tx, now time.Time, attempts []portal.Attempt) (refusal *portal.Taken, exists []bool, err error) {
	exists = make([]bool, len(attempts))
	for i, a := range attempts {
		l := limitStmt(a.Policy, a.Key)
		var n int
		var start, until int64
		err := tx.QueryRowContext(ctx, l.sql, l.args...).Scan(&n, &start, &until)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		} else if err != nil {
			return nil, nil, fmt.Errorf("read limit %s: %w", a.Policy.Name, err)
		}
		exists[i] = true
		t := now.Unix()
		if a.Policy.Window > 0 && n >= a.Policy.Threshold && start > t-int64(a.Policy.Window/time.Second) ||
			a.Policy.Window == 0 && (until > t || a.Policy.Frozen(n)) {
			return &portal.Taken{Refused: i, Retry: retryAfter(a.Policy, start, until, now), Frozen: a.Policy.Frozen(n)}, exists, nil
		}
	}
	return nil, exists, nil
}

// statement is one SQL statement with its arguments, built once and run in
// a transaction or sent in a pipeline (see StepLogin on PostgreSQL).
type statement struct {
	sql  string
	args []any
}

// takeStmt counts an attempt with one atomic upsert: the row is only
// updated (and n returned) while the limit allows it, so parallel requests
// on any number of replicas are counted exactly; no row means refused.
func takeStmt(p portal.LimitPolicy, key string, now time.Time) statement {
	if p.Window > 0 {
		w := int64(p.Window / time.Second)
		return statement{fmt.Sprintf(`INSERT INTO limits (key, n, window_start, locked_until) VALUES ($1, 1, $2, 0)
			ON CONFLICT (key) DO UPDATE SET
				n = CASE WHEN limits.window_start <= $2 - %[1]d THEN 1 ELSE limits.n + 1 END,
				window_start = CASE WHEN limits.window_start <= $2 - %[1]d THEN $2 ELSE limits.window_start END
			WHERE limits.n < %[2]d OR limits.window_start <= $2 - %[1]d
			RETURNING n`, w, p.Threshold), []any{p.Name + ":" + key, now.Unix()}}
	}
	frozen := ""
	if p.Freeze > 0 {
		frozen = fmt.Sprintf(" AND limits.n < %d", p.Freeze)
	}
	return statement{fmt.Sprintf(`INSERT INTO limits (key, n, window_start, locked_until) VALUES ($1, 1, $2, 0)
			ON CONFLICT (key) DO UPDATE SET
				n = limits.n + 1,
				locked_until = CASE %s ELSE 0 END
			WHERE limits.locked_until <= $2%s
			RETURNING n`, lockCases(p), frozen), []any{p.Name + ":" + key, now.Unix()}}
}

// limitStmt reads a counter: n, window_start, locked_until.
func limitStmt(p portal.LimitPolicy, key string) statement {
	return statement{`SELECT n, window_start, locked_until FROM limits WHERE key = $1`, []any{p.Name + ":" + key}}
}

// retryAfter is how long a refused attempt waits, from the counter's row.
func retryAfter(p portal.LimitPolicy, start, until int64, now time.Time) time.Duration {
	if p.Window > 0 {
		until = start + int64(p.Window/time.Second)
	}
	return time.Duration(max(until-now.Unix(), 1)) * time.Second
}

// lockCases renders the escalating delay of p as SQL CASE arms on the new
// count (limits.n + 1), so the lock is set in the same statement that counts.
// The numbers come from the policy, never from input.
func lockCases(p portal.LimitPolicy) string {
	var b strings.Builder
	var arms []string
	for n := p.Threshold; ; n++ {
		d := p.LockDelay(n)
		arms = append(arms, fmt.Sprintf("WHEN limits.n + 1 = %d THEN $2 + %d", n, int64(d/time.Second)))
		if d >= p.MaxDelay {
			arms = append(arms, fmt.Sprintf("WHEN limits.n + 1 > %d THEN $2 + %d", n, int64(d/time.Second)))
			break
		}
	}
	b.WriteString("\n")
	for _, a := range arms {
		b.WriteString("\t\t\t\t\t" + a + "\n")
	}
	return b.String()
}

// ReleaseAttempt returns an attempt that turned out not to be a failure (or
// could not be checked at all).
func (db *DB) ReleaseAttempt(ctx context.Context, p portal.LimitPolicy, key string, now time.Time) error {
	return releaseAttempt(ctx, db.rw, p, key, now)
}

func releaseAttempt(ctx context.Context, q execer, p portal.LimitPolicy, key string, now time.Time) error {
	st := releaseStmt(p, key, now)
	_, err := q.ExecContext(ctx, st.sql, st.args...)
	return err
}

func releaseStmt(p portal.LimitPolicy, key string, now time.Time) statement {
	k := p.Name + ":" + key
	if p.Window > 0 {
		return statement{`UPDATE limits SET n = n - 1 WHERE key = $1 AND n > 0 AND window_start > $2`,
			[]any{k, now.Unix() - int64(p.Window/time.Second)}}
	}
	return statement{fmt.Sprintf(`UPDATE limits SET n = n - 1,
		locked_until = CASE WHEN n - 1 < %d THEN 0 ELSE locked_until END WHERE key = $1 AND n > 0`, p.Threshold), []any{k}}
}

// ResetAttempts clears a counter after a success.
func (db *DB) ResetAttempts(ctx context.Context, p portal.LimitPolicy, key string) error {
	return resetAttempts(ctx, db.rw, p, key)
}

func resetAttempts(ctx context.Context, q execer, p portal.LimitPolicy, key string) error {
	st := resetStmt(p, key)
	_, err := q.ExecContext(ctx, st.sql, st.args...)
	return err
}

func resetStmt(p portal.LimitPolicy, key string) statement {
	return statement{`DELETE FROM limits WHERE key = $1`, []any{p.Name + ":" + key}}
}

// Unlock consumes an unlock link and clears p's counter of its user.
func (db *DB) Unlock(ctx context.Context, tokenID string, p portal.LimitPolicy, now int64) (*portal.Token, error) {
	var t *portal.Token
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if t, err = consumeToken(ctx, tx, portal.TokenUnlock, tokenID, now); err != nil {
			return err
		}
		return resetAttempts(ctx, tx, p, t.UserID)
	})
	return t, err
}
