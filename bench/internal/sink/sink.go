// Package sink is the bench sink: an HTTP receiver of tocsin webhook
// deliveries that counts them and measures alert→delivery latency.
package sink

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"tocsin/bench/internal/latency"
	"tocsin/bench/internal/wire"
)

// maxBody bounds the webhook bodies the sink reads.
const maxBody = 1 << 20

// Sink receives tocsin webhook deliveries and measures them. It is safe for
// concurrent use; the zero value is not: use New.
type Sink struct {
	// Secret, when set, is the webhook secret: each delivery's
	// X-Tocsin-Signature is verified and failures counted (the delivery is
	// still answered 200 so the measurement goes on).
	Secret string
	// FailRate is the fraction of deliveries answered 503 without being
	// recorded, to exercise tocsin's retries.
	FailRate float64
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	bufs sync.Pool

	mu       sync.Mutex
	run      string
	requests int64
	events   map[string]int64
	received int64
	dupDID   int64
	stale    int64
	unparsed int64
	badSig   int64
	injected int64
	seen     map[uint64]struct{}
	dids     map[string]struct{}
	log      []arrival
	first    time.Time
	last     time.Time
}

// New returns an empty sink that accepts deliveries of every run.
func New() *Sink {
	s := &Sink{}
	s.bufs.New = func() any { return bytes.NewBuffer(make([]byte, 0, 8<<10)) }
	s.reset("")
	return s
}

// Reset clears every counter and counts only run's alerts from now on
// ("" counts every run's), as POST /reset does.
func (s *Sink) Reset(run string) { s.reset(run) }

// reset clears every counter and expects run's alerts next.
func (s *Sink) reset(run string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.run = run
	s.requests, s.received, s.dupDID, s.stale, s.unparsed, s.badSig, s.injected = 0, 0, 0, 0, 0, 0, 0
	s.events = make(map[string]int64)
	s.seen = make(map[uint64]struct{}, 1<<14)
	s.dids = make(map[string]struct{}, 1<<14)
	s.log = make([]arrival, 0, 1<<14)
	s.first, s.last = time.Time{}, time.Time{}
}

// Handler returns the sink's HTTP API: POST /hook, GET /stats,
// POST /reset?run=ID, GET /missing?n=N and GET /deliveries.
func (s *Sink) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook", s.handleHook)
	mux.HandleFunc("GET /stats", s.handleStats)
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) {
		s.reset(r.URL.Query().Get("run"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /missing", s.handleMissing)
	mux.HandleFunc("GET /deliveries", s.handleDeliveries)
	return mux
}

// handleHook receives one webhook delivery.
func (s *Sink) handleHook(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	buf := s.bufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 4*maxBody {
			buf.Reset()
			s.bufs.Put(buf)
		}
	}()
	buf.Reset()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBody)); err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	body := buf.Bytes()

	if s.FailRate > 0 && rand.Float64() < s.FailRate {
		s.mu.Lock()
		s.requests++
		s.injected++
		s.mu.Unlock()
		http.Error(w, "injected failure", http.StatusServiceUnavailable)
		return
	}

	badSig := s.Secret != "" && !verify(s.Secret, r.Header.Get("X-Tocsin-Timestamp"), r.Header.Get("X-Tocsin-Signature"), body)
	event := r.Header.Get("X-Tocsin-Event")
	did := r.Header.Get("X-Tocsin-Delivery")
	f, ok := parse(body)
	if event == "" {
		event = f.event
	}
	if did == "" {
		did = f.deliveryID
	}
	var run string
	var seq uint64
	var sent int64
	if ok {
		var idOK bool
		run, seq, idOK = wire.ParseID(string(f.id))
		var err error
		sent, err = strconv.ParseInt(string(f.sentNS), 10, 64)
		ok = idOK && err == nil
	}

	s.mu.Lock()
	s.requests++
	if badSig {
		s.badSig++
	}
	switch {
	case !ok:
		s.unparsed++
	case s.run != "" && run != s.run:
		s.stale++
	default:
		s.events[event]++
		if event != "opened" {
			break
		}
		s.received++
		if did != "" {
			if _, dup := s.dids[did]; dup {
				s.dupDID++
			} else {
				s.dids[did] = struct{}{}
			}
		}
		if _, dup := s.seen[seq]; dup {
			break
		}
		s.seen[seq] = struct{}{}
		s.log = append(s.log, arrival{seq: seq, sent: sent, at: now.UnixNano()})
		if s.first.IsZero() {
			s.first = now
		}
		s.last = now
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// Stats returns the counters since the last reset.
func (s *Sink) Stats() wire.SinkStats {
	s.mu.Lock()
	st := wire.SinkStats{
		Run:                  s.run,
		Requests:             s.requests,
		Events:               make(map[string]int64, len(s.events)),
		Received:             s.received,
		Unique:               int64(len(s.seen)),
		DuplicateDeliveryIDs: s.dupDID,
		Stale:                s.stale,
		Unparsed:             s.unparsed,
		BadSignature:         s.badSig,
		Injected:             s.injected,
	}
	for k, v := range s.events {
		st.Events[k] = v
	}
	lat := make([]time.Duration, len(s.log))
	for i, a := range s.log {
		lat[i] = time.Duration(a.at - a.sent)
	}
	first, last := s.first, s.last
	s.mu.Unlock()

	st.Duplicates = st.Received - st.Unique
	if !first.IsZero() {
		st.FirstAt = first.UTC().Format(time.RFC3339Nano)
		st.LastAt = last.UTC().Format(time.RFC3339Nano)
		if d := last.Sub(first); d > 0 && st.Unique > 1 {
			// Unique-1 intervals between the first and the last arrival.
			st.PerSec = float64(st.Unique-1) / d.Seconds()
		}
	}
	st.Latency = latency.Summarize(lat)
	return st
}

// handleStats serves GET /stats.
func (s *Sink) handleStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, s.Stats())
}

