package route_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"tocsin"
	"tocsin/ingest"
	"tocsin/response"
	"tocsin/route"
	"tocsin/strict"
)

const examples = "../examples/response"

// loadKind decodes every document of a file strictly into values of kind,
// as `tocsin route test` does; each must also pass its Validate.
func loadKind[T any](t *testing.T, file, kind string) []*T {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examples, file))
	if err != nil {
		t.Fatal(err)
	}
	var out []*T
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for i := 1; ; i++ {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s document %d: %v", file, i, err)
		}
		root := n.Content[0]
		var body yaml.Node = *root
		body.Content = nil
		got := ""
		for j := 0; j+1 < len(root.Content); j += 2 {
			if root.Content[j].Value == "kind" {
				got = root.Content[j+1].Value
				continue
			}
			body.Content = append(body.Content, root.Content[j], root.Content[j+1])
		}
		if got != kind {
			t.Fatalf("%s document %d: kind %q, want %s", file, i, got, kind)
		}
		v := new(T)
		if probs := strict.YAML(&body, v, strict.Options{}); len(probs) > 0 {
			t.Fatalf("%s document %d: %v", file, i, probs)
		}
		if err := any(v).(interface{ Validate() error }).Validate(); err != nil {
			t.Fatalf("%s document %d: %v", file, i, err)
		}
		out = append(out, v)
	}
}

func examplePlans(t *testing.T) map[string]*tocsin.ResponsePlan {
	plans := map[string]*tocsin.ResponsePlan{}
	for _, p := range loadKind[tocsin.ResponsePlan](t, "response-plans.yaml", "ResponsePlan") {
		plans[p.Name] = p
	}
	return plans
}

func exampleRouting(t *testing.T) *tocsin.Routing {
	rs := loadKind[tocsin.Routing](t, "routing.yaml", "Routing")
	if len(rs) != 1 {
		t.Fatalf("routing.yaml holds %d documents, want one Routing", len(rs))
	}
	return rs[0]
}

// TestExamplesResponse checks examples/response: every document decodes
// strictly and validates, the routing names only plans that exist, and
// the plans are the AWS blog's and the Versus guide's.
func TestExamplesResponse(t *testing.T) {
	plans, r := examplePlans(t), exampleRouting(t)
	names := map[string]bool{}
	for n := range plans {
		names[n] = true
	}
	if err := r.CheckPlans(names); err != nil {
		t.Fatal(err)
	}
	cpu := plans["EC2HighCPU"]
	if cpu == nil || cpu.IncidentTemplate.Title != "cpu-incident-1" || cpu.IncidentTemplate.Impact != tocsin.ImpactMedium ||
		len(cpu.Engagements) != 1 || cpu.Engagements[0].EscalationPlan != "app-escalation" {
		t.Errorf("EC2HighCPU = %+v, want the blog's: title cpu-incident-1, impact Medium, engaging the App escalation plan", cpu)
	}
	outage := plans["Critical-Platform-Outage"]
	if outage == nil || len(outage.Engagements) != 1 || outage.Engagements[0].EscalationPlan != "platform-tiered-escalation" ||
		len(outage.ChatChannels) != 1 || outage.ChatChannels[0].Channel != "slack" {
		t.Errorf("Critical-Platform-Outage = %+v, want Platform-Tiered-Escalation and a Slack channel", outage)
	}
}

