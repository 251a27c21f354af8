package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"tocsin"
	"tocsin/response"
)

// Ingest commits alerts in one transaction: each attaches to the open
// incident with the same source and dedup key or opens one, and the
// notifications it causes are queued as jobs in the same transaction.
func (s *Incidents) Ingest(ctx context.Context, alerts []*tocsin.Alert, opts tocsin.IngestOptions) ([]tocsin.IngestResult, error) {
	for _, a := range alerts {
		validAlert(a)
	}
	if reps := s.findRepeats(ctx, alerts, opts); reps != nil {
		// Unchanged repeats: answered after the reads that confirmed them,
		// counted in memory and written within a second (repeatCounts).
		s.repeats.add(reps, s.opts.Now())
		results := make([]tocsin.IngestResult, len(reps))
		for i, r := range reps {
			results[i] = r.result
		}
		return results, nil
	}
	var results []tocsin.IngestResult
	var err error
	var queued bool
	// A lone alert may be guessed to open an incident (guess.go); a wrong
	// guess wrote nothing and runs again with the look-up.
	guess := len(alerts) == 1 && opts.IdempotencyKey == ""
	// On PostgreSQL two requests may race to open the same incident; the
	// unique index lets one win and the other retries and attaches.
	for attempt := 0; attempt < 5; attempt++ {
		err = s.tx(ctx, func(tx *txn) error {
			before := tx.queued
			results, err = s.ingest(ctx, tx, alerts, opts, guess)
			queued = tx.queued > before
			return err
		})
		if errors.Is(err, errGuessWrong) {
			guess = false
			continue
		}
		if tocsin.ErrorCode(err) != tocsin.ECONFLICT {
			break
		}
		guess = false
	}
	if err != nil {
		return nil, alertError(err)
	}
	// A repeat or an alert no channel hears of queued nothing: the worker
	// has nothing new to look for.
	if queued {
		s.opts.Wake()
	}
	return results, nil
}

