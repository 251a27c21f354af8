package store

import (
	"context"
	"encoding/json"
	"testing"

	"tocsin"
	"tocsin/runbook"
)

// Two signals decided on the same state of an execution: the one applied
// second finds the row moved on (compare-and-set on its row version) and
// writes nothing — not its step, not its timeline, not its jobs.
func TestRunbookCompareAndSet(t *testing.T) {
	eachKind(t, Options{}, func(t *testing.T, s *DB) {
		ctx := context.Background()
		const doc = `{"schemaVersion":"0.3","mainSteps":[{"name":"Inspect","action":"aws:pause"},{"name":"Done","action":"aws:pause"}]}`
		if _, _, err := s.Runbooks().PutRunbook(ctx, &tocsin.Runbook{Name: "cas-book", Body: doc, Document: json.RawMessage(doc)}); err != nil {
			t.Fatal(err)
		}
		inc, _, err := s.Incidents().StartIncident(ctx, &tocsin.IncidentStart{Title: "t", By: tocsin.Actor{Name: "alice"}})
		if err != nil {
			t.Fatal(err)
		}
		ex, err := s.Runbooks().StartRunbook(ctx, tocsin.RunbookStart{Runbook: "cas-book", IncidentID: inc.ID, By: tocsin.Actor{Name: "alice"}})
		if err != nil {
			t.Fatal(err)
		}
		// The loser reads the execution on a connection of its own and
		// decides a resume ...
		stale, sdoc, err := loadExecution(ctx, s.db, ex.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		resume, err := runbook.Signal(sdoc, stale, tocsin.RunbookSignal{ExecutionID: ex.ID, Type: tocsin.SignalResume, By: tocsin.Actor{Name: "bob"}},
			runbook.Context{NewID: newID}, s.opts.Now())
		if err != nil || len(resume.Steps) == 0 || len(resume.Events) == 0 {
			t.Fatalf("resume decided %+v, %v", resume, err)
		}
		// ... while the winner cancels, and commits first.
		if _, err := s.Runbooks().SignalRunbook(ctx, tocsin.RunbookSignal{ExecutionID: ex.ID, Type: tocsin.SignalCancel, By: tocsin.Actor{Name: "carol"}}); err != nil {
			t.Fatal(err)
		}
		won, err := s.Runbooks().RunbookExecution(ctx, ex.ID)
		if err != nil {
			t.Fatal(err)
		}
		var events int
		if err := s.db.QueryRow(`SELECT COUNT(*) FROM timeline WHERE incident_id = $1`, inc.ID).Scan(&events); err != nil {
			t.Fatal(err)
		}
		err = s.tx(ctx, func(tx *txn) error { return s.run(ctx, tx, s.opts.Now()).apply(resume, 0) })
		if tocsin.ErrorCode(err) != tocsin.ECONFLICT {
			t.Fatalf("applying the stale resume: %v", err)
		}
		after, err := s.Runbooks().RunbookExecution(ctx, ex.ID)
		if err != nil {
			t.Fatal(err)
		}
		if after.Status != tocsin.RunbookCancelled || after.Row != won.Row || len(after.Steps) != len(won.Steps) {
			t.Fatalf("the stale resume wrote: %s row %d→%d steps %d→%d", after.Status, won.Row, after.Row, len(won.Steps), len(after.Steps))
		}
		var n int
		if err := s.db.QueryRow(`SELECT COUNT(*) FROM timeline WHERE incident_id = $1`, inc.ID).Scan(&n); err != nil || n != events {
			t.Fatalf("the stale resume wrote %d timeline events (%v)", n-events, err)
		}
	})
}
