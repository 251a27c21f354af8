package runbook

import (
	"maps"
	"net/url"
	"slices"
	"strings"

	"tocsin"
)

// What readers of an execution see of it — the API, the incident page —
// is decided here once: credentials in a tocsin:http step's headers are
// redacted, and the document says which step is current and which are
// to come.

// RedactedValue replaces the values of sensitive headers in steps'
// inputs.
const RedactedValue = "[redacted]"

// SensitiveHeader reports whether a header's value is a credential that
// an execution's readers must not see: Authorization, Cookie (and their
// Proxy- and Set- forms), or a name holding token, secret, key or password.
func SensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"authorization", "cookie", "token", "secret", "key", "password"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Redact returns a copy of exec whose steps' Headers inputs show
// redacted for sensitive headers, whose URL inputs show redacted for
// query parameters of sensitive names, and whose parameters show
// redacted when their names are sensitive or a sensitive header carries
// their value; exec itself is not changed.
func Redact(exec *tocsin.RunbookExecution) *tocsin.RunbookExecution {
	if exec == nil {
		return nil
	}
	out := *exec
	out.Steps = make([]*tocsin.RunbookStep, len(exec.Steps))
	for i, st := range exec.Steps {
		c := *st
		if h, ok := st.Inputs["Headers"]; ok {
			c.Inputs = maps.Clone(st.Inputs)
			c.Inputs["Headers"] = redactHeaders(h)
		}
		if u, ok := st.Inputs["URL"].(string); ok {
			if r := redactQuery(u); r != u {
				c.Inputs = maps.Clone(c.Inputs) // never the store's map
				c.Inputs["URL"] = r
			}
		}
		out.Steps[i] = &c
	}
	out.Parameters = redactParameters(exec.Parameters, headerSecrets(exec.Steps))
	return &out
}

// headerSecrets are the values of the steps' sensitive headers, whole and
// after their scheme ("Bearer x" and "x"): a parameter holding one is a
// credential too.
func headerSecrets(steps []*tocsin.RunbookStep) map[string]bool {
	out := map[string]bool{}
	for _, st := range steps {
		m, _ := st.Inputs["Headers"].(map[string]any)
		for k, v := range m {
			s, ok := v.(string)
			if !ok || !SensitiveHeader(k) {
				continue
			}
			out[s] = true
			if _, cred, ok := strings.Cut(s, " "); ok {
				out[strings.TrimSpace(cred)] = true
			}
		}
	}
	return out
}

// redactParameters copies params with RedactedValue for those of a
// sensitive name (as headers' names) or holding a secret.
func redactParameters(params map[string]any, secrets map[string]bool) map[string]any {
	if params == nil {
		return nil
	}
	out := make(map[string]any, len(params))
	for k, v := range params {
		if s, ok := v.(string); SensitiveHeader(k) || (ok && s != "" && secrets[s]) {
			v = RedactedValue
		}
		out[k] = v
	}
	return out
}

// redactQuery returns u with the values of its query parameters whose
// names are sensitive (as headers' are: token, key, secret …) replaced by
// RedactedValue; the rest of u is kept as written.
func redactQuery(u string) string {
	base, rest, ok := strings.Cut(u, "?")
	if !ok {
		return u
	}
	query, frag, hasFrag := strings.Cut(rest, "#")
	pairs := strings.Split(query, "&")
	for i, p := range pairs {
		name, _, hasValue := strings.Cut(p, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if hasValue && SensitiveHeader(name) {
			pairs[i] = p[:strings.IndexByte(p, '=')+1] + RedactedValue
		}
	}
	out := base + "?" + strings.Join(pairs, "&")
	if hasFrag {
		out += "#" + frag
	}
	return out
}

// redactHeaders copies a Headers input with its sensitive values replaced.
func redactHeaders(h any) any {
	switch m := h.(type) {
	case map[string]any:
		c := make(map[string]any, len(m))
		for k, v := range m {
			if SensitiveHeader(k) {
				v = RedactedValue
			}
			c[k] = v
		}
		return c
	case map[string]string:
		c := make(map[string]string, len(m))
		for k, v := range m {
			if SensitiveHeader(k) {
				v = RedactedValue
			}
			c[k] = v
		}
		return c
	}
	return h
}

// Progress finds the document's step an execution is at, and the names of
// the steps after it: inside an aws:loop, the rest of the loop's steps
// and then the mainSteps after the loop. An execution that has not
// reached a step yet has them all to come; an ended one has none.
func Progress(doc *Document, exec *tocsin.RunbookExecution) (current *Step, upcoming []string) {
	upcoming = []string{}
	if tocsin.RunbookEnded(exec.Status) {
		return nil, upcoming
	}
	last := ""
	for _, st := range exec.Steps {
		if exec.Current != 0 && st.Seq == exec.Current {
			current, last = doc.Step(st.Name), st.Name
		}
	}
	if current == nil && len(exec.Steps) > 0 {
		// Between steps: the ones after the last step run are to come.
		last = exec.Steps[len(exec.Steps)-1].Name
	}
	return current, append(upcoming, doc.after(last)...)
}

// after names the steps that follow the named one in the document's
// order (all of mainSteps when it is no step).
func (d *Document) after(name string) []string {
	var out []string
	at := func(steps []*Step, name string) int {
		return slices.IndexFunc(steps, func(s *Step) bool { return s != nil && s.Name == name })
	}
	if loop := d.parent(name); loop != nil {
		for _, s := range loop.Loop[at(loop.Loop, name)+1:] {
			out = append(out, s.Name)
		}
		name = loop.Name
	}
	for _, s := range d.MainSteps[at(d.MainSteps, name)+1:] {
		out = append(out, s.Name)
	}
	return out
}