func (s *Incidents) ingest(ctx context.Context, tx *txn, alerts []*tocsin.Alert, opts tocsin.IngestOptions, guess bool) ([]tocsin.IngestResult, error) {
	now := s.opts.Now().UTC()
	results := make([]tocsin.IngestResult, 0, len(alerts))
	if k := opts.IdempotencyKey; k != "" {
		// Keys are kept a day: longer than any sender retries or a signed
		// SNS message stays valid.
		if _, err := tx.ExecContext(ctx, `DELETE FROM intake_keys WHERE created_at < $1`, micros(now.Add(-24*time.Hour))); err != nil {
			return nil, fmt.Errorf("expire intake keys: %w", err)
		}
		r, err := tx.ExecContext(ctx, `INSERT INTO intake_keys (key, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, k, micros(now))
		if err != nil {
			return nil, fmt.Errorf("record intake key: %w", err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			for range alerts {
				results = append(results, tocsin.IngestResult{Duplicate: true})
			}
			return results, nil
		}
	}
	rt, err := routingFor(ctx, tx, opts, false)
	if err != nil {
		return nil, err
	}
	var p *payload
	for _, a := range alerts {
		if p == nil || !bytes.Equal(a.Raw, p.raw) {
			p = &payload{raw: a.Raw}
		}
		r, err := s.ingestOne(ctx, tx, &rt, a, p, now, opts, guess)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	// Whoever reads an incident learns why an override did not take effect.
	for _, e := range response.Warnings(results, opts.Warnings, now) {
		if err := insertEvent(ctx, tx, e); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// payload is the raw body alerts of one request came from, stored once
// and only when an alert's write needs it: a repeat that changes nothing
// stores no payload.
type payload struct {
	raw []byte
	id  string
}

// ID stores the payload (the first time) and returns its id; "" when there
// is no raw body.
func (p *payload) ID(ctx context.Context, tx *txn, now time.Time) (string, error) {
	if len(p.raw) == 0 || p.id != "" {
		return p.id, nil
	}
	id := newID()
	tx.hold(heldPayloads, id, string(p.raw), micros(now))
	p.id = id
	return id, nil
}

// load reads what deciding about one alert needs (in a transaction, or
// before one for the repeat check): its routing, the open incident it
// would join with that incident's plan, and the known alert with the hash
// of what it last said. *rt is the routing it was given, or the one it
// read instead when the look-up found the stored routing changed since
// (then routed, and looked up, again).
func (s *Incidents) load(ctx context.Context, r reader, rt **routing, a *tocsin.Alert, now time.Time, opts tocsin.IngestOptions, guess bool) (response.Input, string, error) {
	a.ReceivedAt = now
	in := response.Input{Alert: a, Policy: &s.opts.Policy, Options: opts, Now: now}
	var err error
	var hash string
	t, _ := r.(*txn)
	for reread := false; ; reread = true {
		in.Routed = (*rt).route(a, opts, &s.opts.Policy, now)
		dedupe := in.Routed.DedupeString()
		var version int64
		if guess && t != nil && t.guessNew(a, dedupe, (*rt).version) {
			// None open, as the guarded insert checks (guess.go).
			version = (*rt).version
		} else if in.Incident, in.Known, hash, version, err = findForAlert(ctx, r, a, dedupe); err != nil {
			return in, "", err
		}
		// A routing read after this look-up is at least as new as what
		// it saw: read at most once more.
		if reread || version == (*rt).version {
			break
		}
		if *rt, err = routingFor(ctx, r, opts, true); err != nil {
			return in, "", err
		}
	}
	if in.Incident != nil {
		if in.IncidentPlan, err = (*rt).planOf(ctx, r, in.Incident.ResponsePlan); err != nil {
			return in, "", err
		}
	}
	if in.Incident == nil {
		in.NewIncidentID = newID()
	}
	if in.Known == nil {
		in.NewAlertID = newID()
	}
	return in, hash, nil
}

// ingestOne loads what deciding about one alert needs, lets response
// decide, and applies the effects.
func (s *Incidents) ingestOne(ctx context.Context, tx *txn, rt **routing, a *tocsin.Alert, p *payload, now time.Time, opts tocsin.IngestOptions, guess bool) (tocsin.IngestResult, error) {
	in, _, err := s.load(ctx, tx, rt, a, now, opts, guess)
	if err != nil {
		return tocsin.IngestResult{}, err
	}
	eff := response.Ingest(in)
	res := eff.Result
	if tx.guess != nil && eff.Open == nil {
		// Guessed to open an incident, decided not to (a resolve, say):
		// what it does then depends on what is open, so look it up.
		return res, errGuessWrong
	}
	if res.IncidentID != "" && tx.guess == nil {
		// Found or opened: the next alert under this key is looked up (a
		// guess is remembered by insertGuessed).
		s.openKeys.put(openKey(a.Source, a.DedupKey), struct{}{})
	}
	if err := applyAlert(ctx, tx, eff, a, p, now); err != nil {
		return res, err
	}
	if _, err := s.applyChange(ctx, tx, res.IncidentID, eff, now); err != nil {
		return res, err
	}
	if o := eff.Open; o != nil {
		if err := s.startPlanRunbook(ctx, tx, o.ID, o.ResponsePlan, eff.Runbook, now); err != nil {
			return res, err
		}
	}
	if by := eff.Acknowledge; by != nil {
		if _, err := s.acknowledge(ctx, tx, res.IncidentID, *by, now); err != nil {
			return res, err
		}
	}
	if by := eff.Resolve; by != nil {
		changed, err := s.resolve(ctx, tx, res.IncidentID, *by, now, res.AlertID)
		if err != nil {
			return res, err
		}
		res.Resolved = changed
	}
	return res, nil
}

// findForAlert returns the open incident an alert would join (nil when
// none is open), the incident's alert with the same fingerprint (nil when
// the alert is new to it) with the hash of what it last said, and the
// routing version the first look-up read with it. An alert whose response
// plan renders a dedupe string joins the open incident with that string
// first, as AWS groups incidents; otherwise (or when none is open) the one
// with its source and dedup key.
func findForAlert(ctx context.Context, r reader, a *tocsin.Alert, dedupe string) (*tocsin.Incident, *tocsin.Alert, string, int64, error) {
	tx := r
	t, _ := r.(*txn)
	if t != nil {
		// The look-ups read incidents and alerts; a held-back row is only
		// inserted first when it could be the answer (two alerts of one
		// batch for the same new incident), so a batch of new incidents
		// keeps its rows for one multi-row insert each.
		if t.heldIncidentMatches(a.Source, a.DedupKey, a.LegacyDedupKey, dedupe) {
			if err := t.flush(ctx); err != nil {
				return nil, nil, "", 0, err
			}
		}
		tx = unflushed{t}
	}
	var inc tocsin.Incident
	var version int64
	// Every look-up reads the routing version in the same statement (one
	// row; the incident's columns empty when none is open): checking the
	// cached routing costs no statement of its own.
	found := func(row *sql.Row) (bool, error) {
		err := row.Scan(&version, &inc.ID, &inc.Status, &inc.Impact, &inc.OpenAlertCount, &inc.AlertCount, &inc.ResponsePlan)
		return inc.ID != "", err
	}
	var ok bool
	var err error
	if dedupe != "" {
		ok, err = found(tx.QueryRowContext(ctx, byDedupe, dedupe))
	}
	if err == nil && !ok {
		// The incident under the alert's key, else one opened before the
		// decoder's key changed (its legacy key): that stays one incident
		// until it resolves rather than split on upgrade. Two equality
		// look-ups, not one with IN: PostgreSQL's generic plan of the IN
		// form, made while the table is empty, uses the index on source
		// alone and reads every open incident of the source per alert.
		// Both in one statement (a round trip fewer on PostgreSQL, for
		// every new alert): a UNION ALL of the two equality look-ups, own
		// key first.
		if a.LegacyDedupKey != "" && a.LegacyDedupKey != a.DedupKey {
			ok, err = found(tx.QueryRowContext(ctx, byKeyOrLegacy, a.Source, a.DedupKey, a.LegacyDedupKey))
		} else {
			ok, err = found(tx.QueryRowContext(ctx, byKey, a.Source, a.DedupKey))
		}
	}
	if err != nil {
		return nil, nil, "", 0, fmt.Errorf("find open incident: %w", err)
	} else if !ok {
		return nil, nil, "", version, nil
	}
	if t != nil && t.heldAlertMatches(inc.ID, a.Fingerprint) {
		if err := t.flush(ctx); err != nil {
			return nil, nil, "", 0, err
		}
	}
	var known tocsin.Alert
	var hash string
	err = tx.QueryRowContext(ctx, alertByFingerprint, inc.ID, a.Fingerprint).
		Scan(&known.ID, &known.Status, &known.Title, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return &inc, nil, "", version, nil
	} else if err != nil {
		return nil, nil, "", 0, fmt.Errorf("find alert: %w", err)
	}
	return &inc, &known, hash, version, nil
}

// withVersion is an open-incident look-up (a query of its columns, at most
// one row) as one row of the routing version and, when an incident is
// open, its columns (else empty: an id is never empty).
func withVersion(lookup string) string {
	return `SELECT v.version, COALESCE(o.id, ''), COALESCE(o.status, ''), COALESCE(o.impact, 0), COALESCE(o.open_alert_count, 0),
	COALESCE(o.alert_count, 0), COALESCE(o.response_plan, '')
	FROM routing_version v LEFT JOIN (` + lookup + `) o ON true WHERE v.id = 1`
}

// The open-incident look-ups (findForAlert), each with the routing
// version. byDedupe's predicate repeats the partial index's own condition
// on dedupe_string, so a prepared statement's generic plan can use
// it. byKeyOrLegacy finds the open incident under an alert's key ($2),
// else under its legacy key ($3), as two equality look-ups on the partial
// unique index incidents_open_dedup in one statement.
var (
	byDedupe = withVersion(`SELECT id, status, impact, open_alert_count, alert_count, response_plan FROM incidents
	WHERE dedupe_string = $1 AND dedupe_string <> '' AND status <> 'resolved'`)
	byKey = withVersion(`SELECT id, status, impact, open_alert_count, alert_count, response_plan FROM incidents
	WHERE source = $1 AND dedup_key = $2 AND status <> 'resolved'`)
	// alertByFingerprint is the open incident's alert an alert updates.
	alertByFingerprint = `SELECT id, status, title, content_hash FROM alerts WHERE incident_id = $1 AND fingerprint = $2`
	byKeyOrLegacy      = withVersion(`SELECT id, status, impact, open_alert_count, alert_count, response_plan FROM (
	SELECT 0 AS k, id, status, impact, open_alert_count, alert_count, response_plan FROM incidents
	WHERE source = $1 AND dedup_key = $2 AND status <> 'resolved'
	UNION ALL
	SELECT 1 AS k, id, status, impact, open_alert_count, alert_count, response_plan FROM incidents
	WHERE source = $1 AND dedup_key = $3 AND status <> 'resolved') AS u ORDER BY k LIMIT 1`)
)

// applyAlert writes what a decision about an alert changes of the
// incident and of the alert itself.
func applyAlert(ctx context.Context, tx *txn, eff response.Effects, a *tocsin.Alert, p *payload, now time.Time) error {
	if o := eff.Open; o != nil {
		labels, _ := json.Marshal(nonNilMap(o.Labels))
		tags, _ := json.Marshal(nonNilMap(o.Tags))
		chats, _ := json.Marshal(nonNilChats(o.ChatChannels))
		tx.hold(heldIncidents, o.ID, o.Title, o.Summary, o.Impact, o.Status, o.Source, o.DedupKey, string(labels), micros(now), micros(now),
			1, 1, o.ResponsePlan, o.DedupeString, string(tags), string(chats))
		tx.held.incidents = append(tx.held.incidents, heldIncident{source: o.Source, dedupKey: o.DedupKey, dedupe: o.DedupeString})
	}
	w := eff.Alert
	if w.Op != response.AlertNone {
		a.ID, a.IncidentID = w.ID, w.IncidentID
	}
	var err error
	switch w.Op {
	case response.AlertInsert:
		err = insertAlert(ctx, tx, a, p, now)
	case response.AlertUpdate:
		err = updateAlert(ctx, tx, a, p, now)
	case response.AlertStatus:
		err = resolveAlert(ctx, tx, a, p, now)
	}
	if err != nil {
		return err
	}
	if c := eff.Count; c != nil {
		q, args := `UPDATE incidents SET alert_count = alert_count + $1, open_alert_count = open_alert_count + $2, updated_at = $3 WHERE id = $4`,
			[]any{c.Alerts, c.Open, micros(now), w.IncidentID}
		if c.Impact != 0 {
			q, args = `UPDATE incidents SET alert_count = alert_count + $1, open_alert_count = open_alert_count + $2,
			impact = $3, updated_at = $4 WHERE id = $5`, []any{c.Alerts, c.Open, c.Impact, micros(now), w.IncidentID}
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("update incident: %w", err)
		}
	}
	return nil
}

func insertAlert(ctx context.Context, tx *txn, a *tocsin.Alert, p *payload, now time.Time) error {
	labels, ann, links := alertJSON(a)
	hash := contentHash(a, labels, ann, links, p.raw)
	payloadID, err := p.ID(ctx, tx, now)
	if err != nil {
		return err
	}
	tx.hold(heldAlerts, a.ID, a.IncidentID, nullString(payloadID), a.Source, a.DedupKey, a.Fingerprint, a.Status, a.Severity,
		a.Title, a.Description, labels, ann, links, nullMicros(a.StartsAt), nullMicros(a.EndsAt), micros(now), micros(now), micros(now), hash)
	tx.held.alerts = append(tx.held.alerts, heldAlert{incidentID: a.IncidentID, fingerprint: a.Fingerprint})
	tx.db.recent.put(recentKey(a), hash)
	return nil
}

// updateAlert records a newer report of a known alert (status, text, times
// and the payload that carried it); received_at keeps the first sighting.
// A report that says exactly what the stored one says (same status, text,
// times and payload: a sender's repeat) is only counted: no payload is
// stored and the row keeps its content.
func updateAlert(ctx context.Context, tx *txn, a *tocsin.Alert, p *payload, now time.Time) error {
	labels, ann, links := alertJSON(a)
	hash := contentHash(a, labels, ann, links, p.raw)
	r, err := tx.ExecContext(ctx, `UPDATE alerts SET repeat_count = repeat_count + 1, last_seen_at = $1 WHERE id = $2 AND content_hash = $3`,
		micros(now), a.ID, hash)
	if err != nil {
		return fmt.Errorf("count repeat: %w", err)
	}
	if n, _ := r.RowsAffected(); n == 1 {
		tx.db.recent.put(recentKey(a), hash)
		return nil
	}
	payloadID, err := p.ID(ctx, tx, now)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE alerts SET status = $1, severity = $2, title = $3, description = $4, labels = $5,
		annotations = $6, links = $7, ends_at = $8, updated_at = $9, last_seen_at = $9, payload_id = COALESCE($10, payload_id),
		content_hash = $11 WHERE id = $12`,
		a.Status, a.Severity, a.Title, a.Description, labels, ann, links, nullMicros(a.EndsAt), micros(now),
		nullString(payloadID), hash, a.ID); err != nil {
		return fmt.Errorf("update alert: %w", err)
	}
	tx.db.recent.put(recentKey(a), hash)
	return nil
}

// resolveAlert records a resolve of a known alert: its status, end and
// the payload that carried it; everything the alert said is kept. The row
// then says what no single report said: its hash is cleared, so the next
// report is stored whatever it says.
func resolveAlert(ctx context.Context, tx *txn, a *tocsin.Alert, p *payload, now time.Time) error {
	payloadID, err := p.ID(ctx, tx, now)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE alerts SET status = $1, ends_at = COALESCE($2, ends_at), updated_at = $3, last_seen_at = $3,
		payload_id = COALESCE($4, payload_id), content_hash = '' WHERE id = $5`,
		a.Status, nullMicros(a.EndsAt), micros(now), nullString(payloadID), a.ID); err != nil {
		return fmt.Errorf("resolve alert: %w", err)
	}
	return nil
}

// alertJSON is how an alert's labels, annotations and links are stored.
func alertJSON(a *tocsin.Alert) (labels, ann, links string) {
	l, _ := json.Marshal(nonNilMap(a.Labels))
	n, _ := json.Marshal(nonNilMap(a.Annotations))
	k, _ := json.Marshal(nonNilLinks(a.Links))
	return string(l), string(n), string(k)
}

// contentHash identifies what a report of an alert says: every stored
// field a report can change, and the payload it came in (each written
// with its length, so no two reports hash alike by shifting bytes).
func contentHash(a *tocsin.Alert, labels, ann, links string, raw []byte) string {
	h := sha256.New()
	for _, f := range []string{a.Status, a.Severity, a.Title, a.Description, labels, ann, links,
		strconv.FormatInt(nullMicros(a.StartsAt).Int64, 10), strconv.FormatInt(nullMicros(a.EndsAt).Int64, 10), string(raw)} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func addEvent(ctx context.Context, tx *txn, incidentID string, at time.Time, kind, actor, msg string, data map[string]any) error {
	var raw sql.NullString
	if data != nil {
		b, _ := json.Marshal(data)
		raw = sql.NullString{String: string(b), Valid: true}
	}
	return insertEvent(ctx, tx, &tocsin.TimelineEvent{IncidentID: incidentID, At: at, Kind: kind, Actor: actor, Message: msg, Data: json.RawMessage(raw.String)})
}

func insertEvent(ctx context.Context, tx *txn, e *tocsin.TimelineEvent) error {
	if e.ID == "" {
		e.ID = newID()
	}
	var data sql.NullString
	if len(e.Data) > 0 {
		data = sql.NullString{String: string(e.Data), Valid: true}
	}
	tx.hold(heldTimeline, e.ID, e.IncidentID, micros(e.At), e.Kind, e.Actor, e.Message, data, refsColumn(e.References), nullTimePtr(e.UpdatedAt))
	return nil
}

// Acknowledge moves a triggered incident to acknowledged.
func (s *Incidents) Acknowledge(ctx context.Context, id string, by tocsin.Actor) (*tocsin.Incident, bool, error) {
	var changed bool
	err := s.tx(ctx, func(tx *txn) error {
		var err error
		changed, err = s.acknowledge(ctx, tx, id, by, s.opts.Now().UTC())
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if changed {
		s.opts.Wake()
	}
	inc, err := s.FindIncident(ctx, id)
	return inc, changed, err
}

// acknowledge decides and applies an acknowledgement; it reports whether
// the incident changed.
func (s *core) acknowledge(ctx context.Context, tx *txn, id string, by tocsin.Actor, now time.Time) (bool, error) {
	c, err := s.loadChange(ctx, tx, id, by, now, false)
	if err != nil {
		return false, err
	}
	return s.applyChange(ctx, tx, id, response.Acknowledge(c), now)
}

// Resolve moves an open incident to resolved and resolves its alerts.
func (s *Incidents) Resolve(ctx context.Context, id string, by tocsin.Actor) (*tocsin.Incident, bool, error) {
	var changed bool
	err := s.tx(ctx, func(tx *txn) error {
		var err error
		changed, err = s.resolve(ctx, tx, id, by, s.opts.Now().UTC(), "")
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if changed {
		s.opts.Wake()
	}
	inc, err := s.FindIncident(ctx, id)
	return inc, changed, err
}

// resolve decides and applies a resolve (alertID: the alert whose resolve
// caused it, if any); it reports whether the incident changed.
func (s *Incidents) resolve(ctx context.Context, tx *txn, id string, by tocsin.Actor, now time.Time, alertID string) (bool, error) {
	c, err := s.loadChange(ctx, tx, id, by, now, true)
	if err != nil {
		return false, err
	}
	c.AlertID = alertID
	return s.applyChange(ctx, tx, id, response.Resolve(c), now)
}

// loadChange loads what deciding an acknowledgement or a resolve needs:
// the incident, locked on PostgreSQL so that its status stays as read
// until the commit, its pending escalation and, for a resolve, its
// channel references. ENOTFOUND when there is no such incident.
func (s *core) loadChange(ctx context.Context, tx *txn, id string, by tocsin.Actor, now time.Time, refs bool) (response.Change, error) {
	c := response.Change{Incident: &tocsin.Incident{ID: id}, By: by, Policy: &s.opts.Policy, Now: now}
	q := `SELECT status, response_plan, chat_channels FROM incidents WHERE id = $1`
	if s.dialect == Postgres {
		q += ` FOR UPDATE`
	}
	var chats string
	err := tx.QueryRowContext(ctx, q, id).Scan(&c.Incident.Status, &c.Incident.ResponsePlan, &chats)
	if errors.Is(err, sql.ErrNoRows) {
		return c, tocsin.Errorf(tocsin.ENOTFOUND, "incident %q not found", id)
	} else if err != nil {
		return c, fmt.Errorf("find incident: %w", err)
	}
	_ = json.Unmarshal([]byte(chats), &c.ChatChannels)
	if c.Incident.ResponsePlan != "" {
		if c.Plan, err = findPlanTx(ctx, tx, c.Incident.ResponsePlan); err != nil {
			return c, err
		}
	}
	if c.Delayed, err = delayedEngagements(ctx, tx, id); err != nil {
		return c, err
	}
	var args string
	var leased bool
	err = tx.QueryRowContext(ctx, `SELECT args, lease_owner IS NOT NULL FROM jobs WHERE incident_id = $1 AND kind = $2 AND state = 'pending'`,
		id, tocsin.JobEscalate).Scan(&args, &leased)
	switch {
	case err == nil:
		c.Escalation = &response.Escalation{Running: leased}
		_ = json.Unmarshal([]byte(args), &c.Escalation.Args)
	case !errors.Is(err, sql.ErrNoRows):
		return c, fmt.Errorf("find escalation: %w", err)
	}
	if !refs {
		return c, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT channel, ref FROM channel_refs WHERE incident_id = $1`, id)
	if err != nil {
		return c, fmt.Errorf("find channel refs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r := tocsin.ChannelRef{IncidentID: id}
		if err := rows.Scan(&r.Channel, &r.Ref); err != nil {
			return c, fmt.Errorf("find channel refs: %w", err)
		}
		c.Refs = append(c.Refs, r)
	}
	return c, rows.Err()
}

// delayedEngagements returns the arguments of an incident's response plan
// engagements still waiting out their delay (none a worker holds).
func delayedEngagements(ctx context.Context, tx *txn, id string) ([]tocsin.EngageArgs, error) {
	rows, err := tx.QueryContext(ctx, `SELECT args FROM jobs WHERE incident_id = $1 AND kind = $2 AND state = 'pending' ORDER BY due_at, id`, id, tocsin.JobEngage)
	if err != nil {
		return nil, fmt.Errorf("find delayed engagements: %w", err)
	}
	defer rows.Close()
	var out []tocsin.EngageArgs
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("find delayed engagements: %w", err)
		}
		var a tocsin.EngageArgs
		_ = json.Unmarshal([]byte(raw), &a)
		out = append(out, a)
	}
	return out, rows.Err()
}

