package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"tocsin"
	"tocsin/oncall"
)

// PutContact creates or replaces a contact. A channel keeps its activation
// while its type and address are unchanged; a changed or new channel must
// be activated again. created reports whether the contact is new.
func (s *OnCall) PutContact(ctx context.Context, c *tocsin.Contact) (created bool, err error) {
	if err := c.Validate(); err != nil {
		return false, err
	}
	plan, _ := json.Marshal(nonNilSteps(c.EngagementPlan))
	err = s.tx(ctx, func(tx *txn) error {
		now := micros(s.opts.Now())
		r, err := tx.ExecContext(ctx, `UPDATE contacts SET name = $1, time_zone = $2, engagement_plan = $3, updated_at = $4 WHERE alias = $5`,
			c.Name, c.TimeZone, string(plan), now, c.Alias)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			created = true
			if _, err := tx.ExecContext(ctx, `INSERT INTO contacts (alias, name, time_zone, engagement_plan, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)`,
				c.Alias, c.Name, c.TimeZone, string(plan), now); err != nil {
				return err
			}
		}
		existing := map[string][2]string{}
		rows, err := tx.QueryContext(ctx, `SELECT name, type, address FROM contact_channels WHERE contact_alias = $1`, c.Alias)
		if err != nil {
			return err
		}
		for rows.Next() {
			var n, t, a string
			if err := rows.Scan(&n, &t, &a); err != nil {
				rows.Close()
				return err
			}
			existing[n] = [2]string{t, a}
		}
		rows.Close()
		keep := map[string]bool{}
		for i, ch := range c.Channels {
			keep[ch.Name] = true
			old, ok := existing[ch.Name]
			switch {
			case ok && old == [2]string{ch.Type, ch.Address}:
				_, err = tx.ExecContext(ctx, `UPDATE contact_channels SET position = $1 WHERE contact_alias = $2 AND name = $3`, i, c.Alias, ch.Name)
			case ok:
				_, err = tx.ExecContext(ctx, `UPDATE contact_channels SET type = $1, address = $2, position = $3, activated_at = NULL, code_hash = '',
					code_expires = 0, code_attempts = 0 WHERE contact_alias = $4 AND name = $5`, ch.Type, ch.Address, i, c.Alias, ch.Name)
			default:
				_, err = tx.ExecContext(ctx, `INSERT INTO contact_channels (contact_alias, name, type, address, position) VALUES ($1, $2, $3, $4, $5)`,
					c.Alias, ch.Name, ch.Type, ch.Address, i)
			}
			if err != nil {
				return err
			}
		}
		for name := range existing {
			if !keep[name] {
				if _, err := tx.ExecContext(ctx, `DELETE FROM contact_channels WHERE contact_alias = $1 AND name = $2`, c.Alias, name); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return created, err
}

func nonNilSteps(s []tocsin.EngagementStep) []tocsin.EngagementStep {
	if s == nil {
		return []tocsin.EngagementStep{}
	}
	return s
}

// FindContact returns a contact with its channels.
func (s *OnCall) FindContact(ctx context.Context, alias string) (*tocsin.Contact, error) {
	cs, err := s.contacts(ctx, `WHERE alias = $1`, alias)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "contact %q not found", alias)
	}
	return cs[0], nil
}

// ListContacts returns every contact, by alias.
func (s *OnCall) ListContacts(ctx context.Context) ([]*tocsin.Contact, error) {
	return s.contacts(ctx, ``)
}

func (s *core) contacts(ctx context.Context, where string, args ...any) ([]*tocsin.Contact, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT alias, name, time_zone, engagement_plan, created_at, updated_at FROM contacts `+where+` ORDER BY alias`, args...)
	if err != nil {
		return nil, translate(err)
	}
	var out []*tocsin.Contact
	byAlias := map[string]*tocsin.Contact{}
	for rows.Next() {
		var c tocsin.Contact
		var plan string
		var created, updated int64
		if err := rows.Scan(&c.Alias, &c.Name, &c.TimeZone, &plan, &created, &updated); err != nil {
			rows.Close()
			return nil, translate(err)
		}
		_ = json.Unmarshal([]byte(plan), &c.EngagementPlan)
		c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
		c.Channels = []tocsin.ContactChannel{}
		out = append(out, &c)
		byAlias[c.Alias] = &c
	}
	rows.Close()
	if len(out) == 0 {
		return out, nil
	}
	chRows, err := s.db.QueryContext(ctx, `SELECT contact_alias, name, type, address, activated_at FROM contact_channels ORDER BY contact_alias, position`)
	if err != nil {
		return nil, translate(err)
	}
	defer chRows.Close()
	for chRows.Next() {
		var alias string
		var ch tocsin.ContactChannel
		var act sql.NullInt64
		if err := chRows.Scan(&alias, &ch.Name, &ch.Type, &ch.Address, &act); err != nil {
			return nil, translate(err)
		}
		if c := byAlias[alias]; c != nil {
			ch.ActivatedAt = timePtr(act)
			ch.Activated = act.Valid
			c.Channels = append(c.Channels, ch)
		}
	}
	return out, translate(chRows.Err())
}

// DeleteContact removes a contact. A contact still named by a rotation or
// an escalation plan cannot be removed.
func (s *OnCall) DeleteContact(ctx context.Context, alias string) error {
	rots, err := s.ListRotations(ctx)
	if err != nil {
		return err
	}
	for _, r := range rots {
		for _, m := range r.Members {
			if m == alias {
				return tocsin.Errorf(tocsin.ECONFLICT, "contact %q is a member of rotation %q", alias, r.Name)
			}
		}
	}
	if plan, err := s.planTargeting(ctx, func(t tocsin.Target) bool { return t.Contact == alias }); err != nil {
		return err
	} else if plan != "" {
		return tocsin.Errorf(tocsin.ECONFLICT, "contact %q is a target of escalation plan %q", alias, plan)
	}
	groups, err := s.ListContactGroups(ctx)
	if err != nil {
		return err
	}
	for _, g := range groups {
		if slices.Contains(g.Members, alias) {
			return tocsin.Errorf(tocsin.ECONFLICT, "contact %q is a member of contact group %q", alias, g.Name)
		}
	}
	return s.deleteNamed(ctx, "contacts", "alias", alias, "contact")
}

// PutContactGroup creates or replaces a contact group; its members must be
// contacts.
func (s *OnCall) PutContactGroup(ctx context.Context, g *tocsin.ContactGroup) (bool, error) {
	if err := g.Validate(); err != nil {
		return false, err
	}
	if err := s.mustContacts(ctx, "contact group "+g.Name+": members", g.Members); err != nil {
		return false, err
	}
	cp := *g
	cp.CreatedAt, cp.UpdatedAt = time.Time{}, time.Time{}
	return s.putSpec(ctx, "contact_groups", g.Name, &cp)
}

// FindContactGroup returns a contact group.
func (s *OnCall) FindContactGroup(ctx context.Context, name string) (*tocsin.ContactGroup, error) {
	g, err := findSpec[tocsin.ContactGroup](ctx, s.core, "contact_groups", name, "contact group")
	if err != nil {
		return nil, err
	}
	return g, s.specTimes(ctx, "contact_groups", g.Name, &g.CreatedAt, &g.UpdatedAt)
}

// ListContactGroups returns every contact group, by name.
func (s *OnCall) ListContactGroups(ctx context.Context) ([]*tocsin.ContactGroup, error) {
	out, err := listSpecs[tocsin.ContactGroup](ctx, s.core, "contact_groups")
	if err != nil {
		return nil, err
	}
	for _, g := range out {
		if err := s.specTimes(ctx, "contact_groups", g.Name, &g.CreatedAt, &g.UpdatedAt); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// specTimes reads the created and updated times of a named spec row.
func (s *core) specTimes(ctx context.Context, table, name string, created, updated *time.Time) error {
	var c, u int64
	if err := s.db.QueryRowContext(ctx, `SELECT created_at, updated_at FROM `+table+` WHERE name = $1`, name).Scan(&c, &u); err != nil {
		return translate(err)
	}
	*created, *updated = fromMicros(c), fromMicros(u)
	return nil
}

// DeleteContactGroup removes a contact group unless an escalation plan
// targets it.
func (s *OnCall) DeleteContactGroup(ctx context.Context, name string) error {
	if plan, err := s.planTargeting(ctx, func(t tocsin.Target) bool { return t.ContactGroup == name }); err != nil {
		return err
	} else if plan != "" {
		return tocsin.Errorf(tocsin.ECONFLICT, "contact group %q is a target of escalation plan %q", name, plan)
	}
	return s.deleteNamed(ctx, "contact_groups", "name", name, "contact group")
}

func (s *core) deleteNamed(ctx context.Context, table, key, name, what string) error {
	return s.tx(ctx, func(tx *txn) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+key+` = $1`, name)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return tocsin.Errorf(tocsin.ENOTFOUND, "%s %q not found", what, name)
		}
		return nil
	})
}

// Activation limits.
const (
	ActivationTTL = 15 * time.Minute
	// ActivationAttempts is how many wrong codes a channel may be sent in
	// an ActivationWindow, whatever the number of codes sent.
	ActivationAttempts = 5
	// ActivationSends is how many codes a channel may be sent in an
	// ActivationWindow.
	ActivationSends = 3
	// ActivationWindow is the period the two limits above count over.
	ActivationWindow = time.Hour
)

// StartActivation creates a new 6-digit activation code for a contact
// channel and returns it (the caller sends it through the channel). Only
// a hash is stored. At most ActivationSends codes are sent per
// ActivationWindow, and a re-send keeps the window's count of wrong
// attempts, so re-sending does not buy a guesser more tries.
func (s *OnCall) StartActivation(ctx context.Context, alias, channel string) (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1000000))
	if err != nil {
		return "", err
	}
	code := fmt.Sprintf("%06d", n.Int64())
	err = s.tx(ctx, func(tx *txn) error {
		now := s.opts.Now()
		var sends int
		var window int64
		err := tx.QueryRowContext(ctx, `SELECT code_sends, code_window FROM contact_channels WHERE contact_alias = $1 AND name = $2`, alias, channel).Scan(&sends, &window)
		if errors.Is(err, sql.ErrNoRows) {
			return tocsin.Errorf(tocsin.ENOTFOUND, "contact %q has no channel %q", alias, channel)
		} else if err != nil {
			return err
		}
		resetAttempts := ""
		if start := fromMicros(window); now.Sub(start) >= ActivationWindow {
			sends, window, resetAttempts = 0, micros(now), ", code_attempts = 0"
		} else if sends >= ActivationSends {
			return tocsin.Errorf(tocsin.EFORBIDDEN, "%d activation codes were sent to channel %q of contact %q within %s; request another after %s",
				sends, channel, alias, ActivationWindow, start.Add(ActivationWindow).UTC().Format(time.RFC3339))
		}
		_, err = tx.ExecContext(ctx, `UPDATE contact_channels SET code_hash = $1, code_expires = $2, code_sends = $3, code_window = $4`+resetAttempts+`
			WHERE contact_alias = $5 AND name = $6`, hashCode(alias, channel, code), micros(now.Add(ActivationTTL)), sends+1, window, alias, channel)
		return err
	})
	return code, err
}

// Activate checks an activation code; the channel is activated when it
// matches, has not expired and fewer than ActivationAttempts were wrong.
func (s *OnCall) Activate(ctx context.Context, alias, channel, code string) error {
	var verdict error
	err := s.tx(ctx, func(tx *txn) error {
		verdict = nil
		var hash string
		var expires int64
		var attempts int
		var activated sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT code_hash, code_expires, code_attempts, activated_at FROM contact_channels WHERE contact_alias = $1 AND name = $2`,
			alias, channel).Scan(&hash, &expires, &attempts, &activated)
		if errors.Is(err, sql.ErrNoRows) {
			return tocsin.Errorf(tocsin.ENOTFOUND, "contact %q has no channel %q", alias, channel)
		} else if err != nil {
			return err
		}
		switch {
		case activated.Valid:
			return nil
		case hash == "":
			verdict = tocsin.Errorf(tocsin.EINVALID, "no activation code was sent; request one first")
			return nil
		case attempts >= ActivationAttempts:
			verdict = tocsin.Errorf(tocsin.EFORBIDDEN, "too many wrong codes; request a new one in an hour")
			return nil
		case micros(s.opts.Now()) > expires:
			verdict = tocsin.Errorf(tocsin.EFORBIDDEN, "the code has expired; request a new one")
			return nil
		case subtle.ConstantTimeCompare([]byte(hash), []byte(hashCode(alias, channel, code))) != 1:
			_, err := tx.ExecContext(ctx, `UPDATE contact_channels SET code_attempts = code_attempts + 1 WHERE contact_alias = $1 AND name = $2`, alias, channel)
			verdict = tocsin.Errorf(tocsin.EINVALID, "wrong activation code")
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE contact_channels SET activated_at = $1, code_hash = '', code_expires = 0 WHERE contact_alias = $2 AND name = $3`,
			micros(s.opts.Now()), alias, channel)
		return err
	})
	if err != nil {
		return err
	}
	return verdict
}

func hashCode(alias, channel, code string) string {
	h := sha256.Sum256([]byte(alias + "\x00" + channel + "\x00" + code))
	return hex.EncodeToString(h[:])
}

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

// mustContacts checks that every alias of the list field names a contact.
func (s *core) mustContacts(ctx context.Context, field string, aliases []string) error {
	for i, a := range aliases {
		if err := s.mustContact(ctx, fmt.Sprintf("%s[%d]", field, i), a); err != nil {
			return err
		}
	}
	return nil
}

// mustContact checks that the alias in field names a contact.
func (s *core) mustContact(ctx context.Context, field, alias string) error {
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

// FindRotation returns a rotation.
func (s *OnCall) FindRotation(ctx context.Context, name string) (*oncall.Rotation, error) {
	return findSpec[oncall.Rotation](ctx, s.core, "rotations", name, "rotation")
}

// ListRotations returns every rotation, by name.
func (s *OnCall) ListRotations(ctx context.Context) ([]*oncall.Rotation, error) {
	return listSpecs[oncall.Rotation](ctx, s.core, "rotations")
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

func (s *core) schedules(ctx context.Context, name string) ([]*tocsin.Schedule, error) {
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

// PutEscalationPlan creates or replaces an escalation plan; the contacts,
// schedules and plans it targets must exist.
func (s *OnCall) PutEscalationPlan(ctx context.Context, p *tocsin.EscalationPlan) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	for i, st := range p.Stages {
		for j, t := range st.Targets {
			f := fmt.Sprintf("escalation plan %s: stages[%d].targets[%d]", p.Name, i, j)
			switch {
			case t.Contact != "":
				if err := s.mustContact(ctx, f+".contact", t.Contact); err != nil {
					return false, err
				}
			case t.ContactGroup != "":
				if _, err := s.FindContactGroup(ctx, t.ContactGroup); tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
					return false, tocsin.Errorf(tocsin.EINVALID, "%s.contact_group: no contact group %q", f, t.ContactGroup)
				} else if err != nil {
					return false, err
				}
			case t.Schedule != "":
				if _, err := s.FindSchedule(ctx, t.Schedule); tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
					return false, tocsin.Errorf(tocsin.EINVALID, "%s.schedule: no schedule %q", f, t.Schedule)
				} else if err != nil {
					return false, err
				}
			case t.EscalationPlan != "":
				if _, err := s.FindEscalationPlan(ctx, t.EscalationPlan); tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
					return false, tocsin.Errorf(tocsin.EINVALID, "%s.escalation_plan: no escalation plan %q", f, t.EscalationPlan)
				} else if err != nil {
					return false, err
				}
			}
		}
	}
	plans, err := s.ListEscalationPlans(ctx)
	if err != nil {
		return false, err
	}
	all := map[string]*tocsin.EscalationPlan{p.Name: p}
	for _, q := range plans {
		if q.Name != p.Name {
			all[q.Name] = q
		}
	}
	if err := tocsin.CheckEscalationLoops(all); err != nil {
		return false, fmt.Errorf("escalation plan %s: %w", p.Name, err)
	}
	cp := *p
	cp.CreatedAt, cp.UpdatedAt = time.Time{}, time.Time{}
	return s.putSpec(ctx, "escalation_plans", p.Name, &cp)
}

// FindEscalationPlan returns an escalation plan.
func (s *OnCall) FindEscalationPlan(ctx context.Context, name string) (*tocsin.EscalationPlan, error) {
	return findSpec[tocsin.EscalationPlan](ctx, s.core, "escalation_plans", name, "escalation plan")
}

// ListEscalationPlans returns every escalation plan, by name.
func (s *OnCall) ListEscalationPlans(ctx context.Context) ([]*tocsin.EscalationPlan, error) {
	return listSpecs[tocsin.EscalationPlan](ctx, s.core, "escalation_plans")
}

// planTargeting returns the name of an escalation plan with a target for
// which match is true, or "".
func (s *OnCall) planTargeting(ctx context.Context, match func(tocsin.Target) bool) (string, error) {
	plans, err := s.ListEscalationPlans(ctx)
	if err != nil {
		return "", err
	}
	for _, p := range plans {
		for _, st := range p.Stages {
			for _, t := range st.Targets {
				if match(t) {
					return p.Name, nil
				}
			}
		}
	}
	return "", nil
}

// DeleteEscalationPlan removes an escalation plan unless another plan targets it.
func (s *OnCall) DeleteEscalationPlan(ctx context.Context, name string) error {
	if plan, err := s.planTargeting(ctx, func(t tocsin.Target) bool { return t.EscalationPlan == name }); err != nil {
		return err
	} else if plan != "" {
		return tocsin.Errorf(tocsin.ECONFLICT, "escalation plan %q is a target of escalation plan %q", name, plan)
	}
	return s.deleteNamed(ctx, "escalation_plans", "name", name, "escalation plan")
}

// RotateSecret replaces the named secret (see Secret) with a new random
// one, so that everything signed with the old one stops being accepted:
// rotating the calendar key revokes every calendar link at once.
func (s *Secrets) RotateSecret(ctx context.Context, name string) error {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("rotate secret: %w", err)
	}
	return s.tx(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, hex.EncodeToString(b))
		return err
	})
}
