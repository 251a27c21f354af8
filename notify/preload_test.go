package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"tocsin"
	"tocsin/notify"
)

// batchDeliveries is a BatchSource of incidents titled by their id, which
// counts its reads.
type batchDeliveries struct {
	mu             sync.Mutex
	alone, batches int
	batchSizes     []int
}

func (s *batchDeliveries) delivery(incidentID, alertID string) *tocsin.Delivery {
	a := &tocsin.Alert{ID: alertID, IncidentID: incidentID, Status: tocsin.AlertFiring}
	return &tocsin.Delivery{Incident: &tocsin.Incident{ID: incidentID, Title: "title of " + incidentID, Status: tocsin.StatusTriggered,
		Alerts: []*tocsin.Alert{a}}, Alert: a}
}

func (s *batchDeliveries) LoadDelivery(_ context.Context, incidentID, alertID, _ string) (*tocsin.Delivery, error) {
	s.mu.Lock()
	s.alone++
	s.mu.Unlock()
	d := s.delivery(incidentID, alertID)
	d.Incident.Title = "read alone: " + incidentID
	return d, nil
}

func (s *batchDeliveries) LoadDeliveries(_ context.Context, _ string, incidentIDs, alertIDs []string) ([]*tocsin.Delivery, error) {
	s.mu.Lock()
	s.batches++
	s.batchSizes = append(s.batchSizes, len(incidentIDs))
	s.mu.Unlock()
	out := make([]*tocsin.Delivery, len(incidentIDs))
	for i := range out {
		if incidentIDs[i] != "inc-gone" {
			out[i] = s.delivery(incidentIDs[i], alertIDs[i])
		}
	}
	return out, nil
}

// TestPreloadServesNotifications: Preload reads a claim's notifications of
// a channel in one call, and each job then sends what was read for it
// without a read of its own; a job the batch did not answer, a job run a
// second time and one that starts after the read grew old read alone; jobs
// of other kinds, runbook waits and unconfigured channels are not read.
func TestPreloadServesNotifications(t *testing.T) {
	src := &batchDeliveries{}
	var mu sync.Mutex
	sent := map[string]string{} // incident → title sent
	ch := notify.ChannelFunc{ChannelName: "webhook", Func: func(_ context.Context, msg *notify.Message) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		sent[msg.Incident.ID] = msg.Incident.Title
		return "", nil
	}}
	d := &notify.Dispatcher{Source: src, Channels: map[string]notify.Channel{"webhook": ch}, Now: time.Now}
	job := func(id, incident, channel, event, alert string) *tocsin.Job {
		args, _ := json.Marshal(tocsin.NotifyArgs{Channel: channel, Event: event, AlertID: alert})
		return &tocsin.Job{ID: id, Kind: tocsin.JobNotify, IncidentID: incident, Args: args, Attempts: 1}
	}
	jobs := []*tocsin.Job{
		job("j1", "inc-1", "webhook", notify.EventOpened, "a1"),
		job("j2", "inc-2", "webhook", notify.EventOpened, "a2"),
		job("j3", "inc-gone", "webhook", notify.EventOpened, "a3"),
		job("j4", "inc-4", "webhook", notify.EventOpened, ""), // no alert named: the first one
		job("j5", "inc-5", "slack", notify.EventOpened, "a5"), // not configured here
		job("j6", "inc-6", "webhook", tocsin.NotifyEventRunbookWaiting, "a6"),
		{ID: "j7", Kind: tocsin.JobRenotify, IncidentID: "inc-7", Args: json.RawMessage(`{}`)},
	}
	d.Preload(context.Background(), jobs)
	if src.batches != 1 || src.batchSizes[0] != 4 {
		t.Fatalf("%d batch reads of %v; want one of the 4 webhook notifications", src.batches, src.batchSizes)
	}
	for _, j := range jobs[:4] {
		if out := d.HandleNotify(context.Background(), j); out.Failed || !out.RetryAt.IsZero() {
			t.Fatalf("%s: %+v", j.ID, out)
		}
	}
	if want := map[string]string{"inc-1": "title of inc-1", "inc-2": "title of inc-2", "inc-gone": "read alone: inc-gone",
		"inc-4": "title of inc-4"}; fmt.Sprint(sent) != fmt.Sprint(want) {
		t.Fatalf("sent %v; want %v", sent, want)
	}
	if src.alone != 1 {
		t.Fatalf("%d reads alone; want 1 (the incident the batch did not answer)", src.alone)
	}
	// A job that runs again (a retry, a lease taken over) reads anew.
	d.HandleNotify(context.Background(), jobs[0])
	if src.alone != 2 || sent["inc-1"] != "read alone: inc-1" {
		t.Fatalf("second run: %d reads alone, sent %q", src.alone, sent["inc-1"])
	}
	// A job starting after its read grew old reads again.
	d.Preload(context.Background(), jobs[:2])
	time.Sleep(300 * time.Millisecond)
	d.HandleNotify(context.Background(), jobs[1])
	if src.alone != 3 || sent["inc-2"] != "read alone: inc-2" {
		t.Fatalf("stale read: %d reads alone, sent %q", src.alone, sent["inc-2"])
	}
}

// TestPreloadWithoutBatchSource: a source that cannot read in batches is
// read job by job.
func TestPreloadWithoutBatchSource(t *testing.T) {
	var sends int
	ch := notify.ChannelFunc{ChannelName: "webhook", Func: func(context.Context, *notify.Message) (string, error) { sends++; return "", nil }}
	inc := &tocsin.Incident{ID: "inc-1", Title: "t", Status: tocsin.StatusTriggered}
	d := &notify.Dispatcher{Source: deliveries{&tocsin.Delivery{Incident: inc}}, Channels: map[string]notify.Channel{"webhook": ch}, Now: time.Now}
	args, _ := json.Marshal(tocsin.NotifyArgs{Channel: "webhook", Event: notify.EventOpened, AlertID: "a"})
	jobs := []*tocsin.Job{{ID: "j1", Kind: tocsin.JobNotify, IncidentID: "inc-1", Args: args}, {ID: "j2", Kind: tocsin.JobNotify, IncidentID: "inc-1", Args: args}}
	d.Preload(context.Background(), jobs)
	for _, j := range jobs {
		d.HandleNotify(context.Background(), j)
	}
	if sends != 2 {
		t.Fatalf("%d sends; want 2", sends)
	}
}
