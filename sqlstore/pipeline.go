package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/clientportal/portal"
)

// stepLoginPipelined is StepLogin on PostgreSQL: the statements of
// SQLite's, sent as pipelines (pgx batches) instead of one round trip each.
// The first pipeline begins, takes the attempts and uses the code; the
// second, sent only if those allow it, writes the rest and commits. (Here
// attempts are taken, not checked: PostgreSQL's writers run concurrently,
// and a take waits for the others on the counter's row.) A login
// costs two round trips instead of twelve, which is most of what
// PostgreSQL and the kernel spend on it.
func (db *DB) stepLoginPipelined(ctx context.Context, st *portal.LoginStep) (*portal.StepOutcome, error) {
	conn, err := db.rw.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	out := &portal.StepOutcome{}
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		committed := false
		defer func() {
			if !committed && !pc.IsClosed() {
				pc.Exec(context.WithoutCancel(ctx), `ROLLBACK`)
			}
		}()

		b := &pgx.Batch{}
		b.Queue(`BEGIN`)
		for _, a := range st.Take {
			t := takeStmt(a.Policy, a.Key, st.At)
			b.Queue(t.sql, t.args...)
		}
		if st.Use != nil {
			c := consumeStmt(st.Use.MethodID, st.Use.Step, st.At.Unix())
			b.Queue(c.sql, c.args...)
		}
		br := pc.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		refused := -1
		if len(st.Take) > 0 {
			out.Taken = &portal.Taken{OK: true}
		}
		for i := range st.Take {
			var n int
			if err := br.QueryRow().Scan(&n); errors.Is(err, pgx.ErrNoRows) {
				if refused < 0 {
					refused = i
				}
			} else if err != nil {
				br.Close()
				return err
			} else {
				out.Taken.Counts = append(out.Taken.Counts, n)
			}
		}
		if st.Use != nil {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return err
			}
			out.Replayed = tag.RowsAffected() != 1
		}
		if err := br.Close(); err != nil {
			return err
		}
		if refused >= 0 {
			// Over a limit: nothing is kept; read when it lifts.
			a := st.Take[refused]
			l := limitStmt(a.Policy, a.Key)
			var n int
			var start, until int64
			if err := pc.QueryRow(ctx, l.sql, l.args...).Scan(&n, &start, &until); err != nil {
				return fmt.Errorf("read limit %s: %w", a.Policy.Name, err)
			}
			*out = portal.StepOutcome{Taken: &portal.Taken{Refused: refused, Retry: retryAfter(a.Policy, start, until, st.At), Frozen: a.Policy.Frozen(n)}}
			return nil
		}

		b = &pgx.Batch{}
		var stmts []statement
		cancel, session, device := -1, -1, -1
		if !out.Replayed {
			// A new use is a success: the attempts it took count on no
			// window counter and clear the consecutive ones.
			for _, a := range st.Take {
				if a.Policy.Window > 0 {
					stmts = append(stmts, releaseStmt(a.Policy, a.Key, st.At))
				} else {
					stmts = append(stmts, resetStmt(a.Policy, a.Key))
				}
			}
			settle, c, s, d := settleStmts(st)
			if c >= 0 {
				cancel = len(stmts) + c
			}
			if s >= 0 {
				session = len(stmts) + s
			}
			if d >= 0 {
				device = len(stmts) + d
			}
			stmts = append(stmts, settle...)
		}
		for _, s := range stmts {
			b.Queue(s.sql, s.args...)
		}
		b.Queue(`COMMIT`)
		br = pc.SendBatch(ctx, b)
		for i := range stmts {
			tag, err := br.Exec()
			if i == session && staleSession(err) {
				br.Close()
				return errStale // rolled back by the deferred ROLLBACK
			} else if err != nil {
				br.Close()
				return err
			}
			if i == cancel {
				out.Cancelled = int(tag.RowsAffected())
			}
			if i == device {
				out.NewDevice = tag.RowsAffected() == 1
			}
			if device >= 0 && i == device+1 {
				out.OtherDevices = tag.RowsAffected() == 1 // SELECT 1 … LIMIT 1
			}
		}
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		committed = true
		return br.Close()
	})
	if errors.Is(err, errStale) {
		return &portal.StepOutcome{Stale: true}, nil
	} else if err != nil {
		return nil, fmt.Errorf("login step: %w", err)
	}
	return out, nil
}
