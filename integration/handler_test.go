package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"tocsin"
	"tocsin/integration"
)

// batchIncidents is a notify.BatchSource of triggered incidents titled by
// their id, which counts its reads.
type batchIncidents struct {
	mu             sync.Mutex
	alone, batches int
	asked          []string // the alert ids a batch was asked for
}

func (s *batchIncidents) delivery(id string) *tocsin.Delivery {
	a := &tocsin.Alert{ID: "first-of-" + id, IncidentID: id, Severity: "critical"}
	return &tocsin.Delivery{Incident: &tocsin.Incident{ID: id, Title: "title of " + id, Status: tocsin.StatusTriggered,
		Alerts: []*tocsin.Alert{a}}, Alert: a}
}

func (s *batchIncidents) LoadDelivery(_ context.Context, incidentID, alertID, channel string) (*tocsin.Delivery, error) {
	s.mu.Lock()
	s.alone++
	s.mu.Unlock()
	if alertID != "" || channel != "" {
		return nil, fmt.Errorf("an escalation reads its incident's first alert and no channel: got %q, %q", alertID, channel)
	}
	d := s.delivery(incidentID)
	d.Incident.Title = "read alone: " + incidentID
	return d, nil
}

func (s *batchIncidents) LoadDeliveries(_ context.Context, channel string, incidentIDs, alertIDs []string) ([]*tocsin.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	s.asked = append(s.asked, channel)
	s.asked = append(s.asked, alertIDs...)
	out := make([]*tocsin.Delivery, len(incidentIDs))
	for i, id := range incidentIDs {
		if id != "inc-gone" {
			out[i] = s.delivery(id)
		}
	}
	return out, nil
}

// titles is a provider that records the titles it was asked to open.
type titles struct {
	mu   sync.Mutex
	seen map[string]string // incident → title
}

func (p *titles) Name() string          { return "fake" }
func (p *titles) HasTarget(string) bool { return false }
func (p *titles) Resolve(context.Context, *integration.Escalation, string) error {
	return nil
}
func (p *titles) Trigger(_ context.Context, e *integration.Escalation) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen[e.IncidentID] = e.Title + " / " + e.Severity
	return "ref-" + e.IncidentID, nil
}

// TestPreloadServesEscalations: Preload reads a claim's escalations'
// incidents (their first alert, no channel) in one call and each
// escalation then opens what was read for it without a read of its own;
// an incident the batch did not answer, and a job run a second time, read
// alone.
func TestPreloadServesEscalations(t *testing.T) {
	src := &batchIncidents{}
	p := &titles{seen: map[string]string{}}
	h := &integration.Handler{Source: src, Providers: map[string]integration.Provider{"fake": p}}
	args, _ := json.Marshal(tocsin.EscalateArgs{Provider: "fake"})
	var jobs []*tocsin.Job
	for _, inc := range []string{"inc-1", "inc-2", "inc-gone"} {
		jobs = append(jobs, &tocsin.Job{ID: "job-" + inc, Kind: tocsin.JobEscalate, IncidentID: inc, Args: args, Attempts: 1})
	}
	h.Preload(context.Background(), jobs)
	if src.batches != 1 || fmt.Sprint(src.asked) != "[   ]" {
		t.Fatalf("%d batch reads asking for %q; want one, of no channel and no alert ids", src.batches, src.asked)
	}
	for _, j := range jobs {
		if out := h.HandleEscalate(context.Background(), j); out.Ref == nil {
			t.Fatalf("%s: no reference saved: %+v", j.ID, out)
		}
	}
	want := map[string]string{"inc-1": "title of inc-1 / critical", "inc-2": "title of inc-2 / critical", "inc-gone": "read alone: inc-gone / critical"}
	if fmt.Sprint(p.seen) != fmt.Sprint(want) {
		t.Fatalf("opened %v; want %v", p.seen, want)
	}
	if src.alone != 1 {
		t.Fatalf("%d reads alone; want 1 (the incident the batch did not answer)", src.alone)
	}
	// A job that runs again (a retry, a lease taken over) reads anew.
	h.HandleEscalate(context.Background(), jobs[0])
	if src.alone != 2 || p.seen["inc-1"] != "read alone: inc-1 / critical" {
		t.Fatalf("second run: %d reads alone, opened %q", src.alone, p.seen["inc-1"])
	}
}
