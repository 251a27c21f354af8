package sink

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"tocsin/bench/internal/wire"
)

// delivery returns a webhook body shaped like tocsin's (schema version 1).
func delivery(event, did, id string, sentNS int64) string {
	return fmt.Sprintf(`{"version":"1","event":%q,"delivery_id":%q,"sent_at":"2026-03-01T12:35:01Z",`+
		`"incident":{"id":"inc_01","title":"Bench alert","impact":1,"status":"triggered","source":"alertmanager",`+
		`"dedup_key":"{}:{bench_id=\"%s\"}","labels":{"alertname":"BenchAlert","bench_id":%q,"bench_sent_ns":"%d","severity":"critical"},`+
		`"created_at":"2026-03-01T12:35:00Z","updated_at":"2026-03-01T12:35:00Z","alert_count":1,"open_alert_count":1},`+
		`"alert":{"id":"al_01","incident_id":"inc_01","source":"alertmanager","title":"bench_id","status":"firing",`+
		`"labels":{"alertname":"BenchAlert","bench_id":%q,"bench_sent_ns":"%d","severity":"critical"}},`+
		`"ack_url":"http://x/ack","incident_url":"http://x/inc"}`, event, did, id, id, sentNS, id, sentNS)
}

func TestParse(t *testing.T) {
	body := []byte(delivery("opened", "dlv_1", "run1-7", 123456789))
	f, ok := parse(body)
	if !ok || string(f.id) != "run1-7" || string(f.sentNS) != "123456789" {
		t.Fatalf("parse = %q %q %v", f.id, f.sentNS, ok)
	}
	// The slow path gives the same answer.
	f, ok = parseSlow(body)
	if !ok || string(f.id) != "run1-7" || string(f.sentNS) != "123456789" || f.event != "opened" || f.deliveryID != "dlv_1" {
		t.Fatalf("parseSlow = %+v %v", f, ok)
	}
	// Indented JSON, key text used as a value first.
	pretty := `{"note": "bench_id", "alert": {"labels": {"bench_id" : "r-1", "bench_sent_ns":
	  "5"}}}`
	f, ok = parse([]byte(pretty))
	if !ok || string(f.id) != "r-1" || string(f.sentNS) != "5" {
		t.Fatalf("parse(pretty) = %q %q %v", f.id, f.sentNS, ok)
	}
	// Escapes take the slow path, which unescapes.
	f, ok = parse([]byte(`{"alert":{"labels":{"bench_id":"r\u002d1","bench_sent_ns":"5"}}}`))
	if !ok || string(f.id) != "r-1" {
		t.Fatalf("parse(escaped) = %q %v", f.id, ok)
	}
	// Only incident labels.
	f, ok = parse([]byte(`{"incident":{"labels":{"bench_sent_ns":"9","bench_id":"r-2"}},"alert":null}`))
	if !ok || string(f.id) != "r-2" || string(f.sentNS) != "9" {
		t.Fatalf("parse(incident) = %q %q %v", f.id, f.sentNS, ok)
	}
	for _, bad := range []string{``, `{}`, `{"alert":{"labels":{"bench_id":"r-1"}}}`, `not json`, `{"alert":{"labels":{"bench_id":5}}}`} {
		if _, ok := parse([]byte(bad)); ok {
			t.Errorf("parse(%q) ok", bad)
		}
	}
}

