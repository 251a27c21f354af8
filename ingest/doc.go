// Package ingest decodes the alerts monitoring tools send into
// tocsin.Alert values: one decoder per source format (Alertmanager,
// Grafana, CloudWatch via SNS, Sentry, PagerDuty Events v2, tocsin's
// generic format), Detect for anything posted to Versus Incident's
// POST /api/incidents, and the SNS envelope with its signature check.
//
// Foreign payloads are decoded leniently: unknown fields are ignored,
// missing optional fields are fine, and label values that are numbers or
// booleans are kept as text. Malformed input (not JSON, or a field of the
// wrong kind where the alerts are) is an EINVALID *tocsin.Error whose
// message names the problem, such as `alertmanager: "alerts" must be an
// array` or `invalid JSON at offset 17: …`. No input makes a decoder
// panic. A request carries at most MaxAlertsPerRequest alerts.
//
// Every decoded alert has a Source, a DedupKey (alerts with the same
// source and dedup key are one incident while it is open), a Fingerprint
// (the alert within that group, so a resolved alert matches its firing
// one), a Status (firing or resolved), a Title, and Raw: the JSON object
// it came from, which templates render as Versus Incident's do.
//
// # Generic format
//
// Any tool that can POST JSON can use tocsin's generic format: one object,
// or an array of up to MaxAlertsPerRequest objects.
//
//	{
//	  "title": "Disk almost full on db-1",
//	  "description": "/var is 95% full",
//	  "severity": "critical",
//	  "status": "firing",
//	  "dedup_key": "db-1/disk",
//	  "fingerprint": "db-1/disk/var",
//	  "labels": {"host": "db-1", "team": "storage"},
//	  "links": [{"text": "Dashboard", "url": "https://grafana.example.com/d/disk"}]
//	}
//
// The keys:
//
//	title        string, required      what is wrong, in one line
//	description  string                more detail
//	severity     string                any word (critical, warning, …); lower-cased
//	status       string                "firing" (the default) or "resolved", in any case
//	dedup_key    string                alerts with the same dedup key are one incident
//	                                   while it is open; default: a hash of the title
//	fingerprint  string                this alert within the incident, so a resolved
//	                                   alert resolves it; default: the dedup key
//	labels       object of strings     for routing and display
//	links        array of objects      {"text": string, "url": http(s) URL, required}
//
// To resolve, send the same dedup key (and fingerprint) with
// "status": "resolved". The format is decoded strictly: an unknown key, a
// value of the wrong type, a missing title or a link URL that is not
// http(s) is rejected with a message naming the key, for example
// `generic: unknown field "titel"` or
// `generic: "labels" must be an object of strings`.
//
// # Dedup keys
//
// The dedup key each source's alerts are grouped by, and the fingerprint
// that matches a resolved alert to its firing one:
//
//	source        dedup key                                        fingerprint
//	alertmanager  externalURL + " " + groupKey (else receiver +    fingerprint (else Prometheus hash of labels)
//	              sorted groupLabels)
//	grafana       externalURL + "?orgId=" + orgId + " " +           fingerprint (else Prometheus hash of labels)
//	              groupKey (else receiver + sorted groupLabels)
//	cloudwatch    AlarmArn (else account/region/AlarmName)         the dedup key
//	sentry        <project id>:<issue id> (legacy plugin:          the dedup key
//	              <project slug>:<id>); metric alerts:
//	              metric_alert:<incident id>
//	pagerduty     hash of routing_key + ":" + dedup_key            dedup_key (a trigger without one: a hash
//	                                                               of routing_key, summary and source)
//	generic       dedup_key (else a hash of the title)             fingerprint (else the dedup key)
//	json          dedup_key, dedupKey, fingerprint or id (else     the dedup key
//	              "json:" + hash of the canonical JSON without
//	              status, state and alertState)
//
// The sender is part of the key because a group key or a dedup_key is
// only unique per sender: a production and a staging Alertmanager with the
// same route send the same groupKey, and PagerDuty applies a dedup_key
// only to events of the same routing key. Earlier versions used the bare
// groupKey or dedup_key; alerts carry it as LegacyDedupKey so that an
// incident opened before an upgrade keeps its alerts until it resolves.
//
// # Statuses
//
// Alertmanager and Grafana alerts carry their own status. CloudWatch's OK
// resolves, ALARM fires and INSUFFICIENT_DATA fires with severity
// "warning". Sentry's action "resolved" resolves. PagerDuty's resolve
// resolves, trigger fires, and acknowledge keeps the alert firing with the
// annotation pagerduty_action=acknowledge, which the service turns into an
// acknowledgement of the open incident. Plain JSON is resolved when its
// top-level status, state or alertState is "resolved".
package ingest
