package store

// The on-call aggregate (OnCall) is in contacts.go (contacts, groups,
// activation codes, notices), rotations.go (rotations, overrides,
// schedules, hand-off timers) and plans.go (escalation plans); this file
// holds the spec-row helpers they share.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"tocsin"
)

// specTimes reads the created and updated times of a named spec row.
func (s *core) specTimes(ctx context.Context, table, name string, created, updated *time.Time) error {
	var c, u int64
	if err := s.db.QueryRowContext(ctx, `SELECT created_at, updated_at FROM `+table+` WHERE name = $1`, name).Scan(&c, &u); err != nil {
		return translate(err)
	}
	*created, *updated = fromMicros(c), fromMicros(u)
	return nil
}

// deleteNamed deletes the row of table whose key is name (ENOTFOUND naming
// what when there is none); then, in the same transaction, runs each of
// also.
func (s *core) deleteNamed(ctx context.Context, table, key, name, what string, also ...func(tx *txn, now time.Time) error) error {
	return s.tx(ctx, func(tx *txn) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+key+` = $1`, name)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return tocsin.Errorf(tocsin.ENOTFOUND, "%s %q not found", what, name)
		}
		for _, f := range also {
			if err := f(tx, s.opts.Now().UTC()); err != nil {
				return err
			}
		}
		return nil
	})
}

// mustContacts checks that every alias of the list field names a contact.
func (s *OnCall) mustContacts(ctx context.Context, field string, aliases []string) error {
	for i, a := range aliases {
		if err := s.mustContact(ctx, fmt.Sprintf("%s[%d]", field, i), a); err != nil {
			return err
		}
	}
	return nil
}

// mustContact checks that the alias in field names a contact.
func (s *OnCall) mustContact(ctx context.Context, field, alias string) error {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM contacts WHERE alias = $1`, alias).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return tocsin.Errorf(tocsin.EINVALID, "%s: no contact %q", field, alias)
	}
	return translate(err)
}

// putSpec upserts a named JSON spec into table (rotations,
// escalation_plans); then, in the same transaction, runs each of also.
func (s *core) putSpec(ctx context.Context, table, name string, spec any, also ...func(tx *txn, now time.Time) error) (created bool, err error) {
	b, _ := json.Marshal(spec)
	err = s.tx(ctx, func(tx *txn) error {
		created = false
		now := micros(s.opts.Now())
		r, err := tx.ExecContext(ctx, `UPDATE `+table+` SET spec = $1, updated_at = $2 WHERE name = $3`, string(b), now, name)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			created = true
			if _, err = tx.ExecContext(ctx, `INSERT INTO `+table+` (name, spec, created_at, updated_at) VALUES ($1, $2, $3, $3)`, name, string(b), now); err != nil {
				return err
			}
		}
		for _, f := range also {
			if err := f(tx, s.opts.Now().UTC()); err != nil {
				return err
			}
		}
		return nil
	})
	return created, err
}

func (s *core) getSpecs(ctx context.Context, table, name string, each func(spec []byte) error) error {
	q, args := `SELECT spec FROM `+table+` ORDER BY name`, []any{}
	if name != "" {
		q, args = `SELECT spec FROM `+table+` WHERE name = $1`, []any{name}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var spec string
		if err := rows.Scan(&spec); err != nil {
			return translate(err)
		}
		if err := each([]byte(spec)); err != nil {
			return err
		}
	}
	return translate(rows.Err())
}

// findSpec reads one named JSON spec.
func findSpec[T any](ctx context.Context, s *core, table, name, what string) (*T, error) {
	var out *T
	err := s.getSpecs(ctx, table, name, func(b []byte) error { out = new(T); return json.Unmarshal(b, out) })
	if err == nil && out == nil {
		err = tocsin.Errorf(tocsin.ENOTFOUND, "%s %q not found", what, name)
	}
	return out, err
}

// listSpecs reads every JSON spec of a table, by name.
func listSpecs[T any](ctx context.Context, s *core, table string) ([]*T, error) {
	out := []*T{}
	err := s.getSpecs(ctx, table, "", func(b []byte) error {
		v := new(T)
		out = append(out, v)
		return json.Unmarshal(b, v)
	})
	return out, err
}
