package tocsin

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"
)

// ResponsePlan is the template an incident is started from (AWS Incident
// Manager's response plan): what the incident says, whom it engages, which
// chat channels hear of it and which runbook it runs.
type ResponsePlan struct {
	// Name follows AWS's rules (1–200 letters, digits, '-' and '_'), so
	// plans move from AWS under their own names ("EC2HighCPU").
	Name        string `json:"name" yaml:"name"`
	DisplayName string `json:"display_name,omitempty" yaml:"display_name,omitempty"`
	// IncidentTemplate says what an incident of this plan says.
	IncidentTemplate IncidentTemplate `json:"incident_template" yaml:"incident_template"`
	// Engagements are engaged when an incident opens, each after its delay.
	Engagements []ResponseEngagement `json:"engagements,omitempty" yaml:"engagements,omitempty"`
	// ChatChannels are the team channels that hear of the plan's incidents.
	ChatChannels []ChatChannel `json:"chat_channels,omitempty" yaml:"chat_channels,omitempty"`
	// Runbook is run for the plan's incidents (checked for shape only
	// until runbooks land).
	Runbook   *RunbookRef `json:"runbook,omitempty" yaml:"runbook,omitempty"`
	CreatedAt time.Time   `json:"created_at,omitzero" yaml:"-"`
	UpdatedAt time.Time   `json:"updated_at,omitzero" yaml:"-"`
}

// IncidentTemplate is what an incident opened from a plan says. Title,
// Summary, DedupeString and the values of Tags are text/template
// templates over the alert (see AlertTemplateData).
type IncidentTemplate struct {
	Title string `json:"title" yaml:"title"`
	// Impact is 1 (critical) to 5 (no impact); 0 takes the impact of the
	// alert's severity, as incidents without a plan do.
	Impact  int    `json:"impact,omitempty" yaml:"impact,omitempty"`
	Summary string `json:"summary,omitempty" yaml:"summary,omitempty"`
	// DedupeString groups incidents as AWS does: an open incident with
	// the same rendered string absorbs a new one.
	DedupeString string            `json:"dedupe_string,omitempty" yaml:"dedupe_string,omitempty"`
	Tags         map[string]string `json:"tags,omitempty" yaml:"tags,omitempty"`
	// NotificationTargets hear of the incident's lifecycle (signed webhooks).
	NotificationTargets []NotificationTarget `json:"notification_targets,omitempty" yaml:"notification_targets,omitempty"`
}

// NotificationTarget is a webhook told of an incident's lifecycle, signed
// with Secret. The secret never appears in errors.
type NotificationTarget struct {
	Webhook string `json:"webhook" yaml:"webhook"`
	Secret  string `json:"secret,omitempty" yaml:"secret,omitempty"`
}

// ResponseEngagement is one thing a plan engages: exactly one of its names
// is set. Delay is the wait before paging (Versus's wait_minutes, per
// engagement): an acknowledgement within it pages nobody.
type ResponseEngagement struct {
	EscalationPlan string   `json:"escalation_plan,omitempty" yaml:"escalation_plan,omitempty"`
	Schedule       string   `json:"schedule,omitempty" yaml:"schedule,omitempty"`
	Contact        string   `json:"contact,omitempty" yaml:"contact,omitempty"`
	ContactGroup   string   `json:"contact_group,omitempty" yaml:"contact_group,omitempty"`
	Delay          Duration `json:"delay,omitempty" yaml:"delay,omitempty"`
}

// Target returns the kind ("escalation_plan", "schedule", "contact",
// "contact_group") and name of what the engagement engages; "" when it
// names nothing.
func (e ResponseEngagement) Target() (kind, name string) {
	for _, t := range [...]struct{ k, v string }{{"escalation_plan", e.EscalationPlan}, {"schedule", e.Schedule},
		{"contact", e.Contact}, {"contact_group", e.ContactGroup}} {
		if t.v != "" {
			return t.k, t.v
		}
	}
	return "", ""
}

