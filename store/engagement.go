package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"tocsin"
)

// StartEngagement starts running an escalation plan for an incident: it
// records the engagement and arms its first stage, due now. With a
// non-empty id the start is idempotent: an engagement with that id that
// exists already is returned as it is (a re-run escalation job).
func (s *Engagements) StartEngagement(ctx context.Context, id, incidentID, plan, parentID string, test bool) (string, error) {
	if id == "" {
		id = newID()
	}
	err := s.tx(ctx, func(tx *txn) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM engagements WHERE id = $1`, id).Scan(&one)
		if err == nil {
			return nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return s.startEngagement(ctx, tx, id, incidentID, plan, parentID, test, s.opts.Now().UTC())
	})
	if err != nil {
		return "", err
	}
	s.opts.Wake()
	return id, nil
}

func (s *core) startEngagement(ctx context.Context, tx *txn, id, incidentID, plan, parentID string, test bool, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO engagements (id, incident_id, plan, parent_id, test, status, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		id, incidentID, plan, nullString(parentID), test, tocsin.EngagementActive, micros(now)); err != nil {
		return fmt.Errorf("insert engagement: %w", err)
	}
	msg := "Engaging escalation plan " + plan
	if test {
		msg = "TEST: " + msg
	}
	if err := addEvent(ctx, tx, incidentID, now, tocsin.EventEngaged, "", msg, map[string]any{"engagement_id": id, "plan": plan, "parent_id": parentID}); err != nil {
		return err
	}
	args, _ := json.Marshal(tocsin.StageArgs{EngagementID: id, Seq: 0})
	return insertJob(ctx, tx, &tocsin.Job{Kind: tocsin.JobStage, Lane: tocsin.JobStage, Key: tocsin.StageKey(id, 0), IncidentID: incidentID, Args: args, DueAt: now}, now)
}

// FindEngagement returns an engagement (without its pages).
func (s *Engagements) FindEngagement(ctx context.Context, id string) (*tocsin.Engagement, error) {
	es, err := s.engagements(ctx, `WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "engagement %q not found", id)
	}
	return es[0], nil
}

