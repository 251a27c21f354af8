package store_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/store"
	"tocsin/store/storetest"
)

// openIncidents opens a store at url holding n incidents (an alert each)
// and returns it, its clock and the incidents' ids.
func openIncidents(t *testing.T, url string, n int) (*store.DB, *storetest.Clock, []string) {
	t.Helper()
	clock := storetest.NewClock(storetest.Epoch)
	db := storetest.Open(t, url, store.Options{Now: clock.Now, Policy: tocsin.Policy{Impacts: tocsin.DefaultImpacts()}})
	var incidents []string
	for i := range n {
		res, err := db.Incidents().Ingest(context.Background(), []*tocsin.Alert{storetest.NewAlert("g"+strconv.Itoa(i), "a", tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		incidents = append(incidents, res[0].IncidentID)
	}
	return db, clock, incidents
}

// checkSlackRefs checks incidents' Slack references: want[i] is
// incidents[i]'s.
func checkSlackRefs(t *testing.T, db *store.DB, incidents []string, want map[int]string) {
	t.Helper()
	for i, ref := range want {
		d, err := db.Incidents().LoadDelivery(context.Background(), incidents[i], "", "slack")
		if err != nil || d.Ref != ref {
			t.Errorf("incident %d reference %+v (%v), want %s", i, d, err, ref)
		}
	}
}

// TestCompleteJobsBatch: many outcomes recorded at once keep every rule of
// CompleteJob — a job whose lease was lost records nothing and answers
// ECONFLICT without holding back the others; a job cancelled while it ran
// records its events but queues nothing; follow-up jobs are queued; a
// retry (not batchable) is re-armed alone; the first reference stays.
func TestCompleteJobsBatch(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			db, clock, incidents := openIncidents(t, kind.URL(t), 5)
			for i, id := range incidents {
				kind := "k"
				if i == 2 {
					kind = tocsin.JobRenotify // cancelled by the acknowledgement below
				}
				if err := db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: kind, Lane: "l", IncidentID: id, DueAt: clock.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			jobs, err := db.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "w", Now: clock.Now(), Lease: time.Minute, Limit: 10})
			if err != nil || len(jobs) != 5 {
				t.Fatalf("claimed %d (%v)", len(jobs), err)
			}
			byIncident := map[string]*tocsin.Job{}
			for _, j := range jobs {
				byIncident[j.IncidentID] = j
			}
			ordered := make([]*tocsin.Job, len(incidents))
			for i, id := range incidents {
				ordered[i] = byIncident[id]
			}
			// Job 1's lease lapses and another worker takes it.
			if _, err := db.SQL().Exec(`UPDATE jobs SET lease_owner = 'other' WHERE id = $1`, ordered[1].ID); err != nil {
				t.Fatal(err)
			}
			// Job 2's incident is acknowledged while it runs: cancelled.
			if _, _, err := db.Incidents().Acknowledge(ctx, incidents[2], tocsin.Actor{Name: "ann"}); err != nil {
				t.Fatal(err)
			}
			event := func(i int) []*tocsin.TimelineEvent {
				return []*tocsin.TimelineEvent{{Kind: tocsin.EventNotificationSent, Actor: "batch", Message: "batch event " + strconv.Itoa(i)}}
			}
			next := func(i int) []*tocsin.Job {
				return []*tocsin.Job{{Kind: "follow", Lane: "f", IncidentID: incidents[i], DueAt: clock.Now().Add(time.Hour)}}
			}
			outs := []tocsin.JobOutcome{
				{Events: event(0), Ref: &tocsin.ChannelRef{IncidentID: incidents[0], Channel: "slack", Ref: "ts-0"}, Next: next(0)},
				{Events: event(1), Next: next(1)},
				{Events: event(2), Next: next(2)},
				{Events: event(3), RetryAt: clock.Now().Add(time.Minute), Error: "boom"},
				{Events: event(4), Ref: &tocsin.ChannelRef{IncidentID: incidents[4], Channel: "slack", Ref: "ts-4"}},
			}
			errs := db.Jobs().CompleteJobs(ctx, "w", ordered, outs)
			for i, err := range errs {
				if want := i == 1; (tocsin.ErrorCode(err) == tocsin.ECONFLICT) != want || (!want && err != nil) {
					t.Fatalf("job %d: %v", i, err)
				}
			}
			count := func(q string, args ...any) int {
				var n int
				if err := db.SQL().QueryRow(q, args...).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			for i, id := range incidents {
				want := 1
				if i == 1 {
					want = 0
				}
				if n := count(`SELECT COUNT(*) FROM timeline WHERE incident_id = $1 AND message = $2`, id, "batch event "+strconv.Itoa(i)); n != want {
					t.Errorf("incident %d: %d batch events, want %d", i, n, want)
				}
				wantNext := 0
				if i == 0 {
					wantNext = 1
				}
				if n := count(`SELECT COUNT(*) FROM jobs WHERE incident_id = $1 AND kind = 'follow'`, id); n != wantNext {
					t.Errorf("incident %d: %d follow-up jobs, want %d", i, n, wantNext)
				}
			}
			if n := count(`SELECT COUNT(*) FROM jobs WHERE id = $1 AND lease_owner = 'other'`, ordered[1].ID); n != 1 {
				t.Errorf("the job leased to another worker was touched")
			}
			if n := count(`SELECT COUNT(*) FROM jobs WHERE id = $1 AND lease_owner IS NULL AND last_error = 'boom'`, ordered[3].ID); n != 1 {
				t.Errorf("the retried job was not re-armed")
			}
			if n := count(`SELECT COUNT(*) FROM jobs WHERE id IN ($1, $2, $3)`, ordered[0].ID, ordered[2].ID, ordered[4].ID); n != 0 {
				t.Errorf("%d finished jobs left", n)
			}
			checkSlackRefs(t, db, incidents, map[int]string{0: "ts-0", 4: "ts-4"})
		})
	}
}