// Missing returns the sequence numbers below n of the current run that
// have not been delivered, in order.
func (s *Sink) Missing(n uint64) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	missing := []uint64{}
	for i := range n {
		if _, ok := s.seen[i]; !ok {
			missing = append(missing, i)
		}
	}
	return missing
}

// handleMissing serves GET /missing?n=N: a JSON array of the sequence
// numbers below N with no "opened" delivery yet.
func (s *Sink) handleMissing(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseUint(r.URL.Query().Get("n"), 10, 64)
	if err != nil || n > 1<<26 {
		http.Error(w, "n must be an integer up to 2^26", http.StatusBadRequest)
		return
	}
	writeJSON(w, s.Missing(n))
}

// Arrival is the first delivery of one alert.
type Arrival struct {
	// Seq is the alert's sequence number in its run.
	Seq uint64
	// SentNS is its intended send time (bench_sent_ns) and AtNS the
	// delivery's arrival, Unix nanoseconds.
	SentNS, AtNS int64
}

// Deliveries returns the first delivery of each alert of the run since
// the last reset, in arrival order (what GET /deliveries serves as CSV).
func (s *Sink) Deliveries() []Arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Arrival, len(s.log))
	for i, a := range s.log {
		out[i] = Arrival{Seq: a.seq, SentNS: a.sent, AtNS: a.at}
	}
	return out
}

// AlertID returns the bench_id a webhook body carries, if it has one.
func AlertID(body []byte) (string, bool) {
	f, ok := parse(body)
	return string(f.id), ok && len(f.id) > 0
}

// arrival is the first delivery of one alert.
type arrival struct {
	seq      uint64
	sent, at int64 // Unix nanoseconds: intended send time, arrival
}

