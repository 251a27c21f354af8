// Package latency summarises latency samples for the tocsin benchmarks.
package latency

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// Summary describes a set of latency samples. Durations are reported in
// milliseconds in JSON so the numbers are readable as they are.
type Summary struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest sample such that at least p percent of
// the samples are less than or equal to it. It returns 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return sorted[rank-1]
}

// Summarize sorts samples in place and returns their summary.
func Summarize(samples []time.Duration) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	slices.Sort(samples)
	var sum float64
	for _, d := range samples {
		sum += float64(d)
	}
	return Summary{
		Count: len(samples),
		Mean:  Ms(time.Duration(sum / float64(len(samples)))),
		P50:   Ms(Percentile(samples, 50)),
		P90:   Ms(Percentile(samples, 90)),
		P99:   Ms(Percentile(samples, 99)),
		Max:   Ms(samples[len(samples)-1]),
	}
}

// Ms converts d to milliseconds, rounded to the microsecond.
func Ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

// FormatMs formats milliseconds compactly for a Markdown table: "0.84",
// "12.3", "1530".
func FormatMs(ms float64) string {
	switch {
	case ms == 0:
		return "0"
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64)
	case ms < 100:
		return strconv.FormatFloat(ms, 'f', 1, 64)
	default:
		return strconv.FormatFloat(ms, 'f', 0, 64)
	}
}

// Spread returns the minimum, the median (the mean of the middle two for
// an even count) and the maximum of v, zeros for none; v is not changed.
func Spread(v []float64) (lo, median, hi float64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := len(s) / 2
	median = s[m]
	if len(s)%2 == 0 {
		median = (s[m-1] + s[m]) / 2
	}
	return s[0], median, s[len(s)-1]
}
