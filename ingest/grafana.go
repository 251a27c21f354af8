package ingest

import (
	"time"

	"tocsin"
)

// Grafana decodes a Grafana unified alerting webhook into one alert per
// element of "alerts". The format is Alertmanager's with Grafana's
// additions (orgId, title, state, message; per alert values, valueString,
// silenceURL, dashboardURL, panelURL, imageURL), and it is read the same
// way as Alertmanager's: the dedup key is externalURL with
// "?orgId=<orgId>", a space and groupKey (or the receiver and the sorted
// group labels), the fingerprint is the alert's fingerprint (or the
// Prometheus fingerprint of its labels). The dashboard, panel, silence and
// image URLs become links, and valueString, when present, is kept as the
// annotation "value_string". Every alert's Raw is the whole webhook body.
//
// Grafana's legacy (pre-9) alerting webhook, which has no "alerts", is not
// supported.
func Grafana(body []byte, now time.Time) ([]*tocsin.Alert, error) {
	return decodeGroup(tocsin.SourceGrafana, body, now)
}