// TestCompleteJobsPlainBatch: a batch whose outcomes are only events and
// chat references (one statement on PostgreSQL) records exactly what
// CompleteJob would: a lost lease nothing and ECONFLICT, a job cancelled
// while it ran its events and reference, every event's fields (text made
// valid, data, references, an edit time), the first of two references of
// one incident and channel.
func TestCompleteJobsPlainBatch(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			db, clock, incidents := openIncidents(t, kind.URL(t), 4)
			// Two jobs of incident 3: both references name it.
			owners := []string{incidents[0], incidents[1], incidents[2], incidents[3], incidents[3]}
			for _, id := range owners {
				if err := db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: tocsin.JobRenotify, Lane: "l", IncidentID: id, DueAt: clock.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			jobs, err := db.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "w", Now: clock.Now(), Lease: time.Minute, Limit: 10})
			if err != nil || len(jobs) != 5 {
				t.Fatalf("claimed %d (%v)", len(jobs), err)
			}
			sort.Slice(jobs, func(a, b int) bool { return jobs[a].CreatedAt.Before(jobs[b].CreatedAt) || jobs[a].ID < jobs[b].ID })
			byIncident := map[string][]*tocsin.Job{}
			for _, j := range jobs {
				byIncident[j.IncidentID] = append(byIncident[j.IncidentID], j)
			}
			ordered := []*tocsin.Job{byIncident[incidents[0]][0], byIncident[incidents[1]][0], byIncident[incidents[2]][0],
				byIncident[incidents[3]][0], byIncident[incidents[3]][1]}
			if _, err := db.SQL().Exec(`UPDATE jobs SET lease_owner = 'other' WHERE id = $1`, ordered[1].ID); err != nil {
				t.Fatal(err)
			}
			if _, _, err := db.Incidents().Acknowledge(ctx, incidents[2], tocsin.Actor{Name: "ann"}); err != nil {
				t.Fatal(err)
			}
			edited := storetest.Epoch.Add(time.Minute)
			outs := make([]tocsin.JobOutcome, 5)
			for i := range outs {
				outs[i] = tocsin.JobOutcome{Events: []*tocsin.TimelineEvent{{Kind: tocsin.EventNotificationSent, Actor: "plain",
					Message: "plain event " + strconv.Itoa(i) + " \x00\xff", Data: []byte(`{"n":` + strconv.Itoa(i) + `}`)}}}
			}
			outs[0].Events[0].References = []tocsin.EventReference{{RelatedItemID: "ri-1"}}
			outs[0].Events[0].UpdatedAt = &edited
			outs[0].Events = append(outs[0].Events, &tocsin.TimelineEvent{IncidentID: incidents[1], Kind: "note", Message: "on another incident"})
			outs[2].Ref = &tocsin.ChannelRef{IncidentID: incidents[2], Channel: "slack", Ref: "ts-2"}
			outs[3].Ref = &tocsin.ChannelRef{IncidentID: incidents[3], Channel: "slack", Ref: "ts-3a"}
			outs[4].Ref = &tocsin.ChannelRef{IncidentID: incidents[3], Channel: "slack", Ref: "ts-3b"}
			errs := db.Jobs().CompleteJobs(ctx, "w", ordered, outs)
			for i, err := range errs {
				if want := i == 1; (tocsin.ErrorCode(err) == tocsin.ECONFLICT) != want || (!want && err != nil) {
					t.Fatalf("job %d: %v", i, err)
				}
			}
			var n int
			if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM jobs WHERE lease_owner = 'w'`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%d jobs of w left (%v)", n, err)
			}
			if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM jobs WHERE id = $1 AND lease_owner = 'other'`, ordered[1].ID).Scan(&n); err != nil || n != 1 {
				t.Fatalf("the job leased to another worker was touched (%d, %v)", n, err)
			}
			for i, id := range incidents {
				tl, err := db.Incidents().Timeline(ctx, id, tocsin.TimelineFilter{})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range tl {
					if e.Actor == "plain" || e.Kind == "note" {
						got = append(got, e.Message+" "+string(e.Data))
						if i == 0 && e.Actor == "plain" && (len(e.References) != 1 || e.References[0].RelatedItemID != "ri-1" ||
							e.UpdatedAt == nil || !e.UpdatedAt.Equal(edited)) {
							t.Errorf("incident 0's event lost its references or edit time: %+v", e)
						}
					}
				}
				want := map[int]string{
					0: "[plain event 0 \uFFFD\uFFFD {\"n\":0}]",
					1: "[on another incident ]", // its own job's outcome was not recorded
					2: "[plain event 2 \uFFFD\uFFFD {\"n\":2}]",
					3: "[plain event 3 \uFFFD\uFFFD {\"n\":3} plain event 4 \uFFFD\uFFFD {\"n\":4}]",
				}[i]
				if fmt.Sprint(got) != want {
					t.Errorf("incident %d: events %q, want %q", i, fmt.Sprint(got), want)
				}
			}
			checkSlackRefs(t, db, incidents, map[int]string{2: "ts-2", 3: "ts-3a"})
		})
	}
}

