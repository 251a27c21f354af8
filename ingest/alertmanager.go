package ingest

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"tocsin"
)

// groupMessage is the webhook body of Prometheus Alertmanager (version 4)
// and of Grafana unified alerting, which extends it with a few fields.
type groupMessage = groupMessageOf[*groupAlert]

// groupMessageOf is a group message whose alerts are decoded as A: each
// alert (groupMessage), or left raw to be decoded one by one (groupError).
type groupMessageOf[A any] struct {
	Version           text     `json:"version"`
	GroupKey          text     `json:"groupKey"`
	Status            text     `json:"status"`
	Receiver          text     `json:"receiver"`
	GroupLabels       labelSet `json:"groupLabels"`
	CommonLabels      labelSet `json:"commonLabels"`
	CommonAnnotations labelSet `json:"commonAnnotations"`
	ExternalURL       text     `json:"externalURL"`
	Alerts            []A      `json:"alerts"`

	// Grafana only.
	Title text `json:"title"`
	OrgID text `json:"orgId"`
}

// groupAlert is one element of a group message's "alerts".
type groupAlert struct {
	Status       text     `json:"status"`
	Labels       labelSet `json:"labels"`
	Annotations  labelSet `json:"annotations"`
	StartsAt     stamp    `json:"startsAt"`
	EndsAt       stamp    `json:"endsAt"`
	GeneratorURL text     `json:"generatorURL"`
	Fingerprint  text     `json:"fingerprint"`

	// Grafana only.
	SilenceURL   text `json:"silenceURL"`
	DashboardURL text `json:"dashboardURL"`
	PanelURL     text `json:"panelURL"`
	ImageURL     text `json:"imageURL"`
	ValueString  text `json:"valueString"`
}

// Alertmanager decodes a Prometheus Alertmanager webhook (version 4) into
// one alert per element of "alerts".
//
// The dedup key is the sender's externalURL, a space and the
// notification's groupKey (or, without one, the receiver and the sorted
// group labels), so each group of each Alertmanager is one incident;
// LegacyDedupKey is the group key alone, the key of earlier versions. The fingerprint is the alert's own fingerprint (or the
// Prometheus fingerprint of its labels), so a resolved alert matches its
// firing one. The title is annotations.summary, else labels.alertname with
// the instance (or pod, service, job, host) it is about. Severity is
// labels.severity. EndsAt is only set on resolved alerts: on firing ones
// Alertmanager's endsAt is an expiry, not an end. Every alert's Raw is the
// whole webhook body.
func Alertmanager(body []byte, now time.Time) ([]*tocsin.Alert, error) {
	return decodeGroup(tocsin.SourceAlertmanager, body, now)
}

// decodeGroup decodes an Alertmanager or Grafana webhook body.
func decodeGroup(source string, body []byte, now time.Time) ([]*tocsin.Alert, error) {
	body, err := trimBody(body)
	if err != nil {
		return nil, err
	}
	// One pass decodes a well-formed message (a third faster than each
	// alert on its own: encoding/json validates what it decodes first); a
	// message that fails it (or has a null alert) is decoded again, alert
	// by alert, for an error that names the alert. The one difference: a
	// body that repeats the "alerts" key gets encoding/json's rule for a
	// repeated key (the later array decoded into the earlier's elements),
	// where the later array used to replace the earlier.
	var msg groupMessage
	if json.Unmarshal(body, &msg) != nil || slices.Contains(msg.Alerts, nil) {
		return nil, groupError(source, body)
	}
	if err := checkGroupSize(source, len(msg.Alerts)); err != nil {
		return nil, err
	}
	group, dedup := groupKeys(source, &msg)
	alerts := make([]*tocsin.Alert, 0, len(msg.Alerts))
	for _, ga := range msg.Alerts {
		a := groupToAlert(source, &msg, ga)
		a.DedupKey, a.LegacyDedupKey = dedup, group
		a.ReceivedAt = now
		a.Raw = body
		alerts = append(alerts, a)
	}
	return alerts, nil
}

// checkGroupSize refuses a group message with no alerts or too many.
func checkGroupSize(source string, n int) error {
	switch {
	case n == 0:
		return tocsin.Errorf(tocsin.EINVALID, "%s: %q must be a non-empty array", source, "alerts")
	case n > MaxAlertsPerRequest:
		return tooMany(source, n)
	}
	return nil
}

