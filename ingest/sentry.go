package ingest

import (
	"encoding/json"
	"maps"
	"strings"
	"time"

	"tocsin"
)

// sentryWebhook covers Sentry's integration-platform webhooks (issue,
// event_alert and metric_alert resources, all under "data") and the
// legacy webhooks plugin (issue fields at the top level).
type sentryWebhook struct {
	Action text        `json:"action"`
	Data   *sentryData `json:"data"`

	// Legacy webhooks plugin.
	ID      text          `json:"id"`
	Project sentryProject `json:"project"`
	Culprit text          `json:"culprit"`
	Message text          `json:"message"`
	URL     text          `json:"url"`
	Level   text          `json:"level"`
	Event   *sentryEvent  `json:"event"`
}

type sentryData struct {
	Issue            *sentryIssue       `json:"issue"`
	Event            *sentryEvent       `json:"event"`
	MetricAlert      *sentryMetricAlert `json:"metric_alert"`
	TriggeredRule    text               `json:"triggered_rule"`
	DescriptionTitle text               `json:"description_title"`
	DescriptionText  text               `json:"description_text"`
	WebURL           text               `json:"web_url"`
}

type sentryIssue struct {
	ID        text          `json:"id"`
	ShortID   text          `json:"shortId"`
	Title     text          `json:"title"`
	Culprit   text          `json:"culprit"`
	Level     text          `json:"level"`
	Permalink text          `json:"permalink"`
	WebURL    text          `json:"web_url"`
	Project   sentryProject `json:"project"`
	FirstSeen stamp         `json:"firstSeen"`
}

type sentryEvent struct {
	EventID   text          `json:"event_id"`
	IssueID   text          `json:"issue_id"`
	GroupID   text          `json:"group_id"`
	Project   sentryProject `json:"project"`
	Title     text          `json:"title"`
	Culprit   text          `json:"culprit"`
	Level     text          `json:"level"`
	Message   text          `json:"message"`
	WebURL    text          `json:"web_url"`
	Tags      sentryTags    `json:"tags"`
	Datetime  stamp         `json:"datetime"`
	Timestamp stamp         `json:"timestamp"`
}

type sentryMetricAlert struct {
	ID          text  `json:"id"`
	Identifier  text  `json:"identifier"`
	Title       text  `json:"title"`
	DateStarted stamp `json:"date_started"`
	DateClosed  stamp `json:"date_closed"`
	AlertRule   struct {
		ID   text `json:"id"`
		Name text `json:"name"`
	} `json:"alert_rule"`
}

// sentryProject is a project as Sentry writes it in its different
// payloads: an object {"id","slug","name"}, a numeric id, or a slug.
type sentryProject struct {
	ID, Slug, Name string
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *sentryProject) UnmarshalJSON(b []byte) error {
	if isObject(b) {
		var o struct{ ID, Slug, Name text }
		if json.Unmarshal(b, &o) == nil {
			*p = sentryProject{ID: o.ID.String(), Slug: o.Slug.String(), Name: o.Name.String()}
		}
		return nil
	}
	var t text
	_ = t.UnmarshalJSON(b)
	s := t.String()
	if s != "" && strings.Trim(s, "0123456789") == "" {
		p.ID = s
	} else {
		p.Slug = s
	}
	return nil
}

// key identifies the project in a dedup key: its id, else its slug.
func (p sentryProject) key() string { return firstOf(p.ID, p.Slug) }

// sentryTags are an event's tags: [["key","value"], …] in webhooks,
// [{"key","value"}, …] in the API, or a plain object. Malformed tags are
// skipped rather than rejected.
type sentryTags map[string]string

// UnmarshalJSON implements json.Unmarshaler.
func (t *sentryTags) UnmarshalJSON(b []byte) error {
	out := sentryTags{}
	if isObject(b) {
		var l labelSet
		_ = l.UnmarshalJSON(b)
		maps.Copy(out, l)
	} else {
		var items []json.RawMessage
		_ = json.Unmarshal(b, &items)
		for _, item := range items {
			var pair []text
			var kv struct{ Key, Value text }
			if json.Unmarshal(item, &pair) == nil && len(pair) == 2 {
				kv.Key, kv.Value = pair[0], pair[1]
			} else if isObject(item) {
				_ = json.Unmarshal(item, &kv)
			}
			if k := kv.Key.String(); k != "" {
				out[k] = string(kv.Value)
			}
		}
	}
	*t = out
	return nil
}