// TestCompleteJobsPlainAlone: a plain outcome recorded alone (one
// statement on PostgreSQL) records its event and reference, and a lost
// lease still answers ECONFLICT.
func TestCompleteJobsPlainAlone(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			db, clock, incidents := openIncidents(t, kind.URL(t), 1)
			id := incidents[0]
			for range 2 {
				if err := db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: tocsin.JobRenotify, Lane: "l", IncidentID: id, DueAt: clock.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			jobs, err := db.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "w", Now: clock.Now(), Lease: time.Minute, Limit: 10})
			if err != nil || len(jobs) != 2 {
				t.Fatalf("claimed %d (%v)", len(jobs), err)
			}
			out := tocsin.JobOutcome{Events: []*tocsin.TimelineEvent{{Kind: tocsin.EventNotificationSent, Actor: "alone", Message: "sent alone"}},
				Ref: &tocsin.ChannelRef{IncidentID: id, Channel: "slack", Ref: "ts-alone"}}
			if errs := db.Jobs().CompleteJobs(ctx, "w", jobs[:1], []tocsin.JobOutcome{out}); errs[0] != nil {
				t.Fatal(errs[0])
			}
			if _, err := db.SQL().Exec(`UPDATE jobs SET lease_owner = 'other' WHERE id = $1`, jobs[1].ID); err != nil {
				t.Fatal(err)
			}
			lost := tocsin.JobOutcome{Events: []*tocsin.TimelineEvent{{Kind: tocsin.EventNotificationSent, Actor: "alone", Message: "lost"}}}
			if errs := db.Jobs().CompleteJobs(ctx, "w", jobs[1:], []tocsin.JobOutcome{lost}); tocsin.ErrorCode(errs[0]) != tocsin.ECONFLICT {
				t.Fatalf("lost lease: %v", errs[0])
			}
			var n int
			if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM timeline WHERE incident_id = $1 AND actor = 'alone'`, id).Scan(&n); err != nil || n != 1 {
				t.Fatalf("%d events of the lone outcomes (%v); want the recorded one only", n, err)
			}
			checkSlackRefs(t, db, incidents, map[int]string{0: "ts-alone"})
		})
	}
}

// TestCompleteJobsOnCallRefs: an on-call provider's reference recorded in
// a batch (one statement on PostgreSQL) is saved, and when its incident
// was resolved while the provider was called, queues the de-escalation
// the resolve could not; a reference already there is kept and queues
// nothing more.
func TestCompleteJobsOnCallRefs(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			db, clock, incidents := openIncidents(t, kind.URL(t), 3)
			for _, id := range incidents {
				if err := db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: tocsin.JobEscalate, Lane: "escalate:pagerduty", IncidentID: id, DueAt: clock.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			jobs, err := db.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "w", Now: clock.Now(), Lease: time.Minute, Limit: 10})
			if err != nil || len(jobs) != 3 {
				t.Fatalf("claimed %d (%v)", len(jobs), err)
			}
			byIncident := map[string]*tocsin.Job{}
			for _, j := range jobs {
				byIncident[j.IncidentID] = j
			}
			ordered := []*tocsin.Job{byIncident[incidents[0]], byIncident[incidents[1]], byIncident[incidents[2]]}
			channel := tocsin.OnCallRefChannel + "pagerduty"
			// Incident 2 already has its provider's reference.
			if _, err := db.SQL().Exec(`INSERT INTO channel_refs (incident_id, channel, ref) VALUES ($1, $2, $3)`, incidents[2], channel, `{"provider":"pagerduty","ref":"PD-old"}`); err != nil {
				t.Fatal(err)
			}
			// Incidents 0 and 2 are resolved while the provider is called.
			for _, i := range []int{0, 2} {
				if _, _, err := db.Incidents().Resolve(ctx, incidents[i], tocsin.Actor{Name: "ann"}); err != nil {
					t.Fatal(err)
				}
			}
			outs := make([]tocsin.JobOutcome, 3)
			for i := range outs {
				outs[i] = tocsin.JobOutcome{
					Events: []*tocsin.TimelineEvent{{Kind: tocsin.EventEscalation, Actor: "pagerduty", Message: "escalated " + strconv.Itoa(i)}},
					Ref:    &tocsin.ChannelRef{IncidentID: incidents[i], Channel: channel, Ref: `{"provider":"pagerduty","ref":"PD-` + strconv.Itoa(i) + `"}`},
				}
			}
			for i, err := range db.Jobs().CompleteJobs(ctx, "w", ordered, outs) {
				if err != nil {
					t.Fatalf("job %d: %v", i, err)
				}
			}
			// Incident 2's resolve found its reference and queued the
			// de-escalation itself: the completion adds none.
			for i, want := range []int{1, 0, 1} {
				var n int
				if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM jobs WHERE incident_id = $1 AND kind = $2 AND lane = 'escalate:pagerduty'`,
					incidents[i], tocsin.JobDeescalate).Scan(&n); err != nil || n != want {
					t.Errorf("incident %d: %d de-escalations (%v), want %d", i, n, err, want)
				}
			}
			for i, want := range []string{"PD-0", "PD-1", "PD-old"} {
				d, err := db.Incidents().LoadDelivery(ctx, incidents[i], "", channel)
				if err != nil || !strings.Contains(d.Ref, want) {
					t.Errorf("incident %d reference %q (%v), want %s", i, d.Ref, err, want)
				}
			}
		})
	}
}

