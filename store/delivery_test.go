package store_test

import (
	"context"
	"testing"

	"tocsin"
	"tocsin/store"
	"tocsin/store/storetest"
)

// TestLoadDelivery checks the one-statement read of a delivery: the alert
// asked for (the first when none is named) with its own payload, every
// alert of the incident, and the channel's reference (only that
// channel's).
func TestLoadDelivery(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			clock := storetest.NewClock(storetest.Epoch)
			db := storetest.Open(t, kind.URL(t), store.Options{Now: clock.Now, Policy: tocsin.Policy{Impacts: tocsin.DefaultImpacts()}})
			first := storetest.NewAlert("g", "a1", tocsin.AlertFiring, "critical")
			first.Raw = []byte(`{"n":1}`)
			res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{first}, tocsin.IngestOptions{})
			if err != nil {
				t.Fatal(err)
			}
			clock.Add(1)
			second := storetest.NewAlert("g", "a2", tocsin.AlertFiring, "critical")
			second.Raw = []byte(`{"n":2}`)
			res2, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{second}, tocsin.IngestOptions{})
			if err != nil || res2[0].IncidentID != res[0].IncidentID {
				t.Fatalf("second alert: %+v %v", res2, err)
			}
			id := res[0].IncidentID
			if _, err := db.SQL().Exec(`INSERT INTO channel_refs (incident_id, channel, ref) VALUES ($1, 'slack', 'ts-1')`, id); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name, alertID, channel string
				wantAlert, wantPayload string
				wantRef                string
			}{
				{"first by default", "", "slack", res[0].AlertID, `{"n":1}`, "ts-1"},
				{"named alert", res2[0].AlertID, "webhook", res2[0].AlertID, `{"n":2}`, ""},
				{"unknown alert", "nope", "", "", "", ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					d, err := db.Incidents().LoadDelivery(ctx, id, tc.alertID, tc.channel)
					if err != nil {
						t.Fatal(err)
					}
					gotAlert := ""
					if d.Alert != nil {
						gotAlert = d.Alert.ID
					}
					if gotAlert != tc.wantAlert || string(d.Payload) != tc.wantPayload || d.Ref != tc.wantRef || len(d.Incident.Alerts) != 2 {
						t.Fatalf("alert %q payload %s ref %q alerts %d; want %q %s %q 2", gotAlert, d.Payload, d.Ref, len(d.Incident.Alerts),
							tc.wantAlert, tc.wantPayload, tc.wantRef)
					}
				})
			}
			if _, err := db.Incidents().LoadDelivery(ctx, "missing", "", ""); tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
				t.Fatalf("missing incident: %v", err)
			}
			// An incident opened without alerts (the API, AWS StartIncident).
			bare, _, err := db.Incidents().StartIncident(ctx, &tocsin.IncidentStart{Title: "bare", By: tocsin.Actor{Name: "alice"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.SQL().Exec(`INSERT INTO channel_refs (incident_id, channel, ref) VALUES ($1, 'slack', 'ts-2')`, bare.ID); err != nil {
				t.Fatal(err)
			}
			d, err := db.Incidents().LoadDelivery(ctx, bare.ID, "", "slack")
			if err != nil || d.Incident.ID != bare.ID || d.Incident.Title != "bare" || d.Alert != nil || len(d.Incident.Alerts) != 0 || d.Ref != "ts-2" {
				t.Fatalf("incident without alerts: %+v %v", d, err)
			}
		})
	}
}
