package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/notify"
	"tocsin/notify/notifytest"
)

// deliveries is a DeliverySource holding one sample delivery.
type deliveries struct{ d *tocsin.Delivery }

func (s deliveries) LoadDelivery(context.Context, string, string, string) (*tocsin.Delivery, error) {
	return s.d, nil
}

// A user template that fails for a message does not silence the channel:
// the built-in template is sent, and the failure is on the timeline and in
// the log.
func TestDispatcherRecordsTemplateFallback(t *testing.T) {
	path := writeTemplate(t, `{{ upper .alerts }}`)
	tmpl, err := notify.NewTemplate("text.tmpl", path, false)
	if err != nil {
		t.Fatal(err)
	}
	var sent string
	ch := notify.ChannelFunc{ChannelName: "viber", Func: func(_ context.Context, msg *notify.Message) (string, error) {
		out, err := tmpl.Execute(msg)
		sent = out
		return "ref", err
	}}
	sample := notifytest.SampleMessage(notify.EventOpened)
	var logs bytes.Buffer
	d := &notify.Dispatcher{
		Source:   deliveries{&tocsin.Delivery{Incident: sample.Incident, Alert: sample.Alert, Payload: sample.Payload}},
		Channels: map[string]notify.Channel{"viber": ch},
		AckURL:   func(string) string { return "https://tocsin.example.com/api/ack/inc_01?sig=x" },
		Now:      func() time.Time { return time.Date(2026, 3, 1, 12, 36, 0, 0, time.UTC) },
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	}
	args, _ := json.Marshal(tocsin.NotifyArgs{Channel: "viber", Event: notify.EventOpened})
	out := d.HandleNotify(context.Background(), &tocsin.Job{ID: "job1", Kind: tocsin.JobNotify, IncidentID: "inc_01", Args: args, Attempts: 1})

	if !strings.Contains(sent, "Incident opened: "+sample.Incident.Title) || !strings.Contains(sent, "/api/ack/inc_01") {
		t.Errorf("sent text is not the built-in one:\n%s", sent)
	}
	var kinds []string
	var warning *tocsin.TimelineEvent
	for _, ev := range out.Events {
		kinds = append(kinds, ev.Kind)
		if ev.Kind == tocsin.EventTemplateFailed {
			warning = ev
		}
	}
	if got := strings.Join(kinds, ","); got != "notification_sent,template_failed" {
		t.Fatalf("timeline kinds = %s", got)
	}
	if !strings.Contains(warning.Message, "viber: template user.tmpl failed") || !strings.Contains(warning.Message, "wrong type") ||
		!strings.Contains(warning.Message, "built-in template") || warning.Actor != "viber" {
		t.Errorf("timeline event = %+v", warning)
	}
	if !strings.Contains(logs.String(), "template failed") || !strings.Contains(logs.String(), "user.tmpl") {
		t.Errorf("log lacks the template error:\n%s", logs.String())
	}
}