// TestExamplesSeedRoutes routes the Versus guide's alerts and the blog's
// alarm through examples/response/routing.yaml, decoded by the real
// decoders.
func TestExamplesSeedRoutes(t *testing.T) {
	plans, r := examplePlans(t), exampleRouting(t)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tuesday10 := time.Date(2026, 3, 10, 10, 0, 0, 0, berlin)
	tuesday20 := time.Date(2026, 3, 10, 20, 0, 0, 0, berlin)
	am := func(labels string) *tocsin.Alert {
		body := `{"receiver":"tocsin","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"APIDown",` + labels + `}}]}`
		as, err := ingest.Alertmanager([]byte(body), tuesday10)
		if err != nil {
			t.Fatal(err)
		}
		return as[0]
	}
	file := func(name string, decode ingest.Decoder) *tocsin.Alert {
		b, err := os.ReadFile(filepath.Join(examples, "alerts", name))
		if err != nil {
			t.Fatal(err)
		}
		as, err := decode(b, tuesday10)
		if err != nil {
			t.Fatal(err)
		}
		return as[0]
	}
	for _, tc := range []struct {
		name        string
		alert       *tocsin.Alert
		integration string
		at          time.Time
		rules       []string
		plan        string // "" for notify only
		mayPage     bool
		title       string
		impact      int
	}{
		{"platform critical pages through Platform-Tiered-Escalation", file("platform-critical.json", ingest.Alertmanager), "alertmanager", tuesday10,
			[]string{"platform-critical"}, "Critical-Platform-Outage", true, "Platform outage: APIDown on api-1:8080", 1},
		{"platform high tells the channels only", file("platform-high.json", ingest.Alertmanager), "alertmanager", tuesday10,
			[]string{"platform-high"}, "", false, "", 0},
		{"application critical opens from the app plan", am(`"severity":"critical","team":"application"`), "alertmanager", tuesday10,
			[]string{"application-critical"}, "App-Critical", true, "APIDown", 1},
		{"application high tells the channels only", am(`"severity":"high","team":"application"`), "alertmanager", tuesday10,
			[]string{"application-high"}, "", false, "", 0},
		{"business hours: channels only while the office is open", am(`"severity":"critical","team":"platform","timeperiod":"business-hours"`), "alertmanager", tuesday10,
			[]string{"business-hours"}, "", false, "", 0},
		{"business hours: after hours the team rules decide", am(`"severity":"critical","team":"platform","timeperiod":"business-hours"`), "alertmanager", tuesday20,
			[]string{"platform-critical"}, "Critical-Platform-Outage", true, "Platform outage: APIDown", 1},
		{"anything else: the default, channels only", am(`"severity":"critical","team":"db"`), "alertmanager", tuesday10,
			[]string{route.DefaultRule}, "", false, "", 0},
		{"the blog's CloudWatch alarm opens EC2HighCPU", file("ec2-high-cpu.json", ingest.CloudWatchAlarm), "cloudwatch", tuesday10,
			[]string{"cloudwatch-high-cpu"}, "EC2HighCPU", true, "cpu-incident-1", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := route.Match(r, tc.alert, tc.integration, tc.at)
			var rules []string
			for _, m := range res.Matches {
				rules = append(rules, m.Rule)
			}
			if !slices.Equal(rules, tc.rules) {
				t.Fatalf("matched %v, want %v (missed %+v)", rules, tc.rules, res.Missed)
			}
			m := res.Matches[0]
			if m.ResponsePlan != tc.plan || m.NotifyOnly != (tc.plan == "") {
				t.Fatalf("plan %q notify_only %v, want %q", m.ResponsePlan, m.NotifyOnly, tc.plan)
			}
			if tc.plan == "" {
				return
			}
			f, err := response.Incident(plans[tc.plan], tc.alert, &tocsin.Policy{Impacts: tocsin.DefaultImpacts()})
			if err != nil {
				t.Fatal(err)
			}
			if f.Title != tc.title || f.Impact != tc.impact {
				t.Errorf("incident %q impact %d, want %q impact %d", f.Title, f.Impact, tc.title, tc.impact)
			}
			if ok, why := route.MayPage(r.PagingPolicy, tc.plan, f.Impact); ok != tc.mayPage {
				t.Errorf("MayPage = %v (%s), want %v", ok, why, tc.mayPage)
			}
		})
	}
	// A plan outside the critical-only policy may not page, nor a low impact.
	if ok, why := route.MayPage(r.PagingPolicy, "app", 1); ok || !strings.Contains(why, "refuses plan app") {
		t.Errorf("MayPage(app) = %v, %s", ok, why)
	}
	if ok, _ := route.MayPage(r.PagingPolicy, "Critical-Platform-Outage", 4); ok {
		t.Error("MayPage(impact 4) = true, want false")
	}
}
