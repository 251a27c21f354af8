package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"tocsin"
	"tocsin/oncall"
)

// PutRotation creates or replaces a rotation; its members must be contacts.
func (s *OnCall) PutRotation(ctx context.Context, r *oncall.Rotation) (bool, error) {
	if err := r.Validate(); err != nil {
		return false, err
	}
	if !tocsin.ValidName(r.Name) {
		return false, tocsin.Errorf(tocsin.EINVALID, "rotation: name: %q must be 1-63 lower-case letters, digits, '.', '-' or '_'", r.Name)
	}
	if err := s.mustContacts(ctx, "rotation "+r.Name+": members", r.Members); err != nil {
		return false, err
	}
	created, err := s.putSpec(ctx, "rotations", r.Name, r, func(tx *txn, now time.Time) error {
		return rearmRotation(ctx, tx, r.Name, now)
	})
	if err == nil {
		s.opts.Wake()
	}
	return created, err
}

// rearmRotation re-checks at once the hand-offs of every schedule that
// layers rotation: a changed rotation or override moves their shifts, and
// the hand-off timer may be asleep until a shift change computed before.
func rearmRotation(ctx context.Context, tx *txn, rotation string, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT name, rotations FROM schedules`)
	if err != nil {
		return fmt.Errorf("find schedules of rotation: %w", err)
	}
	var names []string
	for rows.Next() {
		var name, rots string
		if err := rows.Scan(&name, &rots); err != nil {
			rows.Close()
			return err
		}
		var list []string
		_ = json.Unmarshal([]byte(rots), &list)
		if slices.Contains(list, rotation) {
			names = append(names, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, name := range names {
		if err := armHandOffs(ctx, tx, name, now); err != nil {
			return err
		}
	}
	return nil
}

// FindRotation returns a rotation.
func (s *OnCall) FindRotation(ctx context.Context, name string) (*oncall.Rotation, error) {
	return findSpec[oncall.Rotation](ctx, s.core, "rotations", name, "rotation")
}

// ListRotations returns every rotation, by name.
func (s *OnCall) ListRotations(ctx context.Context) ([]*oncall.Rotation, error) {
	return listSpecs[oncall.Rotation](ctx, s.core, "rotations")
}

// DeleteRotation removes a rotation (and its overrides) unless a schedule uses it.
func (s *OnCall) DeleteRotation(ctx context.Context, name string) error {
	scheds, err := s.ListSchedules(ctx)
	if err != nil {
		return err
	}
	for _, sc := range scheds {
		for _, r := range sc.Rotations {
			if r == name {
				return tocsin.Errorf(tocsin.ECONFLICT, "rotation %q is a layer of schedule %q", name, sc.Name)
			}
		}
	}
	return s.deleteNamed(ctx, "rotations", "name", name, "rotation")
}

// AddOverride adds an override to a rotation and returns its id.
func (s *OnCall) AddOverride(ctx context.Context, o *oncall.Override) (string, error) {
	if err := o.Validate(); err != nil {
		return "", err
	}
	if _, err := s.FindRotation(ctx, o.Rotation); err != nil {
		if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
			return "", tocsin.Errorf(tocsin.EINVALID, "override: rotation: no rotation %q", o.Rotation)
		}
		return "", err
	}
	if err := s.mustContacts(ctx, "override: members", o.Members); err != nil {
		return "", err
	}
	id := newID()
	members, _ := json.Marshal(o.Members)
	err := s.tx(ctx, func(tx *txn) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO overrides (id, rotation, starts_at, ends_at, members, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			id, o.Rotation, micros(o.Start), micros(o.End), string(members), micros(s.opts.Now())); err != nil {
			return err
		}
		return rearmRotation(ctx, tx, o.Rotation, s.opts.Now().UTC())
	})
	if err == nil {
		s.opts.Wake()
	}
	return id, err
}

// ListOverrides returns the overrides of rotation (all rotations when
// empty) that end after from and start before to, in creation order.
func (s *OnCall) ListOverrides(ctx context.Context, rotation string, from, to time.Time) ([]oncall.StoredOverride, error) {
	q := `SELECT id, rotation, starts_at, ends_at, members FROM overrides WHERE ends_at > $1 AND starts_at < $2`
	args := []any{micros(from), micros(to)}
	if rotation != "" {
		q += ` AND rotation = $3`
		args = append(args, rotation)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []oncall.StoredOverride{}
	for rows.Next() {
		var o oncall.StoredOverride
		var start, end int64
		var members string
		if err := rows.Scan(&o.ID, &o.Rotation, &start, &end, &members); err != nil {
			return nil, translate(err)
		}
		o.Start, o.End = fromMicros(start), fromMicros(end)
		_ = json.Unmarshal([]byte(members), &o.Members)
		out = append(out, o)
	}
	return out, translate(rows.Err())
}

// DeleteOverride removes an override; the hand-offs of the schedules
// using its rotation are re-checked at once.
func (s *OnCall) DeleteOverride(ctx context.Context, id string) error {
	err := s.tx(ctx, func(tx *txn) error {
		var rotation string
		err := tx.QueryRowContext(ctx, `DELETE FROM overrides WHERE id = $1 RETURNING rotation`, id).Scan(&rotation)
		if errors.Is(err, sql.ErrNoRows) {
			return tocsin.Errorf(tocsin.ENOTFOUND, "override %q not found", id)
		} else if err != nil {
			return err
		}
		return rearmRotation(ctx, tx, rotation, s.opts.Now().UTC())
	})
	if err == nil {
		s.opts.Wake()
	}
	return err
}

// PutSchedule creates or replaces a schedule; its rotations must exist.
func (s *OnCall) PutSchedule(ctx context.Context, sc *tocsin.Schedule) (created bool, err error) {
	if err := sc.Validate(); err != nil {
		return false, err
	}
	for i, r := range sc.Rotations {
		if _, err := s.FindRotation(ctx, r); err != nil {
			if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
				return false, tocsin.Errorf(tocsin.EINVALID, "schedule %s: rotations[%d]: no rotation %q", sc.Name, i, r)
			}
			return false, err
		}
	}
	rots, _ := json.Marshal(sc.Rotations)
	err = s.tx(ctx, func(tx *txn) error {
		now := micros(s.opts.Now())
		r, err := tx.ExecContext(ctx, `UPDATE schedules SET rotations = $1, updated_at = $2 WHERE name = $3`, string(rots), now, sc.Name)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			created = true
			if _, err = tx.ExecContext(ctx, `INSERT INTO schedules (name, rotations, created_at, updated_at) VALUES ($1, $2, $3, $3)`, sc.Name, string(rots), now); err != nil {
				return err
			}
		}
		return armHandOffs(ctx, tx, sc.Name, s.opts.Now().UTC())
	})
	if err == nil {
		s.opts.Wake()
	}
	return created, err
}

// armHandOffs makes sure a schedule's hand-off timer exists; a changed
// schedule is re-checked at once.
func armHandOffs(ctx context.Context, tx *txn, schedule string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET due_at = $1 WHERE job_key = $2 AND lease_owner IS NULL`, micros(now), tocsin.HandOffKey(schedule)); err != nil {
		return err
	}
	args, _ := json.Marshal(tocsin.HandOffArgs{Schedule: schedule, Since: now})
	return insertJob(ctx, tx, &tocsin.Job{Kind: tocsin.JobHandOff, Lane: tocsin.JobHandOff, Key: tocsin.HandOffKey(schedule), Args: args, DueAt: now}, now)
}

