package engage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/engage"
	"tocsin/notify"
	"tocsin/store"
	"tocsin/store/storetest"
)

// Issue 12: an approver is told on their contact channels the way other
// notices reach a contact — the first activated one that is not a call —
// and the notice is recorded once on their record, a re-run sending
// nothing more.
func TestNotifyContactTellsAnApproverOnce(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failures  int
		permanent bool
		want      string // the notice's status on the record
		sent      int
	}{
		{"sent", 0, false, tocsin.NoticeSent, 1},
		{"sent after a retry", 1, false, tocsin.NoticeSent, 1},
		{"refused by the provider", 1, true, tocsin.NoticeFailed, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sms := &fakeSMS{name: "twilio", failures: tc.failures, permanent: tc.permanent}
			clock := storetest.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
			db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{Now: clock.Now})
			ctx := context.Background()
			if _, err := db.OnCall().PutContact(ctx, &tocsin.Contact{Alias: "dee", Name: "Dee", Channels: []tocsin.ContactChannel{
				{Name: "phone", Type: tocsin.ChannelVoice, Address: "+15550000040"},
				{Name: "unactivated", Type: tocsin.ChannelSMS, Address: "+15550000041"},
				{Name: "mobile", Type: tocsin.ChannelSMS, Address: "+15550000042"},
			}}); err != nil {
				t.Fatal(err)
			}
			for _, ch := range []string{"phone", "mobile"} {
				code, _ := db.OnCall().StartActivation(ctx, "dee", ch)
				if err := db.OnCall().Activate(ctx, "dee", ch, code); err != nil {
					t.Fatal(err)
				}
			}
			args := tocsin.MustJSON(tocsin.RunbookNoticeArgs{ExecutionID: "ex1", Seq: 2, Contact: "dee", Message: "restart db?"})
			if err := db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: tocsin.JobRunbookNotice, Lane: tocsin.RunbookLane, Args: args, DueAt: clock.Now()}); err != nil {
				t.Fatal(err)
			}
			e := &engage.Engine{Store: engageStore(db), SMS: []notify.SMSSender{sms}, Now: clock.Now, Backoff: func(int, time.Duration, float64) time.Duration { return time.Second }}
			const text = "Runbook check waits for your approval at step approve: restart db?"
			for range 4 {
				jobs, err := db.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "w", Now: clock.Now(), Lease: 10 * time.Second, Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				for _, j := range jobs {
					if err := db.Jobs().CompleteJob(ctx, j, "w", e.NotifyContact(ctx, j, "dee", "Runbook check waits for your approval", text)); err != nil {
						t.Fatal(err)
					}
				}
				clock.Add(time.Minute)
			}
			if n := sms.count(); n != tc.sent || (n == 1 && (sms.sent[0].To != "+15550000042" || sms.sent[0].Body != text)) {
				t.Fatalf("sent %d: %+v", n, sms.sent)
			}
			ns, err := db.OnCall().ContactNotices(ctx, "dee")
			if err != nil {
				t.Fatal(err)
			}
			if len(ns) != 1 || ns[0].Kind != tocsin.JobRunbookNotice || ns[0].Channel != "mobile" || ns[0].Status != tc.want || ns[0].Text != text {
				t.Fatalf("dee's record: %+v", ns)
			}
			if tc.want == tocsin.NoticeFailed && !strings.Contains(ns[0].Error, "down") {
				t.Fatalf("failure not recorded: %+v", ns[0])
			}
		})
	}
}

// A contact that does not exist (an approver who is a user, or was
// deleted) ends the job with nothing sent.
func TestNotifyContactUnknown(t *testing.T) {
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{})
	sms := &fakeSMS{name: "twilio"}
	e := &engage.Engine{Store: engageStore(db), SMS: []notify.SMSSender{sms}, Now: time.Now, Backoff: func(int, time.Duration, float64) time.Duration { return 0 }}
	out := e.NotifyContact(context.Background(), &tocsin.Job{ID: "j", Kind: tocsin.JobRunbookNotice, Attempts: 1}, "nobody", "s", "t")
	if out.Notice != nil || !out.RetryAt.IsZero() || sms.count() != 0 {
		t.Fatalf("outcome %+v", out)
	}
}