// handleDeliveries serves GET /deliveries: CSV of the first delivery of
// each alert in arrival order, "seq,sent_ns,arrival_ns,latency_ms", for
// plotting or finding out in what order tocsin delivered.
func (s *Sink) handleDeliveries(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	log := make([]arrival, len(s.log))
	copy(log, s.log)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/csv")
	b := make([]byte, 0, 64*1024)
	b = append(b, "seq,sent_ns,arrival_ns,latency_ms\n"...)
	for _, a := range log {
		b = strconv.AppendUint(b, a.seq, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, a.sent, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, a.at, 10)
		b = append(b, ',')
		b = strconv.AppendFloat(b, float64(a.at-a.sent)/1e6, 'f', 3, 64)
		b = append(b, '\n')
		if len(b) > 60*1024 {
			if _, err := w.Write(b); err != nil {
				return
			}
			b = b[:0]
		}
	}
	_, _ = w.Write(b)
}

// now reads the sink's clock.
func (s *Sink) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// writeJSON answers 200 with v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// verify checks a tocsin webhook signature: "sha256=" and the hex
// HMAC-SHA256 of timestamp + "." + body under secret.
func verify(secret, timestamp, signature string, body []byte) bool {
	const prefix = "sha256="
	if timestamp == "" || len(signature) != len(prefix)+2*sha256.Size || signature[:len(prefix)] != prefix {
		return false
	}
	var got [sha256.Size]byte
	if _, err := hex.Decode(got[:], []byte(signature[len(prefix):])); err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return hmac.Equal(m.Sum(nil), got[:])
}

// fields are what the sink needs from a delivery body.
type fields struct {
	event, deliveryID string
	// id and sentNS alias the body (fast path) or are fresh (slow path).
	id, sentNS []byte
}

// parse extracts the bench labels from a webhook body. The fast path scans
// for the first "bench_id" and "bench_sent_ns" keys, which tocsin's
// encoding/json output puts in incident.labels and alert.labels with plain
// ASCII values; anything unusual (escapes, no match) falls back to decoding
// the labels with encoding/json. event and deliveryID are only filled by
// the slow path: the fast path uses the headers.
func parse(body []byte) (fields, bool) {
	id, ok1 := scanString(body, `"`+wire.LabelID+`"`)
	sent, ok2 := scanString(body, `"`+wire.LabelSentNS+`"`)
	if ok1 && ok2 {
		return fields{id: id, sentNS: sent}, true
	}
	return parseSlow(body)
}

// parseSlow decodes only the fields the sink needs.
func parseSlow(body []byte) (fields, bool) {
	var p struct {
		Event      string    `json:"event"`
		DeliveryID string    `json:"delivery_id"`
		Incident   *labelled `json:"incident"`
		Alert      *labelled `json:"alert"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return fields{}, false
	}
	f := fields{event: p.Event, deliveryID: p.DeliveryID}
	for _, labels := range []map[string]string{p.Alert.labels(), p.Incident.labels()} {
		if labels[wire.LabelID] != "" && labels[wire.LabelSentNS] != "" {
			f.id, f.sentNS = []byte(labels[wire.LabelID]), []byte(labels[wire.LabelSentNS])
			return f, true
		}
	}
	return f, false
}

// labelled is an object of which only the labels are decoded.
type labelled struct {
	Labels map[string]string `json:"labels"`
}

// labels returns l's labels, nil for a nil l.
func (l *labelled) labels() map[string]string {
	if l == nil {
		return nil
	}
	return l.Labels
}

// scanString finds the first occurrence of the quoted key used as an object
// key (followed by a colon) and returns its string value when it has no
// escapes.
func scanString(body []byte, key string) ([]byte, bool) {
	rest := body
	for {
		i := bytes.Index(rest, []byte(key))
		if i < 0 {
			return nil, false
		}
		rest = rest[i+len(key):]
		j := skipSpace(rest, 0)
		if j >= len(rest) || rest[j] != ':' {
			continue // the key's text as a value, not a key
		}
		j = skipSpace(rest, j+1)
		if j >= len(rest) || rest[j] != '"' {
			return nil, false
		}
		v := rest[j+1:]
		end := bytes.IndexByte(v, '"')
		if end < 0 || bytes.IndexByte(v[:end], '\\') >= 0 {
			return nil, false
		}
		return v[:end], true
	}
}

// skipSpace returns the index of the first non-JSON-whitespace byte of b at
// or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
