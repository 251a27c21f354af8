package ingest

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"tocsin"
)

// Detect decodes whatever JSON is posted to Versus Incident's
// POST /api/incidents: an object, or an array whose elements are decoded
// one by one, each with its own bytes as Raw. It recognises each object's
// format and hands it to that format's decoder:
//
//   - Grafana: "receiver" and one of "orgId", "state" or "dashboardURL"
//     (at the top or in an alert). Checked before Alertmanager, whose
//     webhook Grafana's extends.
//   - Alertmanager: "receiver" and "alerts".
//   - CloudWatch alarm: "AlarmName".
//   - Sentry: "event.event_id", "data.issue.id", "data.event" or
//     "data.metric_alert".
//   - PagerDuty Events v2: "routing_key" and "event_action".
//   - Generic: "title" and no key outside the generic format.
//
// Errors from a recognised format's decoder are returned, except for the
// generic format, whose look-alikes fall back to plain JSON. An SNS
// envelope is not unwrapped here (it has its own endpoint); like any other
// object it becomes one plain JSON alert of source "json":
//
//   - Title: the first present of title, alertname, alarmname, summary,
//     subject, name, looked up at the top level, then in "labels", then in
//     "commonLabels"; else "<service>: <first line of the message>"; "Unknown alert" when there is nothing.
//   - Severity: Severity, severity, level or priority, looked up the same way.
//   - Status: resolved when the top-level status, state or alertState is
//     "resolved" in any case, else firing.
//   - Dedup key and fingerprint: the top-level dedup_key, dedupKey,
//     fingerprint or id when given, else "json:" and a hash of the
//     canonical JSON (keys sorted, white space dropped) without the status
//     keys above, so a retried body joins the same incident and a body that
//     differs only by its status resolves it.
//   - Labels: "commonLabels" and "labels", plus "service" from the first of
//     Versus's service keys (ServiceName, Service, service, service_name,
//     servicename, app, component).
//
// An empty body, a body that is not JSON, or JSON that is neither an
// object nor an array of objects is EINVALID.
func Detect(body []byte, now time.Time) ([]*tocsin.Alert, error) {
	body, err := trimBody(body)
	if err != nil {
		return nil, err
	}
	switch jsonKind(body) {
	case "object":
		return detectObject(body, now)
	case "array":
		return detectArray(body, now)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, jsonError(tocsin.SourceJSON, "", err)
	}
	return nil, tocsin.Errorf(tocsin.EINVALID, "body must be a JSON object or array")
}

// detectArray decodes each element of a JSON array with detectObject.
func detectArray(body []byte, now time.Time) ([]*tocsin.Alert, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		return nil, jsonError(tocsin.SourceJSON, "", err)
	}
	switch n := len(items); {
	case n == 0:
		return nil, tocsin.Errorf(tocsin.EINVALID, "empty array")
	case n > MaxAlertsPerRequest:
		return nil, tooMany("", n)
	}
	var alerts []*tocsin.Alert
	for i, item := range items {
		if !isObject(item) {
			return nil, tocsin.Errorf(tocsin.EINVALID, "element %d: must be a JSON object", i)
		}
		got, err := detectObject(item, now)
		if err != nil {
			return nil, tocsin.Errorf(tocsin.EINVALID, "element %d: %s", i, tocsin.ErrorMessage(err))
		}
		if n := len(alerts) + len(got); n > MaxAlertsPerRequest {
			return nil, tooMany("", n)
		}
		alerts = append(alerts, got...)
	}
	return alerts, nil
}

// detectObject recognises the format of one JSON object and decodes it.
func detectObject(obj []byte, now time.Time) ([]*tocsin.Alert, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(obj, &top); err != nil {
		return nil, jsonError(tocsin.SourceJSON, "", err)
	}
	has := func(key string) bool { _, ok := top[key]; return ok }
	switch {
	case has("receiver") && isGrafana(top):
		return Grafana(obj, now)
	case has("receiver") && has("alerts"):
		return Alertmanager(obj, now)
	case has("AlarmName"):
		return CloudWatchAlarm(obj, now)
	case isSentry(top):
		return Sentry(obj, now)
	case has("routing_key") && has("event_action"):
		return PagerDuty(obj, now)
	case isGeneric(top):
		if alerts, err := Generic(obj, now); err == nil {
			return alerts, nil
		}
	}
	return plainJSON(obj, top, now), nil
}

// object decodes the JSON object m[key]; it is nil when absent or not an object.
func object(m map[string]json.RawMessage, key string) map[string]json.RawMessage {
	var out map[string]json.RawMessage
	if v, ok := m[key]; ok && isObject(v) {
		_ = json.Unmarshal(v, &out)
	}
	return out
}

// isGrafana tells Grafana's webhook from Alertmanager's by the fields
// Grafana adds.
func isGrafana(top map[string]json.RawMessage) bool {
	for _, k := range []string{"orgId", "state", "dashboardURL"} {
		if _, ok := top[k]; ok {
			return true
		}
	}
	var alerts []map[string]json.RawMessage
	_ = json.Unmarshal(top["alerts"], &alerts)
	for _, a := range alerts {
		for _, k := range []string{"dashboardURL", "panelURL", "silenceURL"} {
			if _, ok := a[k]; ok {
				return true
			}
		}
	}
	return false
}

