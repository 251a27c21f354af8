package notify

import (
	"embed"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"tocsin"
	"tocsin/ingest"
)

// samplePayloads are one real body of each source (copies of fixtures in
// ingest/testdata), decoded by the real ingest decoders for CheckTemplate.
//
//go:embed samples/*.json
var samplePayloads embed.FS

// sampleSources pairs each source with its sample body and decoder, in the
// order CheckTemplate reports them.
var sampleSources = []struct {
	name, file string
	decode     ingest.Decoder
}{
	{tocsin.SourceAlertmanager, "alertmanager_firing.json", ingest.Alertmanager},
	{tocsin.SourceGrafana, "grafana_firing.json", ingest.Grafana},
	{tocsin.SourceCloudWatch, "cloudwatch_alarm.json", ingest.CloudWatchAlarm},
	{tocsin.SourceSentry, "sentry_event_alert.json", ingest.Sentry},
	{tocsin.SourcePagerDuty, "pagerduty_trigger.json", ingest.PagerDuty},
	{tocsin.SourceGeneric, "generic.json", ingest.Generic},
	{"versus", "versus_custom.json", ingest.Detect},
}

// Sample is a message about an incident opened from one source's sample
// payload, for checking templates.
type Sample struct {
	// Source names the payload: a tocsin source, or "versus" for Versus
	// Incident's custom JSON on /api/incidents.
	Source  string
	Message *Message
}

// sampleTime is when every sample incident was opened.
var sampleTime = time.Date(2026, 3, 1, 12, 35, 0, 0, time.UTC)

// SampleMessages returns, for every source's sample payload decoded by its
// real ingest decoder, one message per event (opened, renotify,
// acknowledged, resolved), with the incident's status and AckURL as the
// dispatcher sets them.
func SampleMessages() ([]Sample, error) {
	var out []Sample
	for _, src := range sampleSources {
		body, err := samplePayloads.ReadFile("samples/" + src.file)
		if err != nil {
			return nil, fmt.Errorf("read sample %s: %w", src.file, err)
		}
		alerts, err := src.decode(body, sampleTime)
		if err != nil {
			return nil, fmt.Errorf("decode sample %s: %w", src.file, err)
		}
		for _, event := range []string{EventOpened, EventRenotify, EventAcknowledged, EventResolved} {
			out = append(out, Sample{Source: src.name, Message: sampleMessage(event, alerts)})
		}
	}
	return out, nil
}

// sampleMessage builds the message the dispatcher would send about an
// incident opened from alerts.
func sampleMessage(event string, alerts []*tocsin.Alert) *Message {
	policy := tocsin.Policy{Impacts: tocsin.DefaultImpacts()}
	first := alerts[0]
	inc := &tocsin.Incident{
		ID: "inc_sample", Title: first.Title, Summary: first.Description,
		Impact: policy.ImpactFor(first.Severity), Status: tocsin.StatusTriggered,
		Source: first.Source, DedupKey: first.DedupKey, Labels: first.Labels,
		CreatedAt: sampleTime, UpdatedAt: sampleTime,
		AlertCount: len(alerts), OpenAlertCount: len(alerts),
	}
	for i, a := range alerts {
		c := *a
		c.ID, c.IncidentID = fmt.Sprintf("al_sample_%d", i+1), inc.ID
		inc.Alerts = append(inc.Alerts, &c)
	}
	msg := &Message{
		Event: event, Incident: inc, Alert: inc.Alerts[0], Payload: first.Raw,
		IncidentURL: "https://tocsin.example.com/api/v1/incidents/inc_sample",
		DeliveryID:  "dlv_sample", SentAt: sampleTime.Add(time.Second),
	}
	at := sampleTime.Add(5 * time.Minute)
	switch event {
	case EventAcknowledged:
		inc.Status, inc.AckedAt, inc.AckedBy = tocsin.StatusAcknowledged, &at, "alice via slack"
	case EventResolved:
		inc.Status, inc.ResolvedAt, inc.ResolvedBy = tocsin.StatusResolved, &at, "bob via api"
		inc.OpenAlertCount = 0
		for _, a := range inc.Alerts {
			a.Status = tocsin.AlertResolved
		}
	default:
		msg.AckURL = "https://tocsin.example.com/api/ack/inc_sample?exp=1772369700&sig=sample"
	}
	return msg
}

// Check renders t, without its built-in fallback, against SampleMessages
// and returns every failure, joined: one error per source, naming the
// events it failed for. A nil error means the template renders every
// source's payload for every event.
func (t *Template) Check() error {
	samples, err := SampleMessages()
	if err != nil {
		return fmt.Errorf("check template %s: %w", t.name, err)
	}
	type failure struct {
		source, err string
		events      []string
	}
	var failures []*failure
	for _, s := range samples {
		_, err := t.executeMessage(s.Message)
		if err == nil {
			continue
		}
		msg := errors.Unwrap(err).Error()
		var f *failure
		for _, g := range failures {
			if g.source == s.Source && g.err == msg {
				f = g
			}
		}
		if f == nil {
			f = &failure{source: s.Source, err: msg}
			failures = append(failures, f)
		}
		f.events = append(f.events, s.Message.Event)
	}
	var errs []error
	for _, f := range failures {
		errs = append(errs, fmt.Errorf("template %s fails for a %s payload (%s): %s", t.name, f.source, strings.Join(f.events, ", "), f.err))
	}
	return errors.Join(errs...)
}

// templateChannels are the channels with a template_path, and whether
// their template is HTML.
var templateChannels = map[string]bool{
	"slack": false, "telegram": false, "viber": false, "msteams": false, "lark": false, "email": true,
}

// CheckTemplate reads and parses the template file at path as channel's
// template_path ("slack", "telegram", "viber", "msteams", "lark" or
// "email", whose template is HTML), and renders it against a sample
// message of every source and event (see Template.Check). It returns nil,
// or every problem found, each naming the file.
func CheckTemplate(channel, path string) error {
	html, ok := templateChannels[channel]
	if !ok {
		return fmt.Errorf("check template: channel %q has no template_path", channel)
	}
	src, err := readLimited(path)
	if err != nil {
		return fmt.Errorf("read template: %w", err)
	}
	t, err := ParseTemplate(filepath.Base(path), string(src), html)
	if err != nil {
		return err
	}
	return t.Check()
}
