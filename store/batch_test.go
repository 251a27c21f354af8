package store

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tocsin"
)

// heldKinds opens a fresh store of each kind (PostgreSQL when
// TOCSIN_TEST_POSTGRES_URL is set) with a webhook channel, so every new
// incident queues a notification job (held back too).
func heldKinds(t *testing.T, run func(t *testing.T, db *DB)) {
	eachKind(t, Options{Policy: tocsin.Policy{Channels: []string{"webhook"}, AutoResolve: true, Impacts: tocsin.DefaultImpacts()}}, run)
}

// eachKind runs run, as a subtest, on a fresh store of each kind opened
// with opts (PostgreSQL when TOCSIN_TEST_POSTGRES_URL is set).
func eachKind(t *testing.T, opts Options, run func(t *testing.T, db *DB)) {
	urls := map[string]func(*testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "tocsin.db") },
		"postgres": testPostgresURL,
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) { run(t, openStore(t, urls[name](t), opts)) })
	}
}

func testAlert(group, fingerprint string) *tocsin.Alert {
	return &tocsin.Alert{
		Source: tocsin.SourceAlertmanager, DedupKey: group, Fingerprint: fingerprint, Status: tocsin.AlertFiring, Severity: "critical",
		Title: "Alert " + fingerprint, Labels: map[string]string{"alertname": "Test", "fp": fingerprint},
		Raw: json.RawMessage(`{"receiver":"test","group":"` + group + `","fp":"` + fingerprint + `"}`),
	}
}

// TestHeldRowsOneRequest: the alerts of one request that open and join
// one new incident find it although its rows are held back (the look-up
// inserts them first), by its key and by the legacy key; what each writes
// is all there after the commit.
func TestHeldRowsOneRequest(t *testing.T) {
	heldKinds(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		legacy := testAlert("new-key", "c")
		legacy.DedupKey, legacy.LegacyDedupKey = "newer-key", "g1"
		alerts := []*tocsin.Alert{testAlert("g1", "a"), testAlert("g2", "x"), testAlert("g1", "b"), testAlert("g1", "a"), legacy}
		res, err := db.Incidents().Ingest(ctx, alerts, tocsin.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		g1 := res[0].IncidentID
		for i, want := range []string{g1, "", g1, g1, g1} {
			if want != "" && res[i].IncidentID != want {
				t.Errorf("alert %d joined %s, want %s", i, res[i].IncidentID, want)
			}
		}
		if res[1].IncidentID == g1 || !res[1].Created || !res[0].Created {
			t.Errorf("g2 opened %+v, g1 %+v: want two new incidents", res[1], res[0])
		}
		if res[2].Created || res[3].Created || res[4].Created {
			t.Errorf("later alerts of g1 opened incidents: %+v", res[2:])
		}
		if res[3].AlertID != res[0].AlertID {
			t.Errorf("the repeat of a is alert %s, want %s", res[3].AlertID, res[0].AlertID)
		}
		inc, err := db.Incidents().FindIncident(ctx, g1)
		if err != nil {
			t.Fatal(err)
		}
		if len(inc.Alerts) != 3 || inc.AlertCount != 3 {
			t.Errorf("g1 has %d alerts (count %d), want 3 (a, b, c)", len(inc.Alerts), inc.AlertCount)
		}
		if len(inc.Timeline) == 0 {
			t.Error("g1 has no timeline")
		}
		var payloads, jobs int
		if err := db.SQL().QueryRow(`SELECT count(*) FROM payloads`).Scan(&payloads); err != nil {
			t.Fatal(err)
		}
		if err := db.SQL().QueryRow(`SELECT count(*) FROM jobs WHERE incident_id IN ($1, $2)`, g1, res[1].IncidentID).Scan(&jobs); err != nil {
			t.Fatal(err)
		}
		if payloads == 0 || jobs < 2 {
			t.Errorf("%d payloads and %d jobs stored, want some and a notification per incident", payloads, jobs)
		}
	})
}

// TestHeldRowsGroupCommit: many requests at once (one group commit on
// SQLite) each opening or joining incidents: every request for one group
// lands on the same incident, every incident has its alerts and counts,
// and no row held back is lost.
func TestHeldRowsGroupCommit(t *testing.T) {
	heldKinds(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		const groups, perGroup = 40, 5
		var wg sync.WaitGroup
		ids := make([][]string, groups)
		errs := make(chan error, groups*perGroup)
		for g := range groups {
			ids[g] = make([]string, perGroup)
			for f := range perGroup {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{testAlert("g"+strconv.Itoa(g), "f"+strconv.Itoa(f))}, tocsin.IngestOptions{})
					if err != nil {
						errs <- err
						return
					}
					ids[g][f] = res[0].IncidentID
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for g := range groups {
			for f := range perGroup {
				if ids[g][f] != ids[g][0] {
					t.Fatalf("group %d: alert %d joined %s, alert 0 %s", g, f, ids[g][f], ids[g][0])
				}
			}
			inc, err := db.Incidents().FindIncident(ctx, ids[g][0])
			if err != nil {
				t.Fatal(err)
			}
			if len(inc.Alerts) != perGroup || inc.AlertCount != perGroup || inc.OpenAlertCount != perGroup {
				t.Errorf("group %d: %d alerts, counts %d/%d, want %d", g, len(inc.Alerts), inc.AlertCount, inc.OpenAlertCount, perGroup)
			}
		}
		var incidents, jobs int
		db.SQL().QueryRow(`SELECT count(*) FROM incidents`).Scan(&incidents)
		db.SQL().QueryRow(`SELECT count(*) FROM jobs`).Scan(&jobs)
		if incidents != groups || jobs < groups {
			t.Errorf("%d incidents and %d jobs, want %d and a notification each", incidents, jobs, groups)
		}
	})
}

