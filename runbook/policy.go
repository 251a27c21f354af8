package runbook

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"tocsin"
)

// Idempotent reports whether an attempt of the step's action may run again
// after a crash interrupted it: waits and timers may; tocsin:http with GET,
// HEAD, PUT, DELETE or OPTIONS may; POST and PATCH and tocsin:script may
// not.
//
// A method given by a {{ }} reference is unknown until the step runs, so
// it counts as not idempotent; a script may declare itself so with the
// input Idempotent: true.
func Idempotent(s *Step) bool {
	switch s.Action {
	case "aws:pause", "aws:sleep", "aws:approve", "aws:branch", "aws:executeAutomation", "aws:loop":
		return true
	case "tocsin:http":
		m, _ := s.Inputs["Method"].(string)
		return slices.Contains([]string{"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}, m)
	case "tocsin:script":
		b, _ := s.Inputs["Idempotent"].(bool)
		return b
	}
	return false
}

// HTTPMethods are the methods tocsin:http sends, in the words of the
// problems and errors that refuse another.
const HTTPMethods = "GET, HEAD, POST, PUT, PATCH or DELETE"

// HTTPMethod reports whether m is one of HTTPMethods (upper case).
func HTTPMethod(m string) bool {
	return slices.Contains([]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}, m)
}

// Policy is what the configuration allows runbooks to do.
type Policy struct {
	// HTTPAllow are the URL prefixes tocsin:http may call
	// (runbooks.http.allow); none: tocsin:http is refused.
	HTTPAllow []string
	// Scripts enables tocsin:script (runbooks.scripts.enabled).
	Scripts bool
	// Interpreters are the runtimes tocsin:script may run ("python3",
	// "bash").
	Interpreters []string
}

// Allowed returns the problems of a document the policy does not allow,
// each naming the step and the configuration key that would allow it.
func (d *Document) Allowed(p Policy) Problems {
	var ps Problems
	for i, s := range d.MainSteps {
		if s == nil {
			continue
		}
		path := fmt.Sprintf("mainSteps[%d]", i)
		ps = append(ps, p.allow(s, path)...)
		for j, n := range s.Loop {
			if n != nil {
				ps = append(ps, p.allow(n, fmt.Sprintf("%s.inputs.Steps[%d]", path, j))...)
			}
		}
	}
	return ps
}

// allow checks one step's action against the policy.
func (p Policy) allow(s *Step, path string) Problems {
	switch s.Action {
	case "tocsin:http":
		return p.allowHTTP(s, path)
	case "tocsin:script":
		return p.allowScript(s, path)
	}
	return nil
}

func (p Policy) allowHTTP(s *Step, path string) Problems {
	if len(p.HTTPAllow) == 0 {
		return Problems{{path + ".action", fmt.Sprintf("step %q: tocsin:http is not allowed: list the URL prefixes it may call in runbooks.http.allow", s.Name)}}
	}
	u, ok := s.Inputs["URL"].(string)
	if !ok {
		return nil // Validate reports it.
	}
	at := path + ".inputs.URL"
	lit, templated := u, false
	if i := strings.Index(u, "{{"); i >= 0 {
		lit, templated = u[:i], true
	}
	if !templated {
		if !AllowedURL(u, p.HTTPAllow) {
			return Problems{{at, fmt.Sprintf("step %q: %q is under no prefix of runbooks.http.allow", s.Name, u)}}
		}
		return nil
	}
	origin, ok := literalOrigin(lit)
	if !ok {
		return Problems{{at, fmt.Sprintf("step %q: %q must begin with a literal scheme and host (https://host/…) before any {{ }}, so runbooks.http.allow can be checked", s.Name, u)}}
	}
	for _, a := range p.HTTPAllow {
		if o, ok := literalOrigin(a + "/"); ok && strings.EqualFold(o, origin) {
			return nil
		}
	}
	return Problems{{at, fmt.Sprintf("step %q: %s is the host of no prefix of runbooks.http.allow", s.Name, origin)}}
}

// literalOrigin returns scheme://host of a URL's literal beginning, when
// the host is complete (a /, ? or # follows it), so no {{ }} after it can
// change the host.
func literalOrigin(lit string) (string, bool) {
	scheme, rest, ok := strings.Cut(lit, "://")
	if !ok || scheme == "" {
		return "", false
	}
	end := strings.IndexAny(rest, "/?#")
	if end <= 0 {
		return "", false
	}
	u, err := url.Parse(scheme + "://" + rest[:end] + "/")
	if err != nil || u.Host == "" || u.User != nil {
		return "", false
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), true
}

// AllowedURL reports whether u is under one of the prefixes: it begins
// with the prefix, and a prefix that does not end in / ends where the
// URL's host or path segment ends (https://api.example.com does not allow
// https://api.example.com.evil.test or https://api.example.com@evil.test).
// The runbook's HTTP action checks the URL it calls with it too, after
// interpolation.
func AllowedURL(u string, prefixes []string) bool {
	for _, p := range prefixes {
		if p == "" || !strings.HasPrefix(u, p) {
			continue
		}
		if strings.HasSuffix(p, "/") || len(u) == len(p) || strings.ContainsRune("/?#", rune(u[len(p)])) {
			return true
		}
	}
	return false
}

// Interpreter is the program a tocsin:script Runtime runs: "python3" for
// every python3 runtime (python3, python3.11), "bash" for bash, "" for
// anything else.
func Interpreter(runtime string) string {
	switch {
	case runtime == "bash":
		return "bash"
	case strings.HasPrefix(runtime, "python3"):
		return "python3"
	}
	return ""
}

// ScriptReferences refuses a tocsin:script step whose Script holds {{ }}
// references: substituted into a script's text, a value (an incident's
// title) would be code. Values reach a script through InputPayload, as
// JSON on its stdin. nil when the step is not a script or has none.
func ScriptReferences(s *Step) error {
	if s.Action != "tocsin:script" {
		return nil
	}
	refs := References(s.Inputs["Script"])
	if len(refs) == 0 {
		return nil
	}
	return tocsin.Errorf(tocsin.EINVALID, "step %q: Script holds {{ %s }}: a script's text is code, never data; pass values in InputPayload (JSON on stdin)", s.Name, refs[0])
}

func (p Policy) allowScript(s *Step, path string) Problems {
	if !p.Scripts {
		return Problems{{path + ".action", fmt.Sprintf("step %q: tocsin:script is not allowed: set runbooks.scripts.enabled: true", s.Name)}}
	}
	if err := ScriptReferences(s); err != nil {
		return Problems{{path + ".inputs.Script", tocsin.ErrorMessage(err)}}
	}
	rt, ok := s.Inputs["Runtime"].(string)
	if !ok {
		return nil // Validate reports it.
	}
	if in := Interpreter(rt); in == "" || !slices.Contains(p.Interpreters, in) {
		name := in
		if name == "" {
			name = rt
		}
		return Problems{{path + ".inputs.Runtime", fmt.Sprintf("step %q: runtime %q needs %s, which is not in runbooks.scripts.interpreters", s.Name, rt, name)}}
	}
	return nil
}
