package runbook_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPure holds the package to the dependency rule of a decision package:
// the root and the standard library only, so nothing that stores, sends
// or reads the clock can creep in.
func TestPure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if path != "tocsin" && (first == "tocsin" || strings.Contains(first, ".")) {
				t.Errorf("%s imports %s: runbook may import only the root package and the standard library", f, path)
			}
		}
	}
}
