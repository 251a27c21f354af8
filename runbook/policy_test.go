package runbook_test

import (
	"reflect"
	"strings"
	"testing"

	"tocsin"
	"tocsin/runbook"
)

func TestAllowed(t *testing.T) {
	open := runbook.Policy{HTTPAllow: []string{"https://api.example.test/v1/", "http://10.0.0.5:8080"}, Scripts: true, Interpreters: []string{"python3"}}
	for _, tc := range []struct {
		name, step string
		policy     runbook.Policy
		want       string // "" allowed
	}{
		{"http refused", "{name: Call, action: 'tocsin:http', inputs: {Method: GET, URL: 'https://api.example.test/v1/x'}}", runbook.Policy{},
			`mainSteps[0].action: step "Call": tocsin:http is not allowed: list the URL prefixes it may call in runbooks.http.allow`},
		{"http allowed", "{name: Call, action: 'tocsin:http', inputs: {Method: GET, URL: 'https://api.example.test/v1/x'}}", open, ""},
		{"http host prefix", "{name: Call, action: 'tocsin:http', inputs: {Method: GET, URL: 'http://10.0.0.5:8080/health'}}", open, ""},
		{"http outside", "{name: Call, action: 'tocsin:http', inputs: {Method: GET, URL: 'https://api.example.test/v2/x'}}", open,
			`mainSteps[0].inputs.URL: step "Call": "https://api.example.test/v2/x" is under no prefix of runbooks.http.allow`},
		{"http longer host", "{name: Call, action: 'tocsin:http', inputs: {Method: GET, URL: 'http://10.0.0.5:80801/'}}", open, "is under no prefix"},
		{"http userinfo", "{name: Call, action: 'tocsin:http', inputs: {Method: GET, URL: 'http://10.0.0.5:8080@evil.test/'}}", open, "is under no prefix"},
		{"template path", "{name: Call, action: 'tocsin:http', inputs: {Method: GET, URL: 'https://api.example.test/{{ Path }}'}}", open, ""},
		{"template host", "{name: Call, action: 'tocsin:http', inputs: {Method: GET, URL: 'https://{{ Host }}/x'}}", open,
			`mainSteps[0].inputs.URL: step "Call": "https://{{ Host }}/x" must begin with a literal scheme and host`},
		{"template host suffix", "{name: Call, action: 'tocsin:http', inputs: {Method: GET, URL: 'https://api.example.test{{ Rest }}'}}", open, "must begin with a literal scheme and host"},
		{"template other host", "{name: Call, action: 'tocsin:http', inputs: {Method: GET, URL: 'https://evil.test/{{ Path }}'}}", open,
			`step "Call": https://evil.test is the host of no prefix of runbooks.http.allow`},
		{"script refused", "{name: Run, action: 'tocsin:script', inputs: {Runtime: bash, Script: x}}", runbook.Policy{HTTPAllow: open.HTTPAllow},
			`mainSteps[0].action: step "Run": tocsin:script is not allowed: set runbooks.scripts.enabled: true`},
		{"script allowed", "{name: Run, action: 'tocsin:script', inputs: {Runtime: python3.11, Script: x}}", open, ""},
		{"script interpreter", "{name: Run, action: 'tocsin:script', inputs: {Runtime: bash, Script: x}}", open,
			`mainSteps[0].inputs.Runtime: step "Run": runtime "bash" needs bash, which is not in runbooks.scripts.interpreters`},
		{"script text with a reference", "{name: Run, action: 'tocsin:script', inputs: {Runtime: python3, Script: 'print(\"{{ incident:TITLE }}\")'}}", open,
			`mainSteps[0].inputs.Script: step "Run": Script holds {{ incident:TITLE }}: a script's text is code, never data; pass values in InputPayload`},
		{"script payload with a reference", "{name: Run, action: 'tocsin:script', inputs: {Runtime: python3, Script: x, InputPayload: {t: '{{ incident:TITLE }}'}}}", open, ""},
		{"pause", "{name: Hold, action: 'aws:pause'}", runbook.Policy{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := load(t, base+"- {name: First, action: 'aws:pause'}\n- "+tc.step+"\n")
			if ps := d.Validate(); len(ps) != 0 {
				t.Fatalf("invalid: %v", ps)
			}
			ps := d.Allowed(tc.policy)
			if tc.want == "" {
				if len(ps) != 0 {
					t.Fatalf("refused: %v", ps)
				}
				return
			}
			// The step is the second: paths name mainSteps[1].
			want := strings.Replace(tc.want, "mainSteps[0]", "mainSteps[1]", 1)
			if len(ps) != 1 || !strings.Contains(ps[0].String(), want) {
				t.Fatalf("got %v, want %s", ps, want)
			}
		})
	}
}

