package action

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tocsin"
)

// realPython is the python3 executable itself (not a version manager's
// shim, which adds variables of its own), so the environment test sees
// exactly what tocsin gives the script.
func realPython(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	out, err := exec.Command(p, "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func newScript(t *testing.T) *Script {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	return &Script{Interpreters: map[string]string{"python3": realPython(t), "bash": bash}, MaxOutput: 1 << 16, Workdir: t.TempDir()}
}

func TestScriptPayloadInAndOut(t *testing.T) {
	s := newScript(t)
	for _, tc := range []struct {
		name   string
		inputs map[string]any
		want   any
		stderr string
	}{
		{"python handler", map[string]any{"Runtime": "python3.8", "Handler": "script_handler",
			"Script":       "def script_handler(events, context):\n    print('talking to stdout')\n    import os; os.system('echo from a child')\n    return {'doubled': events['n'] * 2, 'name': events['name']}\n",
			"InputPayload": map[string]any{"n": int64(21), "name": "db"}},
			map[string]any{"doubled": int64(42), "name": "db"}, "talking to stdout\nfrom a child\n"},
		{"python default handler", map[string]any{"Runtime": "python3",
			"Script": "def handler(events, context):\n    return [1, 'two', None]\n"}, []any{int64(1), "two", nil}, ""},
		{"python returns nothing", map[string]any{"Runtime": "python3",
			"Script": "def handler(events, context):\n    pass\n"}, nil, ""},
		{"bash json", map[string]any{"Runtime": "bash", "Script": `read -r in; echo "log line" >&2; printf '{"got": %s}\n' "$in"`,
			"InputPayload": map[string]any{"a": "b"}}, map[string]any{"got": map[string]any{"a": "b"}}, "log line\n"},
		{"bash text", map[string]any{"Runtime": "bash", "Script": "echo hello; echo world"}, "hello\nworld", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Run(context.Background(), tc.inputs)
			if err != nil {
				t.Fatalf("%v (stderr %q)", err, res["Stderr"])
			}
			if !reflect.DeepEqual(res["Payload"], tc.want) {
				t.Errorf("payload %#v, want %#v", res["Payload"], tc.want)
			}
			if res["Stderr"] != tc.stderr {
				t.Errorf("stderr %q, want %q", res["Stderr"], tc.stderr)
			}
		})
	}
	if left, _ := os.ReadDir(s.Workdir); len(left) != 0 {
		t.Errorf("temporary directories left behind: %v", left)
	}
}

