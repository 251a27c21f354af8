package main

import (
	"net/http"
	"strings"
	"testing"

	"tocsin/apptest"
	"tocsin/store/storetest"
)

// The audit's bodies: a NUL escape in a generic alert's title and a raw
// 0xFF byte in an Alertmanager label are accepted (2xx) and stored on both
// databases, never a 500 the sender retries forever.
func TestIntakeOddEncodings(t *testing.T) {
	for _, k := range storetest.Kinds() {
		t.Run(k.Name, func(t *testing.T) {
			ts := apptest.Start(t, k.URL(t), nil)
			status, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"a\u0000b","dedup_key":"nul"}`)
			if status != http.StatusAccepted && status != http.StatusOK && status != http.StatusCreated {
				t.Fatalf("generic with \\u0000: %d %v", status, body)
			}
			if inc := ts.Incident(t, apptest.FirstID(t, body)); inc.Title != "a\uFFFDb" {
				t.Errorf("title = %q", inc.Title)
			}
			am := strings.Replace(apptest.AMPayload("g-ff", "firing", "fp1"), `"instance":"fp1"`, "\"instance\":\"fp1\xff\"", 1)
			status, body = ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, am)
			if status >= 300 {
				t.Fatalf("alertmanager with 0xFF: %d %v", status, body)
			}
			if inc := ts.Incident(t, apptest.FirstID(t, body)); inc.Alerts[0].Labels["instance"] != "fp1\uFFFD" {
				t.Errorf("labels = %v", inc.Alerts[0].Labels)
			}
		})
	}
}
