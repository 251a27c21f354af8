package engage_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tocsin"
	"tocsin/engage"
	"tocsin/engine"
	"tocsin/notify"
	"tocsin/oncall"
	"tocsin/store"
	"tocsin/store/storetest"
)

// rig is the paging engine on a real SQLite store with a worker running
// stage, page and hand-off jobs, a clock in the test's hands, a fake SMS
// provider and a recording email channel.
type rig struct {
	t     *testing.T
	db    *store.DB
	clock *storetest.Clock
	w     *engine.Worker
	e     *engage.Engine
	sms   *fakeSMS
	mail  *recorder
	// incidents counts the incidents engage opened.
	incidents int
	// notified counts the notify jobs run (team channels told).
	notified atomic.Int32
}

// recorder is a team channel that records what it is asked to send.
type recorder struct {
	mu      sync.Mutex
	msgs    []*notify.Message
	notices []*notify.Notice
}

func (r *recorder) Name() string { return "email" }

func (r *recorder) Send(ctx context.Context, m *notify.Message) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return "", nil
}

func (r *recorder) SendNotice(ctx context.Context, n *notify.Notice) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notices = append(r.notices, n)
	return nil
}

// to lists the messages sent to one address.
func (r *recorder) to(addr string) []*notify.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*notify.Message
	for _, m := range r.msgs {
		if m.Destination["to"] == addr {
			out = append(out, m)
		}
	}
	return out
}

// noticesTo lists the notices sent to one address.
func (r *recorder) noticesTo(addr string) []*notify.Notice {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*notify.Notice
	for _, n := range r.notices {
		if n.To == addr {
			out = append(out, n)
		}
	}
	return out
}

func (f *fakeSMS) to(number string) []*notify.SMS {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*notify.SMS
	for _, m := range f.sent {
		if m.To == number {
			out = append(out, m)
		}
	}
	return out
}

