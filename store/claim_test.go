package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"tocsin"
	"tocsin/store"
	"tocsin/store/storetest"
)

// TestClaimTakesOnlyFreeSlots checks the lane-by-lane claim: a busy lane
// gives nothing, every other lane at most its free slots, the whole claim
// at most its limit, earliest due lane first; a wake comes only from a
// commit that queued a job.
func TestClaimTakesOnlyFreeSlots(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			clock := storetest.NewClock(storetest.Epoch)
			db := storetest.Open(t, kind.URL(t), store.Options{Now: clock.Now})
			// Lane "a" is due first, then "b", then "c"; "later" is not due.
			for i, lane := range []string{"a", "b", "c"} {
				for n := range 5 {
					due := clock.Now().Add(-time.Hour + time.Duration(i)*time.Minute + time.Duration(n)*time.Second)
					if err := db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "timer", Lane: lane, DueAt: due}); err != nil {
						t.Fatal(err)
					}
				}
			}
			db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "timer", Lane: "later", DueAt: clock.Now().Add(time.Hour)})
			for _, tc := range []struct {
				name  string
				limit int
				slots map[string]int
				def   int
				want  string
			}{
				{"busy lane skipped", 10, map[string]int{"a": 0, "b": 2}, 3, "b b c c c"},
				{"limit bounds the claim", 4, map[string]int{"a": 0}, 3, "b b b c"},
				{"earliest lane first", 2, nil, 8, "a a"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					jobs, err := db.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "w", Now: clock.Now(), Lease: time.Minute,
						Limit: tc.limit, Kinds: []string{"timer"}, Slots: tc.slots, DefaultSlots: tc.def})
					if err != nil {
						t.Fatal(err)
					}
					got := ""
					ids := make([]string, len(jobs))
					for i, j := range jobs {
						got += " " + j.Lane
						ids[i] = j.ID
					}
					if got != " "+tc.want {
						t.Fatalf("claimed lanes%s; want %s", got, tc.want)
					}
					if err := db.Jobs().ReleaseJobs(ctx, "w", ids); err != nil {
						t.Fatal(err)
					}
				})
			}
		})
	}
}

// TestIngestWakesOnlyWhenItQueued checks that an ingest whose transaction
// queued no job (no channel hears of it) does not wake the worker, and
// one that queued a notification does, once (on PostgreSQL a store
// ignores its own NOTIFY).
func TestIngestWakesOnlyWhenItQueued(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			for _, tc := range []struct {
				channels []string
				want     int
			}{{nil, 0}, {[]string{"webhook"}, 1}} {
				t.Run(fmt.Sprint(tc.channels), func(t *testing.T) {
					var wakes atomic.Int32
					db := storetest.Open(t, kind.URL(t), store.Options{Wake: func() { wakes.Add(1) },
						Policy: tocsin.Policy{Channels: tc.channels, Impacts: tocsin.DefaultImpacts()}})
					if _, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{storetest.NewAlert("g", "a", tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{}); err != nil {
						t.Fatal(err)
					}
					time.Sleep(50 * time.Millisecond) // a NOTIFY it heard would have woken it by now
					if n := int(wakes.Load()); n != tc.want {
						t.Fatalf("%d wakes; want %d", n, tc.want)
					}
				})
			}
		})
	}
}

// TestNextDueSkipsLeased: the next due time is the earliest among jobs not
// leased, lane by lane: a lane whose due jobs all run does not hide another
// lane's timer, and an unleased job due earlier wins.
func TestNextDueSkipsLeased(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			clock := storetest.NewClock(storetest.Epoch)
			db := storetest.Open(t, kind.URL(t), store.Options{Now: clock.Now})
			if _, ok, err := db.Jobs().NextDue(ctx); ok || err != nil {
				t.Fatalf("empty queue: ok %v err %v", ok, err)
			}
			for n := range 3 {
				db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "busy", DueAt: clock.Now().Add(-time.Duration(n+1) * time.Minute)})
			}
			timer := clock.Now().Add(30 * time.Second)
			db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "timers", DueAt: timer})
			db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "timers", DueAt: timer.Add(time.Minute)})
			jobs, err := db.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "w", Now: clock.Now(), Lease: time.Hour, Limit: 10, Slots: map[string]int{"timers": 0}})
			if err != nil || len(jobs) != 3 {
				t.Fatalf("claimed %d busy jobs (%v), want 3", len(jobs), err)
			}
			due, ok, err := db.Jobs().NextDue(ctx)
			if err != nil || !ok || !due.Equal(timer.UTC().Truncate(time.Microsecond)) {
				t.Fatalf("next due %s %v %v, want the timer at %s", due, ok, err, timer)
			}
			early := clock.Now().Add(-time.Hour)
			db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "busy", DueAt: early})
			if due, ok, err := db.Jobs().NextDue(ctx); err != nil || !ok || !due.Equal(early.UTC().Truncate(time.Microsecond)) {
				t.Fatalf("next due %s %v %v, want the unleased job at %s", due, ok, err, early)
			}
		})
	}
}

