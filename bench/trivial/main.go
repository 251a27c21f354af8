// Command trivial is the limit the intake benchmark compares tocsin with:
// a plain net/http handler that accepts the same POST, reads its body to
// the end and answers 200 with a short JSON body, storing nothing. The
// load tool's rate against it, on the same machine with the same
// concurrency, is what HTTP and the load tool alone cost; tocsin's rate is
// reported as a share of it.
//
// Usage:
//
//	trivial -addr 127.0.0.1:0 -addr-file F
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"

	"tocsin/bench/internal/serve"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9098", "listen address (port 0: any free port)")
	addrFile := flag.String("addr-file", "", "write the address listened on to this file")
	flag.Parse()

	ln, err := serve.Listen(*addr, *addrFile)
	if err != nil {
		log.Fatalf("trivial: %v", err)
	}
	fmt.Fprintf(os.Stderr, "trivial: listening on http://%s\n", ln.Addr())
	if err := serve.Run(ln, Handler(), "trivial"); err != nil {
		log.Fatalf("trivial: %v", err)
	}
}

// answer is the whole body of every answer.
var answer = []byte(`{"status":"ok"}` + "\n")

// Handler accepts a POST on any path: it reads the body to the end, as
// tocsin does before it decodes it, and answers 200. Other methods are
// answered 405.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1<<20)); err != nil {
			http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(answer)
	})
}