// Issue 12: a script sees none of tocsin's environment (its secrets).
func TestScriptEnvironmentIsClean(t *testing.T) {
	t.Setenv("TOCSIN_SECRET_TEST", "hunter2")
	s := newScript(t)
	for _, tc := range []struct {
		name   string
		inputs map[string]any
		// shells set PWD, SHLVL and _ themselves
		extra []string
	}{
		{"python3", map[string]any{"Runtime": "python3", "Script": "import os\ndef handler(e, c):\n    return {'env': dict(os.environ), 'cwd': os.getcwd()}\n"}, nil},
		{"bash", map[string]any{"Runtime": "bash", "Script": `printf '{"cwd": "%s", "env": {' "$PWD"; env | sed 's/=.*//' | sort | sed 's/.*/"&": ""/' | paste -sd, - | tr -d '\n'; printf '}}'`},
			[]string{"PWD", "SHLVL", "_"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Run(context.Background(), tc.inputs)
			if err != nil {
				t.Fatalf("%v (stderr %q)", err, res["Stderr"])
			}
			p := res["Payload"].(map[string]any)
			env := p["env"].(map[string]any)
			if _, ok := env["TOCSIN_SECRET_TEST"]; ok {
				t.Fatal("the script sees TOCSIN_SECRET_TEST")
			}
			allowed := append([]string{"PATH", "HOME", "LANG"}, tc.extra...)
			for k := range env {
				if !contains(allowed, k) {
					t.Errorf("variable %s reached the script", k)
				}
			}
			if tc.name == "python3" {
				cwd := p["cwd"].(string)
				if env["PATH"] != "/usr/local/bin:/usr/bin:/bin" || env["HOME"] != cwd || env["LANG"] != "C.UTF-8" {
					t.Errorf("env %v (cwd %s)", env, cwd)
				}
				if filepath.Dir(cwd) != s.Workdir {
					t.Errorf("ran in %s, not a fresh directory under %s", cwd, s.Workdir)
				}
			}
		})
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Issue 12: a hostile incident title in the payload is data: the script
// gets it unchanged and nothing in it runs.
func TestScriptHostilePayloadIsData(t *testing.T) {
	s := newScript(t)
	marker := filepath.Join(t.TempDir(), "pwned")
	title := `'; rm -rf ~; echo '$(touch ` + marker + `)` + "`touch " + marker + "`" + ` {{ x }} "`
	for _, tc := range []struct{ name, runtime, script string }{
		{"python3", "python3", "def handler(events, context):\n    return events\n"},
		{"bash", "bash", "cat"},
		{"bash reads it into a variable", "bash", `read -r line; printf '%s\n' "$line"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Run(context.Background(), map[string]any{"Runtime": tc.runtime, "Script": tc.script,
				"InputPayload": map[string]any{"title": title}})
			if err != nil {
				t.Fatalf("%v (stderr %q)", err, res["Stderr"])
			}
			want := map[string]any{"title": title}
			if !reflect.DeepEqual(res["Payload"], want) {
				t.Fatalf("payload %#v, want %#v", res["Payload"], want)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the payload ran as a command")
			}
		})
	}
}

func TestScriptFailures(t *testing.T) {
	s := newScript(t)
	for _, tc := range []struct {
		name   string
		inputs map[string]any
		want   string
	}{
		{"bash exit code", map[string]any{"Runtime": "bash", "Script": "echo doomed >&2; exit 3"}, "exited with status 3: doomed"},
		{"python exception", map[string]any{"Runtime": "python3", "Script": "def handler(e, c):\n    raise ValueError('no such host')\n"}, "ValueError: no such host"},
		{"python no handler", map[string]any{"Runtime": "python3", "Handler": "main", "Script": "def handler(e, c):\n    return 1\n"}, "defines no function 'main'"},
		{"python bad handler name", map[string]any{"Runtime": "python3", "Handler": "os.system", "Script": "x=1"}, "not a Python function name"},
		{"unknown runtime", map[string]any{"Runtime": "ruby", "Script": "puts 1"}, `Runtime "ruby" is not python3 or bash`},
		{"no script", map[string]any{"Runtime": "bash"}, "Script is required"},
		{"payload not a map", map[string]any{"Runtime": "bash", "Script": "cat", "InputPayload": "x"}, "InputPayload must be a map"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Run(context.Background(), tc.inputs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
	only := &Script{Interpreters: map[string]string{"bash": s.Interpreters["bash"]}, MaxOutput: 100}
	_, err := only.Run(context.Background(), map[string]any{"Runtime": "python3", "Script": "x=1"})
	if tocsin.ErrorCode(err) != tocsin.EFORBIDDEN || !strings.Contains(err.Error(), "runbooks.scripts.interpreters") {
		t.Fatalf("a runtime not configured: %v", err)
	}
}

// Issue 12: a timeout kills the script and everything it started.
func TestScriptTimeoutKillsTheProcessGroup(t *testing.T) {
	s := newScript(t)
	for _, tc := range []struct{ name, runtime, script string }{
		{"bash", "bash", `sleep 300 & echo "child $!" >&2; wait`},
		{"python3", "python3", "import subprocess, sys, time\ndef handler(e, c):\n    p = subprocess.Popen(['sleep', '300'])\n    sys.stderr.write('child %d\\n' % p.pid); sys.stderr.flush()\n    time.sleep(300)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
			defer cancel()
			start := time.Now()
			res, err := s.Run(ctx, map[string]any{"Runtime": tc.runtime, "Script": tc.script})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("error %v, want the deadline", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("returned after %s", d)
			}
			m := regexp.MustCompile(`child (\d+)`).FindStringSubmatch(res["Stderr"].(string))
			if m == nil {
				t.Fatalf("no child pid in stderr %q", res["Stderr"])
			}
			pid, _ := strconv.Atoi(m[1])
			waitGone(t, pid)
		})
	}
}

// waitGone fails unless pid exits (or is a zombie, dead but unreaped by
// the container's init) within a few seconds.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && f[0] == "Z" {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("child %d still runs after the timeout", pid)
}

func TestScriptOutputCap(t *testing.T) {
	s := newScript(t)
	s.MaxOutput = 1000
	for _, tc := range []struct{ name, runtime, script string }{
		{"stdout forever", "bash", "yes"},
		{"stderr forever", "bash", "yes >&2"},
		{"print forever", "python3", "def handler(e, c):\n    while True:\n        print('x' * 100)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res, err := s.Run(ctx, map[string]any{"Runtime": tc.runtime, "Script": tc.script})
			if tocsin.ErrorCode(err) != tocsin.ETOOLARGE || !strings.Contains(err.Error(), "runbooks.scripts.max_output_bytes") {
				t.Fatalf("error %v", err)
			}
			if ctx.Err() != nil {
				t.Fatal("killed by the test's deadline, not the cap")
			}
			if n := len(res["Stderr"].(string)); n > StderrTail {
				t.Errorf("stderr kept %d bytes", n)
			}
		})
	}
	// Under the cap, the output is whole.
	res, err := s.Run(context.Background(), map[string]any{"Runtime": "bash", "Script": "head -c 900 /dev/zero | tr '\\0' a"})
	if err != nil || len(res["Payload"].(string)) != 900 {
		t.Fatalf("900 bytes under a cap of 1000: %v", err)
	}
}

func TestScriptStderrKeepsTheEnd(t *testing.T) {
	s := newScript(t)
	res, err := s.Run(context.Background(), map[string]any{"Runtime": "bash", "Script": `for i in $(seq 1 1000); do echo "line $i" >&2; done; exit 1`})
	if err == nil || !strings.HasSuffix(strings.TrimSpace(err.Error()), "line 1000") {
		t.Fatalf("error %v", err)
	}
	tail := res["Stderr"].(string)
	if len(tail) > StderrTail || !strings.HasSuffix(tail, "line 1000\n") || strings.Contains(tail, "line 1\n") {
		t.Fatalf("tail %d bytes: %q…", len(tail), tail[:40])
	}
}

// A script outlives no tocsin killed with -9: its interpreter gets
// SIGKILL when tocsin dies, rather than running on unbounded (no timeout
// watches it any more) while the restarted tocsin may run the step again.
// The test binary runs itself as the tocsin that is killed.
func TestScriptDiesWithTocsin(t *testing.T) {
	if dir := os.Getenv("TOCSIN_SCRIPT_PARENT_DIR"); dir != "" {
		s := newScript(t)
		_, err := s.Run(context.Background(), map[string]any{"Runtime": "bash", "Script": "echo $$ > " + dir + "/pid.tmp; mv " + dir + "/pid.tmp " + dir + "/pid; sleep 300"})
		t.Fatalf("the script returned: %v", err)
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	dir := t.TempDir()
	parent := exec.Command(os.Args[0], "-test.run=^TestScriptDiesWithTocsin$", "-test.count=1")
	parent.Env = append(os.Environ(), "TOCSIN_SCRIPT_PARENT_DIR="+dir)
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	defer parent.Process.Kill()
	var pid int
	deadline := time.Now().Add(10 * time.Second)
	for pid == 0 {
		if b, err := os.ReadFile(filepath.Join(dir, "pid")); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			t.Fatal("the script never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := parent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()
	waitGone(t, pid)
}