func TestAllowedURL(t *testing.T) {
	allow := []string{"https://a.test", "https://b.test/api/"}
	for u, want := range map[string]bool{
		"https://a.test":           true,
		"https://a.test/x":         true,
		"https://a.test?q=1":       true,
		"https://a.test.evil/":     false,
		"https://a.test@evil/":     false,
		"https://a.test:444/":      false,
		"https://b.test/api/v1":    true,
		"https://b.test/apix":      false,
		"http://a.test/":           false,
		"https://b.test/api":       false,
		"https://b.test/api/../..": true, // the HTTP action checks the URL it resolves
	} {
		if got := runbook.AllowedURL(u, allow); got != want {
			t.Errorf("%s: %v, want %v", u, got, want)
		}
	}
}

func TestIdempotent(t *testing.T) {
	for _, tc := range []struct {
		action string
		inputs map[string]any
		want   bool
	}{
		{"aws:pause", nil, true},
		{"aws:sleep", nil, true},
		{"aws:approve", nil, true},
		{"aws:branch", nil, true},
		{"aws:executeAutomation", nil, true},
		{"tocsin:http", map[string]any{"Method": "GET"}, true},
		{"tocsin:http", map[string]any{"Method": "HEAD"}, true},
		{"tocsin:http", map[string]any{"Method": "PUT"}, true},
		{"tocsin:http", map[string]any{"Method": "DELETE"}, true},
		{"tocsin:http", map[string]any{"Method": "OPTIONS"}, true},
		{"tocsin:http", map[string]any{"Method": "POST"}, false},
		{"tocsin:http", map[string]any{"Method": "PATCH"}, false},
		{"tocsin:http", map[string]any{"Method": "{{ Method }}"}, false},
		{"tocsin:script", map[string]any{"Runtime": "bash"}, false},
		{"tocsin:script", map[string]any{"Runtime": "bash", "Idempotent": true}, true},
		{"tocsin:script", map[string]any{"Runtime": "bash", "Idempotent": false}, false},
		{"aws:runInstances", nil, false},
	} {
		if got := runbook.Idempotent(&runbook.Step{Name: "s", Action: tc.action, Inputs: tc.inputs}); got != tc.want {
			t.Errorf("%s %v: %v, want %v", tc.action, tc.inputs, got, tc.want)
		}
	}
	d := load(t, base+"- {name: s, action: 'tocsin:script', inputs: {Runtime: bash, Script: x, Idempotent: yes}}\n")
	if ps := d.Validate(); len(ps) != 1 || ps[0].Path != "mainSteps[0].inputs.Idempotent" {
		t.Errorf("Idempotent: yes: %v", ps)
	}
}

func TestDynamic(t *testing.T) {
	inc := &tocsin.Incident{ID: "inc-7", Title: "CPU high", Summary: "web-1 at 99%", Impact: 2, ResponsePlan: "EC2HighCPU",
		Labels: map[string]string{"instance": "i-0abc", "resource": "web-1", "arn": "arn:aws:ec2:eu-west-1:1:instance/i-0abc", "service": "web"}}
	for _, tc := range []struct {
		variable string
		inc      *tocsin.Incident
		want     []string
		code     string
	}{
		{"INCIDENT_RECORD_ARN", inc, []string{"arn:tocsin:ssm-incidents::incident-record/EC2HighCPU/inc-7"}, ""},
		{"INCIDENT_RECORD_ARN", &tocsin.Incident{ID: "x"}, []string{"arn:tocsin:ssm-incidents::incident-record/tocsin/x"}, ""},
		{"INVOLVED_RESOURCES", inc, []string{"web-1", "i-0abc", "arn:aws:ec2:eu-west-1:1:instance/i-0abc"}, ""},
		{"INVOLVED_RESOURCES", &tocsin.Incident{ID: "x", Labels: map[string]string{"resource": "a", "instance": "a"}}, []string{"a"}, ""},
		{"INVOLVED_RESOURCES", &tocsin.Incident{ID: "x"}, []string{}, ""},
		{"INCIDENT_ID", inc, []string{"inc-7"}, ""},
		{"INCIDENT_TITLE", inc, []string{"CPU high"}, ""},
		{"INCIDENT_SUMMARY", inc, []string{"web-1 at 99%"}, ""},
		{"INCIDENT_IMPACT", inc, []string{"2"}, ""},
		{"LABEL:service", inc, []string{"web"}, ""},
		{"LABEL:team", inc, nil, tocsin.ENOTFOUND},
		{"LABEL:", inc, nil, tocsin.EINVALID},
		{"INCIDENT_OWNER", inc, nil, tocsin.EINVALID},
		{"INCIDENT_ID", nil, nil, tocsin.EINVALID},
	} {
		got, err := runbook.Dynamic(tc.variable, tc.inc)
		if tocsin.ErrorCode(err) != tc.code || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %q %v, want %q %s", tc.variable, got, err, tc.want, tc.code)
		}
	}
}
