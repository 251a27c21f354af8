package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"tocsin"
	"tocsin/response"
	"tocsin/route"
)

// The incident record (issue 11): incidents started and triaged by hand,
// responders' own timeline events, related items with their attachments,
// and findings — the change events to an incident's service shortly
// before it opened. What each change does is decided in response/; the
// methods here load its input, validate what the callers sent and apply
// the effects in one transaction.

// StartIncident starts an incident by hand. A repeat with the same client
// token starts nothing: it returns the incident the first one started and
// created false.
func (s *Incidents) StartIncident(ctx context.Context, st *tocsin.IncidentStart) (*tocsin.Incident, bool, error) {
	if err := st.Validate(s.opts.AttachmentMaxBytes); err != nil {
		return nil, false, err
	}
	var id string
	var created bool
	var err error
	// Two concurrent starts with one token: the unique index lets one
	// insert, and the other, run again, finds its incident.
	for attempt := 0; attempt < 3; attempt++ {
		err = s.tx(ctx, func(tx *txn) error {
			var err error
			id, created, err = s.start(ctx, tx, st)
			return err
		})
		if tocsin.ErrorCode(err) != tocsin.ECONFLICT || st.ClientToken == "" {
			break
		}
	}
	if err != nil {
		return nil, false, err
	}
	if created {
		s.opts.Wake()
	}
	inc, err := s.FindIncident(ctx, id)
	return inc, created, err
}

func (s *Incidents) start(ctx context.Context, tx *txn, st *tocsin.IncidentStart) (string, bool, error) {
	if st.ClientToken != "" {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM incidents WHERE client_token = $1`, st.ClientToken).Scan(&id)
		if err == nil {
			return id, false, nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return "", false, fmt.Errorf("find client token: %w", err)
		}
	}
	for i, it := range st.RelatedItems {
		if it.Type == tocsin.RelatedIncident || it.Type == tocsin.RelatedParent {
			if err := mustExist(ctx, tx, it.Value); err != nil {
				return "", false, tocsin.Errorf(tocsin.EINVALID, "incident: related_items[%d].value: no incident %q", i, it.Value)
			}
		}
	}
	now := s.opts.Now().UTC()
	in := response.StartInput{Start: st, NewIncidentID: newID(), Policy: &s.opts.Policy, Now: now}
	if st.ResponsePlan != "" {
		routed, err := s.startRouted(ctx, tx, st, now)
		if err != nil {
			return "", false, err
		}
		in.Routed = routed
	}
	for range st.RelatedItems {
		in.NewItemIDs = append(in.NewItemIDs, newID())
	}
	eff := response.Start(in)
	o := eff.Open
	if strings.TrimSpace(o.Title) == "" {
		return "", false, tocsin.Errorf(tocsin.EINVALID, "title: required (response plan %q gives none)", st.ResponsePlan)
	}
	chats, _ := json.Marshal(o.ChatChannels)
	if o.ChatChannels == nil {
		chats = []byte("[]")
	}
	labels, _ := json.Marshal(nonNilMap(o.Labels))
	tags, _ := json.Marshal(nonNilMap(o.Tags))
	var trigger sql.NullString
	if o.TriggerDetails != nil {
		b, _ := json.Marshal(o.TriggerDetails)
		trigger = sql.NullString{String: string(b), Valid: true}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO incidents (id, title, summary, impact, status, source, dedup_key, labels,
		created_at, updated_at, tags, response_plan, trigger_details, client_token, chat_channels)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12, $13, $14)`,
		o.ID, o.Title, o.Summary, o.Impact, o.Status, o.Source, o.DedupKey, string(labels), micros(now),
		string(tags), o.ResponsePlan, trigger, nullString(st.ClientToken), string(chats)); err != nil {
		return "", false, fmt.Errorf("insert incident: %w", translate(err))
	}
	if _, err := s.applyChange(ctx, tx, o.ID, eff, now); err != nil {
		return "", false, err
	}
	if err := s.startPlanRunbook(ctx, tx, o.ID, o.ResponsePlan, eff.Runbook, now); err != nil {
		return "", false, err
	}
	return o.ID, true, nil
}