// TestDeescalationRaceTwoInstances: two instances on one PostgreSQL
// database; A records its on-call provider's references (the escalations'
// outcomes, in batches as its worker does) while B resolves the same
// incidents at the same time. Whichever commits first, every incident ends
// with exactly one de-escalation: B's resolve queues it when it sees the
// reference, A's completion when it sees the incident resolved.
func TestDeescalationRaceTwoInstances(t *testing.T) {
	ctx := context.Background()
	url := storetest.PostgresURL(t)
	const n = 60
	a, clock, incidents := openIncidents(t, url, n)
	b := storetest.Open(t, url, store.Options{Now: clock.Now, Policy: tocsin.Policy{Impacts: tocsin.DefaultImpacts()}})
	for _, id := range incidents {
		if err := a.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: tocsin.JobEscalate, Lane: "escalate:pagerduty", IncidentID: id, DueAt: clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := a.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "w", Now: clock.Now(), Lease: time.Minute, Limit: n})
	if err != nil || len(jobs) != n {
		t.Fatalf("claimed %d (%v)", len(jobs), err)
	}
	channel := tocsin.OnCallRefChannel + "pagerduty"
	done := make(chan error, 2)
	go func() {
		// A: batches of 1 to 4 outcomes, as claims finish.
		for i := 0; i < len(jobs); {
			k := min(1+i%4, len(jobs)-i)
			batch, outs := jobs[i:i+k], make([]tocsin.JobOutcome, k)
			for j, job := range batch {
				outs[j] = tocsin.JobOutcome{
					Events: []*tocsin.TimelineEvent{{Kind: tocsin.EventEscalation, Actor: "pagerduty", Message: "escalated"}},
					Ref:    &tocsin.ChannelRef{IncidentID: job.IncidentID, Channel: channel, Ref: `{"provider":"pagerduty","ref":"PD-` + job.IncidentID + `"}`},
				}
			}
			for _, err := range a.Jobs().CompleteJobs(ctx, "w", batch, outs) {
				if err != nil {
					done <- err
					return
				}
			}
			i += k
		}
		done <- nil
	}()
	go func() {
		// B: resolves them in the order A records them.
		for _, job := range jobs {
			if _, _, err := b.Incidents().Resolve(ctx, job.IncidentID, tocsin.Actor{Name: "ann"}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	missing, twice := 0, 0
	for _, id := range incidents {
		var k int
		if err := a.SQL().QueryRow(`SELECT COUNT(*) FROM jobs WHERE incident_id = $1 AND kind = $2`, id, tocsin.JobDeescalate).Scan(&k); err != nil {
			t.Fatal(err)
		}
		switch {
		case k == 0:
			missing++
		case k > 1:
			twice++
		}
	}
	if missing > 0 || twice > 0 {
		t.Fatalf("of %d incidents resolved while their references were recorded, %d have no de-escalation and %d more than one", n, missing, twice)
	}
}
