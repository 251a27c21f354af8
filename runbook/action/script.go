package action

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"tocsin"
	"tocsin/runbook"
)

// Script runs tocsin:script steps: one subprocess per attempt, in a fresh
// temporary directory removed afterwards, with a clean environment and in
// a process group of its own, so a timeout or a cancellation kills the
// script and every process it started.
type Script struct {
	// Interpreters maps a runtime ("python3", "bash") to its executable;
	// a runtime not in it is refused.
	Interpreters map[string]string
	// MaxOutput caps stdout and stderr together in bytes
	// (runbooks.scripts.max_output_bytes): more, and the script is killed.
	MaxOutput int64
	// Workdir is where each run's temporary directory is made (""): the
	// system's temporary directory).
	Workdir string
}

// StderrTail is how much of a script's stderr its result and errors keep:
// the end, where a traceback says what went wrong.
const StderrTail = 2 << 10

// scriptPath is the search path of scripts: system directories only, none
// of tocsin's own environment.
const scriptPath = "/usr/local/bin:/usr/bin:/bin"

// pipeWait bounds the wait for a script's output after its group was
// killed.
const pipeWait = 2 * time.Second

// pythonWrapper runs the user's script file: it reads the payload from
// stdin, calls the handler as handler(events, context) and writes
// json.dumps of its result to the real stdout, while print() and the
// output of anything the script starts go to stderr.
//
//go:embed wrapper.py
var pythonWrapper string

var handlerName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Run runs one script, aws:executeScript's shape. Inputs: Runtime
// ("python3…" runs python3, "bash"), Script (the text), Handler (python3:
// the function called, default "handler") and InputPayload (a map, given
// as JSON on stdin). The result is {"Payload": the handler's return value
// (python3) or stdout decoded when it is JSON, else its text (bash),
// "Stderr": the end of stderr}. A non-zero exit is an error with the end
// of stderr, the result still returned. The script's time is ctx's: when
// it ends the process group is killed and the error wraps ctx.Err().
func (s *Script) Run(ctx context.Context, inputs map[string]any) (map[string]any, error) {
	runtime, interp, err := s.interpreter(inputs)
	if err != nil {
		return nil, err
	}
	text, _ := inputs["Script"].(string)
	if strings.TrimSpace(text) == "" {
		return nil, tocsin.Errorf(tocsin.EINVALID, "tocsin:script: Script is required")
	}
	handler := "handler"
	if h, _ := inputs["Handler"].(string); h != "" {
		handler = h
	}
	if runtime == "python3" && !handlerName.MatchString(handler) {
		return nil, tocsin.Errorf(tocsin.EINVALID, "tocsin:script: Handler %q is not a Python function name", handler)
	}
	payload, err := encodePayload(inputs["InputPayload"])
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(s.Workdir, "tocsin-script-")
	if err != nil {
		return nil, fmt.Errorf("tocsin:script: make directory: %w", err)
	}
	defer os.RemoveAll(dir)
	args, err := writeFiles(dir, runtime, text, handler)
	if err != nil {
		return nil, err
	}
	// The payload is a file too, so no copying goroutine can block on a
	// script that never reads it.
	input := filepath.Join(dir, "payload.json")
	if err := os.WriteFile(input, payload, 0o600); err != nil {
		return nil, fmt.Errorf("tocsin:script: write payload: %w", err)
	}
	stdout, stderr, err := s.exec(ctx, dir, interp, args, input)
	res := map[string]any{"Stderr": stderr}
	if err != nil {
		return res, err
	}
	res["Payload"] = decodeOutput(runtime, stdout)
	return res, nil
}

// interpreter resolves the Runtime input to a runtime and its executable.
func (s *Script) interpreter(inputs map[string]any) (string, string, error) {
	rt, _ := inputs["Runtime"].(string)
	runtime := runbook.Interpreter(rt)
	if runtime == "" {
		return "", "", tocsin.Errorf(tocsin.EINVALID, "tocsin:script: Runtime %q is not python3 or bash", rt)
	}
	path, ok := s.Interpreters[runtime]
	if !ok {
		return "", "", tocsin.Errorf(tocsin.EFORBIDDEN, "tocsin:script: runtime %s is not available (runbooks.scripts.interpreters, and found on PATH at start)", runtime)
	}
	return runtime, path, nil
}

func encodePayload(v any) ([]byte, error) {
	if v == nil {
		return []byte("{}"), nil
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, tocsin.Errorf(tocsin.EINVALID, "tocsin:script: InputPayload must be a map")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, tocsin.Errorf(tocsin.EINVALID, "tocsin:script: InputPayload does not encode as JSON: %v", err)
	}
	return b, nil
}

// writeFiles writes the script (and python3's wrapper) into dir and
// returns the interpreter's arguments: the script's text is in a file,
// never on a command line.
func writeFiles(dir, runtime, text, handler string) ([]string, error) {
	if runtime == "bash" {
		script := filepath.Join(dir, "script.sh")
		if err := os.WriteFile(script, []byte(text), 0o600); err != nil {
			return nil, fmt.Errorf("tocsin:script: write script: %w", err)
		}
		return []string{"--noprofile", "--norc", script}, nil
	}
	script, wrapper := filepath.Join(dir, "script.py"), filepath.Join(dir, "tocsin_wrapper.py")
	if err := os.WriteFile(script, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("tocsin:script: write script: %w", err)
	}
	if err := os.WriteFile(wrapper, []byte(pythonWrapper), 0o600); err != nil {
		return nil, fmt.Errorf("tocsin:script: write wrapper: %w", err)
	}
	// -I: isolated, no PYTHON* variables, no user site, not the
	// script's directory on sys.path.
	return []string{"-I", wrapper, script, handler}, nil
}

