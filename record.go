package tocsin

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The incident record: what responders write on an incident during triage
// and investigation (AWS Incident Manager's IncidentRecord, TimelineEvent,
// RelatedItem and Finding), and the change events findings come from.

// Limits of the incident record, AWS's where it has one.
const (
	MaxEventData      = 12000 // a timeline event's event_data
	MaxEventRefs      = 20    // references of one timeline event
	MaxRelatedItems   = 100   // related items given to StartIncident
	MaxRelatedTitle   = 200
	MaxRelatedValue   = 4000 // a URL or a metric definition
	MaxTriggerSource  = 50
	MaxTriggerRawData = 10000
	MaxClientToken    = 128
	MaxTagKey         = 128
	MaxTagValue       = 256
	MaxChangeSummary  = 1024 // PagerDuty's limit on a change event's summary
	MaxChangeLinks    = 20
	// DefaultAttachmentBytes is the default size limit of an attachment
	// (incidents.attachment_max_bytes).
	DefaultAttachmentBytes = 5 << 20
	// DefaultFindingsWindow is how long before an incident opened a change
	// to its service is a finding (incidents.findings_window).
	DefaultFindingsWindow = 2 * time.Hour
)

// SourceManual is the source of an incident started by hand.
const SourceManual = "manual"

// Related item types (AWS's, lower-cased).
const (
	RelatedMetric     = "metric"
	RelatedURL        = "url"
	RelatedAttachment = "attachment"
	RelatedIncident   = "incident"
	RelatedParent     = "parent"
	RelatedAnalysis   = "analysis"
	RelatedTask       = "task"
	RelatedOther      = "other"
)

// RelatedTypes are the related item types, in the order errors list them.
var RelatedTypes = []string{RelatedMetric, RelatedURL, RelatedAttachment, RelatedIncident, RelatedParent, RelatedAnalysis, RelatedTask, RelatedOther}

// Timeline event types a responder may create (AWS's eventType values).
const (
	EventTypeCustom = "Custom Event"
	EventTypeNote   = "Note"
)

// TriggerDetails say what started an incident by hand (AWS's
// triggerDetails): the source (a tool, "aws.cloudwatch"), when, and the
// raw data it sent.
type TriggerDetails struct {
	Source    string    `json:"source"`
	Timestamp time.Time `json:"timestamp"`
	RawData   string    `json:"raw_data,omitempty"`
}

// RelatedItem is something an incident refers to (AWS's RelatedItem): a
// metric (a dashboard or query URL), a URL, an attachment stored by
// tocsin, another incident, the incident's parent, an analysis, a task or
// anything else. Value is the URL, the metric definition, the text, or for
// incident and parent the other incident's id. An attachment has Filename,
// ContentType and Size; its Content is served on its own URL.
type RelatedItem struct {
	ID          string    `json:"id"`
	IncidentID  string    `json:"incident_id"`
	Type        string    `json:"type"`
	Title       string    `json:"title,omitempty"`
	Value       string    `json:"value,omitempty"`
	Filename    string    `json:"filename,omitempty"`
	ContentType string    `json:"content_type,omitempty"`
	Size        int64     `json:"size,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by,omitempty"`
	// Content is an attachment's bytes (never in JSON).
	Content []byte `json:"-"`
}

// EventReference is what a timeline event refers to: one of the
// incident's related items or another incident.
type EventReference struct {
	RelatedItemID string `json:"related_item_id,omitempty"`
	IncidentID    string `json:"incident_id,omitempty"`
}

// IncidentLink is a short view of another incident (a parent's children).
type IncidentLink struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Status string `json:"status"`
	Impact int    `json:"impact"`
}

// ChangeEvent is a deploy or configuration change reported to tocsin; the
// changes to an incident's service shortly before it opened are its
// findings ("what changed?").
type ChangeEvent struct {
	ID         string          `json:"id"`
	Service    string          `json:"service"`
	Summary    string          `json:"summary"`
	Timestamp  time.Time       `json:"timestamp"`
	Source     string          `json:"source,omitempty"`
	Links      []Link          `json:"links,omitempty"`
	Custom     json.RawMessage `json:"custom,omitempty"`
	ReceivedAt time.Time       `json:"received_at"`
}

// IncidentStart is a request to start an incident by hand (AWS's
// StartIncident). A repeat with the same ClientToken starts nothing and
// returns the incident the first one started.
type IncidentStart struct {
	Title          string
	Impact         int // 0: medium
	Summary        string
	Tags           map[string]string
	RelatedItems   []*RelatedItem
	TriggerDetails *TriggerDetails
	ResponsePlan   string
	ClientToken    string
	By             Actor
}

// IncidentUpdate changes an incident's record (AWS's UpdateIncidentRecord):
// each field that is set; Status "acknowledged" or "resolved" goes the way
// of an acknowledgement or a resolve.
type IncidentUpdate struct {
	Title   *string
	Summary *string
	Impact  *int
	Status  string
	By      Actor
}