// ForIncident returns an incident's engagements with their pages and receipts.
func (s *Engagements) ForIncident(ctx context.Context, incidentID string) ([]*tocsin.Engagement, error) {
	es, err := s.engagements(ctx, `WHERE incident_id = $1`, incidentID)
	if err != nil || len(es) == 0 {
		return es, err
	}
	byID := map[string]*tocsin.Engagement{}
	for _, e := range es {
		byID[e.ID] = e
	}
	pages, err := s.pages(ctx, `WHERE incident_id = $1 ORDER BY due_at, id`, incidentID)
	if err != nil {
		return nil, err
	}
	pageByID := map[string]*tocsin.Page{}
	for _, p := range pages {
		pageByID[p.ID] = p
		if e := byID[p.EngagementID]; e != nil {
			e.Pages = append(e.Pages, p)
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT r.page_id, r.at, r.kind, r.detail FROM receipts r JOIN pages p ON p.id = r.page_id
		WHERE p.incident_id = $1 ORDER BY r.at, r.id`, incidentID)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var pid string
		var at int64
		var r tocsin.Receipt
		if err := rows.Scan(&pid, &at, &r.Kind, &r.Detail); err != nil {
			return nil, translate(err)
		}
		r.At = fromMicros(at)
		if p := pageByID[pid]; p != nil {
			p.Receipts = append(p.Receipts, &r)
		}
	}
	return es, translate(rows.Err())
}

func (s *Engagements) engagements(ctx context.Context, where string, args ...any) ([]*tocsin.Engagement, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, incident_id, plan, parent_id, test, status, stop_reason, progress, started_at, stopped_at
		FROM engagements `+where+` ORDER BY started_at, id`, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []*tocsin.Engagement{}
	for rows.Next() {
		var e tocsin.Engagement
		var parent sql.NullString
		var started int64
		var stopped sql.NullInt64
		if err := rows.Scan(&e.ID, &e.IncidentID, &e.Plan, &parent, &e.Test, &e.Status, &e.StopReason, &e.Progress, &started, &stopped); err != nil {
			return nil, translate(err)
		}
		e.ParentID, e.StartedAt, e.StoppedAt = parent.String, fromMicros(started), timePtr(stopped)
		out = append(out, &e)
	}
	return out, translate(rows.Err())
}

const pageColumns = `id, engagement_id, incident_id, page_key, contact_alias, channel_name, channel_type, address, essential, ack_code,
	status, provider, provider_ref, error, due_at, sent_at`

func (s *Engagements) pages(ctx context.Context, where string, args ...any) ([]*tocsin.Page, error) {
	return queryAll(ctx, s.db, `SELECT `+pageColumns+` FROM pages `+where, args, scanPage)
}

func scanPage(row scanner) (*tocsin.Page, error) {
	var p tocsin.Page
	var due int64
	var sent sql.NullInt64
	if err := row.Scan(&p.ID, &p.EngagementID, &p.IncidentID, &p.Key, &p.Contact, &p.ChannelName, &p.ChannelType, &p.Address, &p.Essential,
		&p.AckCode, &p.Status, &p.Provider, &p.ProviderRef, &p.Error, &due, &sent); err != nil {
		return nil, err
	}
	p.DueAt, p.SentAt = fromMicros(due), timePtr(sent)
	return &p, nil
}

// FindPage returns a page.
func (s *Engagements) FindPage(ctx context.Context, id string) (*tocsin.Page, error) {
	ps, err := s.pages(ctx, `WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "page %q not found", id)
	}
	return ps[0], nil
}

// applyStage records a stage's pages, nested engagements and the next
// stage in the transaction of its job's completion. It returns false when
// the stage was already recorded (a repeated job) or the engagement is no
// longer active, and then changes nothing.
func (s *core) applyStage(ctx context.Context, tx *txn, incidentID string, st *tocsin.StageProgress, now time.Time) (bool, error) {
	r, err := tx.ExecContext(ctx, `UPDATE engagements SET progress = $1 WHERE id = $2 AND progress = $3 AND status = $4`,
		st.Seq+1, st.EngagementID, st.Seq, tocsin.EngagementActive)
	if err != nil {
		return false, fmt.Errorf("advance engagement: %w", err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return false, nil
	}
	for _, p := range st.Pages {
		if err := insertPage(ctx, tx, incidentID, st.EngagementID, p, now); err != nil {
			return false, err
		}
	}
	for _, plan := range st.Plans {
		if err := s.startEngagement(ctx, tx, newID(), incidentID, plan, st.EngagementID, false, now); err != nil {
			return false, err
		}
	}
	if st.Final {
		_, err := tx.ExecContext(ctx, `UPDATE engagements SET status = $1, stopped_at = $2, stop_reason = $3 WHERE id = $4 AND status = $5`,
			tocsin.EngagementExhausted, micros(now), "every stage ran", st.EngagementID, tocsin.EngagementActive)
		if err != nil {
			return false, fmt.Errorf("exhaust engagement: %w", err)
		}
		return true, nil
	}
	if !st.NextAt.IsZero() {
		args, _ := json.Marshal(tocsin.StageArgs{EngagementID: st.EngagementID, Seq: st.Seq + 1})
		if err := insertJob(ctx, tx, &tocsin.Job{Kind: tocsin.JobStage, Lane: tocsin.JobStage, Key: tocsin.StageKey(st.EngagementID, st.Seq+1),
			IncidentID: incidentID, Args: args, DueAt: st.NextAt}, now); err != nil {
			return false, err
		}
	}
	return true, nil
}

// insertPage records a page of a stage with its job; a page whose Key is
// recorded already is left as it is.
func insertPage(ctx context.Context, tx *txn, incidentID, engagementID string, p *tocsin.Page, now time.Time) error {
	p.ID, p.EngagementID, p.IncidentID, p.Status = newID(), engagementID, incidentID, tocsin.PagePending
	if p.AckCode == "" {
		p.AckCode = ackCode()
	}
	r, err := tx.ExecContext(ctx, `INSERT INTO pages (id, engagement_id, incident_id, page_key, contact_alias, channel_name, channel_type, address,
		essential, ack_code, status, due_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (page_key) DO NOTHING`,
		p.ID, p.EngagementID, p.IncidentID, p.Key, p.Contact, p.ChannelName, p.ChannelType, p.Address, p.Essential, p.AckCode, p.Status,
		micros(p.DueAt), micros(now))
	if err != nil {
		return fmt.Errorf("insert page: %w", err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return nil
	}
	args, _ := json.Marshal(tocsin.PageArgs{PageID: p.ID})
	return insertJob(ctx, tx, &tocsin.Job{Kind: tocsin.JobPage, Lane: tocsin.PageLane(p.ChannelType), Key: tocsin.PageKey(p.ID),
		IncidentID: incidentID, Args: args, DueAt: p.DueAt}, now)
}

// ackCode is the code a contact replies with to acknowledge by SMS.
func ackCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(900000))
	if err != nil {
		panic(err)
	}
	return strconv.FormatInt(100000+n.Int64(), 10)
}

// ClaimPage moves a pending page of an active engagement to sending. For
// SMS and voice pages, limit > 0 caps the pages sent (or being sent) to
// the same number since since; the check and the claim are one
// transaction (serialised per number on PostgreSQL), so concurrent workers
// cannot overrun it.
func (s *Engagements) ClaimPage(ctx context.Context, id string, limit int, since time.Time) (p *tocsin.Page, outcome string, err error) {
	err = s.tx(ctx, func(tx *txn) error {
		outcome = tocsin.PageSkip
		var status, engStatus, address, typ string
		err := tx.QueryRowContext(ctx, `SELECT p.status, e.status, p.address, p.channel_type FROM pages p JOIN engagements e ON e.id = p.engagement_id WHERE p.id = $1`,
			id).Scan(&status, &engStatus, &address, &typ)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		now := micros(s.opts.Now())
		// A page goes out on its schedule while its engagement is active
		// or has merely run out of stages (the contact's engagement plan
		// runs on); the checks below are the second line behind the
		// cancellations made by an acknowledgement or a resolve.
		if status == tocsin.PagePending {
			why, err := pageObsolete(ctx, tx, id, engStatus)
			if err != nil {
				return err
			}
			if why != "" {
				return cancelPages(ctx, tx, `id = $1`, []any{id}, s.opts.Now().UTC(), why)
			}
		}
		switch {
		case status == tocsin.PageSending:
			outcome = tocsin.PageInterrupted
		case status != tocsin.PagePending:
			return nil
		default:
			outcome = tocsin.PageClaimed
			if limit > 0 && (typ == tocsin.ChannelSMS || typ == tocsin.ChannelVoice) {
				if s.dialect == Postgres {
					if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, address); err != nil {
						return err
					}
				}
				var n int
				// Activation codes sent to the number count too (per
				// channel, over the window they were counted in).
				if err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM pages WHERE address = $1 AND (sent_at >= $2 OR status = $3))
					+ (SELECT COALESCE(SUM(code_sends), 0) FROM contact_channels WHERE address = $1 AND code_window >= $2)`,
					address, micros(since), tocsin.PageSending).Scan(&n); err != nil {
					return err
				}
				if n >= limit {
					outcome = tocsin.PageLimited
					if _, err := tx.ExecContext(ctx, `UPDATE pages SET status = $1, error = $2, updated_at = $3 WHERE id = $4`,
						tocsin.PageRateLimited, fmt.Sprintf("%d pages and activation codes to this number since %s (limit %d)", n, fromMicros(micros(since)).Format(time.RFC3339), limit), now, id); err != nil {
						return err
					}
					break
				}
			}
			if outcome == tocsin.PageClaimed {
				if _, err := tx.ExecContext(ctx, `UPDATE pages SET status = $1, updated_at = $2 WHERE id = $3`, tocsin.PageSending, now, id); err != nil {
					return err
				}
			}
		}
		p, err = scanPage(tx.QueryRowContext(ctx, `SELECT `+pageColumns+` FROM pages WHERE id = $1`, id))
		return err
	})
	return p, outcome, err
}