// applyChange writes a decision's status change, events, cancellations
// and jobs for incident id; it reports whether anything was to change.
func (s *core) applyChange(ctx context.Context, tx *txn, id string, eff response.Effects, now time.Time) (bool, error) {
	if err := applyRecord(ctx, tx, id, eff, now); err != nil {
		return false, err
	}
	if st := eff.Status; st != nil {
		if err := changeStatus(ctx, tx, id, *st, now); err != nil {
			return false, err
		}
	}
	for _, e := range eff.Events {
		if err := insertEvent(ctx, tx, e); err != nil {
			return false, err
		}
	}
	for _, c := range eff.Cancel {
		if err := cancelKinds(ctx, tx, c); err != nil {
			return false, err
		}
	}
	if why := eff.StopEngagements; why != "" {
		if err := stopEngagements(ctx, tx, id, now, why); err != nil {
			return false, err
		}
	}
	for _, j := range eff.Jobs {
		if err := queueJob(ctx, tx, j, now); err != nil {
			return false, err
		}
	}
	return eff.Status != nil, nil
}

// changeStatus moves incident id to st.To; a resolve resolves its alerts.
func changeStatus(ctx context.Context, tx *txn, id string, st response.StatusChange, now time.Time) error {
	var q string
	switch st.To {
	case tocsin.StatusAcknowledged:
		q = `UPDATE incidents SET status = 'acknowledged', acked_at = $1, acked_by = $2, updated_at = $1 WHERE id = $3 AND status = 'triggered'`
	case tocsin.StatusResolved:
		q = `UPDATE incidents SET status = 'resolved', resolved_at = $1, resolved_by = $2, updated_at = $1,
		open_alert_count = 0 WHERE id = $3 AND status <> 'resolved'`
	default:
		return fmt.Errorf("change incident: no status %q", st.To)
	}
	r, err := tx.ExecContext(ctx, q, micros(now), st.By.String(), id)
	if err != nil {
		return fmt.Errorf("change incident status: %w", err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		// The incident is locked while the decision is made, so only
		// a change the lock does not cover gets here: decide again.
		return tocsin.Errorf(tocsin.ECONFLICT, "incident %q changed while it was being %s", id, st.To)
	}
	if st.To == tocsin.StatusResolved {
		if _, err := tx.ExecContext(ctx, `UPDATE alerts SET status = 'resolved', updated_at = $1, content_hash = '' WHERE incident_id = $2 AND status <> 'resolved'`,
			micros(now), id); err != nil {
			return fmt.Errorf("resolve alerts: %w", err)
		}
	}
	return nil
}

// cancelKinds cancels an incident's pending jobs of c's kinds.
func cancelKinds(ctx context.Context, tx *txn, c response.Cancel) error {
	cond := `incident_id = $1 AND kind IN (` + placeholders(2, len(c.Kinds)) + `)`
	if err := cancelJobs(ctx, tx, cond, append([]any{c.IncidentID}, anySlice(c.Kinds)...)...); err != nil {
		return fmt.Errorf("cancel timers: %w", err)
	}
	return nil
}

// cancelJobs cancels the pending jobs matching cond (a WHERE clause over
// jobs with its args): those no worker holds are deleted, those a worker
// is running are marked cancelled for CompleteJob to finish.
func cancelJobs(ctx context.Context, tx *txn, cond string, args ...any) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE state = 'pending' AND lease_owner IS NULL AND `+cond, args...); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'cancelled' WHERE state = 'pending' AND lease_owner IS NOT NULL AND `+cond, args...)
	return err
}