// ArmHandOffs ensures every schedule has its hand-off timer (at start).
func (s *OnCall) ArmHandOffs(ctx context.Context) error {
	scheds, err := s.ListSchedules(ctx)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *txn) error {
		now := s.opts.Now().UTC()
		for _, sc := range scheds {
			args, _ := json.Marshal(tocsin.HandOffArgs{Schedule: sc.Name, Since: now})
			if err := insertJob(ctx, tx, &tocsin.Job{Kind: tocsin.JobHandOff, Lane: tocsin.JobHandOff, Key: tocsin.HandOffKey(sc.Name), Args: args, DueAt: now}, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListSchedules returns every schedule, by name.
func (s *OnCall) ListSchedules(ctx context.Context) ([]*tocsin.Schedule, error) {
	return s.schedules(ctx, "")
}

// FindSchedule returns a schedule.
func (s *OnCall) FindSchedule(ctx context.Context, name string) (*tocsin.Schedule, error) {
	out, err := s.schedules(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "schedule %q not found", name)
	}
	return out[0], nil
}

func (s *OnCall) schedules(ctx context.Context, name string) ([]*tocsin.Schedule, error) {
	q, args := `SELECT name, rotations, created_at, updated_at FROM schedules ORDER BY name`, []any{}
	if name != "" {
		q, args = `SELECT name, rotations, created_at, updated_at FROM schedules WHERE name = $1`, []any{name}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []*tocsin.Schedule{}
	for rows.Next() {
		var sc tocsin.Schedule
		var rots string
		var c, u int64
		if err := rows.Scan(&sc.Name, &rots, &c, &u); err != nil {
			return nil, translate(err)
		}
		_ = json.Unmarshal([]byte(rots), &sc.Rotations)
		sc.CreatedAt, sc.UpdatedAt = fromMicros(c), fromMicros(u)
		out = append(out, &sc)
	}
	return out, translate(rows.Err())
}

// DeleteSchedule removes a schedule unless an escalation plan targets it.
func (s *OnCall) DeleteSchedule(ctx context.Context, name string) error {
	if plan, err := s.planTargeting(ctx, func(t tocsin.Target) bool { return t.Schedule == name }); err != nil {
		return err
	} else if plan != "" {
		return tocsin.Errorf(tocsin.ECONFLICT, "schedule %q is a target of escalation plan %q", name, plan)
	}
	if err := s.refuseEngaged(ctx, "schedule", name); err != nil {
		return err
	}
	return s.deleteNamed(ctx, "schedules", "name", name, "schedule")
}

// ResolvedSchedule returns a schedule with its rotations, ready for the
// oncall package, and the overrides of those rotations in [from, to).
func (s *OnCall) ResolvedSchedule(ctx context.Context, name string, from, to time.Time) (*oncall.ResolvedSchedule, []oncall.Override, error) {
	sc, err := s.FindSchedule(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	out := &oncall.ResolvedSchedule{Name: sc.Name}
	var ovs []oncall.Override
	for _, rn := range sc.Rotations {
		r, err := s.FindRotation(ctx, rn)
		if err != nil {
			return nil, nil, err
		}
		out.Rotations = append(out.Rotations, r)
		stored, err := s.ListOverrides(ctx, rn, from, to)
		if err != nil {
			return nil, nil, err
		}
		for _, o := range stored {
			ovs = append(ovs, o.Override)
		}
	}
	return out, ovs, nil
}
