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

// TakeAttempt reserves an attempt with one atomic upsert: the row is only
// updated (and a row returned) while the limit allows it, so parallel
// requests on any number of replicas are counted exactly.
func (db *DB) TakeAttempt(ctx context.Context, p portal.LimitPolicy, key string, now time.Time) (bool, time.Duration, int, error) {
	k := p.Name + ":" + key
	t := now.Unix()
	var q string
	if p.Window > 0 {
		w := int64(p.Window / time.Second)
		q = fmt.Sprintf(`INSERT INTO limits (key, n, window_start, locked_until) VALUES ($1, 1, $2, 0)
			ON CONFLICT (key) DO UPDATE SET
				n = CASE WHEN limits.window_start <= $2 - %[1]d THEN 1 ELSE limits.n + 1 END,
				window_start = CASE WHEN limits.window_start <= $2 - %[1]d THEN $2 ELSE limits.window_start END
			WHERE limits.n < %[2]d OR limits.window_start <= $2 - %[1]d
			RETURNING n`, w, p.Threshold)
	} else {
		q = fmt.Sprintf(`INSERT INTO limits (key, n, window_start, locked_until) VALUES ($1, 1, $2, 0)
			ON CONFLICT (key) DO UPDATE SET
				n = limits.n + 1,
				locked_until = CASE %s ELSE 0 END
			WHERE limits.locked_until <= $2
			RETURNING n`, lockCases(p))
	}
	var n int
	err := db.rw.QueryRowContext(ctx, q, k, t).Scan(&n)
	if err == nil {
		return true, 0, n, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return false, 0, 0, fmt.Errorf("take attempt %s: %w", p.Name, err)
	}
	// Over the limit: read when it lifts.
	var start, until int64
	if err := db.rw.QueryRowContext(ctx, `SELECT n, window_start, locked_until FROM limits WHERE key = $1`, k).Scan(&n, &start, &until); err != nil {
		return false, 0, 0, fmt.Errorf("read limit %s: %w", p.Name, err)
	}
	if p.Window > 0 {
		until = start + int64(p.Window/time.Second)
	}
	return false, time.Duration(max(until-t, 1)) * time.Second, n, nil
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
	k := p.Name + ":" + key
	if p.Window > 0 {
		_, err := db.rw.ExecContext(ctx, `UPDATE limits SET n = n - 1 WHERE key = $1 AND n > 0 AND window_start > $2`,
			k, now.Unix()-int64(p.Window/time.Second))
		return err
	}
	_, err := db.rw.ExecContext(ctx, fmt.Sprintf(`UPDATE limits SET n = n - 1,
		locked_until = CASE WHEN n - 1 < %d THEN 0 ELSE locked_until END WHERE key = $1 AND n > 0`, p.Threshold), k)
	return err
}

// ResetAttempts clears a counter after a success.
func (db *DB) ResetAttempts(ctx context.Context, p portal.LimitPolicy, key string) error {
	_, err := db.rw.ExecContext(ctx, `DELETE FROM limits WHERE key = $1`, p.Name+":"+key)
	return err
}
