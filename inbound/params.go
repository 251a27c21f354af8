package inbound

import (
	"fmt"
	"maps"
	"math"
	"net/http"
	"path"
	"slices"
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
	// ResponsePlan reports whether a response plan of that name exists:
	// with oncall.provider tocsin, ?awsim_other_response_plan= picks one.
	ResponsePlan func(name string) bool
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

// Reasons a request parameter is ignored, the label values of the
// tocsin_intake_warnings_total metric.
const (
	reasonUnknownParameter  = "unknown_parameter"
	reasonChannelDisabled   = "channel_disabled"
	reasonUnauthenticated   = "unauthenticated"
	reasonNotAllowed        = "not_allowed"
	reasonUnknownKey        = "unknown_key"
	reasonInvalidValue      = "invalid_value"
	reasonOnCallUnavailable = "oncall_unavailable"
	reasonOnCallNotArmed    = "oncall_not_armed"
)

// intakeWarning is one request parameter that was ignored, and why.
type intakeWarning struct {
	Param  string
	Reason string
	// Text names the parameter and says what happened instead.
	Text string
}

// maxWarnedValue bounds how much of a value a warning repeats.
const maxWarnedValue = 64

// quoted quotes a parameter value for a warning, shortened.
func quoted(v string) string {
	if len(v) > maxWarnedValue {
		v = v[:maxWarnedValue] + "…"
	}
	return strconv.Quote(v)
}

// ingestOptions turns the query parameters of an intake request into
// ingest options. A parameter that cannot be honoured (unknown, naming
// something not configured, not allowed, malformed) never refuses the
// alert, as Versus Incident never did: it is ignored — the configured
// default applies — and reported as a warning. authed says whether the
// request carried a valid integration token, which destination overrides
// and paging on request need.
func (s *Server) ingestOptions(r *http.Request, authed bool) (tocsin.IngestOptions, []intakeWarning) {
	var opts tocsin.IngestOptions
	var warnings []intakeWarning
	warn := func(name, reason, format string, args ...any) {
		warnings = append(warnings, intakeWarning{Param: name, Reason: reason, Text: name + ": " + fmt.Sprintf(format, args...)})
	}
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
	target, waitParam, targetParam := "", "", ""
	// Sorted, so warnings come in the same order every time.
	for _, name := range slices.Sorted(maps.Keys(q)) {
		v := q[name][0]
		if d, ok := destinationParams[name]; ok {
			switch {
			case !ov.Channels[d[0]]:
				warn(name, reasonChannelDisabled, "the %s channel is not enabled; ignored", d[0])
			case !authed:
				warn(name, reasonUnauthenticated, "destination overrides need a valid integration token; ignored, sent to the configured %s destination", d[0])
			default:
				pats := ov.AllowedDestinations[name]
				if len(pats) == 0 {
					warn(name, reasonNotAllowed, "free-form destinations are off unless listed in ingest.allowed_destinations.%s; ignored, sent to the configured %s destination", name, d[0])
					continue
				}
				if bad, ok := allowed(name, v, pats); !ok {
					warn(name, reasonNotAllowed, "%s is not an allowed destination (ingest.allowed_destinations.%s); ignored, sent to the configured %s destination", quoted(bad), name, d[0])
					continue
				}
				dest(d[0], d[1], v)
			}
			continue
		}
		if d, ok := keyParams[name]; ok {
			switch has := ov.ChannelKeys[d[0]]; {
			case !ov.Channels[d[0]]:
				warn(name, reasonChannelDisabled, "the %s channel is not enabled; ignored", d[0])
			case has == nil || !has(v):
				warn(name, reasonUnknownKey, "%s is not a configured key; ignored, sent to the configured %s destination", quoted(v), d[0])
			default:
				dest(d[0], d[1], v)
			}
			continue
		}
		if name == "awsim_other_response_plan" && ov.OnCall != nil && ov.OnCall.Provider == tocsin.OnCallTocsin {
			// On-call is tocsin's own: the AWS response plan a Versus
			// sender names is a local one.
			if ov.ResponsePlan == nil || !ov.ResponsePlan(v) {
				warn(name, reasonUnknownKey, "%s is not a response plan; ignored, the routing decides", quoted(v))
			} else {
				opts.ResponsePlan = v
			}
			continue
		}
		if provider, ok := providerParams[name]; ok {
			switch {
			case ov.OnCall == nil || ov.OnCall.Provider != provider:
				warn(name, reasonOnCallUnavailable, "on-call does not use %s here; ignored", provider)
			case ov.OnCall.HasTarget == nil || !ov.OnCall.HasTarget(v):
				warn(name, reasonUnknownKey, "%s is not a configured key; ignored, the default %s target is used", quoted(v), provider)
			default:
				target, targetParam = v, name
			}
			continue
		}
		switch name {
		case "email_subject":
			if !ov.Channels["email"] {
				warn(name, reasonChannelDisabled, "the email channel is not enabled; ignored")
				continue
			}
			// The email channel strips control characters: no header injection.
			dest("email", "subject", v)
		case "oncall_enable":
			b, err := strconv.ParseBool(v)
			if err != nil {
				warn(name, reasonInvalidValue, "%s is not true or false; ignored", quoted(v))
				continue
			}
			oncallEnable = &b
		case "oncall_wait_minutes":
			f, err := strconv.ParseFloat(v, 64)
			// NaN passes every comparison and would convert to a negative
			// wait, which escalates at once: it must be refused here.
			if err != nil || math.IsNaN(f) || f < 0 || f > 7*24*60 {
				warn(name, reasonInvalidValue, "%s is not a number of minutes from 0 to 10080; ignored, the configured wait is used", quoted(v))
				continue
			}
			// Versus truncates fractional minutes.
			d := time.Duration(int64(f)) * time.Minute
			wait, waitParam = &d, name
		case "token", "incident_source":
			// The integration token; Versus's reserved incident_source is ignored.
		default:
			// The value is not repeated: a mistyped name may carry a secret.
			warn(name, reasonUnknownParameter, "unknown query parameter; ignored")
		}
	}
	on := false
	if ov.OnCall != nil {
		on = ov.OnCall.Enable
		if oncallEnable != nil && *oncallEnable != on {
			switch {
			case *oncallEnable && !authed:
				warn("oncall_enable", reasonUnauthenticated, "paging on request needs a valid integration token; ignored, not paged")
			default:
				on = *oncallEnable
			}
		}
	} else if oncallEnable != nil && *oncallEnable {
		warn("oncall_enable", reasonOnCallUnavailable, "on-call is not configured (oncall.enable or oncall.initialized_only); ignored, not paged")
	}
	if on {
		opts.OnCall = &tocsin.OnCallOptions{Provider: ov.OnCall.Provider, Target: target, Wait: ov.OnCall.Wait}
		if wait != nil {
			opts.OnCall.Wait = *wait
		}
	} else {
		// Saying nothing would let a sender believe its choice applies.
		for _, p := range []string{waitParam, targetParam} {
			if p != "" {
				warn(p, reasonOnCallNotArmed, "on-call is not armed for this request (see oncall_enable); ignored")
			}
		}
	}
	for _, w := range warnings {
		opts.Warnings = append(opts.Warnings, w.Text)
	}
	return opts, warnings
}

// allowed checks a free-form destination against the operator's list and
// returns the first value that is not allowed.
func allowed(name, value string, patterns []string) (string, bool) {
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
			return v, false
		}
	}
	return "", true
}
