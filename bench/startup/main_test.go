package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tocsin/bench/internal/tocsinproc"
)

// TestMeasure starts the real tocsin twice.
func TestMeasure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tocsin")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tocsin")
	if out, err := exec.Command("go", "build", "-o", bin, "tocsin/cmd/tocsin").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	o := tocsinproc.Options{Bin: bin, Dir: dir, Config: config, Database: "sqlite://" + filepath.Join(dir, "t.db")}
	res, err := Measure(context.Background(), o, 1, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstMs <= 0 || len(res.StartMs) != 1 || res.StartMedianMs != res.StartMs[0] || res.IdleRSSMedianMiB < 1 || res.IdleRSSMedianMiB > 1000 {
		t.Fatalf("result %+v", res)
	}
	res.Backend = "sqlite"
	row := res.MarkdownRow()
	if strings.Count(row, "|") != strings.Count(strings.SplitN(MarkdownHeader(), "\n", 2)[0], "|") {
		t.Fatalf("row %q does not fit the header", row)
	}
}
