package api

import (
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"tocsin"
)

// Overrides says which of Versus Incident's per-request query parameters
// can take effect here.
type Overrides struct {
	// Channels are the enabled channels by name.
	Channels map[string]bool
	// ChannelKeys reports whether key names a configured alternate URL of
	// a channel (msteams other_power_urls, lark other_webhook_urls).
	ChannelKeys map[string]func(key string) bool
	// AllowedDestinations limits free-form destinations (by parameter).
	AllowedDestinations map[string][]string
	// OnCall is the on-call setup; nil when there is none.
	OnCall *OnCallSetup
}

// OnCallSetup is the configured ack-or-escalate on-call.
type OnCallSetup struct {
	// Enable pages every firing incident (oncall.enable).
	Enable bool
	// Provider is the provider's config name.
	Provider string
	// Wait is the default wait before escalating.
	Wait time.Duration
	// HasTarget reports whether a key names a configured alternate.
	HasTarget func(key string) bool
}

// destinationParams are the free-form parameters: honoured only with a
// valid integration token, and only for allowed values when listed.
var destinationParams = map[string][2]string{
	"slack_channel_id": {"slack", "channel_id"},
	"telegram_chat_id": {"telegram", "chat_id"},
	"viber_channel_id": {"viber", "channel_id"},
	"viber_user_id":    {"viber", "user_id"},
	"email_to":         {"email", "to"},
}

// keyParams select a configured alternate of a channel by key.
var keyParams = map[string][2]string{
	"msteams_other_power_url": {"msteams", "other_power_url"},
	"lark_other_webhook_url":  {"lark", "other_webhook_url"},
}

// providerParams select an alternate destination of one provider.
var providerParams = map[string]string{
	"awsim_other_response_plan":     "aws_incident_manager",
	"pagerduty_other_routing_key":   "pagerduty",
	"servicenow_other_instance":     "servicenow",
	"incidentio_other_alert_source": "incident_io",
	"oncall_escalation_plan":        "tocsin",
}

// ingestOptions turns the query parameters of an intake request into
// ingest options, refusing what the request may not ask for.
func (s *Server) ingestOptions(r *http.Request) (tocsin.IngestOptions, error) {
	var opts tocsin.IngestOptions
	ov := s.opts.Overrides
	q := r.URL.Query()
	dest := func(channel, key, value string) {
		if opts.Destinations == nil {
			opts.Destinations = map[string]map[string]string{}
		}
		if opts.Destinations[channel] == nil {
			opts.Destinations[channel] = map[string]string{}
		}
		opts.Destinations[channel][key] = value
	}
	var oncallEnable *bool
	var wait *time.Duration
	target := ""
	for name, vals := range q {
		v := vals[0]
		if d, ok := destinationParams[name]; ok {
			if !ov.Channels[d[0]] {
				return opts, tocsin.Errorf(tocsin.EINVALID, "%s: the %s channel is not enabled", name, d[0])
			}
			if !s.authenticatedIngest(r) {
				return opts, tocsin.Errorf(tocsin.EFORBIDDEN, "%s: destination overrides need a valid integration token", name)
			}
			if err := allowed(name, v, ov.AllowedDestinations[name]); err != nil {
				return opts, err
			}
			dest(d[0], d[1], v)
			continue
		}
		if d, ok := keyParams[name]; ok {
			if !ov.Channels[d[0]] {
				return opts, tocsin.Errorf(tocsin.EINVALID, "%s: the %s channel is not enabled", name, d[0])
			}
			if has := ov.ChannelKeys[d[0]]; has == nil || !has(v) {
				return opts, tocsin.Errorf(tocsin.EINVALID, "%s: %q is not a configured key", name, v)
			}
			dest(d[0], d[1], v)
			continue
		}
		if provider, ok := providerParams[name]; ok {
			if ov.OnCall == nil || ov.OnCall.Provider != provider {
				return opts, tocsin.Errorf(tocsin.EINVALID, "%s: on-call does not use %s here", name, provider)
			}
			if ov.OnCall.HasTarget == nil || !ov.OnCall.HasTarget(v) {
				return opts, tocsin.Errorf(tocsin.EINVALID, "%s: %q is not a configured key", name, v)
			}
			target = v
			continue
		}
		switch name {
		case "email_subject":
			if !ov.Channels["email"] {
				return opts, tocsin.Errorf(tocsin.EINVALID, "email_subject: the email channel is not enabled")
			}
			// The email channel strips control characters: no header injection.
			dest("email", "subject", v)
		case "oncall_enable":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return opts, tocsin.Errorf(tocsin.EINVALID, "oncall_enable: %q is not true or false", v)
			}
			oncallEnable = &b
		case "oncall_wait_minutes":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 7*24*60 {
				return opts, tocsin.Errorf(tocsin.EINVALID, "oncall_wait_minutes: %q is not a number of minutes from 0 to 10080", v)
			}
			// Versus truncates fractional minutes.
			d := time.Duration(int64(f)) * time.Minute
			wait = &d
		case "token", "incident_source":
			// The integration token; Versus's reserved incident_source is ignored.
		default:
			return opts, tocsin.Errorf(tocsin.EINVALID, "unknown query parameter %q", name)
		}
	}
	if ov.OnCall != nil {
		on := ov.OnCall.Enable
		if oncallEnable != nil {
			on = *oncallEnable
		}
		if on {
			if oncallEnable != nil && *oncallEnable && !s.authenticatedIngest(r) {
				return opts, tocsin.Errorf(tocsin.EFORBIDDEN, "oncall_enable: paging on request needs a valid integration token")
			}
			opts.OnCall = &tocsin.OnCallOptions{Provider: ov.OnCall.Provider, Target: target, Wait: ov.OnCall.Wait}
			if wait != nil {
				opts.OnCall.Wait = *wait
			}
		}
	} else if oncallEnable != nil && *oncallEnable {
		return opts, tocsin.Errorf(tocsin.EINVALID, "oncall_enable: on-call is not configured (oncall.enable or oncall.initialized_only)")
	}
	return opts, nil
}

// allowed checks a free-form destination against the operator's list.
func allowed(name, value string, patterns []string) error {
	if len(patterns) == 0 {
		return nil
	}
	values := []string{value}
	if name == "email_to" {
		values = strings.Split(value, ",")
	}
	for _, v := range values {
		v = strings.TrimSpace(v)
		ok := false
		for _, p := range patterns {
			if m, _ := path.Match(p, v); m {
				ok = true
				break
			}
		}
		if !ok {
			return tocsin.Errorf(tocsin.EFORBIDDEN, "%s: %q is not an allowed destination", name, v)
		}
	}
	return nil
}