// pageObsolete says why a pending page must not be sent ("" if it may be):
// its engagement was stopped, its incident is no longer triggered, or its
// contact acknowledged another page of the incident.
func pageObsolete(ctx context.Context, tx *txn, id, engStatus string) (string, error) {
	if engStatus == tocsin.EngagementStopped {
		return "escalation stopped", nil
	}
	var incStatus string
	var acked int
	err := tx.QueryRowContext(ctx, `SELECT i.status, (SELECT COUNT(*) FROM pages o WHERE o.incident_id = p.incident_id AND o.contact_alias = p.contact_alias
		AND o.status = $1) FROM pages p JOIN incidents i ON i.id = p.incident_id WHERE p.id = $2`, tocsin.PageAcknowledged, id).Scan(&incStatus, &acked)
	if err != nil {
		return "", fmt.Errorf("check page: %w", err)
	}
	switch {
	case incStatus != tocsin.StatusTriggered:
		return "incident " + incStatus, nil
	case acked > 0:
		return "contact acknowledged earlier", nil
	}
	return "", nil
}

// AcknowledgedContacts returns the contacts who acknowledged a page of an
// incident: they are not paged again for it.
func (s *Engagements) AcknowledgedContacts(ctx context.Context, incidentID string) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT contact_alias FROM pages WHERE incident_id = $1 AND status = $2`, incidentID, tocsin.PageAcknowledged)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, translate(err)
		}
		out[a] = true
	}
	return out, translate(rows.Err())
}

// applyPage records a send attempt's result with a receipt, in the
// transaction of its job's completion (the timeline event is the
// outcome's).
func applyPage(ctx context.Context, tx *txn, res *tocsin.PageUpdate, now time.Time) error {
	var sent sql.NullInt64
	if res.Status == tocsin.PageSent {
		sent = sql.NullInt64{Int64: micros(now), Valid: true}
	}
	// A key press or reply can arrive before the send is recorded: an
	// acknowledged page stays acknowledged.
	if _, err := tx.ExecContext(ctx, `UPDATE pages SET status = CASE WHEN status = 'acknowledged' THEN status ELSE $1 END, provider = $2,
		provider_ref = $3, error = $4, sent_at = COALESCE($5, sent_at), updated_at = $6
		WHERE id = $7`, res.Status, res.Provider, res.Ref, res.Error, sent, micros(now), res.PageID); err != nil {
		return fmt.Errorf("record page: %w", err)
	}
	kind := res.Status
	if kind == tocsin.PagePending {
		kind = "retry"
	}
	detail := res.Provider
	if res.Error != "" {
		detail = res.Error
	}
	return insertReceipt(ctx, tx, res.PageID, now, kind, detail)
}

func insertReceipt(ctx context.Context, tx *txn, pageID string, at time.Time, kind, detail string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO receipts (id, page_id, at, kind, detail) VALUES ($1, $2, $3, $4, $5)`, newID(), pageID, micros(at), kind, detail)
	return err
}

