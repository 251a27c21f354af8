package tocsin_test

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
)

// deps returns the packages of this module that pkg ("tocsin/engage")
// imports, directly or not, tests excluded.
func deps(t *testing.T, pkg string, seen map[string]bool) map[string]bool {
	t.Helper()
	p, err := build.ImportDir(filepath.FromSlash("./"+strings.TrimPrefix(strings.TrimPrefix(pkg, "tocsin"), "/")), 0)
	if err != nil {
		t.Fatalf("read package %s: %v", pkg, err)
	}
	for _, imp := range p.Imports {
		if (imp == "tocsin" || strings.HasPrefix(imp, "tocsin/")) && !seen[imp] {
			seen[imp] = true
			deps(t, imp, seen)
		}
	}
	return seen
}

// TestImportRules checks the dependency rule of docs/architecture.md for
// the packages that run work and take requests: they declare the store
// interface they use and never import the store or the wiring.
func TestImportRules(t *testing.T) {
	for _, pkg := range []string{"tocsin/engage", "tocsin/integration", "tocsin/integration/awsim", "tocsin/integration/pagerduty",
		"tocsin/integration/servicenow", "tocsin/integration/incidentio", "tocsin/inbound", "tocsin/awsapi", "tocsin/response", "tocsin/oncall",
		"tocsin/runbook", "tocsin/runbook/action", "tocsin/runbook/run"} {
		for dep := range deps(t, pkg, map[string]bool{}) {
			if dep == "tocsin/store" || dep == "tocsin/app" || strings.HasPrefix(dep, "tocsin/store/") {
				t.Errorf("%s imports %s", pkg, dep)
			}
		}
	}
}

// TestPurePackages holds the decision packages to their dependency rule:
// the root and the standard library only, so nothing that stores, sends
// or reads the clock can creep in.
func TestPurePackages(t *testing.T) {
	for _, pkg := range []string{"response", "route", "runbook", "oncall"} {
		p, err := build.ImportDir(filepath.FromSlash("./"+pkg), 0)
		if err != nil {
			t.Fatalf("read package %s: %v", pkg, err)
		}
		for _, path := range p.Imports {
			first, _, _ := strings.Cut(path, "/")
			if path != "tocsin" && (first == "tocsin" || strings.Contains(first, ".")) {
				t.Errorf("%s imports %s: it may import only the root package and the standard library", pkg, path)
			}
		}
	}
}
