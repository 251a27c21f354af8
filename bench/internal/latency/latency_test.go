package latency

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{
		{50, 50 * time.Millisecond},
		{90, 90 * time.Millisecond},
		{99, 99 * time.Millisecond},
		{99.9, 100 * time.Millisecond},
		{100, 100 * time.Millisecond},
		{0.1, 1 * time.Millisecond},
		{0, 1 * time.Millisecond},
	} {
		if got := Percentile(s, tc.p); got != tc.want {
			t.Errorf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("Percentile(nil) = %v", got)
	}
	if got := Percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("Percentile(one) = %v", got)
	}
}

func TestSummarize(t *testing.T) {
	s := []time.Duration{5 * time.Millisecond, 1 * time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}
	got := Summarize(s)
	want := Summary{Count: 5, Mean: 3, P50: 3, P90: 5, P99: 5, Max: 5}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
	if (Summarize(nil) != Summary{}) {
		t.Error("Summarize(nil) is not zero")
	}
}

func TestFormatMs(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 0.8412: "0.84", 12.34: "12.3", 1530.4: "1530", 9.999: "10.00"} {
		if got := FormatMs(in); got != want {
			t.Errorf("FormatMs(%v) = %q, want %q", in, got, want)
		}
	}
}

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