// PageReceipt records what a provider reported about a sent page
// (delivered, read, failed), found by the provider's reference.
func (s *Engagements) PageReceipt(ctx context.Context, provider, ref, kind, detail string) error {
	return s.tx(ctx, func(tx *txn) error {
		var id, status string
		err := tx.QueryRowContext(ctx, `SELECT id, status FROM pages WHERE provider = $1 AND provider_ref = $2`, provider, ref).Scan(&id, &status)
		if errors.Is(err, sql.ErrNoRows) {
			return tocsin.Errorf(tocsin.ENOTFOUND, "no page with %s reference %q", provider, ref)
		} else if err != nil {
			return err
		}
		if (kind == tocsin.PageDelivered || kind == tocsin.PageRead) && (status == tocsin.PageSent || status == tocsin.PageDelivered) {
			if _, err := tx.ExecContext(ctx, `UPDATE pages SET status = $1 WHERE id = $2`, kind, id); err != nil {
				return err
			}
		}
		return insertReceipt(ctx, tx, id, s.opts.Now().UTC(), kind, detail)
	})
}

// FindPageByReply finds the page a contact answers by SMS: the newest
// sent page to that number whose ack code is in the reply.
func (s *Engagements) FindPageByReply(ctx context.Context, address, code string) (*tocsin.Page, error) {
	ps, err := s.pages(ctx, `WHERE address = $1 AND ack_code = $2 AND status IN ($3, $4, $5) ORDER BY sent_at DESC LIMIT 1`,
		address, code, tocsin.PageSent, tocsin.PageDelivered, tocsin.PageRead)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "no page awaiting code %q from this number", code)
	}
	return ps[0], nil
}