// Sentry decodes a Sentry webhook: an internal integration's issue,
// event_alert (issue alert) or metric_alert resource, or the legacy
// webhooks plugin's payload.
//
// Issue and event alerts are keyed by issue: the dedup key and fingerprint
// are "<project id>:<issue id>" (the legacy plugin has only a project slug),
// so an issue's "resolved" webhook resolves the alerts its events raised.
// Metric alerts are keyed "metric_alert:<id>" by their Sentry incident.
// Action "resolved" resolves; any other action fires, and the action is kept
// in the annotation "sentry_action" so issue changes such as "assigned" or
// "ignored" can be told apart. Severity is the issue or event level
// (fatal, error, warning, info, debug), or the metric alert's action
// (critical, warning). Event tags become labels.
func Sentry(body []byte, now time.Time) ([]*tocsin.Alert, error) {
	const source = tocsin.SourceSentry
	body, err := trimBody(body)
	if err != nil {
		return nil, err
	}
	var w sentryWebhook
	if err := decode(source, "", body, &w); err != nil {
		return nil, err
	}
	action := strings.ToLower(w.Action.String())
	a := &tocsin.Alert{
		Source:     source,
		Status:     statusOf(action),
		ReceivedAt: now,
		Raw:        body,
	}
	var data sentryData
	if w.Data != nil {
		data = *w.Data
	}
	switch {
	case data.MetricAlert != nil:
		sentryMetric(a, action, &data)
	case data.Issue != nil || data.Event != nil:
		sentryIssueAlert(a, data.Issue, data.Event, &w, false)
	case w.ID.String() != "" || w.Event != nil:
		sentryIssueAlert(a, nil, w.Event, &w, true)
	default:
		return nil, tocsin.Errorf(tocsin.EINVALID,
			`sentry: payload has none of "data.issue", "data.event", "data.metric_alert" or a legacy "id"`)
	}
	a.Fingerprint = a.DedupKey
	if a.Annotations == nil {
		a.Annotations = make(map[string]string)
	}
	setNonEmpty(a.Annotations, "sentry_action", action)
	setNonEmpty(a.Annotations, "triggered_rule", data.TriggeredRule.String())
	if len(a.Annotations) == 0 {
		a.Annotations = nil
	}
	return []*tocsin.Alert{a}, nil
}

// sentryIssueAlert fills a from an issue, an event, or the legacy top-level
// fields in w when legacy is set; issue and event may be nil.
func sentryIssueAlert(a *tocsin.Alert, issue *sentryIssue, event *sentryEvent, w *sentryWebhook, legacy bool) {
	if issue == nil {
		issue = &sentryIssue{}
	}
	if event == nil {
		event = &sentryEvent{}
	}
	issueID := firstOf(issue.ID.String(), event.IssueID.String(), event.GroupID.String())
	project := firstOf(issue.Project.key(), event.Project.key())
	if legacy {
		issueID = firstOf(w.ID.String(), issueID)
		project = firstOf(w.Project.key(), project)
	}
	switch {
	case issueID != "" && project != "":
		a.DedupKey = project + ":" + issueID
	case issueID != "":
		a.DedupKey = issueID
	case event.EventID.String() != "":
		a.DedupKey = "event:" + event.EventID.String()
	}
	a.Title = firstOf(issue.Title.String(), event.Title.String(), w.Message.String(), event.Message.String(),
		issue.Culprit.String(), event.Culprit.String(), w.Culprit.String())
	if a.Title == "" && issueID != "" {
		a.Title = "Sentry issue " + issueID
	} else if a.Title == "" {
		a.Title = "Sentry event"
	}
	if a.DedupKey == "" {
		a.DedupKey = "title:" + hashKey(a.Title)
	}
	a.Severity = severityOf(firstOf(issue.Level.String(), event.Level.String(), w.Level.String()))
	a.Description = firstOf(issue.Culprit.String(), event.Culprit.String(), w.Culprit.String())
	a.StartsAt = firstTime(issue.FirstSeen.Time(), event.Datetime.Time(), event.Timestamp.Time())
	a.Labels = copyMap(event.Tags)
	if slug := firstOf(issue.Project.Slug, event.Project.Slug, w.Project.Slug); slug != "" {
		if a.Labels == nil {
			a.Labels = make(map[string]string)
		}
		if a.Labels["project"] == "" {
			a.Labels["project"] = slug
		}
	}
	if s := issue.ShortID.String(); s != "" {
		a.Annotations = map[string]string{"short_id": s}
	}
	a.Links = addLink(a.Links, "Sentry issue", firstOf(issue.Permalink.String(), issue.WebURL.String(), w.URL.String()))
	a.Links = addLink(a.Links, "Sentry event", event.WebURL.String())
}

// sentryMetric fills a from a metric alert webhook.
func sentryMetric(a *tocsin.Alert, action string, data *sentryData) {
	ma := data.MetricAlert
	a.Title = firstOf(ma.Title.String(), ma.AlertRule.Name.String(), data.DescriptionTitle.String(), "Sentry metric alert")
	switch id := firstOf(ma.ID.String(), ma.Identifier.String()); {
	case id != "":
		a.DedupKey = "metric_alert:" + id
	case ma.AlertRule.ID.String() != "":
		a.DedupKey = "alert_rule:" + ma.AlertRule.ID.String()
	default:
		a.DedupKey = "title:" + hashKey(a.Title)
	}
	if action == "critical" || action == "warning" {
		a.Severity = action
	}
	a.Description = data.DescriptionText.String()
	a.StartsAt = ma.DateStarted.Time()
	if a.Resolved() {
		a.EndsAt = ma.DateClosed.Time()
	}
	a.Links = addLink(a.Links, "Sentry", data.WebURL.String())
}

// firstTime returns the first non-zero time.
func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}