// AddNote appends a note to an incident's timeline.
func (s *Incidents) AddNote(ctx context.Context, id string, by tocsin.Actor, text string) (*tocsin.TimelineEvent, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, tocsin.Errorf(tocsin.EINVALID, "note: text is required")
	}
	e := &tocsin.TimelineEvent{IncidentID: id, At: s.opts.Now().UTC(), Kind: tocsin.EventNote, Actor: by.String(), Message: text}
	err := s.tx(ctx, func(tx *txn) error {
		if err := mustExist(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE incidents SET updated_at = $1 WHERE id = $2`, micros(e.At), id); err != nil {
			return err
		}
		return insertEvent(ctx, tx, e)
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

func mustExist(ctx context.Context, tx *txn, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM incidents WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return tocsin.Errorf(tocsin.ENOTFOUND, "incident %q not found", id)
	}
	return err
}

const incidentColumns = `id, title, summary, impact, status, source, dedup_key, labels, created_at, updated_at,
	acked_at, acked_by, resolved_at, resolved_by, alert_count, open_alert_count, response_plan, dedupe_string, tags, chat_channels, trigger_details`

type scanner interface{ Scan(dest ...any) error }

// scanIncident reads a row of incidentColumns, then extra columns (if
// any) into extra.
func scanIncident(row scanner, extra ...any) (*tocsin.Incident, error) {
	var r incidentRow
	if err := row.Scan(append(r.dests(), extra...)...); err != nil {
		return nil, err
	}
	return r.incident(), nil
}

// incidentRow receives a row of incidentColumns: dests are its scan
// destinations, incident what they say. Reads that join an incident to
// other rows scan it beside them.
type incidentRow struct {
	inc                 tocsin.Incident
	labels, tags, chats string
	trigger             sql.NullString
	created, updated    int64
	acked, resolved     sql.NullInt64
}

func (r *incidentRow) dests() []any {
	inc := &r.inc
	return []any{&inc.ID, &inc.Title, &inc.Summary, &inc.Impact, &inc.Status, &inc.Source, &inc.DedupKey, &r.labels,
		&r.created, &r.updated, &r.acked, &inc.AckedBy, &r.resolved, &inc.ResolvedBy, &inc.AlertCount, &inc.OpenAlertCount,
		&inc.ResponsePlan, &inc.DedupeString, &r.tags, &r.chats, &r.trigger}
}

func (r *incidentRow) incident() *tocsin.Incident {
	inc := r.inc
	labels, tags, chats, trigger := r.labels, r.tags, r.chats, r.trigger
	created, updated, acked, resolved := r.created, r.updated, r.acked, r.resolved
	_ = json.Unmarshal([]byte(labels), &inc.Labels)
	_ = json.Unmarshal([]byte(tags), &inc.Tags)
	_ = json.Unmarshal([]byte(chats), &inc.ChatChannels)
	if len(inc.Tags) == 0 {
		inc.Tags = nil
	}
	if len(inc.ChatChannels) == 0 {
		inc.ChatChannels = nil
	}
	if trigger.Valid {
		inc.TriggerDetails = &tocsin.TriggerDetails{}
		_ = json.Unmarshal([]byte(trigger.String), inc.TriggerDetails)
	}
	inc.CreatedAt, inc.UpdatedAt = fromMicros(created), fromMicros(updated)
	inc.AckedAt, inc.ResolvedAt = timePtr(acked), timePtr(resolved)
	return &inc
}

// FindIncident returns one incident with its alerts and timeline.
func (s *Incidents) FindIncident(ctx context.Context, id string) (*tocsin.Incident, error) {
	inc, err := scanIncident(s.db.QueryRowContext(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "incident %q not found", id)
	} else if err != nil {
		return nil, translate(err)
	}
	if inc.Alerts, err = s.incidentAlerts(ctx, id); err != nil {
		return nil, err
	}
	if inc.Timeline, err = s.timeline(ctx, id); err != nil {
		return nil, err
	}
	if err := s.fillRecord(ctx, inc); err != nil {
		return nil, err
	}
	return inc, nil
}

const alertColumns = `id, incident_id, source, dedup_key, fingerprint, status, severity, title, description, labels, annotations,
	links, starts_at, ends_at, received_at, repeat_count, last_seen_at`

// alertColumnsOf is alertColumns qualified by a table alias, for joins.
func alertColumnsOf(alias string) string { return qualify(alertColumns, alias) }

// qualify qualifies a list of columns by a table alias, for joins.
func qualify(columns, alias string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

func (s *Incidents) incidentAlerts(ctx context.Context, incidentID string) ([]*tocsin.Alert, error) {
	return incidentAlerts(ctx, s.db, incidentID)
}

// incidentAlerts reads an incident's alerts, oldest first, through q (the
// database or a transaction).
func incidentAlerts(ctx context.Context, q querier, incidentID string) ([]*tocsin.Alert, error) {
	return queryAll(ctx, q, `SELECT `+alertColumns+` FROM alerts WHERE incident_id = $1 ORDER BY received_at, id`, []any{incidentID},
		func(row scanner) (*tocsin.Alert, error) { return scanAlert(row) })
}

// scanAlert reads a row of alertColumns, then extra columns (if any) into
// extra.
func scanAlert(row scanner, extra ...any) (*tocsin.Alert, error) {
	var r alertRow
	if err := row.Scan(append(r.dests(), extra...)...); err != nil {
		return nil, err
	}
	return r.alert(), nil
}

// alertRow receives a row of alertColumns, as incidentRow does.
type alertRow struct {
	a                  tocsin.Alert
	labels, ann, links string
	starts, ends       sql.NullInt64
	received, seen     int64
}

func (r *alertRow) dests() []any {
	a := &r.a
	return []any{&a.ID, &a.IncidentID, &a.Source, &a.DedupKey, &a.Fingerprint, &a.Status, &a.Severity, &a.Title, &a.Description,
		&r.labels, &r.ann, &r.links, &r.starts, &r.ends, &r.received, &a.RepeatCount, &r.seen}
}

func (r *alertRow) alert() *tocsin.Alert {
	a := r.a
	labels, ann, links, starts, ends, received, seen := r.labels, r.ann, r.links, r.starts, r.ends, r.received, r.seen
	if seen > 0 {
		a.LastSeenAt = fromMicros(seen)
	}
	_ = json.Unmarshal([]byte(labels), &a.Labels)
	_ = json.Unmarshal([]byte(ann), &a.Annotations)
	_ = json.Unmarshal([]byte(links), &a.Links)
	if starts.Valid {
		a.StartsAt = fromMicros(starts.Int64)
	}
	if ends.Valid {
		a.EndsAt = fromMicros(ends.Int64)
	}
	a.ReceivedAt = fromMicros(received)
	return &a
}

func (s *Incidents) timeline(ctx context.Context, incidentID string) ([]*tocsin.TimelineEvent, error) {
	return s.listTimeline(ctx, incidentID, tocsin.TimelineFilter{})
}

// Default and largest page sizes of ListIncidents.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// ListIncidents lists incidents newest first, filtered, a page at a time.
func (s *Incidents) ListIncidents(ctx context.Context, f tocsin.IncidentFilter) ([]*tocsin.Incident, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if len(f.Status) > 0 {
		var ph []string
		for _, st := range f.Status {
			ph = append(ph, arg(st))
		}
		where = append(where, "status IN ("+strings.Join(ph, ", ")+")")
	}
	if len(f.Impact) > 0 {
		var ph []string
		for _, i := range f.Impact {
			ph = append(ph, arg(i))
		}
		where = append(where, "impact IN ("+strings.Join(ph, ", ")+")")
	}
	if f.Since != nil {
		where = append(where, "created_at >= "+arg(micros(*f.Since)))
	}
	if f.Before != nil {
		where = append(where, "created_at < "+arg(micros(*f.Before)))
	}
	if len(f.Sources) > 0 {
		var ph []string
		for _, src := range f.Sources {
			ph = append(ph, arg(src))
		}
		where = append(where, "source IN ("+strings.Join(ph, ", ")+")")
	}
	if f.DedupKey != "" {
		where = append(where, "dedup_key = "+arg(f.DedupKey))
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "(created_at < "+arg(at)+" OR (created_at = "+arg(at)+" AND id < "+arg(id)+"))")
	}
	q := `SELECT ` + incidentColumns + ` FROM incidents`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC LIMIT " + arg(limit+1)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", translate(err)
	}
	defer rows.Close()
	var out []*tocsin.Incident
	for rows.Next() {
		inc, err := scanIncident(rows)
		if err != nil {
			return nil, "", translate(err)
		}
		out = append(out, inc)
	}
	if err := rows.Err(); err != nil {
		return nil, "", translate(err)
	}
	var next string
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = encodeCursor(micros(last.CreatedAt), last.ID)
	}
	return out, next, nil
}

func encodeCursor(at int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at, 10) + ":" + id))
}

func decodeCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if at, id, ok := strings.Cut(string(b), ":"); ok {
			if n, err := strconv.ParseInt(at, 10, 64); err == nil && id != "" {
				return n, id, nil
			}
		}
	}
	return 0, "", tocsin.Errorf(tocsin.EINVALID, "cursor: not a cursor returned by this API")
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func nonNilChats(c []tocsin.ChatChannel) []tocsin.ChatChannel {
	if c == nil {
		return []tocsin.ChatChannel{}
	}
	return c
}

func nonNilLinks(l []tocsin.Link) []tocsin.Link {
	if l == nil {
		return []tocsin.Link{}
	}
	return l
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