// startRouted routes a start by hand to the response plan it names, as
// intake routes an alert (?awsim_other_response_plan=): the plan's
// template is rendered against what the request says, and the paging
// policy judges the impact the incident will have.
func (s *Incidents) startRouted(ctx context.Context, tx *txn, st *tocsin.IncidentStart, now time.Time) (*response.Routed, error) {
	opts := tocsin.IngestOptions{ResponsePlan: st.ResponsePlan}
	rt, err := loadRouting(ctx, tx, opts)
	if err != nil {
		return nil, err
	}
	if rt.plans[st.ResponsePlan] == nil {
		return nil, tocsin.Errorf(tocsin.EINVALID, "response_plan: no response plan %q", st.ResponsePlan)
	}
	a := &tocsin.Alert{Source: tocsin.SourceManual, Title: st.Title, Description: st.Summary, Labels: st.Tags, ReceivedAt: now}
	r := rt.route(a, opts, &s.opts.Policy, now)
	if st.Impact != 0 && st.Impact != r.Fields.Impact {
		var pp *tocsin.PagingPolicy
		if rt.doc != nil {
			pp = rt.doc.PagingPolicy
		}
		r.MayPage, r.PageWhy = route.MayPage(pp, st.ResponsePlan, st.Impact)
	}
	return r, nil
}