// TestHeldRowFailureIsTheCause: a held-back row the database refuses (a
// timeline event of no incident: its foreign key) fails the statement
// that inserts it first — a later read or the commit — and the
// transaction answers with that refusal, not the read's own error, and
// commits nothing.
func TestHeldRowFailureIsTheCause(t *testing.T) {
	heldKinds(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		now := time.Now().UTC()
		for _, then := range []string{"read", "commit"} {
			t.Run(then, func(t *testing.T) {
				var readErr error
				err := db.incidents.singleTx(ctx, func(tx *txn) error {
					if err := addEvent(ctx, tx, "no-such-incident", now, tocsin.EventNote, "test", "orphan", nil); err != nil {
						t.Fatalf("holding the row failed: %v", err)
					}
					if then == "read" {
						var n int
						readErr = tx.QueryRowContext(ctx, `SELECT count(*) FROM timeline`).Scan(&n)
						return readErr
					}
					return nil
				})
				if err == nil {
					t.Fatal("the orphan event was committed")
				}
				if then == "read" && readErr == nil {
					t.Error("the read after the orphan row succeeded")
				}
				if errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "insert timeline") {
					t.Errorf("error %v, want the timeline insert's", err)
				}
				var n int
				db.SQL().QueryRow(`SELECT count(*) FROM timeline WHERE incident_id = 'no-such-incident'`).Scan(&n)
				if n != 0 {
					t.Errorf("%d orphan events stored", n)
				}
			})
		}
	})
}

// TestChunkRows: a flush covers any count with statements of a few sizes.
func TestChunkRows(t *testing.T) {
	for _, c := range []struct{ rows, want int }{{1, 1}, {2, 2}, {3, 2}, {7, 4}, {8, 8}, {255, 128}, {256, 256}, {1000, 256}} {
		if got := chunkRows(c.rows); got != c.want {
			t.Errorf("chunkRows(%d) = %d, want %d", c.rows, got, c.want)
		}
	}
}