// AcknowledgePage records a contact's acknowledgement of a page (SMS
// reply, key press). An essential contact's acknowledgement acknowledges
// the incident, which stops its engagements; anyone else's stops only
// their own remaining pages, and the plan goes on.
func (s *Engagements) AcknowledgePage(ctx context.Context, pageID, via string) (*tocsin.PageAck, error) {
	res := &tocsin.PageAck{}
	err := s.tx(ctx, func(tx *txn) error {
		*res = tocsin.PageAck{}
		now := s.opts.Now().UTC()
		p, err := scanPage(tx.QueryRowContext(ctx, `SELECT `+pageColumns+` FROM pages WHERE id = $1`, pageID))
		if errors.Is(err, sql.ErrNoRows) {
			return tocsin.Errorf(tocsin.ENOTFOUND, "page %q not found", pageID)
		} else if err != nil {
			return err
		}
		res.Page = p
		if p.Status == tocsin.PageAcknowledged {
			res.Already = true
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE pages SET status = $1, updated_at = $2 WHERE id = $3`, tocsin.PageAcknowledged, micros(now), pageID); err != nil {
			return err
		}
		if err := insertReceipt(ctx, tx, pageID, now, tocsin.PageAcknowledged, via); err != nil {
			return err
		}
		actor := tocsin.Actor{Name: p.Contact, Via: via}
		if p.Essential {
			res.Stopped = true
			changed, err := s.acknowledge(ctx, tx, p.IncidentID, actor, now)
			if err != nil || changed {
				return err
			}
			// Already acknowledged by someone else: still record who answered.
			return addEvent(ctx, tx, p.IncidentID, now, tocsin.EventPage, actor.String(), p.Contact+" acknowledged their page (incident already acknowledged)", nil)
		}
		if err := cancelPages(ctx, tx, `incident_id = $1 AND contact_alias = $2`, []any{p.IncidentID, p.Contact}, now, p.Contact+" acknowledged"); err != nil {
			return err
		}
		return addEvent(ctx, tx, p.IncidentID, now, tocsin.EventPage, actor.String(),
			p.Contact+" acknowledged their page; not an essential target, so the escalation plan continues", map[string]any{"page_id": pageID})
	})
	if err == nil && res.Stopped {
		s.opts.Wake()
	}
	return res, err
}

// cancelPages cancels the pending pages that where (over the pages table,
// its arguments from $1) selects: their jobs are dropped, each gets a
// "cancelled" receipt, and one timeline event per incident says which
// pages will not be sent and why — a page is never left pending.
func cancelPages(ctx context.Context, tx *txn, where string, args []any, now time.Time, why string) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, incident_id, contact_alias, channel_type, channel_name FROM pages WHERE status = 'pending' AND `+where+
		` ORDER BY due_at, id`, args...)
	if err != nil {
		return fmt.Errorf("find pending pages: %w", err)
	}
	type pending struct{ id, incident, label string }
	var found []pending
	for rows.Next() {
		var p pending
		var contact, typ, name string
		if err := rows.Scan(&p.id, &p.incident, &contact, &typ, &name); err != nil {
			rows.Close()
			return err
		}
		p.label = fmt.Sprintf("%s by %s (%s)", contact, typ, name)
		found = append(found, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	byIncident := map[string][]string{}
	var order []string
	for _, p := range found {
		// A page job being sent right now is marked, not deleted under
		// its worker: its outcome is still recorded (see cancelJobs).
		if err := cancelJobs(ctx, tx, `job_key = $1`, tocsin.PageKey(p.id)); err != nil {
			return fmt.Errorf("cancel page job: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE pages SET status = 'cancelled', error = $1, updated_at = $2 WHERE id = $3`, "cancelled: "+why, micros(now), p.id); err != nil {
			return fmt.Errorf("cancel page: %w", err)
		}
		if err := insertReceipt(ctx, tx, p.id, now, tocsin.PageCancelled, why); err != nil {
			return err
		}
		if _, ok := byIncident[p.incident]; !ok {
			order = append(order, p.incident)
		}
		byIncident[p.incident] = append(byIncident[p.incident], p.label)
	}
	for _, inc := range order {
		labels := byIncident[inc]
		msg := fmt.Sprintf("Page to %s cancelled: %s", labels[0], why)
		if len(labels) > 1 {
			msg = fmt.Sprintf("%d pending pages cancelled: %s (%s)", len(labels), why, strings.Join(labels, ", "))
		}
		if err := addEvent(ctx, tx, inc, now, tocsin.EventPage, "", msg, map[string]any{"cancelled": len(labels)}); err != nil {
			return err
		}
	}
	return nil
}

// stopEngagements stops an incident's active engagements and cancels its
// pending pages and stages (acknowledged or resolved), including the
// pages of engagements that had already run every stage.
func stopEngagements(ctx context.Context, tx *txn, incidentID string, now time.Time, why string) error {
	r, err := tx.ExecContext(ctx, `UPDATE engagements SET status = $1, stop_reason = $2, stopped_at = $3 WHERE incident_id = $4 AND status = $5`,
		tocsin.EngagementStopped, why, micros(now), incidentID, tocsin.EngagementActive)
	if err != nil {
		return fmt.Errorf("stop engagements: %w", err)
	}
	if n, _ := r.RowsAffected(); n > 0 {
		if err := cancelJobs(ctx, tx, `incident_id = $1 AND kind = $2`, incidentID, tocsin.JobStage); err != nil {
			return fmt.Errorf("cancel stages: %w", err)
		}
		if err := addEvent(ctx, tx, incidentID, now, tocsin.EventEngaged, "", "Escalation stopped: "+why, nil); err != nil {
			return err
		}
	}
	return cancelPages(ctx, tx, `incident_id = $1`, []any{incidentID}, now, "incident "+why)
}
