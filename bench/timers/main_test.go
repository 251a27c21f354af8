package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"tocsin/config"
	"tocsin/integration"
	"tocsin/integration/pagerduty"
)

func TestCompute(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	due := map[string]time.Time{"a": t0, "b": t0.Add(time.Second), "c": t0.Add(2 * time.Second), "d": t0.Add(3 * time.Second)}
	at := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	res := Compute(due, []Arrival{
		{Incident: "a", Action: "trigger", AtNS: at(100 * time.Millisecond)},  // 100 ms late
		{Incident: "b", Action: "trigger", AtNS: at(1300 * time.Millisecond)}, // 300 ms late
		{Incident: "b", Action: "trigger", AtNS: at(1200 * time.Millisecond)}, // an earlier duplicate: 200 ms counts
		{Incident: "c", Action: "trigger", AtNS: at(1900 * time.Millisecond)}, // early
		{Incident: "c", Action: "resolve", AtNS: at(5 * time.Second)},         // not a fire
		{Incident: "zz", Action: "trigger", AtNS: at(time.Second)},            // not ours
	})
	want := Result{Timers: 4, DueSpreadSeconds: 3, Fired: 3, NotFired: 1, Duplicates: 1, Early: 1, Unknown: 1}
	if res.Timers != want.Timers || res.DueSpreadSeconds != want.DueSpreadSeconds || res.Fired != want.Fired || res.NotFired != want.NotFired ||
		res.Duplicates != want.Duplicates || res.Early != want.Early || res.Unknown != want.Unknown {
		t.Fatalf("Compute = %+v, want %+v", res, want)
	}
	// Lateness of a, b, c: 100, 200 (the first trigger), 0 (early).
	if res.Lateness.Count != 3 || res.Lateness.P50 != 100 || res.Lateness.Max != 200 {
		t.Fatalf("lateness = %+v", res.Lateness)
	}
	// Three fires from 0.1 s to 1.9 s: two intervals in 1.8 s.
	if d := res.FiredPerSec - 2/1.8; d > 1e-9 || d < -1e-9 {
		t.Fatalf("fired/s = %v", res.FiredPerSec)
	}
	if row := res.MarkdownRow(); row != "|  | 4 | 0s | 3.0 | 3 | 1 | 1 | 1 | 100 / 200 / 200 | 1 |\n" {
		t.Fatalf("row = %q", row)
	}
}

// TestFakeReadsTocsinsTriggers sends escalations through tocsin's own
// PagerDuty provider to the fake.
func TestFakeReadsTocsinsTriggers(t *testing.T) {
	f := NewFake()
	srv := httptest.NewServer(f.Handler())
	defer srv.Close()
	p, err := pagerduty.New(config.PagerDuty{RoutingKey: "rk", APIURL: srv.URL}, pagerduty.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{"inc_1", "inc_2"} {
		if _, err := p.Trigger(ctx, &integration.Escalation{IncidentID: id, DedupKey: "tocsin-" + id, Title: "t"}); err != nil {
			t.Fatalf("trigger %s: %v", id, err)
		}
	}
	if err := p.Resolve(ctx, &integration.Escalation{IncidentID: "inc_1", DedupKey: "tocsin-inc_1"}, "tocsin-inc_1"); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	var got []Arrival
	if err := getJSON(ctx, http.DefaultClient, srv.URL+"/arrivals", "", &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Incident != "inc_1" || got[0].Action != "trigger" || got[1].Incident != "inc_2" ||
		got[2].Incident != "inc_1" || got[2].Action != "resolve" || got[0].AtNS <= 0 || got[1].AtNS < got[0].AtNS {
		t.Fatalf("arrivals = %+v", got)
	}
}

func TestDueTimesPages(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.URL.Path != "/api/v1/incidents" || r.URL.Query().Get("limit") != "500" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		page := map[string]any{"incidents": []map[string]any{{"id": "a", "created_at": t0}}, "next_cursor": "p2"}
		if r.URL.Query().Get("cursor") == "p2" {
			page = map[string]any{"incidents": []map[string]any{{"id": "b", "created_at": t0.Add(time.Second)}}, "next_cursor": ""}
		}
		json.NewEncoder(w).Encode(page)
	}))
	defer api.Close()
	due, err := dueTimes(context.Background(), http.DefaultClient, api.URL, "tok", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || !due["a"].Equal(t0.Add(time.Minute)) || !due["b"].Equal(t0.Add(61*time.Second)) {
		t.Fatalf("due = %v", due)
	}
	if _, err := dueTimes(context.Background(), http.DefaultClient, api.URL, "bad", time.Minute); err == nil {
		t.Fatal("a refused token listed incidents")
	}
}