// TestDueJobsCountsOneLane: DueJobs counts the lane's jobs a claim could
// take now — due, not leased, an incident's notifications only the first
// unfinished one — not other lanes', not future ones, and stops at its
// limit.
func TestDueJobsCountsOneLane(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			clock := storetest.NewClock(storetest.Epoch)
			db := storetest.Open(t, kind.URL(t), store.Options{Now: clock.Now})
			schedule := func(j *tocsin.Job) {
				t.Helper()
				if err := db.Jobs().ScheduleJob(ctx, j); err != nil {
					t.Fatal(err)
				}
			}
			for n := range 6 {
				schedule(&tocsin.Job{Kind: "k", Lane: "notify:webhook", DueAt: clock.Now().Add(-time.Duration(n) * time.Second)})
			}
			schedule(&tocsin.Job{Kind: "k", Lane: "notify:webhook", DueAt: clock.Now().Add(time.Minute)})
			schedule(&tocsin.Job{Kind: "k", Lane: "notify:slack", DueAt: clock.Now().Add(-time.Minute)})
			count := func(want int, what string) {
				t.Helper()
				n, err := db.Jobs().DueJobs(ctx, "notify:webhook", 100)
				if err != nil || n != want {
					t.Fatalf("%s: %d due (%v); want %d", what, n, err, want)
				}
			}
			count(6, "six due, one later, one in another lane")
			if n, err := db.Jobs().DueJobs(ctx, "notify:webhook", 4); err != nil || n != 4 {
				t.Fatalf("limit 4: %d (%v)", n, err)
			}
			if n, err := db.Jobs().DueJobs(ctx, "escalate", 100); err != nil || n != 0 {
				t.Fatalf("empty lane: %d (%v)", n, err)
			}
			// Claimed (running) jobs are the lane's work in hand, not its
			// backlog.
			jobs, err := db.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "w", Now: clock.Now(), Lease: time.Minute, Limit: 2,
				Kinds: []string{"k"}, Slots: map[string]int{"notify:slack": 0}, DefaultSlots: 2})
			if err != nil || len(jobs) != 2 {
				t.Fatalf("claimed %d (%v); want 2", len(jobs), err)
			}
			count(4, "two running")
			for _, j := range jobs {
				if err := db.Jobs().CompleteJob(ctx, j, "w", tocsin.JobOutcome{}); err != nil {
					t.Fatal(err)
				}
			}
			count(4, "two done")
			clock.Add(2 * time.Minute)
			count(5, "the later one came due")
			// An incident's notifications run in order: three queued count
			// as one, and none while the first retries (an outage).
			for range 3 {
				schedule(&tocsin.Job{Kind: tocsin.JobNotify, Lane: "notify:webhook", IncidentID: "inc-1", DueAt: clock.Now()})
				clock.Add(time.Millisecond)
			}
			count(6, "three notifications of one incident")
			first, err := db.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "w", Now: clock.Now(), Lease: time.Minute, Limit: 1,
				Kinds: []string{tocsin.JobNotify}, DefaultSlots: 1})
			if err != nil || len(first) != 1 {
				t.Fatalf("claimed %d notifications (%v); want 1", len(first), err)
			}
			if err := db.Jobs().CompleteJob(ctx, first[0], "w", tocsin.JobOutcome{RetryAt: clock.Now().Add(time.Hour), Error: "503"}); err != nil {
				t.Fatal(err)
			}
			count(5, "the incident's first notification retrying")
		})
	}
}
