package store_test

import (
	"context"
	"fmt"
	"reflect"
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

// TestLoadDeliveries checks the batch read against LoadDelivery: for every
// notification it answers, the same delivery; nil for those it leaves to
// LoadDelivery (no alert named, no alerts, gone); an incident named twice
// answered twice, in copies of its own; lists past one query's 128 and of
// padded lengths.
func TestLoadDeliveries(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			clock := storetest.NewClock(storetest.Epoch)
			db := storetest.Open(t, kind.URL(t), store.Options{Now: clock.Now, Policy: tocsin.Policy{Impacts: tocsin.DefaultImpacts()}})
			var incs, alerts []string
			for i := range 140 {
				a := storetest.NewAlert(fmt.Sprintf("g%d", i), "a1", tocsin.AlertFiring, "critical")
				a.Raw = []byte(fmt.Sprintf(`{"n":%d}`, i))
				res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{a}, tocsin.IngestOptions{})
				if err != nil {
					t.Fatal(err)
				}
				incs, alerts = append(incs, res[0].IncidentID), append(alerts, res[0].AlertID)
				clock.Add(1)
				if i%3 == 0 {
					// A second alert: the first one's delivery still names it.
					b := storetest.NewAlert(fmt.Sprintf("g%d", i), "a2", tocsin.AlertFiring, "critical")
					b.Raw = []byte(`{"second":true}`)
					if _, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{b}, tocsin.IngestOptions{}); err != nil {
						t.Fatal(err)
					}
					if i%2 == 0 {
						alerts[i] = res[0].AlertID // stays the first
					}
				}
				if i%4 == 0 {
					if _, err := db.SQL().Exec(`INSERT INTO channel_refs (incident_id, channel, ref) VALUES ($1, 'webhook', $2)`, res[0].IncidentID, fmt.Sprint("ref-", i)); err != nil {
						t.Fatal(err)
					}
				}
			}
			bare, _, err := db.Incidents().StartIncident(ctx, &tocsin.IncidentStart{Title: "bare", By: tocsin.Actor{Name: "alice"}})
			if err != nil {
				t.Fatal(err)
			}
			// Without an alert id: the first alert and its payload (incs[3]
			// and incs[6] have two alerts), also beside the same incident's
			// notification of an alert.
			incs = append(incs, bare.ID, "missing", incs[1], incs[2], incs[2], incs[3], incs[6], incs[2])
			alerts = append(alerts, "x", "x", "", alerts[2], alerts[2], "", "", "")
			alerts[5] = "not-an-alert-of-it"
			for _, n := range []int{1, 2, 3, 5, 17, 64, len(incs)} {
				got, err := db.Incidents().LoadDeliveries(ctx, "webhook", incs[:n], alerts[:n])
				if err != nil || len(got) != n {
					t.Fatalf("n=%d: %d answers, %v", n, len(got), err)
				}
				for i := range n {
					leftOut := i == 140 || i == 141
					if leftOut {
						if got[i] != nil {
							t.Fatalf("n=%d: %d (%s, %q) answered; it is LoadDelivery's", n, i, incs[i], alerts[i])
						}
						continue
					}
					want, err := db.Incidents().LoadDelivery(ctx, incs[i], alerts[i], "webhook")
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got[i], want) {
						t.Fatalf("n=%d: delivery %d:\n got %+v\nwant %+v", n, i, got[i], want)
					}
					for j := range i {
						if got[j] != nil && (got[j] == got[i] || got[j].Incident == got[i].Incident) {
							t.Fatalf("n=%d: deliveries %d and %d share their data", n, j, i)
						}
					}
				}
			}
		})
	}
}
