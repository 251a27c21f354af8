package runbook

import (
	"strings"
	"testing"

	"tocsin"
)

// A tocsin:http step's URL may carry its credential in the query (as the
// action's own errors assume: they never show the query): readers of the
// execution see the URL with sensitive parameters redacted, the others as
// they were, and the store's copy unchanged.
func TestRedactURLQuery(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"https://api.example/v1/x?token=t0k&instance=i-1", "https://api.example/v1/x?token=[redacted]&instance=i-1"},
		{"https://api.example/v1/x?api_key=k1&Password=p1&sig", "https://api.example/v1/x?api_key=[redacted]&Password=[redacted]&sig"},
		{"https://api.example/v1/x?access%5Ftoken=a1#frag", "https://api.example/v1/x?access%5Ftoken=[redacted]#frag"},
		{"https://api.example/v1/x?instance=i-1", "https://api.example/v1/x?instance=i-1"},
		{"https://api.example/v1/x", "https://api.example/v1/x"},
	} {
		exec := &tocsin.RunbookExecution{Steps: []*tocsin.RunbookStep{{Seq: 1, Action: "tocsin:http", Inputs: map[string]any{"Method": "GET", "URL": tc.url}}}}
		got := Redact(exec).Steps[0].Inputs["URL"]
		if got != tc.want {
			t.Errorf("%s: shown as %v, want %s", tc.url, got, tc.want)
		}
		if exec.Steps[0].Inputs["URL"] != tc.url {
			t.Fatalf("redaction changed the execution: %v", exec.Steps[0].Inputs["URL"])
		}
		if strings.Contains(tc.want, "[redacted]") && Redact(exec).Steps[0].Inputs["Method"] != "GET" {
			t.Errorf("other inputs lost")
		}
	}
}

// A credential passed as a parameter is shown no more than the header it
// fills: parameters of sensitive names, and those whose value a sensitive
// header carries (whole or after its scheme), are redacted; the others
// are shown.
func TestRedactParameters(t *testing.T) {
	exec := &tocsin.RunbookExecution{
		Parameters: map[string]any{"Cred": "abc-123-xyz", "ApiKey": "k", "Raw": "r-456", "Region": "eu-west-1", "Hosts": []any{"a", "b"}},
		Steps: []*tocsin.RunbookStep{{Seq: 1, Action: "tocsin:http", Inputs: map[string]any{
			"Headers": map[string]any{"Authorization": "Bearer abc-123-xyz", "X-Signature-Token": "r-456", "Accept": "eu-west-1"}}}},
	}
	got := Redact(exec).Parameters
	for name, want := range map[string]any{"Cred": RedactedValue, "ApiKey": RedactedValue, "Raw": RedactedValue, "Region": "eu-west-1"} {
		if got[name] != want {
			t.Errorf("parameter %s shown as %v, want %v", name, got[name], want)
		}
	}
	if l, ok := got["Hosts"].([]any); !ok || len(l) != 2 {
		t.Errorf("a list parameter shown as %v", got["Hosts"])
	}
	if exec.Parameters["Cred"] != "abc-123-xyz" {
		t.Fatal("redaction changed the execution")
	}
}
