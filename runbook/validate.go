package runbook

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"tocsin"
)

// Problem is one thing wrong with a document, at its path
// (mainSteps[2].nextStep).
type Problem struct {
	Path    string
	Message string
}

func (p Problem) String() string { return p.Path + ": " + p.Message }

// Problems is every problem found.
type Problems []Problem

// Err is nil without problems, else one EINVALID error listing them all.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return tocsin.Errorf(tocsin.EINVALID, "runbook: %s", strings.Join(s, "; "))
}

// Actions are the actions tocsin runs. Anything else (aws:runInstances…)
// is refused when the document is applied.
var Actions = []string{"aws:pause", "aws:sleep", "aws:approve", "aws:branch", "aws:executeAutomation", "aws:loop", "tocsin:http", "tocsin:script"}

var (
	stepNameRE  = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	paramNameRE = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	durationRE  = regexp.MustCompile(`^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)
)

// MaxSleep is AWS's bound on aws:sleep.
const MaxSleep = 7 * 24 * time.Hour

// Validate returns every problem of the document; none means it can run.
func (d *Document) Validate() Problems {
	var ps Problems
	add := func(path, format string, args ...any) { ps = append(ps, Problem{path, fmt.Sprintf(format, args...)}) }
	if d.SchemaVersion != SchemaVersion {
		add("schemaVersion", "must be %q, is %q", SchemaVersion, d.SchemaVersion)
	}
	for _, name := range sorted(keys(d.Parameters)) {
		path := "parameters." + name
		if !paramNameRE.MatchString(name) {
			add(path, "name may hold only letters, digits and _")
		}
		p := d.Parameters[name]
		if p == nil {
			add(path, "is empty")
			continue
		}
		ps = append(ps, p.validate(path)...)
	}
	if len(d.MainSteps) == 0 {
		add("mainSteps", "must have at least one step")
	}
	names := stepNames(d, add)
	ps = append(ps, validateSteps(d.MainSteps, "mainSteps", nil, names)...)
	for i, o := range d.Outputs {
		step, out, ok := strings.Cut(o, ".")
		if !ok || out == "" {
			add(fmt.Sprintf("outputs[%d]", i), "%q is not step.Output", o)
			continue
		}
		if _, ok := names[step]; !ok {
			add(fmt.Sprintf("outputs[%d]", i), "no step %q", step)
		}
	}
	return ps
}

// stepAt is where a step is: its path, and the aws:loop holding it ("":
// mainSteps).
type stepAt struct {
	path, loop string
}

// stepNames finds every step's name, nested ones included (names are
// unique across the document), reporting duplicates.
func stepNames(d *Document, add func(path, format string, args ...any)) map[string]stepAt {
	names := map[string]stepAt{}
	see := func(steps []*Step, prefix, loop string) {
		for i, s := range steps {
			if s == nil || s.Name == "" {
				continue
			}
			path := fmt.Sprintf("%s[%d]", prefix, i)
			if at, dup := names[s.Name]; dup {
				add(path+".name", "%q is also the name of %s", s.Name, at.path)
			} else {
				names[s.Name] = stepAt{path, loop}
			}
		}
	}
	see(d.MainSteps, "mainSteps", "")
	for i, s := range d.MainSteps {
		if s != nil && s.Action == "aws:loop" {
			see(s.Loop, fmt.Sprintf("mainSteps[%d].inputs.Steps", i), s.Name)
		}
	}
	return names
}

// validateSteps checks a list of steps: mainSteps (loop nil) or an
// aws:loop's Steps. A step goes only to steps of its own list: nothing
// jumps into a loop, nor out of one but by the loop's end.
func validateSteps(steps []*Step, prefix string, loop *Step, names map[string]stepAt) Problems {
	var ps Problems
	in := ""
	if loop != nil {
		in = loop.Name
	}
	target := func(path, name string) {
		at, ok := names[name]
		switch {
		case !ok:
			ps = append(ps, Problem{path, fmt.Sprintf("no step %q", name)})
		case at.loop != in && loop != nil:
			ps = append(ps, Problem{path, fmt.Sprintf("step %q is not in loop %q: a step inside a loop goes only to steps of the same loop", name, in)})
		case at.loop != in:
			ps = append(ps, Problem{path, fmt.Sprintf("step %q is inside loop %q: only the steps of that loop may go to it", name, at.loop)})
		}
	}
	for i, s := range steps {
		path := fmt.Sprintf("%s[%d]", prefix, i)
		if s == nil {
			if loop == nil {
				ps = append(ps, Problem{path, "is empty"})
			}
			continue // a nested step that did not decode: loopProblems say why
		}
		ps = append(ps, validateStep(s, path, target)...)
		if s.Action == "aws:loop" {
			ps = append(ps, validateLoop(s, path, loop, names)...)
		}
	}
	return ps
}

// validateStep checks one step's own fields and its action's inputs;
// target checks the steps it names.
func validateStep(s *Step, path string, target func(path, name string)) Problems {
	var ps Problems
	add := func(path, format string, args ...any) { ps = append(ps, Problem{path, fmt.Sprintf(format, args...)}) }
	if s.Name == "" {
		add(path+".name", "is required")
	} else if !stepNameRE.MatchString(s.Name) {
		add(path+".name", "%q may hold only letters, digits and _", s.Name)
	}
	if s.NextStep != "" {
		target(path+".nextStep", s.NextStep)
	}
	for _, f := range []struct{ key, v string }{{"onFailure", s.OnFailure}, {"onCancel", s.OnCancel}} {
		switch {
		case f.v == "" || f.v == "Abort" || (f.v == "Continue" && f.key == "onFailure"):
		case strings.HasPrefix(f.v, "step:"):
			target(path+"."+f.key, strings.TrimPrefix(f.v, "step:"))
		default:
			add(path+"."+f.key, "%q is not Abort, Continue or step:<name>", f.v)
		}
	}
	if s.MaxAttempts < 0 {
		add(path+".maxAttempts", "must be at least 1")
	}
	if s.TimeoutSeconds < 0 {
		add(path+".timeoutSeconds", "must not be negative")
	}
	outs := map[string]bool{}
	for j, o := range s.Outputs {
		op := fmt.Sprintf("%s.outputs[%d]", path, j)
		if o.Name == "" {
			add(op+".Name", "is required")
		} else if outs[o.Name] {
			add(op+".Name", "%q is given twice", o.Name)
		}
		outs[o.Name] = true
		if o.Selector == "" {
			add(op+".Selector", "is required")
		} else if _, err := ParsePath(o.Selector); err != nil {
			add(op+".Selector", "%s", tocsin.ErrorMessage(err))
		}
		if !slices.Contains([]string{TypeString, TypeStringList, TypeInteger, TypeBoolean, TypeMapList, TypeStringMap}, o.Type) {
			add(op+".Type", "%q is not a type", o.Type)
		}
	}
	return append(ps, validateInputs(s, path, target)...)
}

func (p *Parameter) validate(path string) Problems {
	var ps Problems
	add := func(field, format string, args ...any) {
		ps = append(ps, Problem{path + field, fmt.Sprintf(format, args...)})
	}
	switch p.Type {
	case TypeString, TypeStringList, TypeInteger, TypeBoolean, TypeMapList, TypeStringMap:
	case "":
		add(".type", "is required")
		return ps
	default:
		add(".type", "%q is not String, StringList, Integer, Boolean, MapList or StringMap", p.Type)
		return ps
	}
	if p.AllowedPattern != "" {
		if _, err := regexp.Compile(p.AllowedPattern); err != nil {
			add(".allowedPattern", "does not compile: %v", err)
		}
	}
	list := p.Type == TypeStringList || p.Type == TypeMapList
	text := p.Type == TypeString || p.Type == TypeStringList
	if !list && (p.MinItems != nil || p.MaxItems != nil) {
		add(".minItems", "applies only to StringList and MapList")
	}
	if !text && (p.MinChars != nil || p.MaxChars != nil) {
		add(".minChars", "applies only to String and StringList")
	}
	if p.MinItems != nil && p.MaxItems != nil && *p.MinItems > *p.MaxItems {
		add(".maxItems", "is less than minItems")
	}
	if p.MinChars != nil && p.MaxChars != nil && *p.MinChars > *p.MaxChars {
		add(".maxChars", "is less than minChars")
	}
	// A default taken from the parameter store ({{ ssm:x }}) is only
	// known at start.
	if p.Default != nil && !hasRef(p.Default) {
		v, err := fromDefault(p.Type, p.Default)
		if err == nil {
			err = p.check(v)
		}
		if err != nil {
			add(".default", "%v", err)
		}
	}
	return ps
}

// validateInputs checks the inputs of the step's action.
func validateInputs(s *Step, path string, target func(path, name string)) Problems {
	var ps Problems
	in := s.Inputs
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{path + ".inputs" + key, fmt.Sprintf(format, args...)})
	}
	allow := func(known ...string) {
		for _, k := range sorted(keys(in)) {
			if !slices.Contains(known, k) {
				add("."+k, "is not an input of %s", s.Action)
			}
		}
	}
	need := func(k string) bool {
		if _, ok := in[k]; !ok {
			add("."+k, "is required by %s", s.Action)
			return false
		}
		return true
	}
	str := func(k string) (string, bool) {
		v, ok := in[k].(string)
		if !ok {
			add("."+k, "must be a string")
		}
		return v, ok
	}
	switch s.Action {
	case "aws:pause":
		allow()
	case "aws:sleep":
		allow("Duration", "Timestamp")
		_, hasD := in["Duration"]
		_, hasT := in["Timestamp"]
		if hasD == hasT {
			add("", "aws:sleep takes one of Duration or Timestamp")
			break
		}
		if hasD {
			if v, ok := str("Duration"); ok && !hasRef(v) {
				d, err := ParseDuration(v)
				if err != nil {
					add(".Duration", "%v", err)
				} else if d > MaxSleep {
					add(".Duration", "%s is longer than 7 days", v)
				}
			}
		} else if v, ok := str("Timestamp"); ok && !hasRef(v) {
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				add(".Timestamp", "%q is not a timestamp like 2024-01-02T15:04:05Z", v)
			}
		}
	case "aws:approve":
		allow("Approvers", "MinRequiredApprovals", "Message", "NotificationArn")
		n := 0
		if need("Approvers") {
			switch a := in["Approvers"].(type) {
			case []any:
				n = len(a)
				if n == 0 || n > 10 {
					add(".Approvers", "must list 1 to 10 approvers, lists %d", n)
				}
			case string:
				if !hasRef(a) {
					add(".Approvers", "must be a list")
				}
			default:
				add(".Approvers", "must be a list")
			}
		}
		if v, ok := in["MinRequiredApprovals"]; ok && !hasRef(v) {
			m, err := toNumber(v)
			if err != nil || m < 1 || m != float64(int64(m)) {
				add(".MinRequiredApprovals", "must be a whole number of at least 1")
			} else if n > 0 && int(m) > n {
				add(".MinRequiredApprovals", "%d is more than the %d approvers", int(m), n)
			}
		}
		if _, ok := in["Message"]; ok {
			if v, ok := str("Message"); ok && len(v) > 4096 {
				add(".Message", "is longer than 4096 characters")
			}
		}
	case "aws:branch":
		allow("Choices", "Default")
		if need("Choices") {
			choices, p := ParseChoices(in["Choices"], path+".inputs.Choices")
			ps = append(ps, p...)
			for j, c := range choices {
				if c.NextStep != "" {
					target(fmt.Sprintf("%s.inputs.Choices[%d].NextStep", path, j), c.NextStep)
				}
			}
		}
		if _, ok := in["Default"]; ok {
			if v, ok := str("Default"); ok {
				target(path+".inputs.Default", v)
			}
		}
	case "aws:executeAutomation":
		allow("DocumentName", "DocumentVersion", "RuntimeParameters")
		if need("DocumentName") {
			str("DocumentName")
		}
		if v, ok := in["RuntimeParameters"]; ok {
			if _, ok := v.(map[string]any); !ok && !hasRef(v) {
				add(".RuntimeParameters", "must be a map")
			}
		}
	case "aws:loop":
		allow("Iterators", "IteratorDataType", "LoopCondition", "MaxIterations", "Steps")
		ps = append(ps, loopInputs(in, path+".inputs")...)
	case "tocsin:http":
		allow("Method", "URL", "Headers", "Body")
		if need("Method") {
			if v, ok := str("Method"); ok && !hasRef(v) && !HTTPMethod(v) {
				add(".Method", "%q is not %s", v, HTTPMethods)
			}
		}
		if need("URL") {
			str("URL")
		}
		if v, ok := in["Headers"]; ok {
			if _, ok := v.(map[string]any); !ok {
				add(".Headers", "must be a map")
			}
		}
	case "tocsin:script":
		allow("Runtime", "Handler", "Script", "InputPayload", "Idempotent")
		if v, ok := in["Idempotent"]; ok {
			if _, ok := v.(bool); !ok {
				add(".Idempotent", "must be true or false")
			}
		}
		if need("Runtime") {
			if v, ok := str("Runtime"); ok && v != "bash" && !strings.HasPrefix(v, "python3") {
				add(".Runtime", "%q is not python3 or bash", v)
			}
		}
		if need("Script") {
			str("Script")
		}
		if v, ok := in["InputPayload"]; ok {
			if _, ok := v.(map[string]any); !ok {
				add(".InputPayload", "must be a map")
			}
		}
	case "":
		ps = append(ps, Problem{path + ".action", "is required"})
	default:
		ps = append(ps, Problem{path + ".action", fmt.Sprintf("step %q: action %q is not supported (supported: %s)", s.Name, s.Action, strings.Join(Actions, ", "))})
	}
	return ps
}

// ParseDuration reads an ISO 8601 duration of aws:sleep (PT10M, P1DT2H,
// P1W). Months and years are refused: their length depends on the date.
func ParseDuration(s string) (time.Duration, error) {
	m := durationRE.FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration like PT10M", s)
	}
	units := []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute}
	var d time.Duration
	for i, u := range units {
		if m[i+1] != "" {
			var n int64
			fmt.Sscan(m[i+1], &n)
			if n > int64(MaxSleep/u)+1 {
				return 0, fmt.Errorf("%q is too long", s)
			}
			d += time.Duration(n) * u
		}
	}
	if m[5] != "" {
		var f float64
		fmt.Sscan(m[5], &f)
		if f > MaxSleep.Seconds()+1 {
			return 0, fmt.Errorf("%q is too long", s)
		}
		d += time.Duration(f * float64(time.Second))
	}
	return d, nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sorted(s []string) []string { sort.Strings(s); return s }
