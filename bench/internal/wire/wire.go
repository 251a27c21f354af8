// Package wire holds what the bench load tool and the bench sink agree on:
// the alert labels that carry the benchmark's identifiers and the JSON the
// sink serves on GET /stats.
package wire

import (
	"strconv"
	"strings"
	"time"

	"tocsin/bench/internal/latency"
)

// Labels set on every benchmark alert. They come back to the sink in the
// webhook's alert.labels and incident.labels.
const (
	// LabelID is the alert's unique id, "<run>-<seq>" (see ID).
	LabelID = "bench_id"
	// LabelSentNS is the intended send time of the alert, Unix nanoseconds
	// in decimal.
	LabelSentNS = "bench_sent_ns"
)

// ID returns the bench_id of alert number seq of run: "<run>-<seq>". run
// must not be empty.
func ID(run string, seq uint64) string {
	return run + "-" + strconv.FormatUint(seq, 10)
}

// AppendID appends ID(run, seq) to b.
func AppendID(b []byte, run string, seq uint64) []byte {
	b = append(b, run...)
	b = append(b, '-')
	return strconv.AppendUint(b, seq, 10)
}

// ParseID splits a bench_id made by ID into its run and sequence number.
func ParseID(id string) (run string, seq uint64, ok bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 || i == len(id)-1 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return id[:i], seq, true
}

// SinkStats is the body of the sink's GET /stats. Counters cover the
// deliveries since the last POST /reset; when the reset named a run, only
// deliveries of that run's alerts count as received for it, others are
// Stale.
type SinkStats struct {
	// Run is the run id of the last reset ("" accepts every run).
	Run string `json:"run"`
	// Requests is every POST /hook since the reset, whatever it carried.
	Requests int64 `json:"requests"`
	// Events counts this run's deliveries by X-Tocsin-Event.
	Events map[string]int64 `json:"events"`
	// Received is the number of this run's "opened" deliveries, duplicates
	// included.
	Received int64 `json:"received"`
	// Unique is the number of distinct bench_ids among them.
	Unique int64 `json:"unique"`
	// Duplicates is Received - Unique: the same alert delivered again.
	Duplicates int64 `json:"duplicates"`
	// DuplicateDeliveryIDs counts "opened" deliveries whose delivery_id had
	// already been received (retries of one notification). Duplicates that
	// are not DuplicateDeliveryIDs are distinct notifications of one alert.
	DuplicateDeliveryIDs int64 `json:"duplicate_delivery_ids"`
	// Stale counts deliveries of alerts of another run.
	Stale int64 `json:"stale"`
	// Unparsed counts deliveries without a readable bench_id/bench_sent_ns.
	Unparsed int64 `json:"unparsed"`
	// BadSignature counts deliveries whose X-Tocsin-Signature did not
	// verify (only checked when the sink has a secret).
	BadSignature int64 `json:"bad_signature"`
	// Injected counts deliveries answered 503 on purpose (-fail-rate).
	Injected int64 `json:"injected_failures"`
	// FirstAt and LastAt are the arrival times of the first and the last
	// unique delivery (RFC 3339, empty when none).
	FirstAt string `json:"first_at,omitempty"`
	LastAt  string `json:"last_at,omitempty"`
	// PerSec is Unique over the time from the first to the last arrival.
	PerSec float64 `json:"per_sec"`
	// Latency is arrival time minus bench_sent_ns of each unique delivery:
	// from when the alert was meant to be sent to when its webhook arrived.
	Latency latency.Summary `json:"latency"`
}

// AppendAlert appends the Alertmanager webhook (version 4) of alert seq of
// run to b. Its groupKey is unique, so tocsin opens one incident per
// alert; its labels carry bench_id and bench_sent_ns (intended, in Unix
// nanoseconds).
func AppendAlert(b []byte, run string, seq uint64, intended time.Time) []byte {
	var idb [64]byte
	id := AppendID(idb[:0], run, seq)
	var nsb [24]byte
	ns := strconv.AppendInt(nsb[:0], intended.UnixNano(), 10)
	var tsb [40]byte
	ts := intended.UTC().AppendFormat(tsb[:0], time.RFC3339Nano)

	b = append(b, `{"version":"4","groupKey":"{}:{bench_id=\"`...)
	b = append(b, id...)
	b = append(b, `\"}","status":"firing","receiver":"tocsin","groupLabels":{"bench_id":"`...)
	b = append(b, id...)
	b = append(b, `"},"commonLabels":{"alertname":"BenchAlert","bench_id":"`...)
	b = append(b, id...)
	b = append(b, `","severity":"critical"},"commonAnnotations":{"summary":"Bench alert `...)
	b = append(b, id...)
	b = append(b, `"},"externalURL":"http://am","alerts":[{"status":"firing","labels":{"alertname":"BenchAlert","bench_id":"`...)
	b = append(b, id...)
	b = append(b, `","bench_sent_ns":"`...)
	b = append(b, ns...)
	b = append(b, `","instance":"bench-`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `","severity":"critical"},"annotations":{"summary":"Bench alert `...)
	b = append(b, id...)
	b = append(b, `"},"startsAt":"`...)
	b = append(b, ts...)
	b = append(b, `","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"`...)
	b = append(b, id...)
	b = append(b, `"}]}`...)
	return b
}