// TestRoutingCached: transactions share the routing the last committed
// one read (the look-up checks its version); one loaded without plans
// serves no request that picks a plan; a write of the routing is seen by
// the next alert, and a rolled-back one is not cached.
func TestRoutingCached(t *testing.T) {
	heldKinds(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		ingest := func(key string) *tocsin.IngestResult {
			t.Helper()
			res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{testAlert(key, "fp")}, tocsin.IngestOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return &res[0]
		}
		ingest("g1")
		a := db.routings.p.Load()
		if a == nil || a.plans != nil {
			t.Fatalf("cached after the first ingest: %+v", a)
		}
		ingest("g2")
		if db.routings.p.Load() != a {
			t.Error("the second transaction read the routing again")
		}
		err := db.incidents.singleTx(ctx, func(tx *txn) error {
			rt, err := routingFor(ctx, tx, tocsin.IngestOptions{ResponsePlan: "some-plan"}, false)
			if err != nil {
				return err
			}
			if rt == a || rt.plans == nil {
				t.Error("a request picking a plan got the routing loaded without plans")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		withPlans := db.routings.p.Load()
		if withPlans == a || withPlans.plans == nil || withPlans.version != a.version {
			t.Fatalf("the committed read with plans replaces the one without: %+v", withPlans)
		}
		// A transaction that changed the routing and rolled back: the
		// routing it read (its own write) is not cached.
		err = db.incidents.singleTx(ctx, func(tx *txn) error {
			if err := bumpRouting(ctx)(tx, time.Time{}); err != nil {
				return err
			}
			if _, err := routingFor(ctx, tx, tocsin.IngestOptions{}, true); err != nil {
				return err
			}
			return errors.New("roll back")
		})
		if err == nil || db.routings.p.Load() != withPlans {
			t.Fatalf("after a rolled-back routing write: %v, cached %+v", err, db.routings.p.Load())
		}
		plan := &tocsin.ResponsePlan{Name: "Outage", IncidentTemplate: tocsin.IncidentTemplate{Title: "outage", Impact: 2}}
		if _, err := db.ResponsePlans().PutResponsePlan(ctx, plan); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ResponsePlans().PutRouting(ctx, &tocsin.Routing{Default: &tocsin.RouteAction{ResponsePlan: "Outage"}}); err != nil {
			t.Fatal(err)
		}
		if inc, err := db.Incidents().FindIncident(ctx, ingest("g3").IncidentID); err != nil || inc.ResponsePlan != "Outage" {
			t.Fatalf("the alert after PutRouting: %+v %v", inc, err)
		}
		if rt := db.routings.p.Load(); rt.version <= withPlans.version || rt.doc == nil {
			t.Fatalf("cached after the routing changed: %+v", rt)
		}
	})
}

// TestInstancesSeeRoutingChanges: an instance that cached the routing
// routes its next alert by what another instance wrote since (PostgreSQL:
// both on one database).
func TestInstancesSeeRoutingChanges(t *testing.T) {
	url := testPostgresURL(t)
	opts := Options{Policy: tocsin.Policy{Impacts: tocsin.DefaultImpacts()}}
	a, b := openStore(t, url, opts), openStore(t, url, opts)
	ctx := context.Background()
	n := 0
	planOf := func() string {
		t.Helper()
		n++
		res, err := b.Incidents().Ingest(ctx, []*tocsin.Alert{testAlert("g"+strconv.Itoa(n), "fp")}, tocsin.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		inc, err := b.Incidents().FindIncident(ctx, res[0].IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		return inc.ResponsePlan + "/" + inc.Title
	}
	if got := planOf(); got != "/Alert fp" || b.routings.p.Load() == nil {
		t.Fatalf("before any routing: %q, cached %v", got, b.routings.p.Load())
	}
	rp := a.ResponsePlans()
	if _, err := rp.PutResponsePlan(ctx, &tocsin.ResponsePlan{Name: "Outage", IncidentTemplate: tocsin.IncidentTemplate{Title: "outage", Impact: 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rp.PutRouting(ctx, &tocsin.Routing{Default: &tocsin.RouteAction{ResponsePlan: "Outage"}}); err != nil {
		t.Fatal(err)
	}
	if got := planOf(); got != "Outage/outage" {
		t.Fatalf("after A put the routing: %q", got)
	}
	if _, err := rp.PutResponsePlan(ctx, &tocsin.ResponsePlan{Name: "Outage", IncidentTemplate: tocsin.IncidentTemplate{Title: "big outage", Impact: 2}}); err != nil {
		t.Fatal(err)
	}
	if got := planOf(); got != "Outage/big outage" {
		t.Fatalf("after A changed the plan: %q", got)
	}
	if err := rp.DeleteRouting(ctx); err != nil {
		t.Fatal(err)
	}
	if got := planOf(); got != "/Alert fp" {
		t.Fatalf("after A deleted the routing: %q", got)
	}
	// Each alert was guessed to open an incident (guess.go) under the
	// routing B had cached; after each of A's three changes the guess did
	// not hold, and the alert was routed again.
	if got := guessed(b); got != "4 guessed, 3 wrong" {
		t.Fatalf("B: %s; want 4 guessed, 3 wrong", got)
	}
}

// TestHeldChannelRefsFirstStays: references saved by completions are held
// back; two for one incident and channel in one transaction (a SQLite
// group) keep the first, as an existing one does, and a read in the same
// transaction sees them.
func TestHeldChannelRefsFirstStays(t *testing.T) {
	heldKinds(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{testAlert("refs", "f1")}, tocsin.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		id := res[0].IncidentID
		now := time.Now()
		err = db.tx(ctx, func(tx *txn) error {
			for i, ref := range []string{"ts-1", "ts-2"} {
				j := &tocsin.Job{ID: "j" + strconv.Itoa(i), Kind: tocsin.JobNotify, IncidentID: id}
				out := tocsin.JobOutcome{Ref: &tocsin.ChannelRef{IncidentID: id, Channel: "slack", Ref: ref}}
				if err := recordOutcome(ctx, tx, j, out, false, false, now); err != nil {
					return err
				}
			}
			if !tx.holding {
				return errors.New("the references were not held back")
			}
			var ref string
			if err := tx.QueryRowContext(ctx, `SELECT ref FROM channel_refs WHERE incident_id = $1 AND channel = 'slack'`, id).Scan(&ref); err != nil || ref != "ts-1" {
				return errors.New("inside the transaction the reference is " + ref)
			}
			// A third, held after the first two are in.
			return recordOutcome(ctx, tx, &tocsin.Job{ID: "j3", Kind: tocsin.JobNotify, IncidentID: id},
				tocsin.JobOutcome{Ref: &tocsin.ChannelRef{IncidentID: id, Channel: "slack", Ref: "ts-3"}}, false, false, now)
		})
		if err != nil {
			t.Fatal(err)
		}
		d, err := db.Incidents().LoadDelivery(ctx, id, "", "slack")
		if err != nil || d.Ref != "ts-1" {
			t.Fatalf("reference %q (%v); want the first, ts-1", d.Ref, err)
		}
	})
}