// ChatChannel names a configured team channel that hears of a plan's
// incidents. Destination, when set, is where in that channel: a Slack
// channel id, a Telegram chat id, the key of a Teams or Lark alternate
// webhook, an email address. The incident is told there besides the
// channel's configured destination, or, with ReplaceDefaults, instead of
// it. Default channels the plan does not list hear of it as usual.
type ChatChannel struct {
	Channel         string `json:"channel" yaml:"channel"`
	Destination     string `json:"destination,omitempty" yaml:"destination,omitempty"`
	ReplaceDefaults bool   `json:"replace_defaults,omitempty" yaml:"replace_defaults,omitempty"`
}

// ChatDestinationKeys are, by channel, the key of NotifyArgs.Destination
// that a chat channel's destination sets (the keys the intake's query
// parameters set: slack_channel_id, telegram_chat_id, …). A channel not
// listed (webhook) has no destinations.
var ChatDestinationKeys = map[string]string{
	"slack": "channel_id", "telegram": "chat_id", "viber": "channel_id", "email": "to",
	"msteams": "other_power_url", "lark": "other_webhook_url",
}

// TeamChannels are the names of the team channels tocsin can be
// configured with, as chat channels of response plans name them.
var TeamChannels = []string{"slack", "telegram", "msteams", "lark", "email", "webhook", "viber"}

// RunbookRef names the runbook a plan runs, with its parameters (AWS's
// SsmAutomation action: documentName and parameters).
type RunbookRef struct {
	Name       string              `json:"name" yaml:"name"`
	Parameters map[string][]string `json:"parameters,omitempty" yaml:"parameters,omitempty"`
	// DynamicParameters take their value from the incident when it starts
	// (AWS's dynamicParameters): parameter name → INCIDENT_RECORD_ARN,
	// INVOLVED_RESOURCES, INCIDENT_ID, INCIDENT_TITLE, INCIDENT_SUMMARY,
	// INCIDENT_IMPACT or LABEL:<name>.
	DynamicParameters map[string]string `json:"dynamic_parameters,omitempty" yaml:"dynamic_parameters,omitempty"`
}

// dynamicVariables are the incident fields a RunbookRef's
// DynamicParameters may name, besides LABEL:<name>.
var dynamicVariables = []string{"INCIDENT_RECORD_ARN", "INVOLVED_RESOURCES", "INCIDENT_ID", "INCIDENT_TITLE", "INCIDENT_SUMMARY", "INCIDENT_IMPACT"}

// validDynamicVariable reports whether v names an incident field a
// runbook parameter may take its value from.
func validDynamicVariable(v string) bool {
	if label, ok := strings.CutPrefix(v, "LABEL:"); ok {
		return strings.TrimSpace(label) != ""
	}
	return slices.Contains(dynamicVariables, v)
}

// Limits of a response plan, AWS's where it has one.
const (
	MaxPlanName        = 200
	MaxIncidentTitle   = 200
	MaxIncidentSummary = 8000
	MaxDedupeString    = 1000
	MaxPlanTags        = 50
	// MaxEngagementDelay bounds a response plan engagement's delay.
	MaxEngagementDelay = 24 * time.Hour
)

var (
	planNamePattern    = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,200}$`)
	runbookNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_\-.:/]{3,128}$`)
)

// ValidPlanName reports whether s can name a response plan (AWS's rule:
// 1–200 letters, digits, '-' and '_').
func ValidPlanName(s string) bool { return planNamePattern.MatchString(s) }

// ValidRunbookName reports whether s can name a runbook (AWS's rule for
// document names as a response plan gives them: 3–128 letters, digits and
// _-.:/).
func ValidRunbookName(s string) bool { return runbookNamePattern.MatchString(s) }