func isSentry(top map[string]json.RawMessage) bool {
	if _, ok := object(top, "event")["event_id"]; ok {
		return true
	}
	data := object(top, "data")
	if _, ok := object(data, "issue")["id"]; ok {
		return true
	}
	return isObject(data["event"]) || isObject(data["metric_alert"])
}

func isGeneric(top map[string]json.RawMessage) bool {
	if jsonKind(top["title"]) != "string" {
		return false
	}
	for k := range top {
		if !slices.Contains(genericKeys, k) {
			return false
		}
	}
	return true
}

// Keys looked up in plain JSON, in order (Versus Incident's lists).
var (
	titleKeys       = []string{"title", "alertname", "alarmname", "summary", "subject", "name"}
	severityKeys    = []string{"Severity", "severity", "level", "priority"}
	serviceKeys     = []string{"ServiceName", "Service", "service", "service_name", "servicename", "app", "component"}
	descriptionKeys = []string{"description", "Description", "message", "Message", "Logs", "details", "text"}
	statusKeys      = []string{"status", "state", "alertState"}
	dedupKeys       = []string{"dedup_key", "dedupKey", "fingerprint", "id"}
)

// plainJSON builds the one alert of an object no decoder recognised.
func plainJSON(obj []byte, top map[string]json.RawMessage, now time.Time) []*tocsin.Alert {
	labels, commonLabels := labelsAt(top, "labels"), labelsAt(top, "commonLabels")
	fields := scalars(top)
	lookup := func(keys []string) string {
		for _, m := range []map[string]string{fields, labels, commonLabels} {
			for _, k := range keys {
				if v := firstOf(m[k]); v != "" {
					return v
				}
			}
		}
		return ""
	}
	a := &tocsin.Alert{
		Source:      tocsin.SourceJSON,
		Status:      tocsin.AlertFiring,
		Title:       plainTitle(lookup(titleKeys), lookup(serviceKeys), pick(fields, descriptionKeys)),
		Severity:    severityOf(lookup(severityKeys)),
		Description: pick(fields, descriptionKeys),
		StartsAt:    firstTime(parseTime(top["startsAt"]), parseTime(top["timestamp"])),
		ReceivedAt:  now,
		Raw:         obj,
	}
	for _, k := range statusKeys {
		if strings.EqualFold(strings.TrimSpace(fields[k]), tocsin.AlertResolved) {
			a.Status = tocsin.AlertResolved
		}
	}
	a.DedupKey = pick(fields, dedupKeys)
	if a.DedupKey == "" {
		a.DedupKey = "json:" + canonicalHash(obj)
	}
	a.Fingerprint = a.DedupKey
	merged := map[string]string{}
	maps.Copy(merged, commonLabels)
	maps.Copy(merged, labels)
	if s := lookup(serviceKeys); s != "" && merged["service"] == "" {
		merged["service"] = s
	}
	a.Labels = copyMap(merged)
	a.Annotations = copyMap(labelsAt(top, "annotations"))
	if a.Annotations == nil {
		a.Annotations = copyMap(labelsAt(top, "commonAnnotations"))
	}
	a.Links = addLink(a.Links, "Link", pick(fields, []string{"url", "URL", "link"}))
	a.Links = addLink(a.Links, "Source", fields["generatorURL"])
	a.Links = addLink(a.Links, "Runbook", firstOf(fields["runbook_url"], a.Annotations["runbook_url"]))
	a.Links = addLink(a.Links, "Dashboard", pick(fields, []string{"dashboardURL", "dashboard_url"}))
	return []*tocsin.Alert{a}
}

// plainTitle names an alert without a title key after its service and the
// first line of its message ("test-service: [CRITICAL] disk full"), so
// custom JSON such as {"Logs": …, "ServiceName": …} reads well.
func plainTitle(title, service, message string) string {
	if title != "" {
		return title
	}
	line, _, _ := strings.Cut(strings.TrimSpace(message), "\n")
	if r := []rune(line); len(r) > 120 {
		line = string(r[:119]) + "…"
	}
	switch {
	case service != "" && line != "":
		return service + ": " + line
	case line != "":
		return line
	case service != "":
		return service + " alert"
	}
	return "Unknown alert"
}

// labelsAt reads top[key] as a label set; anything but an object reads as
// no labels.
func labelsAt(top map[string]json.RawMessage, key string) labelSet {
	var l labelSet
	_ = l.UnmarshalJSON(top[key])
	return l
}

// scalars returns the top-level string, number and boolean fields of an
// object as text.
func scalars(top map[string]json.RawMessage) map[string]string {
	out := make(map[string]string, len(top))
	for k, v := range top {
		switch jsonKind(v) {
		case "string", "number", "bool":
			out[k], _ = scalarString(v)
		}
	}
	return out
}

// pick returns the first non-blank m[k] for k in keys.
func pick(m map[string]string, keys []string) string {
	for _, k := range keys {
		if v := firstOf(m[k]); v != "" {
			return v
		}
	}
	return ""
}

// canonicalHash hashes the canonical form of a JSON object (keys sorted,
// numbers as written, no white space) without its status keys.
func canonicalHash(obj []byte) string {
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return hashKey(string(obj))
	}
	for _, k := range statusKeys {
		delete(m, k)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return hashKey(string(obj))
	}
	return hashKey(string(b))
}
