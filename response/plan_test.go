package response_test

import (
	"maps"
	"strings"
	"testing"

	"tocsin"
	"tocsin/response"
)

func cpuAlert() *tocsin.Alert {
	return &tocsin.Alert{Source: tocsin.SourceCloudWatch, Title: "HighCPU-web-1", Description: "CPU above 90% for 5 minutes",
		Severity: "", Status: tocsin.AlertFiring, DedupKey: "arn:aws:cloudwatch:eu-central-1:123:alarm:HighCPU-web-1",
		Labels:      map[string]string{"InstanceId": "i-0abc", "region": "eu-central-1", "metric_name": "CPUUtilization"},
		Annotations: map[string]string{"state_reason": "Threshold Crossed"}}
}

func TestPlanIncident(t *testing.T) {
	plan := &tocsin.ResponsePlan{Name: "EC2HighCPU", IncidentTemplate: tocsin.IncidentTemplate{
		Title:        "cpu-incident-1",
		Impact:       tocsin.ImpactMedium,
		Summary:      "{{ .title }} on {{ .labels.InstanceId }} ({{ .labels.region | upper }}): {{ .annotations.state_reason }}",
		DedupeString: "ec2-cpu/{{ .labels.InstanceId }}",
		Tags:         map[string]string{"instance": "{{ .labels.InstanceId }}", "source": "{{ .source }}", "env": `{{ .labels.env | default "prod" }}`},
	}}
	if err := plan.Validate(); err != nil {
		t.Fatal(err)
	}
	f, err := response.Incident(plan, cpuAlert(), policy())
	if err != nil {
		t.Fatal(err)
	}
	want := response.IncidentFields{Plan: "EC2HighCPU", Title: "cpu-incident-1", Impact: 3,
		Summary:      "HighCPU-web-1 on i-0abc (EU-CENTRAL-1): Threshold Crossed",
		DedupeString: "ec2-cpu/i-0abc",
		Tags:         map[string]string{"instance": "i-0abc", "source": "cloudwatch", "env": "prod"}}
	if f.Plan != want.Plan || f.Title != want.Title || f.Impact != want.Impact || f.Summary != want.Summary ||
		f.DedupeString != want.DedupeString || !maps.Equal(f.Tags, want.Tags) {
		t.Errorf("Incident =\n%+v, want\n%+v", f, want)
	}
}

func TestPlanIncidentDefaults(t *testing.T) {
	a := firing("Disk almost full", "critical")
	a.Description = "92% used"
	a.Labels = map[string]string{"instance": "db-1"}
	for _, tc := range []struct {
		name string
		tmpl tocsin.IncidentTemplate
		p    *tocsin.Policy
		want response.IncidentFields
	}{
		{"impact from the severity under the policy", tocsin.IncidentTemplate{Title: "{{ .title }} on {{ .labels.instance }}"}, policy(),
			response.IncidentFields{Title: "Disk almost full on db-1", Summary: "92% used", Impact: tocsin.ImpactCritical}},
		{"impact from the severity without a policy", tocsin.IncidentTemplate{Title: "x"}, nil,
			response.IncidentFields{Title: "x", Summary: "92% used", Impact: tocsin.ImpactCritical}},
		{"the template's impact wins", tocsin.IncidentTemplate{Title: "x", Impact: tocsin.ImpactLow}, policy(),
			response.IncidentFields{Title: "x", Summary: "92% used", Impact: tocsin.ImpactLow}},
		{"a title rendering empty is the alert's", tocsin.IncidentTemplate{Title: "{{ .labels.missing }}"}, policy(),
			response.IncidentFields{Title: "Disk almost full", Summary: "92% used", Impact: tocsin.ImpactCritical}},
		{"a missing annotation is empty", tocsin.IncidentTemplate{Title: "x", Summary: "[{{ .annotations.nope }}]"}, policy(),
			response.IncidentFields{Title: "x", Summary: "[]", Impact: tocsin.ImpactCritical}},
		{"long titles are cut", tocsin.IncidentTemplate{Title: strings.Repeat("é", 150) + "{{ .title }}{{ .title }}{{ .title }}{{ .title }}"}, policy(),
			response.IncidentFields{Title: strings.Repeat("é", 150) + strings.Repeat("Disk almost full", 4)[:49] + "…", Summary: "92% used", Impact: tocsin.ImpactCritical}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := &tocsin.ResponsePlan{Name: "P", IncidentTemplate: tc.tmpl}
			if err := plan.Validate(); err != nil {
				t.Fatal(err)
			}
			f, err := response.Incident(plan, a, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Plan = "P"
			if f.Title != tc.want.Title || f.Summary != tc.want.Summary || f.Impact != tc.want.Impact || f.DedupeString != "" || f.Plan != "P" {
				t.Errorf("Incident = %+v, want %+v", f, tc.want)
			}
		})
	}
}

// A template that fails on this alert still gives an incident: the failed
// fields fall back, and the error names each one.
func TestPlanIncidentFailedFieldsFallBack(t *testing.T) {
	plan := &tocsin.ResponsePlan{Name: "P", IncidentTemplate: tocsin.IncidentTemplate{
		Title:        "{{ .labels.instance.name }}",
		Summary:      "{{ .labels.instance.x }}",
		DedupeString: "{{ .title.x }}",
		Tags:         map[string]string{"bad": "{{ .severity.x }}", "good": "{{ .severity }}"},
	}}
	if err := plan.Validate(); err != nil {
		t.Fatal(err)
	}
	a := firing("Disk almost full", "warning")
	a.Description = "92% used"
	a.Labels = map[string]string{"instance": "db-1"}
	f, err := response.Incident(plan, a, policy())
	if err == nil || tocsin.ErrorCode(err) != tocsin.EINVALID {
		t.Fatalf("err = %v, want EINVALID", err)
	}
	msg := tocsin.ErrorMessage(err)
	for _, field := range []string{"incident_template.title:", "incident_template.summary:", "incident_template.dedupe_string:", "incident_template.tags.bad:"} {
		if !strings.Contains(msg, field) {
			t.Errorf("error %q does not name %s", msg, field)
		}
	}
	if strings.Contains(msg, "tags.good") {
		t.Errorf("error %q names a field that rendered", msg)
	}
	if f.Title != "Disk almost full" || f.Summary != "92% used" || f.DedupeString != "" || !maps.Equal(f.Tags, map[string]string{"good": "warning"}) || f.Impact != tocsin.ImpactMedium {
		t.Errorf("fields = %+v, want the alert's title and description, no dedupe string, the good tag", f)
	}
}
