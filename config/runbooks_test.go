package config

import (
	"slices"
	"strings"
	"testing"
)

func TestRunbooksDefaults(t *testing.T) {
	res, err := Parse(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	r := res.Config.Runbooks
	if len(r.HTTP.Allow) != 0 || r.HTTP.MaxResponseBytes != 1048576 {
		t.Errorf("http defaults: %+v", r.HTTP)
	}
	if r.Scripts.Enabled || !slices.Equal(r.Scripts.Interpreters, []string{"python3", "bash"}) || r.Scripts.MaxOutputBytes != 65536 || r.Scripts.Workdir != "" {
		t.Errorf("scripts defaults: %+v", r.Scripts)
	}
}

func TestRunbooksBlockLoads(t *testing.T) {
	res, err := Parse([]byte(`
runbooks:
  http:
    allow: [https://api.example.com/v1/, "http://10.0.0.5:8080"]
    max_response_bytes: "${MAX}"
  scripts:
    enabled: true
    interpreters: [bash]
    max_output_bytes: 1000
    workdir: /var/lib/tocsin/scripts
`), env(map[string]string{"MAX": "2048"}))
	if err != nil {
		t.Fatal(err)
	}
	r := res.Config.Runbooks
	if !slices.Equal(r.HTTP.Allow, []string{"https://api.example.com/v1/", "http://10.0.0.5:8080"}) || r.HTTP.MaxResponseBytes != 2048 {
		t.Errorf("http: %+v", r.HTTP)
	}
	// A list given replaces the default list, it does not extend it.
	if !r.Scripts.Enabled || !slices.Equal(r.Scripts.Interpreters, []string{"bash"}) || r.Scripts.MaxOutputBytes != 1000 || r.Scripts.Workdir != "/var/lib/tocsin/scripts" {
		t.Errorf("scripts: %+v", r.Scripts)
	}
}

func TestRunbooksProblems(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "runbooks: {http: {allowed: [http://x]}}", []string{"runbooks.http.allowed"}},
		{"unknown script key", "runbooks: {scripts: {enable: true}}", []string{"runbooks.scripts.enable"}},
		{"relative URL", "runbooks: {http: {allow: [https://ok.example, /api]}}", []string{`runbooks.http.allow[1]: "/api" is not an absolute http or https URL`}},
		{"other scheme", "runbooks: {http: {allow: [ftp://files.example/]}}", []string{`runbooks.http.allow[0]: "ftp://files.example/" is not an absolute http or https URL`}},
		{"no host", "runbooks: {http: {allow: ['http:///x']}}", []string{"runbooks.http.allow[0]: "}},
		{"userinfo", "runbooks: {http: {allow: ['https://bob:pw@api.example/']}}", []string{"runbooks.http.allow[0]: ", "user name or password"}},
		{"query", "runbooks: {http: {allow: ['https://api.example/?key=1']}}", []string{"runbooks.http.allow[0]: ", "query or fragment"}},
		{"zero response cap", "runbooks: {http: {max_response_bytes: 0}}", []string{"runbooks.http.max_response_bytes: must be positive"}},
		{"negative output cap", "runbooks: {scripts: {max_output_bytes: -1}}", []string{"runbooks.scripts.max_output_bytes: must be positive"}},
		{"interpreter", "runbooks: {scripts: {interpreters: [bash, ruby]}}", []string{`runbooks.scripts.interpreters[1]: "ruby" is not python3 or bash`}},
		{"python version", "runbooks: {scripts: {interpreters: [python3.11]}}", []string{`runbooks.scripts.interpreters[0]: "python3.11" is not python3 or bash`}},
		{"enabled without interpreters", "runbooks: {scripts: {enabled: true, interpreters: []}}", []string{"runbooks.scripts.interpreters: empty while runbooks.scripts.enabled is true"}},
		{"relative workdir", "runbooks: {scripts: {workdir: tmp}}", []string{`runbooks.scripts.workdir: "tmp" is not an absolute path`}},
		{"not a list", "runbooks: {http: {allow: http://x}}", []string{"runbooks.http.allow"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), env(nil))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\nwant %q", err, w)
				}
			}
		})
	}
}