func newRig(t *testing.T, start time.Time) *rig {
	t.Helper()
	r := &rig{t: t, clock: storetest.NewClock(start), sms: &fakeSMS{name: "twilio"}, mail: &recorder{}}
	r.db = storetest.Open(t, storetest.SQLiteURL(t), store.Options{Now: r.clock.Now, Wake: func() {
		if r.w != nil {
			r.w.Wake()
		}
	}})
	r.e = &engage.Engine{Store: r.db, SMS: []notify.SMSSender{r.sms}, Channels: map[string]notify.Channel{"email": r.mail},
		MaxPerNumberPerHour: 1000, Now: r.clock.Now, Backoff: func(int, time.Duration, float64) time.Duration { return 0 }}
	r.w = engine.NewWorker(r.db, map[string]engine.Handler{
		tocsin.JobStage:       engine.HandlerFunc(r.e.HandleStage),
		tocsin.JobPage:        engine.HandlerFunc(r.e.HandlePage),
		tocsin.JobHandOff:     engine.HandlerFunc(r.e.HandleHandOff),
		tocsin.JobHandOffNote: engine.HandlerFunc(r.e.HandleHandOffNote),
		tocsin.JobEscalate:    engine.HandlerFunc(r.e.HandleEscalate),
		tocsin.JobNotify: engine.HandlerFunc(func(context.Context, *tocsin.Job) tocsin.JobOutcome {
			r.notified.Add(1)
			return tocsin.JobOutcome{}
		}),
	})
	r.w.Now, r.w.PollInterval = r.clock.Now, 10*time.Millisecond
	run, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.w.Run(run) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// contact stores a contact and activates every channel.
func (r *rig) contact(c *tocsin.Contact) {
	r.t.Helper()
	ctx := context.Background()
	if _, err := r.db.PutContact(ctx, c); err != nil {
		r.t.Fatal(err)
	}
	for _, ch := range c.Channels {
		code, err := r.db.StartActivation(ctx, c.Alias, ch.Name)
		if err != nil {
			r.t.Fatal(err)
		}
		if err := r.db.Activate(ctx, c.Alias, ch.Name, code); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *rig) plan(p *tocsin.EscalationPlan) {
	r.t.Helper()
	if _, err := r.db.PutEscalationPlan(context.Background(), p); err != nil {
		r.t.Fatal(err)
	}
}

// engage opens an incident and engages plan for it.
func (r *rig) engage(plan string) string {
	r.t.Helper()
	ctx := context.Background()
	r.incidents++ // each call opens its own incident
	key := fmt.Sprintf("%s-%d", plan, r.incidents)
	res, err := r.db.Ingest(ctx, []*tocsin.Alert{storetest.NewAlert(key, key, tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.db.StartEngagement(ctx, "", res[0].IncidentID, plan, "", false); err != nil {
		r.t.Fatal(err)
	}
	r.settle()
	return res[0].IncidentID
}

// advance moves the clock and waits until every job due by then has run.
func (r *rig) advance(d time.Duration) {
	r.clock.Add(d)
	r.w.Wake()
	r.settle()
}

// settle waits until no job is due or running.
func (r *rig) settle() {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	quiet := 0
	for time.Now().Before(deadline) {
		var n int
		if err := r.db.SQL().QueryRow(`SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND (due_at <= $1 OR lease_owner IS NOT NULL)`, r.clock.Now().UnixMicro()).Scan(&n); err != nil {
			r.t.Fatal(err)
		}
		if n == 0 {
			if quiet++; quiet == 3 {
				return
			}
		} else {
			quiet = 0
		}
		r.w.Wake()
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Fatalf("jobs still due after 10s")
}

func (r *rig) timeline(id string) []string {
	inc, err := r.db.FindIncident(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, e := range inc.Timeline {
		out = append(out, e.Message)
	}
	return out
}

func (r *rig) hasEvent(id, contains string) bool {
	for _, m := range r.timeline(id) {
		if strings.Contains(m, contains) {
			return true
		}
	}
	return false
}

func (r *rig) pages(id string) []*tocsin.Page {
	engs, err := r.db.Engagements(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []*tocsin.Page
	for _, e := range engs {
		out = append(out, e.Pages...)
	}
	return out
}

func seconds(n int) tocsin.Duration { return tocsin.Duration(time.Duration(n) * time.Second) }

func mins(n int) tocsin.Duration { return tocsin.Duration(time.Duration(n) * time.Minute) }

// Defect 1: a contact's engagement plan runs on after the escalation plan
// ends; an acknowledgement cancels what is left, on the timeline.
func TestEngagePageDueAfterTheLastStageIsSent(t *testing.T) {
	r := newRig(t, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	r.contact(&tocsin.Contact{Alias: "ada", Name: "Ada", Channels: []tocsin.ContactChannel{
		{Name: "mail", Type: "email", Address: "ada@example.com"}, {Name: "m", Type: "sms", Address: "+15550001001"}},
		EngagementPlan: []tocsin.EngagementStep{{Channel: "mail", After: seconds(5)}, {Channel: "m", After: seconds(30)}}})
	r.plan(&tocsin.EscalationPlan{Name: "short", Stages: []tocsin.Stage{{Duration: seconds(2), Targets: []tocsin.Target{{Contact: "ada", Essential: true}}}}})

	id := r.engage("short")
	r.advance(3 * time.Second) // the plan has run every stage
	if !r.hasEvent(id, "ran every stage") {
		t.Fatalf("timeline: %q", r.timeline(id))
	}
	r.advance(3 * time.Second) // 6 s: the 5 s email is due
	if n := len(r.mail.to("ada@example.com")); n != 1 {
		t.Fatalf("email due after the last stage: %d sent; pages %+v", n, r.pages(id))
	}
	// Acknowledged before the 30 s SMS: it is cancelled, and the timeline says why.
	if _, _, err := r.db.Acknowledge(context.Background(), id, tocsin.Actor{Name: "ada", Via: "api"}); err != nil {
		t.Fatal(err)
	}
	r.advance(time.Minute)
	if n := len(r.sms.to("+15550001001")); n != 0 {
		t.Fatalf("SMS after the acknowledgement: %d", n)
	}
	for _, p := range r.pages(id) {
		if p.Status == tocsin.PagePending {
			t.Fatalf("page left pending: %+v", p)
		}
	}
	if !r.hasEvent(id, "cancelled: incident acknowledged") {
		t.Fatalf("no cancellation on the timeline: %q", r.timeline(id))
	}
}

// Defect 2: a contact's test page runs the contact's whole engagement plan.
func TestEngageContactTestPageRunsTheWholeEngagementPlan(t *testing.T) {
	r := newRig(t, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	r.contact(&tocsin.Contact{Alias: "natsu", Name: "Natsu", Channels: []tocsin.ContactChannel{
		{Name: "mail", Type: "email", Address: "natsu@example.com"}, {Name: "m", Type: "sms", Address: "+15550001002"}},
		EngagementPlan: []tocsin.EngagementStep{{Channel: "mail"}, {Channel: "m", After: mins(10)}}})
	open := func(ctx context.Context, title string) (string, error) {
		res, err := r.db.Ingest(ctx, []*tocsin.Alert{storetest.NewAlert("t", "test", tocsin.AlertFiring, "info")}, tocsin.IngestOptions{Quiet: true})
		if err != nil {
			return "", err
		}
		return res[0].IncidentID, nil
	}
	id, err := r.e.TestPage(context.Background(), open, "contact", "natsu")
	if err != nil {
		t.Fatal(err)
	}
	r.settle()
	mail := r.mail.to("natsu@example.com")
	if len(mail) != 1 || !strings.Contains(mail[0].Destination["subject"], "TEST") {
		t.Fatalf("test email: %+v", mail)
	}
	r.advance(10*time.Minute + time.Second)
	sms := r.sms.to("+15550001002")
	if len(sms) != 1 || !strings.Contains(sms[0].Body, "TEST") {
		t.Fatalf("test SMS at minute 10: %+v; timeline %q", sms, r.timeline(id))
	}
	if !r.hasEvent(id, "TEST") {
		t.Fatalf("test not marked on the timeline: %q", r.timeline(id))
	}
}

// Defect 4: the same channel twice makes two pages; retry_interval
// re-pages a channel until acknowledged, a bounded number of times.
func TestEngageSameChannelTwiceAndRetryInterval(t *testing.T) {
	r := newRig(t, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	r.contact(&tocsin.Contact{Alias: "bo", Name: "Bo", Channels: []tocsin.ContactChannel{{Name: "mail", Type: "email", Address: "bo@example.com"}},
		EngagementPlan: []tocsin.EngagementStep{{Channel: "mail"}, {Channel: "mail", After: mins(3)}}})
	r.contact(&tocsin.Contact{Alias: "cy", Name: "Cy", Channels: []tocsin.ContactChannel{{Name: "m", Type: "sms", Address: "+15550001003"}},
		EngagementPlan: []tocsin.EngagementStep{{Channel: "m", RetryInterval: mins(2), Retries: 2}}})
	r.plan(&tocsin.EscalationPlan{Name: "both", Stages: []tocsin.Stage{{Duration: mins(30), Targets: []tocsin.Target{{Contact: "bo", Essential: true}, {Contact: "cy"}}}}})
	id := r.engage("both")
	r.advance(3*time.Minute + time.Second)
	if n := len(r.mail.to("bo@example.com")); n != 2 {
		t.Fatalf("email at 0 and at 3 minutes: %d sent", n)
	}
	// Cy: at 0, 2 and 4 minutes (two retries), then no more.
	if n := len(r.sms.to("+15550001003")); n != 2 {
		t.Fatalf("cy's SMS by minute 3: %d", n)
	}
	r.advance(10 * time.Minute)
	if n := len(r.sms.to("+15550001003")); n != 3 {
		t.Fatalf("cy's SMS with 2 retries: %d", n)
	}

	// A retry stops once the contact acknowledges.
	id2 := r.engage("both")
	var first *tocsin.Page
	for _, p := range r.pages(id2) {
		if p.Contact == "cy" && p.Status == tocsin.PageSent {
			first = p
		}
	}
	if first == nil {
		t.Fatalf("cy not paged: %+v", r.pages(id2))
	}
	if _, err := r.db.AcknowledgePage(context.Background(), first.ID, "sms"); err != nil {
		t.Fatal(err)
	}
	r.advance(10 * time.Minute)
	if n := len(r.sms.to("+15550001003")); n != 4 {
		t.Fatalf("cy re-paged after acknowledging: %d SMS in all", n)
	}
	_ = id
}

// Defect 6: a contact who acknowledged is not paged again for that
// incident, not even by a repeat of the plan.
func TestEngageAcknowledgedContactIsNotPagedAgainOnRepeat(t *testing.T) {
	r := newRig(t, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	r.contact(&tocsin.Contact{Alias: "hal", Name: "Hal", Channels: []tocsin.ContactChannel{
		{Name: "mail", Type: "email", Address: "hal@example.com"}, {Name: "m", Type: "sms", Address: "+15550001004"}}})
	r.contact(&tocsin.Contact{Alias: "ivo", Name: "Ivo", Channels: []tocsin.ContactChannel{{Name: "m", Type: "sms", Address: "+15550001005"}}})
	r.plan(&tocsin.EscalationPlan{Name: "rep", Repeat: 1, Stages: []tocsin.Stage{
		{Duration: mins(5), Targets: []tocsin.Target{{Contact: "hal"}}},
		{Duration: mins(5), Targets: []tocsin.Target{{Contact: "ivo", Essential: true}}}}})
	id := r.engage("rep")
	var halSMS *tocsin.Page
	for _, p := range r.pages(id) {
		if p.Contact == "hal" && p.ChannelName == "m" {
			halSMS = p
		}
	}
	res, err := r.db.AcknowledgePage(context.Background(), halSMS.ID, "sms")
	if err != nil || res.Stopped {
		t.Fatalf("non-essential ack: %+v %v", res, err)
	}
	r.advance(5*time.Minute + time.Second) // stage 2: ivo
	r.advance(5*time.Minute + time.Second) // repeat, stage 1: hal again?
	r.advance(5*time.Minute + time.Second) // repeat, stage 2
	if n := len(r.mail.to("hal@example.com")) + len(r.sms.to("+15550001004")); n != 2 {
		t.Fatalf("hal was paged %d times (2 before acknowledging); timeline %q", n, r.timeline(id))
	}
	if n := len(r.sms.to("+15550001005")); n != 2 {
		t.Fatalf("ivo paged %d times, want 2 (plan and repeat)", n)
	}
	if !r.hasEvent(id, "hal acknowledged earlier") {
		t.Fatalf("timeline does not say why hal was skipped: %q", r.timeline(id))
	}
}

// Defect 3 (second guard): plans that engage each other in a loop, stored
// before the check existed, stop nesting with a reason on the timeline.
func TestEngageNestedPlanLoopIsBounded(t *testing.T) {
	r := newRig(t, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	r.contact(&tocsin.Contact{Alias: "jo", Name: "Jo", Channels: []tocsin.ContactChannel{{Name: "m", Type: "sms", Address: "+15550001006"}}})
	r.plan(&tocsin.EscalationPlan{Name: "lb", Stages: []tocsin.Stage{{Duration: mins(1), Targets: []tocsin.Target{{Contact: "jo"}}}}})
	r.plan(&tocsin.EscalationPlan{Name: "la", Stages: []tocsin.Stage{{Duration: mins(1), Targets: []tocsin.Target{{EscalationPlan: "lb"}}}}})
	// Make lb engage la behind the store's back, as an old database might.
	if _, err := r.db.SQL().Exec(`UPDATE escalation_plans SET spec = $1 WHERE name = 'lb'`,
		`{"name":"lb","stages":[{"duration":"1m","targets":[{"contact":"jo"},{"escalation_plan":"la"}]}]}`); err != nil {
		t.Fatal(err)
	}
	id := r.engage("la")
	r.advance(time.Minute)
	engs, err := r.db.Engagements(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(engs) != 2 {
		t.Fatalf("engagements: %d, want la and lb only", len(engs))
	}
	if !r.hasEvent(id, "la → lb → la") {
		t.Fatalf("timeline does not name the loop: %q", r.timeline(id))
	}
}

// Defect 5: adding or deleting an override, or changing a rotation,
// re-arms the schedule's hand-off timer at once; the notice is in the
// contact's own time zone and reads as a notice.
func TestHandOffReArmedByOverridesAndRotations(t *testing.T) {
	r := newRig(t, time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	r.contact(&tocsin.Contact{Alias: "ann", Name: "Ann", TimeZone: "Asia/Tokyo", Channels: []tocsin.ContactChannel{{Name: "m", Type: "sms", Address: "+15550001010"}}})
	r.contact(&tocsin.Contact{Alias: "ben", Name: "Ben", TimeZone: "America/New_York", Channels: []tocsin.ContactChannel{{Name: "mail", Type: "email", Address: "ben@example.com"}}})
	rot := &oncall.Rotation{Name: "r", Members: []string{"ann"}, Start: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC),
		TimeZone: "UTC", Recurrence: oncall.Recurrence{Type: "weekly", WeeklySettings: []oncall.WeeklySetting{{DayOfWeek: "MON", HandOffTime: "09:00"}}}}
	if _, err := r.db.PutRotation(ctx, rot); err != nil {
		t.Fatal(err)
	}
	if _, err := r.db.PutSchedule(ctx, &tocsin.Schedule{Name: "s", Rotations: []string{"r"}}); err != nil {
		t.Fatal(err)
	}
	r.settle() // the timer now sleeps until 10:00 (its hourly re-check)
	// At 09:10 an override puts ben on call from 09:20 to 09:40.
	r.advance(10 * time.Minute)
	if _, err := r.db.AddOverride(ctx, &oncall.Override{Rotation: "r", Members: []string{"ben"},
		Start: time.Date(2026, 11, 24, 9, 20, 0, 0, time.UTC), End: time.Date(2026, 11, 24, 9, 40, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	r.settle()
	r.advance(10*time.Minute + time.Second) // 09:20:01
	mail := r.mail.noticesTo("ben@example.com")
	if len(mail) != 1 {
		t.Fatalf("ben's hand-off notice at 09:20: %d", len(mail))
	}
	// In Ben's zone (New York, UTC-5) and a notice, not an incident.
	if body := mail[0].Text; !strings.Contains(body, "04:20") || !strings.Contains(body, "EST") {
		t.Fatalf("ben's notice is not in his time zone: %q", body)
	}
	if n := len(r.mail.to("ben@example.com")); n != 0 {
		t.Fatalf("ben's notice was sent as %d incident messages", n)
	}
	ann := r.sms.to("+15550001010")
	if len(ann) != 1 || !strings.Contains(ann[0].Body, "18:20") {
		t.Fatalf("ann's notice (Tokyo, 18:20): %+v", ann)
	}
	// Deleting an override re-arms too: a second override, deleted, brings
	// ann back at once.
	ovs, _ := r.db.ListOverrides(ctx, "r", r.clock.Now().Add(-time.Hour), r.clock.Now().Add(time.Hour))
	if err := r.db.DeleteOverride(ctx, ovs[0].ID); err != nil {
		t.Fatal(err)
	}
	r.advance(time.Second)
	if n := len(r.sms.to("+15550001010")); n != 2 {
		t.Fatalf("ann's notice after the override was deleted: %d", n)
	}
	// A changed rotation re-arms: ben becomes the only member at once.
	rot.Members = []string{"ben"}
	if _, err := r.db.PutRotation(ctx, rot); err != nil {
		t.Fatal(err)
	}
	r.advance(time.Second)
	if n := len(r.mail.noticesTo("ben@example.com")); n != 3 { // in, out (delete), in (rotation)
		t.Fatalf("ben's notices after the rotation changed: %d", n)
	}
}

// Issue 9 defect 7: an SMS sent through a provider whose replies cannot
// reach tocsin (the SNS fallback) gives the ack link, not a reply code.
func TestEngageSMSThroughTheFallbackGivesTheAckLink(t *testing.T) {
	r := newRig(t, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	twilio := &fakeSMS{name: "twilio", replies: true, failures: 1, permanent: true}
	sns := &fakeSMS{name: "sns"}
	r.e.SMS = []notify.SMSSender{twilio, sns}
	r.e.AckURL = func(id string) string { return "https://tocsin.example.com/ack/" + id }
	r.contact(&tocsin.Contact{Alias: "kai", Name: "Kai", Channels: []tocsin.ContactChannel{{Name: "m", Type: "sms", Address: "+15550001020"}}})
	r.plan(&tocsin.EscalationPlan{Name: "k", Stages: []tocsin.Stage{{Duration: mins(5), Targets: []tocsin.Target{{Contact: "kai", Essential: true}}}}})
	id := r.engage("k")
	got := sns.to("+15550001020")
	if len(got) != 1 || strings.Contains(got[0].Body, "Reply") || !strings.Contains(got[0].Body, "Acknowledge: https://tocsin.example.com/ack/"+id) {
		t.Fatalf("SMS through SNS: %+v", got)
	}
	r.advance(time.Second) // a new incident
	// Through Twilio the reply code stays.
	twilio.mu.Lock()
	twilio.failures = 0
	twilio.mu.Unlock()
	r.engage("k")
	if got := twilio.to("+15550001020"); len(got) != 1 || !strings.Contains(got[0].Body, "Reply ") {
		t.Fatalf("SMS through Twilio: %+v", got)
	}
}

// Issue 9 defect 7: activation codes sent to a number count toward its
// hourly page limit.
func TestEngageActivationCodesCountTowardTheNumbersLimit(t *testing.T) {
	r := newRig(t, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	r.e.MaxPerNumberPerHour = 2
	r.contact(&tocsin.Contact{Alias: "mo", Name: "Mo", Channels: []tocsin.ContactChannel{{Name: "m", Type: "sms", Address: "+15550001050"}}})
	r.plan(&tocsin.EscalationPlan{Name: "m", Stages: []tocsin.Stage{{Duration: mins(5), Targets: []tocsin.Target{{Contact: "mo", Essential: true}}}}})
	r.engage("m") // the code and this page: the limit
	r.advance(time.Second)
	id := r.engage("m")
	if n := len(r.sms.to("+15550001050")); n != 1 {
		t.Fatalf("pages to a number that was sent its activation code: %d, want 1", n)
	}
	if ps := r.pages(id); len(ps) != 1 || ps[0].Status != tocsin.PageRateLimited {
		t.Fatalf("second page: %+v", ps[0])
	}
}

// escalate opens an incident with ack-or-escalate armed for tocsin's own
// plans (oncall.provider: tocsin), plan being ?oncall_escalation_plan=.
func (r *rig) escalate(plan string, wait time.Duration) string {
	r.t.Helper()
	r.incidents++
	key := fmt.Sprintf("escalate-%d", r.incidents)
	res, err := r.db.Ingest(context.Background(), []*tocsin.Alert{storetest.NewAlert(key, key, tocsin.AlertFiring, "critical")},
		tocsin.IngestOptions{OnCall: &tocsin.OnCallOptions{Provider: engage.OnCallProvider, Target: plan, Wait: wait}})
	if err != nil {
		r.t.Fatal(err)
	}
	r.settle()
	return res[0].IncidentID
}

// The ack-or-escalate timer of oncall.provider tocsin engages an
// escalation plan itself once the wait ends: the request's plan, else the
// default; nobody is paged before, nor after an acknowledgement.
func TestEngageEscalateStartsThePlanAfterTheWait(t *testing.T) {
	r := newRig(t, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	r.e.DefaultPlan = "default"
	r.contact(&tocsin.Contact{Alias: "ann", Channels: []tocsin.ContactChannel{{Name: "m", Type: tocsin.ChannelSMS, Address: "+15550000101"}}})
	r.contact(&tocsin.Contact{Alias: "ben", Channels: []tocsin.ContactChannel{{Name: "m", Type: tocsin.ChannelSMS, Address: "+15550000102"}}})
	r.plan(&tocsin.EscalationPlan{Name: "default", Stages: []tocsin.Stage{{Duration: mins(5), Targets: []tocsin.Target{{Contact: "ann", Essential: true}}}}})
	r.plan(&tocsin.EscalationPlan{Name: "other", Stages: []tocsin.Stage{{Duration: mins(5), Targets: []tocsin.Target{{Contact: "ben", Essential: true}}}}})

	id := r.escalate("", 5*time.Minute)
	r.advance(4 * time.Minute)
	if n := len(r.sms.to("+15550000101")); n != 0 {
		t.Fatalf("paged %d times during the wait", n)
	}
	r.advance(time.Minute + time.Second)
	if n := len(r.sms.to("+15550000101")); n != 1 {
		t.Fatalf("default plan: %d pages after the wait, want 1", n)
	}
	for _, want := range []string{"Not acknowledged: escalated to tocsin (esc-" + id + "-default)", "Engaging escalation plan default"} {
		if !r.hasEvent(id, want) {
			t.Fatalf("timeline lacks %q: %v", want, r.timeline(id))
		}
	}

	other := r.escalate("other", 0)
	if n := len(r.sms.to("+15550000102")); n != 1 {
		t.Fatalf("?oncall_escalation_plan=other: %d pages, want 1", n)
	}
	if !r.hasEvent(other, "Engaging escalation plan other") {
		t.Fatalf("timeline: %v", r.timeline(other))
	}

	acked := r.escalate("", 5*time.Minute)
	if _, _, err := r.db.Acknowledge(context.Background(), acked, tocsin.Actor{Name: "ann", Via: "api"}); err != nil {
		t.Fatal(err)
	}
	r.advance(6 * time.Minute)
	if n := len(r.sms.to("+15550000101")); n != 1 {
		t.Fatalf("paged after the acknowledgement: %d pages", n)
	}
	if engs, _ := r.db.Engagements(context.Background(), acked); len(engs) != 0 {
		t.Fatalf("engaged after the acknowledgement: %d engagements", len(engs))
	}
}

// An escalation that cannot engage a plan (none configured, or gone) is
// itself an alert: it fails at once, on the timeline, counted, and the
// team's channels are told.
func TestEngageEscalateWithoutAPlanFails(t *testing.T) {
	r := newRig(t, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	var observed []string
	r.e.Observe = func(channel, result string) {
		mu.Lock()
		defer mu.Unlock()
		observed = append(observed, channel+" "+result)
	}
	for _, c := range []struct{ plan, want string }{
		{"", "escalation to tocsin failed after 1 attempt(s): no escalation plan: set oncall.escalation_plan or ?oncall_escalation_plan="},
		{"gone", `escalation to tocsin failed after 1 attempt(s): escalation plan "gone" does not exist`},
	} {
		id := r.escalate(c.plan, 0)
		if !r.hasEvent(id, c.want) {
			t.Fatalf("plan %q: timeline lacks %q: %v", c.plan, c.want, r.timeline(id))
		}
		var failed int
		if err := r.db.SQL().QueryRow(`SELECT COUNT(*) FROM jobs WHERE incident_id = $1 AND kind = $2 AND state = 'failed'`, id, tocsin.JobEscalate).Scan(&failed); err != nil {
			t.Fatal(err)
		}
		if failed != 1 {
			t.Fatalf("plan %q: %d failed escalations kept for redelivery, want 1", c.plan, failed)
		}
	}
	if n := r.notified.Load(); n != 2 {
		t.Fatalf("team channels told %d times, want 2", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(observed, ",") != "tocsin failed,tocsin failed" {
		t.Fatalf("observed %v", observed)
	}
}
