package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"tocsin"
	"tocsin/response"
)

// An unchanged repeat (Alertmanager's repeat_interval re-sending a firing
// group as it was) is answered after reads alone: no write transaction,
// no fsync. Its repeat_count and last_seen_at increments are accumulated
// in memory (repeatCounts) and written in one transaction at most every
// repeatFlushInterval, and when the store closes. A crash can therefore
// lose up to that interval of repeat counts — never an alert and never a
// change: a repeat changes nothing by definition, and the alert, its
// content and its incident's state it was checked against are already
// committed and fsynced, so the durability promise of a 2xx (what the
// report said is stored) holds exactly as for any other report.

// repeatFlushInterval is how often accumulated repeat counts are written.
const repeatFlushInterval = time.Second

// repeat is an alert found, by reads, to be a report that changes
// nothing: response decided only to record it again, and it says exactly
// what its stored row says.
type repeat struct {
	key                         string // recentKey
	alertID, incidentID, hash   string
	alertStatus, incidentStatus string
	result                      tocsin.IngestResult
}

// findRepeats reads, outside any transaction, whether every alert of a
// request is such a repeat; nil when any is not, or when the request has
// effects of its own (an idempotency key, warnings for the timeline).
//
// A repeat decided before (decidedRepeats) is confirmed by one prepared
// primary-key read per alert (confirmRepeat): the alert still has that
// hash and status and its incident that status, so a resolve made
// meanwhile, by this instance or another one on the same database, is
// never missed. Otherwise the alert is loaded and decided in full, as the
// write transaction would (loadRepeats).
func (s *Incidents) findRepeats(ctx context.Context, alerts []*tocsin.Alert, opts tocsin.IngestOptions) []repeat {
	if opts.IdempotencyKey != "" || len(opts.Warnings) > 0 || len(alerts) == 0 {
		return nil
	}
	if reps, ok := s.confirmRepeats(ctx, alerts, opts); ok {
		return reps
	}
	hashes := make([]string, len(alerts))
	for i, a := range alerts {
		last, ok := s.recent.get(recentKey(a))
		if !ok {
			return nil // new, or not written lately: no hash or read to spend
		}
		labels, ann, links := alertJSON(a)
		if hashes[i] = contentHash(a, labels, ann, links, a.Raw); hashes[i] != last {
			return nil // changed since it was last written
		}
	}
	return s.loadRepeats(ctx, alerts, hashes, opts)
}

// confirmRepeats answers from decidedRepeats when every alert has a
// decision for what it says and these options, each confirmed by its
// read. What an alert says is compared field by field with what the
// decision was made on (and its payload by SHA-256, once per body), which
// costs less than the content hash's JSON of labels and annotations.
func (s *Incidents) confirmRepeats(ctx context.Context, alerts []*tocsin.Alert, opts tocsin.IngestOptions) ([]repeat, bool) {
	reps := make([]repeat, len(alerts))
	var raw []byte
	var sum [sha256.Size]byte
	for i, a := range alerts {
		e, ok := s.decided.decision(recentKey(a), opts)
		if !ok {
			return nil, false
		}
		if i == 0 || !sameBytes(a.Raw, raw) {
			raw, sum = a.Raw, sha256.Sum256(a.Raw)
		}
		if !e.said.matches(a, sum) {
			return nil, false
		}
		reps[i] = e.rep
	}
	for _, r := range reps {
		if !s.confirms.confirm(ctx, r, s.confirmRepeat) {
			s.decided.drop(r.key)
			return nil, false
		}
	}
	return reps, true
}

// confirmations share confirmRepeat's reads between concurrent repeats of
// one alert: at most one read per alert runs at a time, and the requests
// that arrive while it runs wait for the next one, which starts after it
// ends and so after they arrived. Each answer is thus confirmed by a read
// begun after its request came in — a resolve committed before then is
// seen — while a burst of repeats of one group costs a read per read's
// duration rather than one per request.
type confirmations struct {
	mu sync.Mutex
	m  map[string]*confirmQueue
}

