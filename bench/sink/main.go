// Command sink receives tocsin's webhook deliveries during a benchmark and
// measures them: how many arrived, how many were duplicates, and the
// latency from each alert's intended send time (its bench_sent_ns label)
// to the arrival of its "opened" webhook.
//
// Usage:
//
//	sink -addr 127.0.0.1:9099 [-addr-file F] [-secret S] [-fail-rate 0.1]
//
// With -addr 127.0.0.1:0 the system picks a free port; -addr-file F writes
// the address actually listened on to F once the sink accepts connections.
//
// API:
//
//	POST /hook           the webhook URL to configure in tocsin
//	GET  /stats          counters and latency since the last reset (JSON)
//	POST /reset?run=ID   clear everything; count only alerts of run ID
//	GET  /missing?n=N    sequence numbers < N of the run not delivered yet
//	GET  /deliveries     CSV: seq, intended send and arrival time of each alert
package main

import (
	"flag"
	"fmt"
	"log"
	"os"

	"tocsin/bench/internal/serve"
	"tocsin/bench/internal/sink"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9099", "listen address (port 0: any free port)")
	addrFile := flag.String("addr-file", "", "write the address listened on to this file")
	secret := flag.String("secret", "", "webhook secret: verify X-Tocsin-Signature and count failures")
	failRate := flag.Float64("fail-rate", 0, "fraction of deliveries to answer 503 (tests retries)")
	flag.Parse()

	s := sink.New()
	s.Secret = *secret
	s.FailRate = *failRate

	ln, err := serve.Listen(*addr, *addrFile)
	if err != nil {
		log.Fatalf("sink: %v", err)
	}
	fmt.Fprintf(os.Stderr, "sink: listening on http://%s\n", ln.Addr())
	if err := serve.Run(ln, s.Handler(), "sink"); err != nil {
		log.Fatalf("sink: %v", err)
	}
}
