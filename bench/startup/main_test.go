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

func TestSpread(t *testing.T) {
	for _, tc := range []struct {
		in          []float64
		lo, med, hi float64
	}{
		{nil, 0, 0, 0},
		{[]float64{7}, 7, 7, 7},
		{[]float64{30, 10, 20}, 10, 20, 30},
		{[]float64{4, 1, 3, 2}, 1, 2.5, 4},
		{[]float64{5, 5, 1, 9, 5}, 1, 5, 9},
	} {
		in := append([]float64(nil), tc.in...)
		lo, med, hi := Spread(tc.in)
		if lo != tc.lo || med != tc.med || hi != tc.hi {
			t.Errorf("Spread(%v) = %v %v %v, want %v %v %v", tc.in, lo, med, hi, tc.lo, tc.med, tc.hi)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Fatalf("Spread sorted its argument: %v", tc.in)
			}
		}
	}
}

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
