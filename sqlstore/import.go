package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/clientportal/portal"
)

// ImportUsers writes imported users in one transaction, each under its own
// savepoint: a user that fails (an address taken meanwhile) leaves nothing
// of itself and the others are written. errs[i] is row i's failure.
func (db *DB) ImportUsers(ctx context.Context, rows []*portal.ImportedUser) (errs []error, err error) {
	errs = make([]error, len(rows))
	err = db.tx(ctx, func(tx *sql.Tx) error {
		for i, r := range rows {
			if _, err := tx.ExecContext(ctx, `SAVEPOINT import_user`); err != nil {
				return err
			}
			if err := importUser(ctx, tx, r); err != nil {
				errs[i] = err
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT import_user`); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT import_user`); err != nil {
				return err
			}
		}
		return nil
	})
	return errs, err
}

func importUser(ctx context.Context, tx *sql.Tx, r *portal.ImportedUser) error {
	if r.Account == nil && r.User.AccountID != "" {
		// A member joins the account its owner's row made: if that row
		// was not written (its address was taken meanwhile), neither is
		// the member, who would belong to no account.
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = $1`, r.User.AccountID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return portal.Errorf(portal.ECONFLICT, "The account's owner was not imported, so there is no account to join.")
		} else if err != nil {
			return err
		}
	}
	if err := createUser(ctx, tx, r.User, r.Account); err != nil {
		return err
	}
	if r.Event != nil {
		if err := writeRecord(ctx, tx, &portal.Record{Event: r.Event}); err != nil {
			return err
		}
	}
	if m := r.TOTP; m != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO methods (`+methodColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			m.ID, m.UserID, m.Type, m.Name, m.Secret, m.Data, m.ConfirmedAt, m.LastStep, m.CreatedAt, m.LastUsedAt); err != nil {
			return fmt.Errorf("import method: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET preferred_method = $1 WHERE id = $2`, m.Type, m.UserID); err != nil {
			return err
		}
	}
	return nil
}
