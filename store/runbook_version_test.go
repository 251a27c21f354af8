package store

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"tocsin"
)

// A runbook deleted and applied again under its name does not number its
// versions from 1 again: an execution still running the deleted version
// 1 would be shown (API, incident page: instructions, steps to come) the
// new document's version 1 as its own.
func TestRunbookVersionsAreNotReused(t *testing.T) {
	eachKind(t, Options{}, func(t *testing.T, s *DB) {
		ctx := context.Background()
		put := func(desc string) *tocsin.Runbook {
			doc := `{"schemaVersion":"0.3","mainSteps":[{"name":"Inspect","action":"aws:pause","description":"` + desc + `"}]}`
			rb, _, err := s.Runbooks().PutRunbook(ctx, &tocsin.Runbook{Name: "reborn", Body: doc, Document: json.RawMessage(doc)})
			if err != nil {
				t.Fatal(err)
			}
			return rb
		}
		put("the old instructions")
		ex, err := s.Runbooks().StartRunbook(ctx, tocsin.RunbookStart{Runbook: "reborn", By: tocsin.Actor{Name: "alice"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Runbooks().DeleteRunbook(ctx, "reborn"); err != nil {
			t.Fatal(err)
		}
		if rb := put("other instructions"); rb.Version <= ex.Version {
			t.Errorf("the new document is version %d, the deleted one's execution runs version %d", rb.Version, ex.Version)
		}
		rb, err := s.Runbooks().Runbook(ctx, "reborn", ex.Version)
		if err == nil && !strings.Contains(string(rb.Document), "the old instructions") {
			t.Fatalf("version %d of reborn is now another document: %s", ex.Version, rb.Document)
		}
	})
}