// exec runs the interpreter in dir with the file input on stdin and returns its
// stdout and the end of its stderr. The output pipes are its own (not
// exec's copying goroutines), so Wait returns when the script exits, and
// the group is killed then: a child left running that still holds the
// pipes dies with it instead of keeping the step waiting.
func (s *Script) exec(ctx context.Context, dir, interp string, args []string, input string) ([]byte, string, error) {
	stdin, err := os.Open(input)
	if err != nil {
		return nil, "", fmt.Errorf("tocsin:script: open payload: %w", err)
	}
	defer stdin.Close()
	cmd := exec.Command(interp, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + scriptPath, "HOME=" + dir, "LANG=C.UTF-8"}
	cmd.Stdin = stdin
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithParent(cmd.SysProcAttr)
	out := &output{limit: s.MaxOutput}
	readers, err := out.attach(cmd)
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		out.closeAll()
		return nil, "", fmt.Errorf("tocsin:script: start %s: %w", filepath.Base(interp), err)
	}
	out.closeWriters()
	pgid := cmd.Process.Pid
	kill := func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) }
	out.setKill(kill)
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			kill()
		case <-done:
		}
	}()
	err = cmd.Wait()
	close(done)
	// Whatever the script left running in its group goes with it.
	kill()
	out.drain(readers)
	stdout, tail, over := out.result()
	switch {
	case over:
		return nil, tail, tocsin.Errorf(tocsin.ETOOLARGE, "tocsin:script: output over %d bytes (runbooks.scripts.max_output_bytes): killed", s.MaxOutput)
	case ctx.Err() != nil:
		return nil, tail, fmt.Errorf("tocsin:script: stopped: %w", ctx.Err())
	case err != nil:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, tail, fmt.Errorf("tocsin:script: exited with status %d: %s", ee.ExitCode(), lastLines(tail))
		}
		return nil, tail, fmt.Errorf("tocsin:script: %w", err)
	}
	return stdout, tail, nil
}

// lastLines is what an error quotes of stderr: its end, on one line.
func lastLines(tail string) string {
	t := strings.TrimSpace(tail)
	if t == "" {
		return "(no stderr)"
	}
	return t
}

// decodeOutput is the payload of a script's stdout: python3's wrapper
// always writes JSON; bash's stdout is JSON when it parses, else its text
// without the final newlines.
func decodeOutput(runtime string, stdout []byte) any {
	if json.Valid(stdout) && len(bytes.TrimSpace(stdout)) > 0 {
		return decodeBody(stdout)
	}
	if runtime == "python3" && len(stdout) == 0 {
		return nil
	}
	return strings.TrimRight(string(stdout), "\n")
}

// output collects a script's stdout (whole) and the end of its stderr,
// counting both against one limit; past it, kill stops the script.
type output struct {
	mu     sync.Mutex
	limit  int64
	n      int64
	over   bool
	stdout []byte
	tail   []byte
	kill   func()
	// files are the pipes' ends: the writers go to the child.
	readers, writers []*os.File
}

// attach gives cmd a pipe for stdout and one for stderr and starts
// reading them.
func (o *output) attach(cmd *exec.Cmd) (*sync.WaitGroup, error) {
	var wg sync.WaitGroup
	for _, keepAll := range []bool{true, false} {
		r, w, err := os.Pipe()
		if err != nil {
			o.closeAll()
			return nil, fmt.Errorf("tocsin:script: pipe: %w", err)
		}
		o.readers, o.writers = append(o.readers, r), append(o.writers, w)
		if keepAll {
			cmd.Stdout = w
		} else {
			cmd.Stderr = w
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := r.Read(buf)
				if n > 0 {
					o.write(buf[:n], keepAll)
				}
				if err != nil {
					return
				}
			}
		}()
	}
	return &wg, nil
}

// closeWriters closes tocsin's copies of the child's ends, so the reads
// end when the last process holding them does.
func (o *output) closeWriters() {
	for _, w := range o.writers {
		w.Close()
	}
}

// drain waits for the reads to end, and ends them after pipeWait: a
// process that left the group (setsid) may hold the pipes forever.
func (o *output) drain(readers *sync.WaitGroup) {
	ended := make(chan struct{})
	go func() { readers.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(pipeWait):
		for _, r := range o.readers {
			r.Close()
		}
		<-ended
	}
}

func (o *output) closeAll() {
	o.closeWriters()
	for _, r := range o.readers {
		r.Close()
	}
}

func (o *output) setKill(kill func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.kill = kill
	if o.over {
		kill()
	}
}

// write keeps what fits under the limit; past it, it kills the script
// and drops the rest.
func (o *output) write(p []byte, stdout bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.over {
		return
	}
	keep := p
	if o.n+int64(len(p)) > o.limit {
		o.over = true
		keep = p[:o.limit-o.n]
		if o.kill != nil {
			o.kill()
		}
	}
	o.n += int64(len(keep))
	if stdout {
		o.stdout = append(o.stdout, keep...)
		return
	}
	o.tail = append(o.tail, keep...)
	if len(o.tail) > StderrTail {
		o.tail = append(o.tail[:0], o.tail[len(o.tail)-StderrTail:]...)
	}
}

// result is stdout, the stderr tail as valid UTF-8 (a cut character
// dropped) and whether the limit was passed.
func (o *output) result() ([]byte, string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	tail := o.tail
	for len(tail) > 0 && !utf8.RuneStart(tail[0]) {
		tail = tail[1:]
	}
	return o.stdout, strings.ToValidUTF8(string(tail), "\uFFFD"), o.over
}