func sign(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func TestVerify(t *testing.T) {
	body := []byte(`{"a":1}`)
	sig := sign("s3cret", "1700000000", body)
	if !verify("s3cret", "1700000000", sig, body) {
		t.Fatal("good signature rejected")
	}
	for _, c := range [][3]string{
		{"other", "1700000000", sig},
		{"s3cret", "1700000001", sig},
		{"s3cret", "", sig},
		{"s3cret", "1700000000", "sha256=zz"},
		{"s3cret", "1700000000", strings.Replace(sig, "sha256=", "sha1=xx", 1)},
	} {
		if verify(c[0], c[1], c[2], body) {
			t.Errorf("verify(%q, %q, %q) accepted", c[0], c[1], c[2])
		}
	}
}

func post(t *testing.T, h http.Handler, path string, body string, hdr map[string]string) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func TestSink(t *testing.T) {
	now := time.Unix(1000, 0)
	s := New()
	s.Secret = "sec"
	s.Now = func() time.Time { return now }
	h := s.Handler()

	if code := post(t, h, "/reset?run=runA", "", nil); code != http.StatusNoContent {
		t.Fatalf("reset: %d", code)
	}
	send := func(event, did string, seq uint64, sentNS int64, goodSig bool) {
		t.Helper()
		body := delivery(event, did, wire.ID("runA", seq), sentNS)
		ts := "1000"
		sig := sign("sec", ts, []byte(body))
		if !goodSig {
			sig = sign("nope", ts, []byte(body))
		}
		hdr := map[string]string{"X-Tocsin-Event": event, "X-Tocsin-Delivery": did, "X-Tocsin-Timestamp": ts, "X-Tocsin-Signature": sig}
		if code := post(t, h, "/hook", body, hdr); code != http.StatusOK {
			t.Fatalf("hook: %d", code)
		}
	}
	base := now.UnixNano()
	send("opened", "d0", 0, base-10*int64(time.Millisecond), true)
	send("opened", "d1", 1, base-20*int64(time.Millisecond), true)
	send("opened", "d1", 1, base-20*int64(time.Millisecond), true)  // retry
	send("opened", "d9", 1, base-20*int64(time.Millisecond), false) // second notification, bad signature
	send("resolved", "d5", 0, base, true)
	// Another run's alert, and junk.
	post(t, h, "/hook", delivery("opened", "x", wire.ID("runB", 3), base), nil)
	post(t, h, "/hook", `{"version":"1"}`, nil)

	st := s.Stats()
	want := wire.SinkStats{Run: "runA", Requests: 7, Events: map[string]int64{"opened": 4, "resolved": 1},
		Received: 4, Unique: 2, Duplicates: 2, DuplicateDeliveryIDs: 1, Stale: 1, Unparsed: 1, BadSignature: 3}
	if st.Requests != want.Requests || st.Received != want.Received || st.Unique != want.Unique ||
		st.Duplicates != want.Duplicates || st.DuplicateDeliveryIDs != want.DuplicateDeliveryIDs ||
		st.Stale != want.Stale || st.Unparsed != want.Unparsed || st.BadSignature != want.BadSignature ||
		st.Events["opened"] != 4 || st.Events["resolved"] != 1 || len(st.Events) != 2 {
		t.Fatalf("stats = %+v\nwant  %+v", st, want)
	}
	if st.Latency.Count != 2 || st.Latency.P50 != 10 || st.Latency.Max != 20 {
		t.Fatalf("latency = %+v", st.Latency)
	}

	// GET /missing and GET /stats over HTTP.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/missing?n=4", nil))
	var missing []uint64
	if err := json.Unmarshal(rec.Body.Bytes(), &missing); err != nil || fmt.Sprint(missing) != "[2 3]" {
		t.Fatalf("missing = %s (%v)", rec.Body, err)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stats", nil))
	var got wire.SinkStats
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Unique != 2 {
		t.Fatalf("GET /stats = %s (%v)", rec.Body, err)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/deliveries", nil))
	wantCSV := fmt.Sprintf("seq,sent_ns,arrival_ns,latency_ms\n0,%d,%d,10.000\n1,%d,%d,20.000\n",
		base-10*int64(time.Millisecond), base, base-20*int64(time.Millisecond), base)
	if rec.Body.String() != wantCSV {
		t.Fatalf("GET /deliveries = %q, want %q", rec.Body, wantCSV)
	}
	if d := s.Deliveries(); len(d) != 2 || d[0] != (Arrival{Seq: 0, SentNS: base - 10*int64(time.Millisecond), AtNS: base}) || d[1].Seq != 1 {
		t.Fatalf("Deliveries = %+v", d)
	}
	if id, ok := AlertID([]byte(delivery("opened", "x", "runA-7", base))); !ok || id != "runA-7" {
		t.Fatalf("AlertID = %q %v", id, ok)
	}
	if id, ok := AlertID([]byte(`{"version":"1"}`)); ok {
		t.Fatalf("AlertID of a body without one = %q", id)
	}

	// Reset without a run counts every run.
	s.Reset("")
	post(t, h, "/hook", delivery("opened", "x", wire.ID("runB", 3), base), map[string]string{"X-Tocsin-Event": "opened"})
	if st := s.Stats(); st.Unique != 1 || st.Stale != 0 || st.Requests != 1 || st.BadSignature != 1 {
		t.Fatalf("after reset: %+v", st)
	}
}

func TestSinkFailRate(t *testing.T) {
	s := New()
	s.FailRate = 1
	if code := post(t, s.Handler(), "/hook", delivery("opened", "d", "r-1", 1), nil); code != http.StatusServiceUnavailable {
		t.Fatalf("code %d", code)
	}
	if st := s.Stats(); st.Injected != 1 || st.Received != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func BenchmarkHook(b *testing.B) {
	s := New()
	h := s.Handler()
	bodies := make([]string, 1000)
	for i := range bodies {
		bodies[i] = delivery("opened", "dlv_"+strconv.Itoa(i), wire.ID("r", uint64(i)), time.Now().UnixNano())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(bodies[i%len(bodies)]))
		req.Header.Set("X-Tocsin-Event", "opened")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