// EventInput is a responder's timeline event (AWS's CreateTimelineEvent):
// Type EventTypeCustom or EventTypeNote, its time (zero: now), its text and
// references.
type EventInput struct {
	Type       string
	Time       time.Time
	Data       string
	References []EventReference
	By         Actor
}

// TimelineFilter selects an incident's timeline events.
type TimelineFilter struct {
	Kinds      []string   // any of these kinds; empty means all
	From, To   *time.Time // at or after From, at or before To
	Descending bool       // newest first
}

// EventKind returns the timeline kind of an event type ("Custom Event" →
// custom_event, "Note" → note); "" when the type is not one a responder
// may create.
func EventKind(eventType string) string {
	switch eventType {
	case EventTypeCustom, EventCustom:
		return EventCustom
	case EventTypeNote, EventNote:
		return EventNote
	}
	return ""
}

// ValidImpact reports whether n is an impact (1 critical … 5 no impact).
func ValidImpact(n int) bool { return n >= ImpactCritical && n <= ImpactNone }

// Validate checks a start request; every problem names its field.
func (s *IncidentStart) Validate(maxAttachment int64) error {
	var p problems
	// With a response plan the title may come from its incident template.
	if s.Title != "" || s.ResponsePlan == "" {
		checkTitle(&p, "title", s.Title)
	}
	if s.Impact != 0 && !ValidImpact(s.Impact) {
		p.add("impact: %d is not an impact from 1 (critical) to 5 (no impact)", s.Impact)
	}
	if utf8.RuneCountInString(s.Summary) > MaxIncidentSummary {
		p.add("summary: longer than %d characters", MaxIncidentSummary)
	}
	checkTags(&p, s.Tags)
	if len(s.RelatedItems) > MaxRelatedItems {
		p.add("related_items: more than %d", MaxRelatedItems)
	}
	for i, it := range s.RelatedItems {
		it.check(&p, fmt.Sprintf("related_items[%d].", i), maxAttachment)
	}
	if t := s.TriggerDetails; t != nil {
		switch {
		case strings.TrimSpace(t.Source) == "":
			p.add("trigger_details.source: required")
		case len(t.Source) > MaxTriggerSource:
			p.add("trigger_details.source: longer than %d characters", MaxTriggerSource)
		}
		if t.Timestamp.IsZero() {
			p.add("trigger_details.timestamp: required (RFC 3339)")
		}
		if len(t.RawData) > MaxTriggerRawData {
			p.add("trigger_details.raw_data: longer than %d characters", MaxTriggerRawData)
		}
	}
	if s.ResponsePlan != "" && !ValidPlanName(s.ResponsePlan) {
		p.add("response_plan: %q must be 1-200 letters, digits, '-' or '_'", s.ResponsePlan)
	}
	if len(s.ClientToken) > MaxClientToken {
		p.add("client_token: longer than %d characters", MaxClientToken)
	}
	return p.err("incident")
}

// Validate checks an update; every problem names its field.
func (u *IncidentUpdate) Validate() error {
	var p problems
	if u.Title != nil {
		checkTitle(&p, "title", *u.Title)
	}
	if u.Summary != nil && utf8.RuneCountInString(*u.Summary) > MaxIncidentSummary {
		p.add("summary: longer than %d characters", MaxIncidentSummary)
	}
	if u.Impact != nil && !ValidImpact(*u.Impact) {
		p.add("impact: %d is not an impact from 1 (critical) to 5 (no impact)", *u.Impact)
	}
	switch u.Status {
	case "", StatusAcknowledged, StatusResolved:
	default:
		p.add("status: %q is not one of acknowledged, resolved (an incident is not re-opened)", u.Status)
	}
	if u.Title == nil && u.Summary == nil && u.Impact == nil && u.Status == "" {
		p.add("nothing to change: give title, summary, impact or status")
	}
	return p.err("incident")
}

func checkTitle(p *problems, field, title string) {
	switch {
	case strings.TrimSpace(title) == "":
		p.add("%s: required", field)
	case utf8.RuneCountInString(title) > MaxIncidentTitle:
		p.add("%s: longer than %d characters", field, MaxIncidentTitle)
	}
}

func checkTags(p *problems, tags map[string]string) {
	if len(tags) > MaxPlanTags {
		p.add("tags: more than %d", MaxPlanTags)
	}
	for _, k := range sortedKeys(tags) {
		switch {
		case k == "" || len(k) > MaxTagKey:
			p.add("tags: a key must be 1-%d characters", MaxTagKey)
		case len(tags[k]) > MaxTagValue:
			p.add("tags.%s: longer than %d characters", k, MaxTagValue)
		}
	}
}

// Validate checks a related item to add; every problem names its field.
// The other incident of an incident or parent item is checked by the store.
func (r *RelatedItem) Validate(maxAttachment int64) error {
	var p problems
	r.check(&p, "", maxAttachment)
	return p.err("related item")
}

