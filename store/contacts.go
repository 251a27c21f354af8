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

func (s *OnCall) contacts(ctx context.Context, where string, args ...any) ([]*tocsin.Contact, error) {
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
	if err := s.refuseEngaged(ctx, "contact", alias); err != nil {
		return err
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

// DeleteContactGroup removes a contact group unless an escalation plan
// targets it.
func (s *OnCall) DeleteContactGroup(ctx context.Context, name string) error {
	if plan, err := s.planTargeting(ctx, func(t tocsin.Target) bool { return t.ContactGroup == name }); err != nil {
		return err
	} else if plan != "" {
		return tocsin.Errorf(tocsin.ECONFLICT, "contact group %q is a target of escalation plan %q", name, plan)
	}
	if err := s.refuseEngaged(ctx, "contact_group", name); err != nil {
		return err
	}
	return s.deleteNamed(ctx, "contact_groups", "name", name, "contact group")
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

// ContactNotices returns the notices sent to a contact (hand-off notes,
// activation codes), oldest first.
func (s *OnCall) ContactNotices(ctx context.Context, alias string) ([]*tocsin.ContactNotice, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, contact_alias, channel_name, kind, text, status, error, at FROM contact_notices
		WHERE contact_alias = $1 ORDER BY at, id`, alias)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []*tocsin.ContactNotice
	for rows.Next() {
		var n tocsin.ContactNotice
		var at int64
		if err := rows.Scan(&n.ID, &n.Contact, &n.Channel, &n.Kind, &n.Text, &n.Status, &n.Error, &at); err != nil {
			return nil, translate(err)
		}
		n.At = fromMicros(at)
		out = append(out, &n)
	}
	return out, translate(rows.Err())
}
