package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/store"
)

// runResponsePlans checks the response plans and the routing document:
// what they name must exist, secrets survive a read-and-write-back, and a
// plan the routing names cannot be deleted.
func runResponsePlans(t *testing.T, open func(*testing.T, func(*store.Options)) (*store.DB, *Clock)) {
	ctx := context.Background()
	t.Run("ResponsePlansAndRouting", func(t *testing.T) {
		db, _ := open(t, nil)
		rp := db.ResponsePlans()
		plan := &tocsin.ResponsePlan{Name: "EC2HighCPU", IncidentTemplate: tocsin.IncidentTemplate{Title: "cpu-incident-1", Impact: 3,
			NotificationTargets: []tocsin.NotificationTarget{{Webhook: "https://hooks.example.com/x", Secret: "s3cret"}}},
			Engagements: []tocsin.ResponseEngagement{{EscalationPlan: "app-escalation", Delay: tocsin.Duration(time.Minute)}}}
		_, err := rp.PutResponsePlan(ctx, plan)
		if tocsin.ErrorCode(err) != tocsin.EINVALID || !strings.Contains(err.Error(), `engagements[0].escalation_plan: "app-escalation" does not exist`) {
			t.Fatalf("a plan engaging a missing escalation plan: %v", err)
		}
		if _, err := db.OnCall().PutContact(ctx, &tocsin.Contact{Alias: "alice", Name: "Alice"}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.OnCall().PutEscalationPlan(ctx, &tocsin.EscalationPlan{Name: "app-escalation",
			Stages: []tocsin.Stage{{Duration: tocsin.Duration(5 * time.Minute), Targets: []tocsin.Target{{Contact: "alice"}}}}}); err != nil {
			t.Fatal(err)
		}
		if created, err := rp.PutResponsePlan(ctx, plan); err != nil || !created {
			t.Fatalf("put plan: created=%v %v", created, err)
		}
		// Written back without its secret (as the API shows it): kept.
		again := *plan
		again.IncidentTemplate.NotificationTargets = []tocsin.NotificationTarget{{Webhook: "https://hooks.example.com/x"}}
		if created, err := rp.PutResponsePlan(ctx, &again); err != nil || created {
			t.Fatalf("replace plan: created=%v %v", created, err)
		}
		got, err := rp.FindResponsePlan(ctx, "EC2HighCPU")
		if err != nil || got.IncidentTemplate.NotificationTargets[0].Secret != "s3cret" || got.CreatedAt.IsZero() {
			t.Fatalf("stored plan: %+v %v", got, err)
		}
		if _, err := rp.FindRouting(ctx); tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
			t.Fatalf("no routing yet: %v", err)
		}
		bad := &tocsin.Routing{Rules: []tocsin.RoutingRule{{Name: "cpu", ResponsePlan: "Nope"}}}
		if _, err := rp.PutRouting(ctx, bad); tocsin.ErrorCode(err) != tocsin.EINVALID || !strings.Contains(err.Error(), "rules[0].response_plan") {
			t.Fatalf("routing naming a missing plan: %v", err)
		}
		r := &tocsin.Routing{Rules: []tocsin.RoutingRule{{Name: "cpu", ResponsePlan: "EC2HighCPU"}}}
		if _, err := rp.PutRouting(ctx, r); err != nil {
			t.Fatal(err)
		}
		if got, err := rp.FindRouting(ctx); err != nil || len(got.Rules) != 1 || got.Rules[0].ResponsePlan != "EC2HighCPU" {
			t.Fatalf("routing: %+v %v", got, err)
		}
		if err := rp.DeleteResponsePlan(ctx, "EC2HighCPU"); tocsin.ErrorCode(err) != tocsin.ECONFLICT {
			t.Fatalf("deleting a plan the routing names: %v", err)
		}
		if err := rp.DeleteRouting(ctx); err != nil {
			t.Fatal(err)
		}
		if err := rp.DeleteResponsePlan(ctx, "EC2HighCPU"); err != nil {
			t.Fatal(err)
		}
		if list, err := rp.ListResponsePlans(ctx); err != nil || len(list) != 0 {
			t.Fatalf("plans after delete: %v %v", list, err)
		}
	})
}