// groupError is why a group message body does not decode: the message's
// own error, else the size's, else the first alert's, named by its index.
func groupError(source string, body []byte) error {
	var msg groupMessageOf[json.RawMessage]
	if err := decode(source, "", body, &msg); err != nil {
		return err
	}
	if err := checkGroupSize(source, len(msg.Alerts)); err != nil {
		return err
	}
	for i, raw := range msg.Alerts {
		path := fmt.Sprintf("alerts[%d]", i)
		if !isObject(raw) {
			return tocsin.Errorf(tocsin.EINVALID, "%s: %q must be an object", source, path)
		}
		var ga groupAlert
		if err := decode(source, path, raw, &ga); err != nil {
			return err
		}
	}
	return tocsin.Errorf(tocsin.EINVALID, "%s: the body is not a group message", source)
}

// groupSender identifies the Alertmanager or Grafana that sent a group
// message: its externalURL (a URL has no spaces, so "<sender> <group key>"
// is unambiguous), with Grafana's orgId, whose organisations share one
// externalURL and may have the same routes.
func groupSender(source string, msg *groupMessage) string {
	sender := msg.ExternalURL.String()
	if source == tocsin.SourceGrafana && msg.OrgID.String() != "" {
		sender += "?orgId=" + msg.OrgID.String()
	}
	return sender
}

// groupToAlert builds the alert for one element of a group message.
func groupToAlert(source string, msg *groupMessage, ga *groupAlert) *tocsin.Alert {
	labels := ga.Labels
	if len(labels) == 0 {
		labels = msg.CommonLabels
	}
	annotations := ga.Annotations
	if len(annotations) == 0 {
		annotations = msg.CommonAnnotations
	}
	a := &tocsin.Alert{
		Source:      source,
		Fingerprint: ga.Fingerprint.String(),
		Status:      statusOf(firstOf(ga.Status.String(), msg.Status.String())),
		Severity:    severityOf(firstOf(labels["severity"], msg.CommonLabels["severity"])),
		Title:       groupTitle(source, msg, labels, annotations),
		Description: firstOf(annotations["description"], annotations["message"], msg.CommonAnnotations["description"]),
		Labels:      copyMap(labels),
		Annotations: copyMap(annotations),
		StartsAt:    ga.StartsAt.Time(),
	}
	if a.Fingerprint == "" {
		a.Fingerprint = labelsFingerprint(labels)
	}
	if a.Resolved() {
		a.EndsAt = ga.EndsAt.Time()
	}
	a.Links = addLink(a.Links, "Source", ga.GeneratorURL.String())
	a.Links = addLink(a.Links, "Runbook", firstOf(annotations["runbook_url"], annotations["runbook"]))
	a.Links = addLink(a.Links, "Dashboard", firstOf(ga.DashboardURL.String(), annotations["dashboard_url"], annotations["dashboard"]))
	if source == tocsin.SourceGrafana {
		a.Links = addLink(a.Links, "Panel", ga.PanelURL.String())
		a.Links = addLink(a.Links, "Silence", ga.SilenceURL.String())
		a.Links = addLink(a.Links, "Image", ga.ImageURL.String())
		if v := ga.ValueString.String(); v != "" && a.Annotations["value_string"] == "" {
			if a.Annotations == nil {
				a.Annotations = make(map[string]string)
			}
			a.Annotations["value_string"] = v
		}
	}
	return a
}

// instanceLabels are the labels that say which thing an alert is about,
// tried in order to make a title from an alertname.
var instanceLabels = []string{"instance", "pod", "service", "job", "host"}

// groupTitle picks the title of one alert of a group message.
func groupTitle(source string, msg *groupMessage, labels, annotations map[string]string) string {
	if s := firstOf(annotations["summary"], annotations["title"]); s != "" {
		return s
	}
	if name := firstOf(labels["alertname"]); name != "" {
		for _, l := range instanceLabels {
			if v := firstOf(labels[l]); v != "" {
				return name + " on " + v
			}
		}
		return name
	}
	if s := firstOf(msg.CommonAnnotations["summary"], msg.CommonLabels["alertname"], msg.Title.String()); s != "" {
		return s
	}
	if source == tocsin.SourceGrafana {
		return "Grafana alert"
	}
	return "Alertmanager alert"
}

// groupKeys is a group message's group (its key, or receiver and group
// labels) and the dedup key its alerts are stored under: a group key names
// a route, not an Alertmanager — two Alertmanagers (production and
// staging) with the same route send the same one — so the sender is part
// of it when known.
func groupKeys(source string, msg *groupMessage) (group, dedup string) {
	group = msg.GroupKey.String()
	if group == "" {
		group = msg.Receiver.String() + ":" + labelString(msg.GroupLabels)
	}
	dedup = group
	if sender := groupSender(source, msg); sender != "" {
		dedup = sender + " " + group
	}
	return group, dedup
}