func (r *RelatedItem) check(p *problems, f string, maxAttachment int64) {
	r.Type = strings.ToLower(strings.TrimSpace(r.Type))
	if !slices.Contains(RelatedTypes, r.Type) {
		p.add("%stype: %q is not one of %s", f, r.Type, strings.Join(RelatedTypes, ", "))
		return
	}
	if utf8.RuneCountInString(r.Title) > MaxRelatedTitle {
		p.add("%stitle: longer than %d characters", f, MaxRelatedTitle)
	}
	switch r.Type {
	case RelatedAttachment:
		if r.Value != "" {
			p.add("%svalue: an attachment has content, not a value", f)
		}
		switch {
		case len(r.Content) == 0:
			p.add("%scontent: required (base64) for an attachment", f)
		case int64(len(r.Content)) > maxAttachment:
			p.add("%scontent: %d bytes is larger than the attachment limit of %d bytes (incidents.attachment_max_bytes)", f, len(r.Content), maxAttachment)
		}
		r.Size = int64(len(r.Content))
		if r.ContentType == "" {
			r.ContentType = "application/octet-stream"
		}
		if _, _, err := mime.ParseMediaType(r.ContentType); err != nil || len(r.ContentType) > 200 {
			p.add("%scontent_type: %q is not a media type", f, r.ContentType)
		}
		if r.Filename = strings.TrimSpace(r.Filename); r.Filename == "" || len(r.Filename) > 255 || strings.ContainsAny(r.Filename, "/\\\x00") || hasControl(r.Filename) {
			p.add("%sfilename: required, at most 255 characters, without '/', '\\' or control characters", f)
		}
	default:
		if len(r.Content) > 0 || r.Filename != "" || r.ContentType != "" {
			p.add("%scontent: only an attachment has content, filename or content_type", f)
		}
		switch {
		case strings.TrimSpace(r.Value) == "":
			p.add("%svalue: required", f)
		case len(r.Value) > MaxRelatedValue:
			p.add("%svalue: longer than %d characters", f, MaxRelatedValue)
		case r.Type == RelatedURL && !ValidWebURL(r.Value):
			p.add("%svalue: %q is not an http or https URL", f, r.Value)
		}
	}
}

// ValidWebURL reports whether s is an absolute http or https URL.
func ValidWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Validate checks a responder's timeline event; every problem names its field.
func (e *EventInput) Validate() error {
	var p problems
	if EventKind(e.Type) == "" {
		p.add("event_type: %q is not %q or %q", e.Type, EventTypeCustom, EventTypeNote)
	}
	checkEventData(&p, e.Data)
	checkRefs(&p, e.References)
	return p.err("timeline event")
}

func checkEventData(p *problems, data string) {
	switch {
	case strings.TrimSpace(data) == "":
		p.add("event_data: required")
	case utf8.RuneCountInString(data) > MaxEventData:
		p.add("event_data: longer than %d characters", MaxEventData)
	}
}

func checkRefs(p *problems, refs []EventReference) {
	if len(refs) > MaxEventRefs {
		p.add("event_references: more than %d", MaxEventRefs)
	}
	for i, r := range refs {
		if (r.RelatedItemID == "") == (r.IncidentID == "") {
			p.add("event_references[%d]: give exactly one of related_item_id, incident_id", i)
		}
	}
}

// EventEdit changes a responder's own timeline event: each field that is set.
type EventEdit struct {
	Time       *time.Time
	Data       *string
	References *[]EventReference
	By         Actor
}

// Validate checks an edit; every problem names its field.
func (e *EventEdit) Validate() error {
	var p problems
	if e.Data != nil {
		checkEventData(&p, *e.Data)
	}
	if e.References != nil {
		checkRefs(&p, *e.References)
	}
	if e.By.Name == "" {
		p.add("by: required: only the event's author may edit it")
	}
	return p.err("timeline event")
}

// Validate checks a change event; every problem names its field.
func (c *ChangeEvent) Validate() error {
	var p problems
	switch {
	case strings.TrimSpace(c.Service) == "":
		p.add("service: required")
	case len(c.Service) > 255:
		p.add("service: longer than 255 characters")
	}
	switch {
	case strings.TrimSpace(c.Summary) == "":
		p.add("summary: required")
	case utf8.RuneCountInString(c.Summary) > MaxChangeSummary:
		p.add("summary: longer than %d characters", MaxChangeSummary)
	}
	if len(c.Source) > 255 {
		p.add("source: longer than 255 characters")
	}
	if len(c.Links) > MaxChangeLinks {
		p.add("links: more than %d", MaxChangeLinks)
	}
	for i, l := range c.Links {
		if !ValidWebURL(l.URL) {
			p.add("links[%d].url: not an http or https URL", i)
		}
	}
	if len(c.Custom) > MaxTriggerRawData {
		p.add("custom: longer than %d bytes", MaxTriggerRawData)
	}
	return p.err("change")
}
