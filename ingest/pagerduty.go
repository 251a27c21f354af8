package ingest

import (
	"encoding/json"
	"maps"
	"strings"
	"time"

	"tocsin"
)

// pagerDutyEvent is an alert event of PagerDuty's Events API v2.
type pagerDutyEvent struct {
	RoutingKey  text              `json:"routing_key"`
	EventAction text              `json:"event_action"`
	DedupKey    text              `json:"dedup_key"`
	Payload     *pagerDutyPayload `json:"payload"`
	Client      text              `json:"client"`
	ClientURL   text              `json:"client_url"`
	Links       objects[struct {
		Href text `json:"href"`
		Text text `json:"text"`
	}] `json:"links"`
	Images objects[struct {
		Src text `json:"src"`
		Alt text `json:"alt"`
	}] `json:"images"`
}

type pagerDutyPayload struct {
	Summary       text            `json:"summary"`
	Source        text            `json:"source"`
	Severity      text            `json:"severity"`
	Timestamp     stamp           `json:"timestamp"`
	Component     text            `json:"component"`
	Group         text            `json:"group"`
	Class         text            `json:"class"`
	CustomDetails json.RawMessage `json:"custom_details"`
}

// PagerDuty event actions.
const (
	pdTrigger     = "trigger"
	pdAcknowledge = "acknowledge"
	pdResolve     = "resolve"
)

// pdSeverities are the severities the Events API v2 allows.
var pdSeverities = map[string]bool{"critical": true, "error": true, "warning": true, "info": true}

// maxPagerDutyDedupKey is the Events API v2's limit on dedup_key.
const maxPagerDutyDedupKey = 255

// PagerDuty decodes one PagerDuty Events API v2 alert event, so tools that
// page PagerDuty can page tocsin instead. It validates the event as
// PagerDuty does: routing_key is required; event_action is trigger,
// acknowledge or resolve; a trigger needs payload.summary, payload.source
// and a payload.severity of critical, error, warning or info; acknowledge
// and resolve need a dedup_key (at most 255 characters).
//
// The fingerprint is dedup_key; a trigger without one gets a hash of
// routing_key, summary and source, which the HTTP handler should return to
// the sender as PagerDuty does. The dedup key is that fingerprint scoped to
// the sender, "<hash of routing_key>:<dedup_key>", because PagerDuty applies
// a dedup_key only to events of the same routing key; LegacyDedupKey is the
// bare dedup_key earlier versions used. The routing key itself is a secret
// (it may be a tocsin integration token): Raw carries it as "[REDACTED]". trigger fires and resolve
// resolves. acknowledge is not a status of an alert: its alert stays
// firing, and every alert carries the annotation "pagerduty_action" (here
// "acknowledge") so the service acknowledges the open incident with that
// dedup key instead of attaching a new alert. payload.source, component,
// group and class become labels, custom_details become annotations (or the
// description, when a string), and links, images and client_url become
// links.
func PagerDuty(body []byte, now time.Time) ([]*tocsin.Alert, error) {
	const source = tocsin.SourcePagerDuty
	body, err := trimBody(body)
	if err != nil {
		return nil, err
	}
	var ev pagerDutyEvent
	if err := decode(source, "", body, &ev); err != nil {
		return nil, err
	}
	if err := ev.validate(); err != nil {
		return nil, err
	}
	p := ev.Payload
	if p == nil {
		p = &pagerDutyPayload{}
	}
	action := ev.EventAction.String()
	dedup := ev.DedupKey.String()
	if dedup == "" {
		dedup = hashKey(ev.RoutingKey.String(), p.Summary.String(), p.Source.String())
	}
	a := &tocsin.Alert{
		Source: source,
		// PagerDuty applies a dedup_key only to alerts of the same
		// routing key: two senders with different keys are two incidents.
		DedupKey:       routingScope(ev.RoutingKey.String()) + ":" + dedup,
		LegacyDedupKey: dedup,
		Fingerprint:    dedup,
		Status:         tocsin.AlertFiring,
		Severity:       severityOf(p.Severity.String()),
		Title:          firstOf(p.Summary.String(), "PagerDuty event "+dedup),
		StartsAt:       p.Timestamp.Time(),
		Labels:         map[string]string{},
		Annotations:    map[string]string{},
		ReceivedAt:     now,
		Raw:            redactRoutingKey(body),
	}
	if action == pdResolve {
		a.Status = tocsin.AlertResolved
		a.StartsAt, a.EndsAt = time.Time{}, p.Timestamp.Time()
	}
	setNonEmpty(a.Labels, "source", p.Source.String())
	setNonEmpty(a.Labels, "component", p.Component.String())
	setNonEmpty(a.Labels, "group", p.Group.String())
	setNonEmpty(a.Labels, "class", p.Class.String())
	switch jsonKind(p.CustomDetails) {
	case "object":
		var details labelSet
		_ = details.UnmarshalJSON(p.CustomDetails)
		maps.Copy(a.Annotations, details)
	case "nothing", "null":
	default:
		a.Description, _ = scalarString(p.CustomDetails)
	}
	a.Annotations["pagerduty_action"] = action
	for _, l := range ev.Links {
		a.Links = addLink(a.Links, firstOf(l.Text.String(), "Link"), l.Href.String())
	}
	for _, img := range ev.Images {
		a.Links = addLink(a.Links, firstOf(img.Alt.String(), "Image"), img.Src.String())
	}
	a.Links = addLink(a.Links, firstOf(ev.Client.String(), "Client"), ev.ClientURL.String())
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	return []*tocsin.Alert{a}, nil
}