// UpdateIncident changes an incident's title, summary or impact (each
// change on the timeline with who made it, old and new) and, with a
// status, acknowledges or resolves it as Acknowledge and Resolve do.
func (s *Incidents) UpdateIncident(ctx context.Context, id string, u *tocsin.IncidentUpdate) (*tocsin.Incident, error) {
	if err := u.Validate(); err != nil {
		return nil, err
	}
	err := s.tx(ctx, func(tx *txn) error {
		now := s.opts.Now().UTC()
		inc, err := lockIncident(ctx, tx, s.dialect, id)
		if err != nil {
			return err
		}
		eff := response.Triage(inc, u, now)
		if _, err := s.applyChange(ctx, tx, id, eff, now); err != nil {
			return err
		}
		if by := eff.Acknowledge; by != nil {
			if _, err := s.acknowledge(ctx, tx, id, *by, now); err != nil {
				return err
			}
		}
		if by := eff.Resolve; by != nil {
			if _, err := s.resolve(ctx, tx, id, *by, now, ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.opts.Wake()
	return s.FindIncident(ctx, id)
}

// lockIncident reads what triage needs of incident id, locked on
// PostgreSQL until the commit; ENOTFOUND when there is none.
func lockIncident(ctx context.Context, tx *txn, dialect, id string) (*tocsin.Incident, error) {
	q := `SELECT id, title, summary, impact, status FROM incidents WHERE id = $1`
	if dialect == Postgres {
		q += ` FOR UPDATE`
	}
	var inc tocsin.Incident
	err := tx.QueryRowContext(ctx, q, id).Scan(&inc.ID, &inc.Title, &inc.Summary, &inc.Impact, &inc.Status)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "incident %q not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("find incident: %w", err)
	}
	return &inc, nil
}

// applyRecord writes a decision's record change and related items.
func applyRecord(ctx context.Context, tx *txn, id string, eff response.Effects, now time.Time) error {
	if rc := eff.Record; rc != nil {
		var sets []string
		var args []any
		set := func(col string, v any) {
			args = append(args, v)
			sets = append(sets, col+" = $"+strconv.Itoa(len(args)))
		}
		if rc.Title != nil {
			set("title", *rc.Title)
		}
		if rc.Summary != nil {
			set("summary", *rc.Summary)
		}
		if rc.Impact != nil {
			set("impact", *rc.Impact)
		}
		set("updated_at", micros(now))
		args = append(args, id)
		if _, err := tx.ExecContext(ctx, `UPDATE incidents SET `+strings.Join(sets, ", ")+` WHERE id = $`+strconv.Itoa(len(args)), args...); err != nil {
			return fmt.Errorf("update incident record: %w", err)
		}
	}
	for _, it := range eff.Items {
		var content sql.NullString
		if it.Type == tocsin.RelatedAttachment {
			content = sql.NullString{String: base64.StdEncoding.EncodeToString(it.Content), Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO related_items (id, incident_id, type, title, value, filename, content_type, size,
			content, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			it.ID, it.IncidentID, it.Type, it.Title, it.Value, it.Filename, it.ContentType, it.Size, content, micros(it.CreatedAt), it.CreatedBy); err != nil {
			if tocsin.ErrorCode(translate(err)) == tocsin.ECONFLICT && it.Type == tocsin.RelatedParent {
				return tocsin.Errorf(tocsin.ECONFLICT, "related item: type: incident %s already has a parent; remove it first", it.IncidentID)
			}
			return fmt.Errorf("insert related item: %w", translate(err))
		}
	}
	if len(eff.Items) > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE incidents SET updated_at = $1 WHERE id = $2`, micros(now), id); err != nil {
			return fmt.Errorf("update incident: %w", err)
		}
	}
	return nil
}

// AddTimelineEvent puts a responder's custom event or note on an
// incident's timeline; its references must name the incident's related
// items or other incidents.
func (s *Incidents) AddTimelineEvent(ctx context.Context, id string, in *tocsin.EventInput) (*tocsin.TimelineEvent, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var e *tocsin.TimelineEvent
	err := s.tx(ctx, func(tx *txn) error {
		if err := mustExist(ctx, tx, id); err != nil {
			return err
		}
		if err := checkRefs(ctx, tx, id, in.References); err != nil {
			return err
		}
		now := s.opts.Now().UTC()
		e = response.TimelineEvent(id, in, now)
		if _, err := tx.ExecContext(ctx, `UPDATE incidents SET updated_at = $1 WHERE id = $2`, micros(now), id); err != nil {
			return err
		}
		return insertEvent(ctx, tx, e)
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// checkRefs refuses references to related items of other incidents and to
// incidents that do not exist.
func checkRefs(ctx context.Context, tx *txn, incidentID string, refs []tocsin.EventReference) error {
	for i, r := range refs {
		if r.RelatedItemID != "" {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM related_items WHERE id = $1 AND incident_id = $2`, r.RelatedItemID, incidentID).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return tocsin.Errorf(tocsin.EINVALID, "timeline event: event_references[%d].related_item_id: %q is not a related item of incident %s", i, r.RelatedItemID, incidentID)
			} else if err != nil {
				return fmt.Errorf("find related item: %w", err)
			}
		} else if err := mustExist(ctx, tx, r.IncidentID); err != nil {
			return tocsin.Errorf(tocsin.EINVALID, "timeline event: event_references[%d].incident_id: no incident %q", i, r.IncidentID)
		}
	}
	return nil
}

const eventColumns = `id, incident_id, at, kind, actor, message, data, refs, updated_at`

func scanEvent(row scanner) (*tocsin.TimelineEvent, error) {
	var e tocsin.TimelineEvent
	var at int64
	var data, refs sql.NullString
	var updated sql.NullInt64
	if err := row.Scan(&e.ID, &e.IncidentID, &at, &e.Kind, &e.Actor, &e.Message, &data, &refs, &updated); err != nil {
		return nil, err
	}
	e.At = fromMicros(at)
	if data.Valid {
		e.Data = json.RawMessage(data.String)
	}
	if refs.Valid {
		_ = json.Unmarshal([]byte(refs.String), &e.References)
	}
	e.UpdatedAt = timePtr(updated)
	return &e, nil
}

func refsColumn(refs []tocsin.EventReference) sql.NullString {
	if len(refs) == 0 {
		return sql.NullString{}
	}
	b, _ := json.Marshal(refs)
	return sql.NullString{String: string(b), Valid: true}
}

func nullTimePtr(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

// authorsEvent loads a timeline event of incident id for its author to
// change (locked on PostgreSQL), refusing anyone else (response.Editable).
func (s *Incidents) authorsEvent(ctx context.Context, tx *txn, id, eventID string, by tocsin.Actor) (*tocsin.TimelineEvent, error) {
	q := `SELECT ` + eventColumns + ` FROM timeline WHERE id = $1 AND incident_id = $2`
	if s.dialect == Postgres {
		q += ` FOR UPDATE`
	}
	e, err := scanEvent(tx.QueryRowContext(ctx, q, eventID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "timeline event %q of incident %q not found", eventID, id)
	} else if err != nil {
		return nil, fmt.Errorf("find timeline event: %w", err)
	}
	return e, response.Editable(e, by)
}

// UpdateTimelineEvent edits a custom event or note, by its author only;
// an audit event records the edit.
func (s *Incidents) UpdateTimelineEvent(ctx context.Context, id, eventID string, ed *tocsin.EventEdit) (*tocsin.TimelineEvent, error) {
	if err := ed.Validate(); err != nil {
		return nil, err
	}
	var e *tocsin.TimelineEvent
	err := s.tx(ctx, func(tx *txn) error {
		var err error
		if e, err = s.authorsEvent(ctx, tx, id, eventID, ed.By); err != nil {
			return err
		}
		if ed.References != nil {
			if err := checkRefs(ctx, tx, id, *ed.References); err != nil {
				return err
			}
		}
		now := s.opts.Now().UTC()
		audit := response.Edit(e, ed, now)
		if _, err := tx.ExecContext(ctx, `UPDATE timeline SET at = $1, message = $2, refs = $3, updated_at = $4 WHERE id = $5`,
			micros(e.At), e.Message, refsColumn(e.References), micros(now), e.ID); err != nil {
			return fmt.Errorf("update timeline event: %w", err)
		}
		return insertEvent(ctx, tx, audit)
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// DeleteTimelineEvent deletes a custom event or note, by its author only;
// an audit event, without the text, records the deletion.
func (s *Incidents) DeleteTimelineEvent(ctx context.Context, id, eventID string, by tocsin.Actor) error {
	return s.tx(ctx, func(tx *txn) error {
		e, err := s.authorsEvent(ctx, tx, id, eventID, by)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM timeline WHERE id = $1`, e.ID); err != nil {
			return fmt.Errorf("delete timeline event: %w", err)
		}
		return insertEvent(ctx, tx, response.Deleted(e, by, s.opts.Now().UTC()))
	})
}

// Timeline lists an incident's timeline events, filtered and ordered.
func (s *Incidents) Timeline(ctx context.Context, id string, f tocsin.TimelineFilter) ([]*tocsin.TimelineEvent, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM incidents WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "incident %q not found", id)
	} else if err != nil {
		return nil, translate(err)
	}
	return s.listTimeline(ctx, id, f)
}

func (s *Incidents) listTimeline(ctx context.Context, id string, f tocsin.TimelineFilter) ([]*tocsin.TimelineEvent, error) {
	args := []any{id}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	q := `SELECT ` + eventColumns + ` FROM timeline WHERE incident_id = $1`
	if len(f.Kinds) > 0 {
		var ph []string
		for _, k := range f.Kinds {
			ph = append(ph, arg(k))
		}
		q += ` AND kind IN (` + strings.Join(ph, ", ") + `)`
	}
	if f.From != nil {
		q += ` AND at >= ` + arg(micros(*f.From))
	}
	if f.To != nil {
		q += ` AND at <= ` + arg(micros(*f.To))
	}
	if f.Descending {
		q += ` ORDER BY at DESC, id DESC`
	} else {
		q += ` ORDER BY at, id`
	}
	return queryAll(ctx, s.db, q, args, scanEvent)
}

// maxParentDepth bounds the walk up a chain of parents.
const maxParentDepth = 1000

// AddRelatedItem adds a related item to an incident. An incident or
// parent item must name another incident; a parent link is refused when
// the incident has a parent already or when it would make a cycle.
func (s *Incidents) AddRelatedItem(ctx context.Context, id string, it *tocsin.RelatedItem, by tocsin.Actor) (*tocsin.RelatedItem, error) {
	if err := it.Validate(s.opts.AttachmentMaxBytes); err != nil {
		return nil, err
	}
	err := s.tx(ctx, func(tx *txn) error {
		if err := mustExist(ctx, tx, id); err != nil {
			return err
		}
		if it.Type == tocsin.RelatedIncident || it.Type == tocsin.RelatedParent {
			if it.Value == id {
				return tocsin.Errorf(tocsin.EINVALID, "related item: value: an incident cannot be related to itself")
			}
			if err := mustExist(ctx, tx, it.Value); err != nil {
				return tocsin.Errorf(tocsin.EINVALID, "related item: value: no incident %q", it.Value)
			}
		}
		if it.Type == tocsin.RelatedParent {
			if err := s.checkParent(ctx, tx, id, it.Value); err != nil {
				return err
			}
		}
		now := s.opts.Now().UTC()
		it.ID, it.IncidentID, it.CreatedAt, it.CreatedBy = newID(), id, now, by.String()
		_, err := s.applyChange(ctx, tx, id, response.AddItem(it, now), now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return it, nil
}

// checkParent refuses linking child under parent when child has a parent
// already or when parent is child or below it.
func (s *Incidents) checkParent(ctx context.Context, tx *txn, child, parent string) error {
	if s.dialect == Postgres {
		// Two links made at once (A under B, B under A) would each see
		// no cycle: parent links are made one at a time.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7146110)`); err != nil {
			return fmt.Errorf("lock parent links: %w", err)
		}
	}
	if p, err := parentOf(ctx, tx, child); err != nil {
		return err
	} else if p != "" {
		return tocsin.Errorf(tocsin.ECONFLICT, "related item: type: incident %s already has parent %s; remove that item first", child, p)
	}
	cur := parent
	for range maxParentDepth {
		if cur == child {
			return tocsin.Errorf(tocsin.EINVALID, "related item: value: linking %s under %s makes a cycle (%s is below %s)", child, parent, parent, child)
		}
		p, err := parentOf(ctx, tx, cur)
		if err != nil {
			return err
		}
		if p == "" {
			return nil
		}
		cur = p
	}
	return tocsin.Errorf(tocsin.EINVALID, "related item: value: the chain of parents above %s is deeper than %d", parent, maxParentDepth)
}

func parentOf(ctx context.Context, tx *txn, id string) (string, error) {
	var p string
	err := tx.QueryRowContext(ctx, `SELECT value FROM related_items WHERE incident_id = $1 AND type = 'parent'`, id).Scan(&p)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("find parent: %w", err)
	}
	return p, nil
}

const itemColumns = `id, incident_id, type, title, value, filename, content_type, size, created_at, created_by`

func scanItem(row scanner, content *sql.NullString) (*tocsin.RelatedItem, error) {
	var it tocsin.RelatedItem
	var created int64
	dest := []any{&it.ID, &it.IncidentID, &it.Type, &it.Title, &it.Value, &it.Filename, &it.ContentType, &it.Size, &created, &it.CreatedBy}
	if content != nil {
		dest = append(dest, content)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	it.CreatedAt = fromMicros(created)
	return &it, nil
}

// RemoveRelatedItem removes a related item from an incident (a parent
// item unlinks the incident from its parent).
func (s *Incidents) RemoveRelatedItem(ctx context.Context, id, itemID string, by tocsin.Actor) error {
	return s.tx(ctx, func(tx *txn) error {
		it, err := scanItem(tx.QueryRowContext(ctx, `SELECT `+itemColumns+` FROM related_items WHERE id = $1 AND incident_id = $2`, itemID, id), nil)
		if errors.Is(err, sql.ErrNoRows) {
			return tocsin.Errorf(tocsin.ENOTFOUND, "related item %q of incident %q not found", itemID, id)
		} else if err != nil {
			return fmt.Errorf("find related item: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM related_items WHERE id = $1`, itemID); err != nil {
			return fmt.Errorf("delete related item: %w", err)
		}
		return insertEvent(ctx, tx, response.ItemRemoved(it, by, s.opts.Now().UTC()))
	})
}

// RelatedItems lists an incident's related items, oldest first, without
// attachments' content.
func (s *Incidents) RelatedItems(ctx context.Context, id string) ([]*tocsin.RelatedItem, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+itemColumns+` FROM related_items WHERE incident_id = $1 ORDER BY created_at, id`, id)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []*tocsin.RelatedItem
	for rows.Next() {
		it, err := scanItem(rows, nil)
		if err != nil {
			return nil, translate(err)
		}
		out = append(out, it)
	}
	return out, translate(rows.Err())
}

// RelatedItemContent returns an attachment with its content.
func (s *Incidents) RelatedItemContent(ctx context.Context, id, itemID string) (*tocsin.RelatedItem, error) {
	var content sql.NullString
	it, err := scanItem(s.db.QueryRowContext(ctx, `SELECT `+itemColumns+`, content FROM related_items WHERE id = $1 AND incident_id = $2`, itemID, id), &content)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "related item %q of incident %q not found", itemID, id)
	} else if err != nil {
		return nil, translate(err)
	}
	if !content.Valid {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "related item %q is a %s, not an attachment", itemID, it.Type)
	}
	if it.Content, err = base64.StdEncoding.DecodeString(content.String); err != nil {
		return nil, fmt.Errorf("decode attachment: %w", err)
	}
	return it, nil
}

// RecordChange stores a change event (a deploy, a configuration change).
func (s *Incidents) RecordChange(ctx context.Context, c *tocsin.ChangeEvent) (*tocsin.ChangeEvent, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.ID, c.ReceivedAt = newID(), s.opts.Now().UTC()
	if c.Timestamp.IsZero() {
		c.Timestamp = c.ReceivedAt
	}
	c.Timestamp = c.Timestamp.UTC()
	links, _ := json.Marshal(nonNilLinks(c.Links))
	var custom sql.NullString
	if len(c.Custom) > 0 && string(c.Custom) != "null" {
		custom = sql.NullString{String: string(c.Custom), Valid: true}
	}
	err := s.tx(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO changes (id, service, summary, at, source, links, custom, received_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, c.ID, c.Service, c.Summary, micros(c.Timestamp), c.Source, string(links), custom, micros(c.ReceivedAt))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("record change: %w", translate(err))
	}
	return c, nil
}

// maxFindings bounds the findings shown on one incident.
const maxFindings = 100

// Services are the services an incident is about: its tags' service and
// its alerts' service labels.
func services(inc *tocsin.Incident) []string {
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	add(inc.Tags["service"])
	for _, a := range inc.Alerts {
		add(a.Labels["service"])
	}
	return out
}

// fillRecord adds an incident's related items, children and findings
// (its alerts already read).
func (s *Incidents) fillRecord(ctx context.Context, inc *tocsin.Incident) error {
	var err error
	if inc.RelatedItems, err = s.RelatedItems(ctx, inc.ID); err != nil {
		return err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT i.id, i.title, i.status, i.impact FROM related_items r JOIN incidents i ON i.id = r.incident_id
		WHERE r.type = 'parent' AND r.value = $1 ORDER BY i.created_at, i.id`, inc.ID)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var c tocsin.IncidentLink
		if err := rows.Scan(&c.ID, &c.Title, &c.Status, &c.Impact); err != nil {
			return translate(err)
		}
		inc.Children = append(inc.Children, &c)
	}
	if err := rows.Err(); err != nil {
		return translate(err)
	}
	inc.Findings, err = s.findings(ctx, inc)
	return err
}

// findings are the changes to an incident's services in the findings
// window before it opened, newest first.
func (s *Incidents) findings(ctx context.Context, inc *tocsin.Incident) ([]*tocsin.ChangeEvent, error) {
	svcs := services(inc)
	if len(svcs) == 0 {
		return nil, nil
	}
	args := append([]any{micros(inc.CreatedAt.Add(-s.opts.FindingsWindow)), micros(inc.CreatedAt)}, anySlice(svcs)...)
	rows, err := s.db.QueryContext(ctx, `SELECT id, service, summary, at, source, links, custom, received_at FROM changes
		WHERE at >= $1 AND at <= $2 AND service IN (`+placeholders(3, len(svcs))+`) ORDER BY at DESC, id DESC LIMIT `+strconv.Itoa(maxFindings), args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []*tocsin.ChangeEvent
	for rows.Next() {
		var c tocsin.ChangeEvent
		var at, received int64
		var links string
		var custom sql.NullString
		if err := rows.Scan(&c.ID, &c.Service, &c.Summary, &at, &c.Source, &links, &custom, &received); err != nil {
			return nil, translate(err)
		}
		c.Timestamp, c.ReceivedAt = fromMicros(at), fromMicros(received)
		_ = json.Unmarshal([]byte(links), &c.Links)
		if custom.Valid {
			c.Custom = json.RawMessage(custom.String)
		}
		out = append(out, &c)
	}
	return out, translate(rows.Err())
}