// AlertTemplateFuncs are the functions incident templates may call, beyond
// text/template's own: upper, lower, trim and default ("{{ .labels.env |
// default "prod" }}").
func AlertTemplateFuncs() template.FuncMap {
	return template.FuncMap{
		"upper": strings.ToUpper,
		"lower": strings.ToLower,
		"trim":  strings.TrimSpace,
		"default": func(def string, v any) string {
			if s := fmt.Sprint(v); v != nil && s != "" {
				return s
			}
			return def
		},
	}
}

// AlertTemplateData is what incident templates see of an alert:
// .labels and .annotations (maps; a missing key is ""), .title,
// .description, .severity, .source, .status and .dedup_key.
func AlertTemplateData(a *Alert) map[string]any {
	labels, annotations := a.Labels, a.Annotations
	if labels == nil {
		labels = map[string]string{}
	}
	if annotations == nil {
		annotations = map[string]string{}
	}
	return map[string]any{
		"labels": labels, "annotations": annotations, "title": a.Title, "description": a.Description,
		"severity": a.Severity, "source": a.Source, "status": a.Status, "dedup_key": a.DedupKey,
	}
}

// ParseAlertTemplate parses one incident template field; name is the
// field's path, used in errors.
func ParseAlertTemplate(name, text string) (*template.Template, error) {
	return template.New(name).Funcs(AlertTemplateFuncs()).Option("missingkey=zero").Parse(text)
}

// Validate checks a response plan's shape and that its templates parse
// (not that what it names exists: see CheckPlanReferences); every problem
// names its field.
func (rp *ResponsePlan) Validate() error {
	var p problems
	if !ValidPlanName(rp.Name) {
		p.add("name: %q must be 1-%d letters, digits, '-' or '_'", rp.Name, MaxPlanName)
	}
	if utf8.RuneCountInString(rp.DisplayName) > MaxPlanName {
		p.add("display_name: longer than %d characters", MaxPlanName)
	}
	rp.IncidentTemplate.validate(&p)
	for i, e := range rp.Engagements {
		f := fmt.Sprintf("engagements[%d]", i)
		n := 0
		for _, v := range []string{e.EscalationPlan, e.Schedule, e.Contact, e.ContactGroup} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			p.add("%s: exactly one of escalation_plan, schedule, contact, contact_group is required", f)
		} else if kind, name := e.Target(); !ValidName(name) {
			p.add("%s.%s: %q must be 1-63 lower-case letters, digits, '.', '-' or '_'", f, kind, name)
		}
		if e.Delay < 0 || e.Delay.Std() > MaxEngagementDelay {
			p.add("%s.delay: %s is not between 0 and %s", f, e.Delay.Std(), MaxEngagementDelay)
		}
	}
	for i, c := range rp.ChatChannels {
		f := fmt.Sprintf("chat_channels[%d]", i)
		if !slices.Contains(TeamChannels, c.Channel) {
			p.add("%s.channel: %q is not one of %s", f, c.Channel, strings.Join(TeamChannels, ", "))
		}
		switch {
		case c.Destination == "" && c.ReplaceDefaults:
			p.add("%s.replace_defaults: needs a destination to send to instead", f)
		case c.Destination == "":
		case ChatDestinationKeys[c.Channel] == "" && slices.Contains(TeamChannels, c.Channel):
			p.add("%s.destination: the %s channel has no destinations", f, c.Channel)
		case c.Channel == ChannelEmail:
			if a, err := mail.ParseAddress(c.Destination); err != nil || a.Address != c.Destination {
				p.add("%s.destination: %q is not an email address", f, c.Destination)
			}
		case strings.ContainsAny(c.Destination, " \t\r\n"):
			p.add("%s.destination: %q must not contain spaces", f, c.Destination)
		}
	}
	if rb := rp.Runbook; rb != nil {
		if !ValidRunbookName(rb.Name) {
			p.add("runbook.name: %q must be 3-128 letters, digits or _-.:/", rb.Name)
		}
		if len(rb.Parameters) > 200 {
			p.add("runbook.parameters: %d parameters, at most 200", len(rb.Parameters))
		}
		for _, k := range sortedKeys(rb.Parameters) {
			vs := rb.Parameters[k]
			if strings.TrimSpace(k) == "" {
				p.add("runbook.parameters: a parameter name is empty")
			}
			if len(vs) > 100 {
				p.add("runbook.parameters.%s: %d values, at most 100", k, len(vs))
			}
			for j, v := range vs {
				if utf8.RuneCountInString(v) > 512 {
					p.add("runbook.parameters.%s[%d]: longer than 512 characters", k, j)
				}
			}
		}
		for _, k := range sortedKeys(rb.DynamicParameters) {
			v := rb.DynamicParameters[k]
			switch {
			case strings.TrimSpace(k) == "":
				p.add("runbook.dynamic_parameters: a parameter name is empty")
			case rb.Parameters[k] != nil:
				p.add("runbook.dynamic_parameters.%s: is also given in runbook.parameters", k)
			case !validDynamicVariable(v):
				p.add("runbook.dynamic_parameters.%s: %q is not %s or LABEL:<name>", k, v, strings.Join(dynamicVariables, ", "))
			}
		}
	}
	return p.err("response plan " + rp.Name)
}

