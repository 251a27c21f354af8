// Package serve runs the HTTP servers of the benchmark tools (the webhook
// sink, the trivial handler, the provider fakes): listen where told (port
// 0 lets the system pick), say where in a file once connections are
// accepted, and stop on SIGINT or SIGTERM.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Listen listens on addr and, when addrFile is not empty, writes the
// address actually listened on to it, so a script that asked for port 0
// learns the port. The file is written then renamed: a reader never sees
// half an address.
func Listen(addr, addrFile string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if addrFile == "" {
		return ln, nil
	}
	tmp := addrFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
		ln.Close()
		return nil, fmt.Errorf("write address file: %w", err)
	}
	if err := os.Rename(tmp, addrFile); err != nil {
		ln.Close()
		return nil, fmt.Errorf("write address file: %w", err)
	}
	return ln, nil
}

// Run serves h on ln until SIGINT or SIGTERM, then shuts down within 2 s.
// name prefixes the server's error log on stderr.
func Run(ln net.Listener, h http.Handler, name string) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(os.Stderr, name+": ", 0),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
