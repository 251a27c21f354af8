package tocsin

import (
	"encoding/json"
	"fmt"
	"time"
)

// Contact channel types.
const (
	ChannelEmail    = "email"
	ChannelSMS      = "sms"
	ChannelVoice    = "voice"
	ChannelSlack    = "slack"    // a Slack DM: the address is the user id
	ChannelTelegram = "telegram" // the address is the chat id
	ChannelWebhook  = "webhook"  // the address is an https URL
)

// Contact is a person who can be paged.
type Contact struct {
	// Alias identifies the contact (rotation members and escalation
	// targets name it): lower-case letters, digits, '-' and '_'.
	Alias    string `json:"alias" yaml:"alias"`
	Name     string `json:"name" yaml:"name"`
	TimeZone string `json:"time_zone,omitempty" yaml:"time_zone,omitempty"`
	// Channels are the ways to reach the contact; only activated ones are paged.
	Channels []ContactChannel `json:"channels" yaml:"channels"`
	// EngagementPlan says which channel is paged how long after the
	// contact is engaged. Empty: every activated channel at once.
	EngagementPlan []EngagementStep `json:"engagement_plan,omitempty" yaml:"engagement_plan,omitempty"`
	CreatedAt      time.Time        `json:"created_at,omitzero" yaml:"-"`
	UpdatedAt      time.Time        `json:"updated_at,omitzero" yaml:"-"`
}

// ContactChannel is one way to reach a contact.
type ContactChannel struct {
	// Name is unique within the contact ("work-email", "mobile").
	Name    string `json:"name" yaml:"name"`
	Type    string `json:"type" yaml:"type"`
	Address string `json:"address" yaml:"address"`
	// Activated is set once the contact entered the code sent through
	// the channel. It is read-only in the API.
	Activated   bool       `json:"activated" yaml:"-"`
	ActivatedAt *time.Time `json:"activated_at,omitempty" yaml:"-"`
}

// EngagementStep pages one channel of a contact After the engagement
// starts. Each step makes its own page, so a channel may appear twice (email
// at 0 and again at 3 minutes).
type EngagementStep struct {
	Channel string   `json:"channel" yaml:"channel"`
	After   Duration `json:"after" yaml:"after"`
	// RetryInterval, when set, pages the channel again every interval
	// until the contact acknowledges, Retries times (AWS's
	// RetryIntervalInMinutes on a channel target).
	RetryInterval Duration `json:"retry_interval,omitempty" yaml:"retry_interval,omitempty"`
	// Retries bounds the re-pages of a RetryInterval (default
	// DefaultRetries, at most MaxRetries).
	Retries int `json:"retries,omitempty" yaml:"retries,omitempty"`
}

// Limits of an engagement step's retries.
const (
	// DefaultRetries is how often a step with a RetryInterval re-pages
	// when it does not say.
	DefaultRetries = 3
	// MaxRetries bounds Retries.
	MaxRetries = 10
	// MaxRetryInterval is the longest RetryInterval (AWS allows 0–60 minutes).
	MaxRetryInterval = time.Hour
)

// Repages returns how often the step re-pages its channel after the first page.
func (s EngagementStep) Repages() int {
	switch {
	case s.RetryInterval <= 0:
		return 0
	case s.Retries <= 0:
		return DefaultRetries
	}
	return min(s.Retries, MaxRetries)
}

// EscalationPlan engages targets stage by stage until an essential target
// acknowledges.
type EscalationPlan struct {
	Name string `json:"name" yaml:"name"`
	// Repeat runs the whole plan this many more times (0: once).
	Repeat int     `json:"repeat,omitempty" yaml:"repeat,omitempty"`
	Stages []Stage `json:"stages" yaml:"stages"`
	// CreatedAt and UpdatedAt are set by the store.
	CreatedAt time.Time `json:"created_at,omitzero" yaml:"-"`
	UpdatedAt time.Time `json:"updated_at,omitzero" yaml:"-"`
}

// Stage engages its targets at once and waits Duration before the next.
type Stage struct {
	Duration Duration `json:"duration" yaml:"duration"`
	Targets  []Target `json:"targets" yaml:"targets"`
}

// Target is one thing a stage engages: exactly one of its names is set.
type Target struct {
	Contact string `json:"contact,omitempty" yaml:"contact,omitempty"`
	// ContactGroup engages every member of a contact group at once.
	ContactGroup   string `json:"contact_group,omitempty" yaml:"contact_group,omitempty"`
	Schedule       string `json:"schedule,omitempty" yaml:"schedule,omitempty"`
	EscalationPlan string `json:"escalation_plan,omitempty" yaml:"escalation_plan,omitempty"`
	// Channel is a configured team channel (slack, email, …) told at this stage.
	Channel string `json:"channel,omitempty" yaml:"channel,omitempty"`
	// Essential targets stop the plan when they acknowledge.
	Essential bool `json:"essential,omitempty" yaml:"essential,omitempty"`
}

// ContactGroup is a named set of contacts that a stage engages together
// (AWS Incident Manager's contact group, such as "Platform-Team").
type ContactGroup struct {
	Name string `json:"name" yaml:"name"`
	// Members are contact aliases; each is engaged with its own
	// engagement plan.
	Members   []string  `json:"members" yaml:"members"`
	CreatedAt time.Time `json:"created_at,omitzero" yaml:"-"`
	UpdatedAt time.Time `json:"updated_at,omitzero" yaml:"-"`
}

// Schedule layers rotations: whoever any of them has on call is on call.
type Schedule struct {
	Name string `json:"name" yaml:"name"`
	// Rotations names the rotations, in layer order.
	Rotations []string  `json:"rotations" yaml:"rotations"`
	CreatedAt time.Time `json:"created_at,omitzero" yaml:"-"`
	UpdatedAt time.Time `json:"updated_at,omitzero" yaml:"-"`
}

// Duration is a time.Duration written as a Go duration string ("5m") in
// JSON and YAML.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string like \"5m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration like 30s, 5m, 1h", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// UnmarshalText reads a Go duration string (YAML uses it for scalars).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like 30s, 5m, 1h", string(b))
	}
	*d = Duration(v)
	return nil
}
