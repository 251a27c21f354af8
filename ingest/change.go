package ingest

import (
	"encoding/json"
	"strings"
	"time"

	"tocsin"
)

// pagerDutyChange is a change event of PagerDuty's Events API v2
// (POST /v2/change/enqueue).
type pagerDutyChange struct {
	RoutingKey text `json:"routing_key"`
	Payload    *struct {
		Summary       text            `json:"summary"`
		Source        text            `json:"source"`
		Timestamp     stamp           `json:"timestamp"`
		CustomDetails json.RawMessage `json:"custom_details"`
	} `json:"payload"`
	Links objects[struct {
		Href text `json:"href"`
		Text text `json:"text"`
	}] `json:"links"`
}

// PagerDutyChange decodes one PagerDuty Events API v2 change event (a
// deploy, a configuration change). As PagerDuty does, it needs
// payload.summary (cut to 1024 characters); a missing timestamp is now.
// PagerDuty knows the service from the routing key; tocsin's is, in
// order, service (the request's ?service=), custom_details.service, or
// payload.source. Links without an http(s) href are dropped.
func PagerDutyChange(body []byte, service string, now time.Time) (*tocsin.ChangeEvent, error) {
	body, err := trimBody(body)
	if err != nil {
		return nil, err
	}
	var ev pagerDutyChange
	if err := decode(tocsin.SourcePagerDuty, "", body, &ev); err != nil {
		return nil, err
	}
	if ev.Payload == nil || ev.Payload.Summary.String() == "" {
		return nil, tocsin.Errorf(tocsin.EINVALID, "payload.summary: required")
	}
	p := ev.Payload
	c := &tocsin.ChangeEvent{Summary: tocsin.Truncate(p.Summary.String(), tocsin.MaxChangeSummary), Source: p.Source.String(),
		Timestamp: p.Timestamp.Time(), Custom: p.CustomDetails}
	if c.Timestamp.IsZero() {
		c.Timestamp = now
	}
	var details struct {
		Service text `json:"service"`
	}
	if len(p.CustomDetails) > 0 {
		_ = json.Unmarshal(p.CustomDetails, &details)
	}
	if len(p.CustomDetails) == 0 || string(p.CustomDetails) == "null" {
		c.Custom = nil
	}
	c.Service = tocsin.TruncateBytes(firstOf(strings.TrimSpace(service), details.Service.String(), p.Source.String()), 255)
	c.Source = tocsin.TruncateBytes(c.Source, 255)
	if c.Service == "" {
		return nil, tocsin.Errorf(tocsin.EINVALID, "payload.source: required when neither ?service= nor custom_details.service names the service")
	}
	for _, l := range ev.Links {
		if h := l.Href.String(); tocsin.ValidWebURL(h) {
			if len(c.Links) < tocsin.MaxChangeLinks {
				c.Links = append(c.Links, tocsin.Link{Text: l.Text.String(), URL: h})
			}
		}
	}
	if len(c.Custom) > tocsin.MaxTriggerRawData {
		c.Custom = nil // too large to keep: the summary and links stay
	}
	return c, nil
}