// validate checks the event the way the Events API v2 does, naming the
// first field that is wrong.
func (ev *pagerDutyEvent) validate() error {
	const source = tocsin.SourcePagerDuty
	if ev.RoutingKey.String() == "" {
		return tocsin.Errorf(tocsin.EINVALID, "%s: %q is required", source, "routing_key")
	}
	action := ev.EventAction.String()
	switch action {
	case pdTrigger, pdAcknowledge, pdResolve:
	case "":
		return tocsin.Errorf(tocsin.EINVALID, "%s: %q is required", source, "event_action")
	default:
		return tocsin.Errorf(tocsin.EINVALID, "%s: %q must be trigger, acknowledge or resolve", source, "event_action")
	}
	dedup := ev.DedupKey.String()
	if len(dedup) > maxPagerDutyDedupKey {
		return tocsin.Errorf(tocsin.EINVALID, "%s: %q is longer than %d characters", source, "dedup_key", maxPagerDutyDedupKey)
	}
	if action != pdTrigger {
		if dedup == "" {
			return tocsin.Errorf(tocsin.EINVALID, "%s: %q is required to %s", source, "dedup_key", action)
		}
		return nil
	}
	p := ev.Payload
	switch {
	case p == nil:
		return tocsin.Errorf(tocsin.EINVALID, "%s: %q is required to trigger", source, "payload")
	case p.Summary.String() == "":
		return tocsin.Errorf(tocsin.EINVALID, "%s: %q is required", source, "payload.summary")
	case p.Source.String() == "":
		return tocsin.Errorf(tocsin.EINVALID, "%s: %q is required", source, "payload.source")
	case p.Severity.String() == "":
		return tocsin.Errorf(tocsin.EINVALID, "%s: %q is required", source, "payload.severity")
	case !pdSeverities[strings.ToLower(p.Severity.String())]:
		return tocsin.Errorf(tocsin.EINVALID, "%s: %q must be critical, error, warning or info", source, "payload.severity")
	}
	return nil
}

// routingScope identifies a routing key in dedup keys without revealing
// it: 64 bits of a SHA-256 over it, enough to tell senders apart.
func routingScope(routingKey string) string {
	return hashKey("tocsin pagerduty routing_key", routingKey)[:16]
}

// PagerDutyRoutingKey returns the routing_key of a PagerDuty Events API v2
// body, or "" when the body has none, so the HTTP layer can accept it as
// the sender's credential before decoding the event.
func PagerDutyRoutingKey(body []byte) string {
	var ev struct {
		RoutingKey text `json:"routing_key"`
	}
	if json.Unmarshal(body, &ev) != nil {
		return ""
	}
	return ev.RoutingKey.String()
}

// RedactPagerDuty returns body with its routing_key replaced, for logs.
func RedactPagerDuty(body []byte) []byte { return redactRoutingKey(body) }

// redactRoutingKey replaces the routing_key of an Events API v2 body with
// "[REDACTED]"; a body that is not a JSON object is returned as it is.
func redactRoutingKey(body []byte) []byte {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return body
	}
	if _, ok := obj["routing_key"]; !ok {
		return body
	}
	obj["routing_key"] = json.RawMessage(`"[REDACTED]"`)
	out, err := json.Marshal(obj)
	if err != nil {
		return body
	}
	return out
}
