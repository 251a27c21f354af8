// Package tocsinproc starts and stops `tocsin serve` for the benchmark
// tools that time its start-up or run several instances: it picks a free
// port, writes the configuration, execs the binary, and waits for the
// first 200 from GET /readyz.
package tocsinproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options describe one tocsin process.
type Options struct {
	// Bin is the tocsin binary.
	Bin string
	// Dir receives the configuration, the data directory and the log; it
	// must exist.
	Dir string
	// Config is the YAML configuration without public_host and data_dir,
	// which Start adds.
	Config string
	// Database is the --database argument (a path, sqlite://… or
	// postgres://…).
	Database string
	// ReadyTimeout bounds the wait for /readyz (default 60 s).
	ReadyTimeout time.Duration
}

// Server is a running tocsin.
type Server struct {
	// URL is its base URL, http://127.0.0.1:PORT.
	URL string
	// PID is its process id.
	PID int
	// Started is just before the exec; Ready is when /readyz first
	// answered 200.
	Started, Ready time.Time
	// LogPath holds its stdout and stderr.
	LogPath string

	cmd    *exec.Cmd
	exited chan struct{}
}

// StartUp is the time from the exec to the first 200 from /readyz.
func (s *Server) StartUp() time.Duration { return s.Ready.Sub(s.Started) }

// Start runs tocsin as o says and returns once it is ready. A port that
// turns out to be taken is replaced by another, twice at most.
func Start(ctx context.Context, o Options) (*Server, error) {
	for try := 1; ; try++ {
		s, err := start(ctx, o)
		if err == nil {
			return s, nil
		}
		if try < 3 && errors.Is(err, errPortTaken) {
			continue
		}
		return nil, err
	}
}

// errPortTaken is returned when tocsin exits because its port was taken.
var errPortTaken = errors.New("port taken")

// start makes one attempt of Start.
func start(ctx context.Context, o Options) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cfgPath := filepath.Join(o.Dir, "config.yaml")
	data := filepath.Join(o.Dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	yaml := fmt.Sprintf("public_host: http://%s\ndata_dir: %s\n%s", addr, data, o.Config)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(o.Dir, "tocsin.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(o.Bin, "serve", "--config", cfgPath, "--addr", addr, "--database", o.Database)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server dies with the tool, even when the tool is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	s := &Server{URL: "http://" + addr, LogPath: logPath, cmd: cmd, exited: make(chan struct{})}
	s.Started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.Bin, err)
	}
	s.PID = cmd.Process.Pid
	go func() { _ = cmd.Wait(); close(s.exited) }()
	timeout := o.ReadyTimeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	if err := s.waitReady(ctx, timeout); err != nil {
		s.Stop()
		tail := s.LogTail(20)
		if strings.Contains(tail, "address already in use") {
			return nil, errPortTaken
		}
		return nil, fmt.Errorf("%w; its log:\n%s", err, tail)
	}
	return s, nil
}

// waitReady polls GET /readyz every 2 ms until it answers 200.
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.Ready = time.Now()
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("tocsin exited before it was ready (%s)", s.cmd.ProcessState)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tocsin was not ready within %v", timeout)
		}
	}
}

// Exited reports whether the process has ended.
func (s *Server) Exited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits for the exit, killing the process after
// 10 s.
func (s *Server) Stop() {
	if s.Exited() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// LogTail returns the last n lines of the server's log.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// freePort returns a TCP port nothing listened on a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