// validate checks the template's fields and parses its templates.
func (t *IncidentTemplate) validate(p *problems) {
	const f = "incident_template"
	if strings.TrimSpace(t.Title) == "" {
		p.add("%s.title: required", f)
	}
	if t.Impact != 0 && (t.Impact < ImpactCritical || t.Impact > ImpactNone) {
		p.add("%s.impact: %d is not between 1 (critical) and 5 (no impact)", f, t.Impact)
	}
	for _, x := range []struct {
		name, text string
		max        int
	}{{"title", t.Title, MaxIncidentTitle}, {"summary", t.Summary, MaxIncidentSummary}, {"dedupe_string", t.DedupeString, MaxDedupeString}} {
		if utf8.RuneCountInString(x.text) > x.max {
			p.add("%s.%s: longer than %d characters", f, x.name, x.max)
		}
		if _, err := ParseAlertTemplate(x.name, x.text); err != nil {
			p.add("%s.%s: does not parse: %v", f, x.name, err)
		}
	}
	if len(t.Tags) > MaxPlanTags {
		p.add("%s.tags: %d tags, at most %d", f, len(t.Tags), MaxPlanTags)
	}
	for _, k := range sortedKeys(t.Tags) {
		if strings.TrimSpace(k) == "" || len(k) > 128 {
			p.add("%s.tags: %q is not a tag key (1-128 characters)", f, k)
		}
		if _, err := ParseAlertTemplate("tags."+k, t.Tags[k]); err != nil {
			p.add("%s.tags.%s: does not parse: %v", f, k, err)
		}
	}
	if len(t.NotificationTargets) > 10 {
		p.add("%s.notification_targets: %d targets, at most 10", f, len(t.NotificationTargets))
	}
	for i, n := range t.NotificationTargets {
		// The URL is not echoed: it may carry a token.
		if u, err := url.Parse(n.Webhook); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add("%s.notification_targets[%d].webhook: not an http(s) URL", f, i)
		}
	}
}

// CheckPlanReferences reports the names a plan engages that are not in
// the sets given (nil skips a kind), each with its field:
// `engagements[1].escalation_plan: "app" does not exist`.
func (rp *ResponsePlan) CheckPlanReferences(plans, schedules, contacts, groups map[string]bool) error {
	var p problems
	for i, e := range rp.Engagements {
		kind, name := e.Target()
		known := map[string]map[string]bool{"escalation_plan": plans, "schedule": schedules, "contact": contacts, "contact_group": groups}[kind]
		if known != nil && !known[name] {
			p.add("engagements[%d].%s: %q does not exist", i, kind, name)
		}
	}
	return p.err("response plan " + rp.Name)
}

// sortedKeys returns m's keys in order, so problems are reported the same
// way every time.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
