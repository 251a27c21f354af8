package action

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"tocsin/config"
	"tocsin/runbook"
)

func TestPolicyOfTheConfiguration(t *testing.T) {
	// A PATH holding only a bash: python3 is configured but not found.
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "bash"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	for _, tc := range []struct {
		name        string
		cfg         config.Runbooks
		want        runbook.Policy
		wantMissing []string
	}{
		{"defaults: both disabled", config.Default().Runbooks, runbook.Policy{}, nil},
		{"http only", config.Runbooks{HTTP: config.RunbookHTTP{Allow: []string{"https://a.example/v1/"}, MaxResponseBytes: 10}},
			runbook.Policy{HTTPAllow: []string{"https://a.example/v1/"}}, nil},
		{"scripts, python3 missing", config.Runbooks{Scripts: config.RunbookScripts{Enabled: true, Interpreters: []string{"python3", "bash"}, MaxOutputBytes: 10}},
			runbook.Policy{Scripts: true, Interpreters: []string{"bash"}}, []string{"python3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHTTP(tc.cfg.HTTP, nil)
			s, missing := NewScript(tc.cfg.Scripts)
			if got := Policy(h, s); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("policy %+v, want %+v", got, tc.want)
			}
			if !slices.Equal(missing, tc.wantMissing) {
				t.Errorf("missing %v, want %v", missing, tc.wantMissing)
			}
			if (h == nil) != (len(tc.cfg.HTTP.Allow) == 0) || (s == nil) != !tc.cfg.Scripts.Enabled {
				t.Errorf("actions built: http %v, script %v", h != nil, s != nil)
			}
			if s != nil && s.Interpreters["bash"] != filepath.Join(bin, "bash") {
				t.Errorf("interpreters %v", s.Interpreters)
			}
		})
	}
}