// confirmQueue is one alert's confirmations: the round waiting to start
// (next), if any; running while a reader goroutine serves it.
type confirmQueue struct {
	running bool
	next    *confirmRound
}

// confirmRound is one read and the requests it answers.
type confirmRound struct {
	done chan struct{}
	ok   bool
}

// confirm waits for a read of r's state begun after the call, and reports
// whether it confirmed r; false when ctx ends first.
func (c *confirmations) confirm(ctx context.Context, r repeat, read func(context.Context, repeat) bool) bool {
	key := r.alertID + "\x00" + r.incidentID + "\x00" + r.hash + "\x00" + r.alertStatus + "\x00" + r.incidentStatus
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]*confirmQueue)
	}
	q := c.m[key]
	if q == nil {
		q = &confirmQueue{}
		c.m[key] = q
	}
	if q.next == nil {
		q.next = &confirmRound{done: make(chan struct{})}
	}
	round := q.next
	if !q.running {
		q.running = true
		go c.serve(key, q, r, read)
	}
	c.mu.Unlock()
	select {
	case <-round.done:
		return round.ok
	case <-ctx.Done():
		return false
	}
}

// serve runs q's rounds one after another until none waits.
func (c *confirmations) serve(key string, q *confirmQueue, r repeat, read func(context.Context, repeat) bool) {
	for {
		c.mu.Lock()
		round := q.next
		if round == nil {
			q.running = false
			delete(c.m, key)
			c.mu.Unlock()
			return
		}
		q.next = nil
		c.mu.Unlock()
		// A context that cannot end: a primary-key read needs no deadline,
		// and on one the drivers (database/sql's rows, SQLite's interrupt)
		// start a watching goroutine per query.
		round.ok = read(context.Background(), r)
		close(round.done)
	}
}

// confirmRepeat reads, by primary key, whether r's alert and incident are
// as they were when r was decided, and that there is still no routing
// document (with one, the decision may depend on the time: routing rules'
// windows, and it is made in full each time).
func (s *Incidents) confirmRepeat(ctx context.Context, r repeat) bool {
	var hash sql.NullString
	var alertStatus, incidentStatus string
	var routed int
	err := s.queryRow(ctx, `SELECT a.content_hash, a.status, i.status, (SELECT COUNT(*) FROM routing WHERE name = $3)
		FROM alerts a JOIN incidents i ON i.id = a.incident_id WHERE a.id = $1 AND i.id = $2`,
		r.alertID, r.incidentID, routingName).Scan(&hash, &alertStatus, &incidentStatus, &routed)
	return err == nil && hash.String == r.hash && alertStatus == r.alertStatus && incidentStatus == r.incidentStatus &&
		incidentStatus != tocsin.StatusResolved && routed == 0
}

// loadRepeats loads and decides every alert as the write transaction
// would, and reports them as repeats when response decides only to record
// each again. Decisions that cannot depend on the time (no routing
// document, no response plan named by the request) are remembered in
// decidedRepeats for confirmRepeats.
func (s *Incidents) loadRepeats(ctx context.Context, alerts []*tocsin.Alert, hashes []string, opts tocsin.IngestOptions) []repeat {
	r := dbReader{s.core}
	now := s.opts.Now().UTC()
	rt, err := routingFor(ctx, r, opts, false)
	if err != nil {
		return nil // the write transaction reads again and reports it
	}
	reps := make([]repeat, 0, len(alerts))
	for i, a := range alerts {
		in, hash, err := s.load(ctx, r, &rt, a, now, opts, false)
		if err != nil || in.Known == nil || hash == "" || hashes[i] != hash {
			return nil
		}
		eff := response.Ingest(in)
		only := response.Effects{Result: eff.Result, Alert: response.AlertWrite{Op: response.AlertUpdate, ID: in.Known.ID, IncidentID: in.Incident.ID}}
		if !reflect.DeepEqual(eff, only) {
			return nil
		}
		reps = append(reps, repeat{key: recentKey(a), alertID: in.Known.ID, incidentID: in.Incident.ID, hash: hash,
			alertStatus: in.Known.Status, incidentStatus: in.Incident.Status, result: eff.Result})
	}
	if rt.doc == nil && opts.ResponsePlan == "" {
		for i, rep := range reps {
			s.decided.keep(rep, saidBy(alerts[i]), opts)
		}
	}
	return reps
}

