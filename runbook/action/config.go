package action

import (
	"net/http"
	"os/exec"
	"slices"

	"tocsin/config"
	"tocsin/runbook"
)

// NewHTTP returns the tocsin:http action of the configuration, calling
// through client (nil: a default client), or nil when runbooks.http.allow
// is empty: tocsin:http is then disabled.
func NewHTTP(c config.RunbookHTTP, client *http.Client) *HTTP {
	if len(c.Allow) == 0 {
		return nil
	}
	return &HTTP{Allow: slices.Clone(c.Allow), Client: client, MaxResponse: c.MaxResponseBytes}
}

// NewScript returns the tocsin:script action of the configuration, with
// the interpreters it lists that exec.LookPath finds now, or nil when
// runbooks.scripts.enabled is false: tocsin:script is then disabled. The
// interpreters not found are returned, for a warning at start.
func NewScript(c config.RunbookScripts) (s *Script, missing []string) {
	if !c.Enabled {
		return nil, nil
	}
	s = &Script{Interpreters: map[string]string{}, MaxOutput: c.MaxOutputBytes, Workdir: c.Workdir}
	for _, name := range c.Interpreters {
		path, err := exec.LookPath(name)
		if err != nil {
			missing = append(missing, name)
			continue
		}
		s.Interpreters[name] = path
	}
	return s, missing
}

// Policy is what the actions built from the configuration allow runbooks
// to do, for runbook.Document.Allowed at apply: h and s are NewHTTP's and
// NewScript's (nil: disabled), so a document is refused at apply exactly
// when its steps would be refused at run time.
func Policy(h *HTTP, s *Script) runbook.Policy {
	var p runbook.Policy
	if h != nil {
		p.HTTPAllow = slices.Clone(h.Allow)
	}
	if s != nil {
		p.Scripts = true
		for _, name := range config.RunbookInterpreters {
			if _, ok := s.Interpreters[name]; ok {
				p.Interpreters = append(p.Interpreters, name)
			}
		}
	}
	return p
}
