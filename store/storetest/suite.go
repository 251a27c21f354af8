package storetest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"tocsin"
	"tocsin/store"
)

// Epoch is the suite's starting time.
var Epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Run runs the conformance suite against stores opened at URLs from newURL.
func Run(t *testing.T, newURL func(testing.TB) string) {
	open := func(t *testing.T, mod func(*store.Options)) (*store.DB, *Clock) {
		clock := NewClock(Epoch)
		opts := store.Options{Now: clock.Now, Policy: tocsin.Policy{
			Channels: []string{"slack", "webhook"}, AutoResolve: true, Impacts: tocsin.DefaultImpacts(),
		}}
		if mod != nil {
			mod(&opts)
		}
		return Open(t, newURL(t), opts), clock
	}
	ctx := context.Background()

	t.Run("IngestOpensAndDedupes", func(t *testing.T) {
		db, clock := open(t, nil)
		a1 := NewAlert("grp", "fp1", tocsin.AlertFiring, "critical")
		res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{a1}, tocsin.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !res[0].Created || res[0].IncidentID == "" {
			t.Fatalf("first alert should open an incident: %+v", res[0])
		}
		clock.Add(time.Minute)
		res2, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("grp", "fp1", tocsin.AlertFiring, "critical"), NewAlert("grp", "fp2", tocsin.AlertFiring, "warning")}, tocsin.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res2 {
			if r.Created || r.IncidentID != res[0].IncidentID || !r.Deduplicated {
				t.Fatalf("repeat should attach to %s: %+v", res[0].IncidentID, r)
			}
		}
		inc, err := db.Incidents().FindIncident(ctx, res[0].IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		if inc.Status != tocsin.StatusTriggered || inc.Impact != 1 || inc.AlertCount != 2 || inc.OpenAlertCount != 2 || len(inc.Alerts) != 2 {
			t.Fatalf("incident after dedupe: status=%s impact=%d alerts=%d open=%d", inc.Status, inc.Impact, inc.AlertCount, inc.OpenAlertCount)
		}
		if got := kinds(inc.Timeline); got != "created,alert_attached" {
			t.Fatalf("timeline = %s", got)
		}
		if n, _ := db.Jobs().PendingJobs(ctx); n != 2 {
			t.Fatalf("opened incident should queue 2 notifications (one per channel), got %d", n)
		}
		// A different source with the same key is another incident.
		other := NewAlert("grp", "fp1", tocsin.AlertFiring, "info")
		other.Source = tocsin.SourceGeneric
		res3, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{other}, tocsin.IngestOptions{})
		if err != nil || !res3[0].Created {
			t.Fatalf("other source should open its own incident: %+v %v", res3, err)
		}
	})

	t.Run("ResolveAllAlertsResolvesIncident", func(t *testing.T) {
		db, _ := open(t, nil)
		res, _ := db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g", "a", tocsin.AlertFiring, "high"), NewAlert("g", "b", tocsin.AlertFiring, "high")}, tocsin.IngestOptions{})
		id := res[0].IncidentID
		r, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g", "a", tocsin.AlertResolved, "high")}, tocsin.IngestOptions{})
		if err != nil || r[0].Resolved {
			t.Fatalf("one of two resolved must not resolve the incident: %+v %v", r, err)
		}
		r, err = db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g", "b", tocsin.AlertResolved, "high")}, tocsin.IngestOptions{})
		if err != nil || !r[0].Resolved {
			t.Fatalf("last resolved alert should resolve the incident: %+v %v", r, err)
		}
		inc, _ := db.Incidents().FindIncident(ctx, id)
		if inc.Status != tocsin.StatusResolved || inc.ResolvedAt == nil || inc.OpenAlertCount != 0 {
			t.Fatalf("incident = %+v", inc)
		}
		// A firing alert of the same group now opens a new incident.
		r, _ = db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g", "a", tocsin.AlertFiring, "high")}, tocsin.IngestOptions{})
		if !r[0].Created || r[0].IncidentID == id {
			t.Fatalf("after resolve a new firing alert opens a new incident: %+v", r[0])
		}
		// A resolve for something never seen changes nothing.
		r, err = db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("unknown", "x", tocsin.AlertResolved, "")}, tocsin.IngestOptions{})
		if err != nil || r[0].IncidentID != "" {
			t.Fatalf("orphan resolve: %+v %v", r, err)
		}
	})

	t.Run("AutoResolveOff", func(t *testing.T) {
		db, _ := open(t, func(o *store.Options) { o.Policy.AutoResolve = false })
		res, _ := db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g", "a", tocsin.AlertFiring, "high")}, tocsin.IngestOptions{})
		db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g", "a", tocsin.AlertResolved, "high")}, tocsin.IngestOptions{})
		inc, _ := db.Incidents().FindIncident(ctx, res[0].IncidentID)
		if inc.Status != tocsin.StatusTriggered || inc.OpenAlertCount != 0 {
			t.Fatalf("with auto_resolve off the incident stays open: %s open=%d", inc.Status, inc.OpenAlertCount)
		}
	})

	t.Run("AcknowledgeResolveNote", func(t *testing.T) {
		db, clock := open(t, func(o *store.Options) { o.Policy.RenotifyAfter = 10 * time.Minute })
		res, _ := db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g", "a", tocsin.AlertFiring, "warning")}, tocsin.IngestOptions{})
		id := res[0].IncidentID
		if n, _ := db.Jobs().PendingJobs(ctx); n != 3 {
			t.Fatalf("2 notifications + 1 renotify timer expected, got %d", n)
		}
		clock.Add(2 * time.Minute)
		inc, changed, err := db.Incidents().Acknowledge(ctx, id, tocsin.Actor{Name: "alice", Via: "api"})
		if err != nil || !changed || inc.Status != tocsin.StatusAcknowledged || inc.AckedBy != "alice via api" || !inc.AckedAt.Equal(Epoch.Add(2*time.Minute)) {
			t.Fatalf("ack: %+v changed=%v err=%v", inc, changed, err)
		}
		if n, _ := db.Jobs().PendingJobs(ctx); n != 4 {
			t.Fatalf("ack cancels the renotify timer and queues 2 notifications: %d jobs", n)
		}
		if _, changed, err = db.Incidents().Acknowledge(ctx, id, tocsin.Actor{Name: "bob", Via: "api"}); err != nil || changed {
			t.Fatalf("second ack: changed=%v err=%v", changed, err)
		}
		if _, err := db.Incidents().AddNote(ctx, id, tocsin.Actor{Name: "alice"}, "  looking into it  "); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Incidents().AddNote(ctx, id, tocsin.Actor{Name: "alice"}, "   "); tocsin.ErrorCode(err) != tocsin.EINVALID {
			t.Fatalf("empty note: %v", err)
		}
		inc, changed, err = db.Incidents().Resolve(ctx, id, tocsin.Actor{Name: "alice", Via: "cli"})
		if err != nil || !changed || inc.Status != tocsin.StatusResolved || inc.Alerts[0].Status != tocsin.AlertResolved {
			t.Fatalf("resolve: %+v %v", inc, err)
		}
		if _, changed, _ = db.Incidents().Resolve(ctx, id, tocsin.Actor{Name: "x"}); changed {
			t.Fatal("second resolve changed the incident")
		}
		if _, changed, _ = db.Incidents().Acknowledge(ctx, id, tocsin.Actor{Name: "x"}); changed {
			t.Fatal("ack after resolve changed the incident")
		}
		if got := kinds(inc.Timeline); got != "created,acknowledged,note,resolved" {
			t.Fatalf("timeline = %s", got)
		}
		for _, op := range []func() error{
			func() error { _, _, err := db.Incidents().Acknowledge(ctx, "nope", tocsin.Actor{}); return err },
			func() error { _, _, err := db.Incidents().Resolve(ctx, "nope", tocsin.Actor{}); return err },
			func() error { _, err := db.Incidents().AddNote(ctx, "nope", tocsin.Actor{}, "x"); return err },
			func() error { _, err := db.Incidents().FindIncident(ctx, "nope"); return err },
		} {
			if code := tocsin.ErrorCode(op()); code != tocsin.ENOTFOUND {
				t.Fatalf("unknown incident: code %q", code)
			}
		}
	})

	t.Run("ListFiltersAndPages", func(t *testing.T) {
		db, clock := open(t, nil)
		sev := []string{"critical", "warning", "info"}
		var ids []string
		for i := 0; i < 7; i++ {
			clock.Add(time.Second)
			res, _ := db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g"+string(rune('a'+i)), "x", tocsin.AlertFiring, sev[i%3])}, tocsin.IngestOptions{})
			ids = append(ids, res[0].IncidentID)
		}
		db.Incidents().Acknowledge(ctx, ids[0], tocsin.Actor{Name: "a"})
		var got []string
		cursor := ""
		for {
			page, next, err := db.Incidents().ListIncidents(ctx, tocsin.IncidentFilter{Limit: 3, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, inc := range page {
				got = append(got, inc.ID)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if len(got) != 7 || got[0] != ids[6] || got[6] != ids[0] {
			t.Fatalf("paging newest first: %v", got)
		}
		crit, _, _ := db.Incidents().ListIncidents(ctx, tocsin.IncidentFilter{Impact: []int{1}})
		if len(crit) != 3 {
			t.Fatalf("impact filter: %d", len(crit))
		}
		acked, _, _ := db.Incidents().ListIncidents(ctx, tocsin.IncidentFilter{Status: []string{tocsin.StatusAcknowledged}})
		if len(acked) != 1 || acked[0].ID != ids[0] {
			t.Fatalf("status filter: %v", acked)
		}
		since := Epoch.Add(5 * time.Second)
		recent, _, _ := db.Incidents().ListIncidents(ctx, tocsin.IncidentFilter{Since: &since})
		if len(recent) != 3 {
			t.Fatalf("since filter: %d", len(recent))
		}
		// Before is strict and ANDs with Since: incidents created at 2s, 3s, 4s.
		before := Epoch.Add(5 * time.Second)
		from := Epoch.Add(2 * time.Second)
		window, _, _ := db.Incidents().ListIncidents(ctx, tocsin.IncidentFilter{Since: &from, Before: &before})
		if len(window) != 3 || window[0].ID != ids[3] || window[2].ID != ids[1] {
			t.Fatalf("since+before filter: %d", len(window))
		}
		bySource, _, _ := db.Incidents().ListIncidents(ctx, tocsin.IncidentFilter{Sources: []string{"nope", tocsin.SourceAlertmanager}})
		if none, _, _ := db.Incidents().ListIncidents(ctx, tocsin.IncidentFilter{Sources: []string{"nope"}}); len(bySource) != 7 || len(none) != 0 {
			t.Fatalf("source filter: %d, %d", len(bySource), len(none))
		}
		byKey, _, _ := db.Incidents().ListIncidents(ctx, tocsin.IncidentFilter{DedupKey: "gc"})
		if len(byKey) != 1 || byKey[0].ID != ids[2] {
			t.Fatalf("dedup key filter: %v", byKey)
		}
		if _, _, err := db.Incidents().ListIncidents(ctx, tocsin.IncidentFilter{Cursor: "garbage!"}); tocsin.ErrorCode(err) != tocsin.EINVALID {
			t.Fatalf("bad cursor: %v", err)
		}
	})

	t.Run("JobsClaimLeaseComplete", func(t *testing.T) {
		db, clock := open(t, nil)
		res, _ := db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g", "a", tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{})
		id := res[0].IncidentID
		jobs, err := db.Jobs().ClaimJobs(ctx, claimAll("w1", clock.Now(), time.Minute, 10, nil))
		if err != nil || len(jobs) != 2 {
			t.Fatalf("claim: %d %v", len(jobs), err)
		}
		var args tocsin.NotifyArgs
		json.Unmarshal(jobs[0].Args, &args)
		if jobs[0].Kind != tocsin.JobNotify || jobs[0].IncidentID != id || args.Event != "opened" || jobs[0].Attempts != 1 {
			t.Fatalf("job = %+v args=%+v", jobs[0], args)
		}
		if again, _ := db.Jobs().ClaimJobs(ctx, claimAll("w2", clock.Now(), time.Minute, 10, nil)); len(again) != 0 {
			t.Fatalf("leased jobs claimed twice: %d", len(again))
		}
		// Retry one, finish the other with a channel ref and an event.
		if err := db.Jobs().CompleteJob(ctx, jobs[0], "w1", tocsin.JobOutcome{RetryAt: clock.Now().Add(30 * time.Second), Error: "HTTP 500"}); err != nil {
			t.Fatal(err)
		}
		err = db.Jobs().CompleteJob(ctx, jobs[1], "w1", tocsin.JobOutcome{
			Events: []*tocsin.TimelineEvent{{IncidentID: id, Kind: tocsin.EventNotificationSent, Message: "sent"}},
			Ref:    &tocsin.ChannelRef{IncidentID: id, Channel: "webhook", Ref: "r1"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Jobs().CompleteJob(ctx, jobs[1], "w1", tocsin.JobOutcome{}); tocsin.ErrorCode(err) != tocsin.ECONFLICT {
			t.Fatalf("completing a finished job: %v", err)
		}
		d, err := db.Incidents().LoadDelivery(ctx, id, "", "webhook")
		if err != nil || d.Ref != "r1" || d.Alert == nil || d.Incident.ID != id {
			t.Fatalf("delivery: %+v %v", d, err)
		}
		if due, ok, _ := db.Jobs().NextDue(ctx); !ok || !due.Equal(clock.Now().Add(30*time.Second)) {
			t.Fatalf("next due = %v %v", due, ok)
		}
		if none, _ := db.Jobs().ClaimJobs(ctx, claimAll("w1", clock.Now(), time.Minute, 10, nil)); len(none) != 0 {
			t.Fatal("retry claimed before it is due")
		}
		clock.Add(31 * time.Second)
		retry, _ := db.Jobs().ClaimJobs(ctx, claimAll("w1", clock.Now(), time.Minute, 10, nil))
		if len(retry) != 1 || retry[0].Attempts != 2 || retry[0].LastError != "HTTP 500" {
			t.Fatalf("retry: %+v", retry)
		}
		// The lease expires (worker died): another worker takes the job, and the first one's completion is refused.
		clock.Add(2 * time.Minute)
		taken, _ := db.Jobs().ClaimJobs(ctx, claimAll("w2", clock.Now(), time.Minute, 10, nil))
		if len(taken) != 1 || taken[0].ID != retry[0].ID {
			t.Fatalf("expired lease not reclaimed: %+v", taken)
		}
		if err := db.Jobs().CompleteJob(ctx, retry[0], "w1", tocsin.JobOutcome{}); tocsin.ErrorCode(err) != tocsin.ECONFLICT {
			t.Fatalf("stale owner completed a job: %v", err)
		}
		inc, _ := db.Incidents().FindIncident(ctx, id)
		if got := kinds(inc.Timeline); got != "created,notification_sent" {
			t.Fatalf("timeline = %s", got)
		}
	})

	t.Run("JobsBusyLanesAndKeys", func(t *testing.T) {
		db, clock := open(t, nil)
		db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g", "a", tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{})
		jobs, _ := db.Jobs().ClaimJobs(ctx, claimAll("w", clock.Now(), time.Minute, 10, []string{"notify:slack"}))
		if len(jobs) != 1 || jobs[0].Lane != "notify:webhook" {
			t.Fatalf("busy lane not skipped: %+v", jobs)
		}
		for i := 0; i < 2; i++ {
			if err := db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "timer", Key: "k1", DueAt: clock.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		timers, _ := db.Jobs().ClaimJobs(ctx, claimAll("w", clock.Now(), time.Minute, 10, []string{"notify:slack"}))
		if len(timers) != 1 || timers[0].Key != "k1" {
			t.Fatalf("a keyed job must be queued once: %+v", timers)
		}
	})

	t.Run("ConcurrentIngestOneIncident", func(t *testing.T) {
		db, _ := open(t, nil)
		var wg sync.WaitGroup
		ids := make([]string, 8)
		errs := make([]error, 8)
		for i := range ids {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("race", "fp"+string(rune('a'+i)), tocsin.AlertFiring, "high")}, tocsin.IngestOptions{})
				errs[i] = err
				if err == nil {
					ids[i] = res[0].IncidentID
				}
			}(i)
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Fatalf("concurrent alerts of one group must share one incident: %v %v", ids, errs)
			}
		}
		inc, _ := db.Incidents().FindIncident(ctx, ids[0])
		if inc.AlertCount != 8 {
			t.Fatalf("alert count %d", inc.AlertCount)
		}
	})

	t.Run("OnCallArmCancelDeescalate", func(t *testing.T) {
		db, clock := open(t, nil)
		oc := &tocsin.OnCallOptions{Provider: "pagerduty", Target: "db", Wait: 5 * time.Minute}
		res, _ := db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g1", "a", tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{OnCall: oc})
		id := res[0].IncidentID
		// Only the notifications are due now; the escalation waits 5 minutes.
		due, _ := db.Jobs().ClaimJobs(ctx, claimAll("w", clock.Now(), time.Minute, 10, nil))
		for _, j := range due {
			if j.Kind == tocsin.JobEscalate {
				t.Fatal("escalation claimed before its wait")
			}
			db.Jobs().CompleteJob(ctx, j, "w", tocsin.JobOutcome{})
		}
		if n, _ := db.Jobs().PendingJobs(ctx); n != 1 {
			t.Fatalf("pending after notifications: %d", n)
		}
		// A repeat alert does not arm a second escalation.
		db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g1", "b", tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{OnCall: oc})
		if n, _ := db.Jobs().PendingJobs(ctx); n != 1 {
			t.Fatalf("pending after a repeat: %d", n)
		}
		db.Incidents().Acknowledge(ctx, id, tocsin.Actor{Name: "a"})
		clock.Add(10 * time.Minute)
		jobs, _ := db.Jobs().ClaimJobs(ctx, claimAll("w", clock.Now(), time.Minute, 10, nil))
		for _, j := range jobs {
			if j.Kind == tocsin.JobEscalate {
				t.Fatal("acknowledged incident still escalates")
			}
			db.Jobs().CompleteJob(ctx, j, "w", tocsin.JobOutcome{})
		}
		inc, _ := db.Incidents().FindIncident(ctx, id)
		if got := kinds(inc.Timeline); got != "created,escalation,alert_attached,acknowledged,escalation" {
			t.Fatalf("timeline = %s", got)
		}

		// Escalated, then resolved: the provider's incident is resolved too.
		res, _ = db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g2", "a", tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{OnCall: &tocsin.OnCallOptions{Provider: "pagerduty"}})
		id2 := res[0].IncidentID
		jobs, _ = db.Jobs().ClaimJobs(ctx, claimAll("w", clock.Now(), time.Minute, 10, nil))
		for _, j := range jobs {
			out := tocsin.JobOutcome{}
			if j.Kind == tocsin.JobEscalate {
				out.Ref = &tocsin.ChannelRef{IncidentID: id2, Channel: tocsin.OnCallRefChannel + "pagerduty", Ref: `{"provider":"pagerduty","ref":"tocsin-x"}`}
			}
			db.Jobs().CompleteJob(ctx, j, "w", out)
		}
		db.Incidents().Resolve(ctx, id2, tocsin.Actor{Name: "a"})
		jobs, _ = db.Jobs().ClaimJobs(ctx, claimAll("w", clock.Now(), time.Minute, 10, nil))
		found := false
		for _, j := range jobs {
			var a tocsin.EscalateArgs
			json.Unmarshal(j.Args, &a)
			if j.Kind == tocsin.JobDeescalate && a.Ref == "tocsin-x" && a.Provider == "pagerduty" {
				found = true
			}
		}
		if !found {
			t.Fatalf("resolve did not queue the provider's resolve: %+v", jobs)
		}
	})

	t.Run("JobsClaimOnlyWhatTheWorkerCanRun", func(t *testing.T) {
		db, clock := open(t, nil)
		db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g", "a", tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{})
		db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "timer", DueAt: clock.Now()})
		// A worker with only a webhook and no "timer" handler.
		c := tocsin.JobClaim{Owner: "b", Now: clock.Now(), Lease: time.Hour, Limit: 10, Kinds: []string{tocsin.JobNotify},
			Lanes: map[string][]string{tocsin.JobNotify: {tocsin.NotifyLane("webhook")}}}
		jobs, err := db.Jobs().ClaimJobs(ctx, c)
		if err != nil || len(jobs) != 1 || jobs[0].Lane != "notify:webhook" {
			t.Fatalf("claimed %+v %v; want only the webhook notification", jobs, err)
		}
		// A lane with one free slot gets one job.
		for range 3 {
			db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "timer", Lane: "t", DueAt: clock.Now()})
		}
		jobs, _ = db.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "a", Now: clock.Now(), Lease: time.Hour, Limit: 10, Kinds: []string{"timer"},
			Slots: map[string]int{"t": 1, "timer": 0}})
		if len(jobs) != 1 || jobs[0].Lane != "t" {
			t.Fatalf("claimed %+v; want one job of lane t", jobs)
		}
		if st, _ := db.Jobs().JobStats(ctx); len(st) != 2 || st[0].Kind != tocsin.JobNotify || st[0].Pending != 2 {
			t.Fatalf("stats %+v", st)
		}
		clock.Add(2 * time.Minute)
		st, _ := db.Jobs().JobStats(ctx)
		if st[0].Overdue != 1 || st[1].Kind != "timer" || st[1].Overdue != 3 {
			t.Fatalf("jobs nobody runs are not overdue: %+v", st)
		}
		// Stranded long enough, the Slack job is taken to be failed on its timeline.
		c.Now, c.StrandedAfter = clock.Now(), time.Minute
		if jobs, _ := db.Jobs().ClaimJobs(ctx, c); len(jobs) != 1 || jobs[0].Lane != "notify:slack" {
			t.Fatalf("stranded job: %+v", jobs)
		}
	})

	t.Run("JobsNotifyInOrderPerIncidentAndChannel", func(t *testing.T) {
		db, clock := open(t, nil)
		res, _ := db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g", "a", tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{})
		id := res[0].IncidentID
		jobs, _ := db.Jobs().ClaimJobs(ctx, claimAll("w", clock.Now(), time.Minute, 10, nil))
		var opened *tocsin.Job
		for _, j := range jobs {
			if j.Lane == "notify:slack" {
				opened = j
			} else {
				db.Jobs().CompleteJob(ctx, j, "w", tocsin.JobOutcome{})
			}
		}
		// "opened" fails on Slack and waits for its retry; meanwhile the incident resolves.
		db.Jobs().CompleteJob(ctx, opened, "w", tocsin.JobOutcome{RetryAt: clock.Now().Add(time.Minute), Error: "HTTP 503"})
		clock.Add(time.Second)
		db.Incidents().Resolve(ctx, id, tocsin.Actor{Name: "a"})
		jobs, _ = db.Jobs().ClaimJobs(ctx, claimAll("w", clock.Now(), time.Minute, 10, nil))
		if len(jobs) != 1 || jobs[0].Lane != "notify:webhook" {
			t.Fatalf("claimed %+v; Slack's resolved must wait for its opened", jobs)
		}
		db.Jobs().CompleteJob(ctx, jobs[0], "w", tocsin.JobOutcome{})
		clock.Add(time.Minute)
		jobs, _ = db.Jobs().ClaimJobs(ctx, claimAll("w", clock.Now(), time.Minute, 10, nil))
		var a tocsin.NotifyArgs
		if len(jobs) == 1 {
			json.Unmarshal(jobs[0].Args, &a)
		}
		if len(jobs) != 1 || a.Event != "opened" {
			t.Fatalf("claimed %+v; want Slack's opened retry alone", jobs)
		}
		// It gives up: the resolved one goes out, and the failed one is kept.
		db.Jobs().CompleteJob(ctx, jobs[0], "w", tocsin.JobOutcome{Failed: true, Error: "gave up"})
		jobs, _ = db.Jobs().ClaimJobs(ctx, claimAll("w", clock.Now(), time.Minute, 10, nil))
		if len(jobs) != 1 {
			t.Fatalf("claimed %+v; want Slack's resolved", jobs)
		}
		db.Jobs().CompleteJob(ctx, jobs[0], "w", tocsin.JobOutcome{})
		if n, _ := db.Jobs().PendingJobs(ctx); n != 0 {
			t.Fatalf("pending %d; a failed delivery is not pending", n)
		}
		if _, err := db.Incidents().Redeliver(ctx, id, "webhook", tocsin.Actor{Name: "dana"}); tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
			t.Fatalf("redeliver without failures: %v", err)
		}
		if n, err := db.Incidents().Redeliver(ctx, id, "slack", tocsin.Actor{Name: "dana"}); n != 1 || err != nil {
			t.Fatalf("redeliver: %d %v", n, err)
		}
		jobs, _ = db.Jobs().ClaimJobs(ctx, claimAll("w", clock.Now(), time.Minute, 10, nil))
		if len(jobs) != 1 || jobs[0].Attempts != 1 {
			t.Fatalf("redelivered job: %+v", jobs)
		}
	})

	t.Run("JobsCancelledWhileRunningKeepTheirOutcome", func(t *testing.T) {
		db, clock := open(t, nil)
		res, _ := db.Incidents().Ingest(ctx, []*tocsin.Alert{NewAlert("g", "a", tocsin.AlertFiring, "critical")},
			tocsin.IngestOptions{Quiet: true, OnCall: &tocsin.OnCallOptions{Provider: "pagerduty"}})
		id := res[0].IncidentID
		jobs, _ := db.Jobs().ClaimJobs(ctx, claimAll("w", clock.Now(), time.Minute, 10, nil))
		if len(jobs) != 1 || jobs[0].Kind != tocsin.JobEscalate {
			t.Fatalf("claimed %+v", jobs)
		}
		// Resolved while the provider is being called.
		db.Incidents().Resolve(ctx, id, tocsin.Actor{Name: "a"})
		ref := `{"provider":"pagerduty","ref":"tocsin-x"}`
		err := db.Jobs().CompleteJob(ctx, jobs[0], "w", tocsin.JobOutcome{RetryAt: clock.Now().Add(time.Minute),
			Ref: &tocsin.ChannelRef{IncidentID: id, Channel: tocsin.OnCallRefChannel + "pagerduty", Ref: ref}})
		if err != nil {
			t.Fatalf("a cancelled job's outcome must be recorded: %v", err)
		}
		jobs, _ = db.Jobs().ClaimJobs(ctx, claimAll("w", clock.Now().Add(time.Hour), time.Minute, 10, nil))
		got := map[string]int{}
		for _, j := range jobs {
			got[j.Kind]++
		}
		if got[tocsin.JobDeescalate] != 1 || got[tocsin.JobEscalate] != 0 {
			t.Fatalf("claimed %v; want the resolve at the provider, and the cancelled job not re-armed", got)
		}
	})

	runIntake(t, open)
	runResponsePlans(t, open)
	runRecord(t, open)

	t.Run("SecretIsStable", func(t *testing.T) {
		db, _ := open(t, nil)
		a, err := db.Secrets().Secret(ctx, "ack-signing-key")
		if err != nil || len(a) != 64 {
			t.Fatalf("secret: %q %v", a, err)
		}
		b, _ := db.Secrets().Secret(ctx, "ack-signing-key")
		if a != b {
			t.Fatal("secret changed between reads")
		}
	})
}

// NewAlert returns an Alertmanager-like alert for tests.
func NewAlert(group, fingerprint, status, severity string) *tocsin.Alert {
	return &tocsin.Alert{
		Source: tocsin.SourceAlertmanager, DedupKey: group, Fingerprint: fingerprint, Status: status, Severity: severity,
		Title: "Alert " + fingerprint, Labels: map[string]string{"alertname": "Test", "fp": fingerprint},
		Raw: json.RawMessage(`{"receiver":"test","status":"` + status + `"}`),
	}
}

func kinds(events []*tocsin.TimelineEvent) string {
	s := ""
	for i, e := range events {
		if i > 0 {
			s += ","
		}
		s += e.Kind
	}
	return s
}

// claimAll claims any kind, skipping the busy lanes.
func claimAll(owner string, now time.Time, lease time.Duration, limit int, busy []string) tocsin.JobClaim {
	c := tocsin.JobClaim{Owner: owner, Now: now, Lease: lease, Limit: limit, Slots: map[string]int{}}
	for _, l := range busy {
		c.Slots[l] = 0
	}
	return c
}