// hints is a bounded map of hints by key: past maxRecent entries it
// starts over. A hint only ever saves work: whatever it says, the reads
// decide.
type hints[V any] struct {
	mu sync.Mutex
	m  map[string]V
}

// maxRecent bounds every hints map.
const maxRecent = 8192

// get returns the hint for key, if one is kept.
func (h *hints[V]) get(key string) (V, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.m[key]
	return v, ok
}

// put keeps v for key.
func (h *hints[V]) put(key string, v V) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil || len(h.m) >= maxRecent {
		h.m = make(map[string]V, 256)
	}
	h.m[key] = v
}

// drop forgets key's hint.
func (h *hints[V]) drop(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, key)
}

// recentHashes (core.recent) remembers the content hash last written for
// recent alerts, by recentKey, so that only a report that may be a repeat
// pays for findRepeats' reads: a new alert costs a map look-up. A
// rolled-back write may leave one behind; the reads decide.
type recentHashes = hints[string]

func recentKey(a *tocsin.Alert) string {
	return a.Source + "\x00" + a.DedupKey + "\x00" + a.Fingerprint
}

// decidedRepeats remembers, by recentKey, the last full decision that a
// report was a repeat, with the options it was made under: the same
// report with the same options is decided the same way while the stored
// state it was decided on holds, which confirmRepeat reads.
type decidedRepeats struct{ hints[decidedRepeat] }

type decidedRepeat struct {
	rep  repeat
	said said
	opts tocsin.IngestOptions
}

// said is what a report of an alert said: the fields contentHash covers,
// and its payload's SHA-256.
type said struct {
	status, severity, title, description string
	labels, annotations                  map[string]string
	links                                []tocsin.Link
	startsAt, endsAt                     int64
	raw                                  [sha256.Size]byte
}

// saidBy copies what a says.
func saidBy(a *tocsin.Alert) said {
	return said{status: a.Status, severity: a.Severity, title: a.Title, description: a.Description,
		labels: maps.Clone(a.Labels), annotations: maps.Clone(a.Annotations), links: slices.Clone(a.Links),
		startsAt: nullMicros(a.StartsAt).Int64, endsAt: nullMicros(a.EndsAt).Int64, raw: sha256.Sum256(a.Raw)}
}

// matches reports whether a says the same, its payload's SHA-256 being
// raw. (A nil and an empty map say the same: both are stored as {}.)
func (s *said) matches(a *tocsin.Alert, raw [sha256.Size]byte) bool {
	return a.Status == s.status && a.Severity == s.severity && a.Title == s.title && a.Description == s.description &&
		maps.Equal(a.Labels, s.labels) && maps.Equal(a.Annotations, s.annotations) && slices.Equal(a.Links, s.links) &&
		nullMicros(a.StartsAt).Int64 == s.startsAt && nullMicros(a.EndsAt).Int64 == s.endsAt && raw == s.raw
}

// sameBytes reports whether a and b are the same slice (alerts of one
// body share it), not merely equal bytes.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// decision returns the decision for key if it was made with these
// options.
func (d *decidedRepeats) decision(key string, opts tocsin.IngestOptions) (decidedRepeat, bool) {
	e, ok := d.get(key)
	if !ok || !sameOptions(e.opts, opts) {
		return decidedRepeat{}, false
	}
	return e, true
}

