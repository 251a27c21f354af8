package store

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"tocsin"
)

// guessed returns how many alerts db guessed to open an incident, and how
// many of those guesses did not hold.
func guessed(db *DB) string {
	return fmt.Sprintf("%d guessed, %d wrong", db.guesses.Load(), db.guessesWrong.Load())
}

// count returns the rows of table (a test's fixed name).
func count(t *testing.T, db *DB, table string) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// ingestOne ingests one alert and returns its result.
func ingestOne(t *testing.T, db *DB, a *tocsin.Alert) tocsin.IngestResult {
	t.Helper()
	res, err := db.Incidents().Ingest(context.Background(), []*tocsin.Alert{a}, tocsin.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

// TestGuessOpensIncident: on PostgreSQL an alert under a key this
// instance has not seen opens its incident without a look-up, and the next
// alert under the key is looked up and joins it.
func TestGuessOpensIncident(t *testing.T) {
	db := openStore(t, testPostgresURL(t), Options{Policy: tocsin.Policy{Impacts: tocsin.DefaultImpacts()}})
	first := ingestOne(t, db, testAlert("g", "a"))
	if !first.Created || guessed(db) != "1 guessed, 0 wrong" {
		t.Fatalf("first alert: %+v, %s; want a new incident, guessed", first, guessed(db))
	}
	second := ingestOne(t, db, testAlert("g", "b"))
	if second.IncidentID != first.IncidentID || guessed(db) != "1 guessed, 0 wrong" {
		t.Fatalf("second alert: %+v, %s; want it in %s, looked up", second, guessed(db), first.IncidentID)
	}
	inc, err := db.Incidents().FindIncident(context.Background(), first.IncidentID)
	if err != nil {
		t.Fatal(err)
	}
	if inc.AlertCount != 2 || inc.OpenAlertCount != 2 || count(t, db, "payloads") != 2 {
		t.Fatalf("incident %+v, %d payloads; want 2 alerts and their 2 payloads", inc, count(t, db, "payloads"))
	}
}

// TestGuessMeetsAnotherInstance: an instance that has not seen a key
// guesses its alert opens an incident; when another instance already
// opened one under the key (with or without a legacy key), under its legacy
// key, or the alert resolves an alert there, the guess writes nothing and the alert is looked up: it joins (or
// resolves) that incident, and no second one opens.
func TestGuessMeetsAnotherInstance(t *testing.T) {
	url := testPostgresURL(t)
	opts := Options{Policy: tocsin.Policy{Impacts: tocsin.DefaultImpacts(), AutoResolve: true}}
	a, b := openStore(t, url, opts), openStore(t, url, opts)

	opened := ingestOne(t, a, testAlert("own", "a1"))
	joined := ingestOne(t, b, testAlert("own", "b1"))
	if joined.IncidentID != opened.IncidentID || joined.Created || guessed(b) != "1 guessed, 1 wrong" {
		t.Fatalf("B's alert: %+v, %s; want it in A's %s after a wrong guess", joined, guessed(b), opened.IncidentID)
	}

	legacy := ingestOne(t, a, testAlert("gk", "a2"))
	al := testAlert("http://am gk", "b2")
	al.LegacyDedupKey = "gk"
	if r := ingestOne(t, b, al); r.IncidentID != legacy.IncidentID || guessed(b) != "2 guessed, 2 wrong" {
		t.Fatalf("B's alert with A's key as its legacy key: %+v, %s; want it in %s", r, guessed(b), legacy.IncidentID)
	}

	mine := ingestOne(t, a, testAlert("http://am own2", "a3"))
	al = testAlert("http://am own2", "b3")
	al.LegacyDedupKey = "own2"
	if r := ingestOne(t, b, al); r.IncidentID != mine.IncidentID || guessed(b) != "3 guessed, 3 wrong" {
		t.Fatalf("B's alert with a legacy key, under A's key: %+v, %s; want it in %s", r, guessed(b), mine.IncidentID)
	}

	c := openStore(t, url, opts)
	gone := testAlert("own", "a1")
	gone.Status = tocsin.AlertResolved
	ingestOne(t, c, gone)
	gone = testAlert("own", "b1")
	gone.Status = tocsin.AlertResolved
	ingestOne(t, b, gone)
	inc, err := c.Incidents().FindIncident(context.Background(), opened.IncidentID)
	if err != nil {
		t.Fatal(err)
	}
	if inc.Status != tocsin.StatusResolved || inc.OpenAlertCount != 0 {
		t.Fatalf("after C and B resolved its alerts: %+v (C %s)", inc, guessed(c))
	}
	if n := count(t, a, "incidents"); n != 3 {
		t.Fatalf("%d incidents; want A's three", n)
	}
	if n := count(t, a, "alerts"); n != 6 {
		t.Fatalf("%d alerts; want 6", n)
	}
	if n := count(t, a, "payloads"); n != 8 {
		t.Fatalf("%d payloads; want one per report (8): a wrong guess writes none", n)
	}
}

// TestGuessesRace: alerts of one new key sent at once to two instances,
// each guessing, open one incident that holds them all.
func TestGuessesRace(t *testing.T) {
	url := testPostgresURL(t)
	opts := Options{Policy: tocsin.Policy{Impacts: tocsin.DefaultImpacts()}}
	dbs := []*DB{openStore(t, url, opts), openStore(t, url, opts)}
	const each = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for i, db := range dbs {
		for j := 0; j < each; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := db.Incidents().Ingest(context.Background(), []*tocsin.Alert{testAlert("race", fmt.Sprintf("f%d-%d", i, j))}, tocsin.IngestOptions{})
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, dbs[0], "incidents"); n != 1 {
		t.Fatalf("%d incidents; want 1 (%s, %s)", n, guessed(dbs[0]), guessed(dbs[1]))
	}
	if n := count(t, dbs[0], "alerts"); n != 2*each {
		t.Fatalf("%d alerts; want %d", n, 2*each)
	}
	if dbs[0].guesses.Load()+dbs[1].guesses.Load() == 0 {
		t.Fatal("no alert was guessed")
	}
}