// sameOptions compares the options a decision depends on; most requests
// have none, so the common case costs no reflection.
func sameOptions(a, b tocsin.IngestOptions) bool {
	if a.Destinations == nil && b.Destinations == nil && a.OnCall == nil && b.OnCall == nil && a.Warnings == nil && b.Warnings == nil {
		return a.Quiet == b.Quiet && a.IdempotencyKey == b.IdempotencyKey && a.Integration == b.Integration &&
			a.ResponsePlan == b.ResponsePlan && a.Title == b.Title && a.Impact == b.Impact
	}
	return reflect.DeepEqual(a, b)
}

// keep remembers the decision that r is a repeat of what, under opts.
func (d *decidedRepeats) keep(r repeat, what said, opts tocsin.IngestOptions) {
	d.put(r.key, decidedRepeat{rep: r, said: what, opts: opts})
}

// repeatCounts accumulates the repeats answered since the last flush, by
// alert id.
type repeatCounts struct {
	mu   sync.Mutex
	m    map[string]pendingRepeat
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// pendingRepeat is how many repeats an alert had since the last flush and
// when the latest was seen (µs).
type pendingRepeat struct {
	n    int64
	last int64
}

// add counts one repeat of each of reps, seen at now.
func (c *repeatCounts) add(reps []repeat, now time.Time) {
	at := micros(now)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]pendingRepeat)
	}
	for _, r := range reps {
		p := c.m[r.alertID]
		p.n++
		p.last = max(p.last, at)
		c.m[r.alertID] = p
	}
}

// take empties the counts and returns them.
func (c *repeatCounts) take() map[string]pendingRepeat {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.m
	c.m = nil
	return m
}

// putBack merges counts a failed flush could not write into the current
// ones, for the next flush.
func (c *repeatCounts) putBack(m map[string]pendingRepeat) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]pendingRepeat, len(m))
	}
	for id, p := range m {
		q := c.m[id]
		q.n += p.n
		q.last = max(q.last, p.last)
		c.m[id] = q
	}
}

// FlushRepeats writes the repeat counts and last-seen times accumulated
// since the last flush, in one transaction. The store does so every
// second and when it closes; a failed flush keeps the counts for the next.
func (s *Incidents) FlushRepeats(ctx context.Context) error {
	return s.flushRepeats(ctx)
}

func (s *core) flushRepeats(ctx context.Context) error {
	m := s.repeats.take()
	if len(m) == 0 {
		return nil
	}
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	// One order for every instance: two PostgreSQL instances flushing the
	// same alerts lock their rows in the same order, and cannot deadlock.
	slices.Sort(ids)
	err := s.tx(ctx, func(tx *txn) error {
		for _, id := range ids {
			p := m[id]
			if _, err := tx.ExecContext(ctx, `UPDATE alerts SET repeat_count = repeat_count + $1,
				last_seen_at = CASE WHEN last_seen_at IS NULL OR last_seen_at < $2 THEN $2 ELSE last_seen_at END WHERE id = $3`,
				p.n, p.last, id); err != nil {
				return fmt.Errorf("count repeats: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		s.repeats.putBack(m)
		return err
	}
	return nil
}

// startRepeatFlusher writes accumulated repeat counts every interval
// until stopRepeatFlusher.
func (s *core) startRepeatFlusher(interval time.Duration) {
	s.repeats.stop, s.repeats.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.repeats.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := s.flushRepeats(context.Background()); err != nil {
					slog.Default().Warn("repeat counts not written; kept for the next flush", "error", err)
				}
			case <-s.repeats.stop:
				return
			}
		}
	}()
}

// stopRepeatFlusher stops the flusher, if it was started, and writes what
// is left (the store is still open); the error is that last write's.
func (s *core) stopRepeatFlusher() error {
	if s.repeats.stop == nil {
		return nil
	}
	s.repeats.once.Do(func() { close(s.repeats.stop) })
	<-s.repeats.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.flushRepeats(ctx); err != nil {
		return fmt.Errorf("write repeat counts: %w", err)
	}
	return nil
}
