package runbook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"tocsin"
)

// SchemaVersion is the one schema of SSM Automation documents we run.
const SchemaVersion = "0.3"

// Document is an SSM Automation document of schema 0.3, as AWS writes it.
type Document struct {
	SchemaVersion string `json:"schemaVersion"`
	// Description is Markdown shown to the responder.
	Description string `json:"description,omitempty"`
	// AssumeRole is accepted so AWS documents load unchanged; tocsin has
	// no IAM role to assume, so it is ignored.
	AssumeRole string                `json:"assumeRole,omitempty"`
	Parameters map[string]*Parameter `json:"parameters,omitempty"`
	MainSteps  []*Step               `json:"mainSteps"`
	// Outputs are "step.Output" references reported by the execution.
	Outputs []string `json:"outputs,omitempty"`
	// Files (attachments) are accepted and ignored: tocsin:script carries
	// its script inline.
	Files json.RawMessage `json:"files,omitempty"`
}

// Parameter types of schema 0.3.
const (
	TypeString     = "String"
	TypeStringList = "StringList"
	TypeInteger    = "Integer"
	TypeBoolean    = "Boolean"
	TypeMapList    = "MapList"
	TypeStringMap  = "StringMap"
)

// Parameter is the definition of one document parameter.
type Parameter struct {
	Type           string   `json:"type"`
	Description    string   `json:"description,omitempty"`
	Default        any      `json:"default,omitempty"`
	AllowedValues  []string `json:"allowedValues,omitempty"`
	AllowedPattern string   `json:"allowedPattern,omitempty"`
	DisplayType    string   `json:"displayType,omitempty"`
	MinItems       *int     `json:"minItems,omitempty"`
	MaxItems       *int     `json:"maxItems,omitempty"`
	MinChars       *int     `json:"minChars,omitempty"`
	MaxChars       *int     `json:"maxChars,omitempty"`
}

// Step is one entry of mainSteps.
type Step struct {
	Name   string `json:"name"`
	Action string `json:"action"`
	// Description is the step's Markdown instructions (the AWS blog's
	// runbook puts them on every aws:pause step).
	Description    string         `json:"description,omitempty"`
	Inputs         map[string]any `json:"inputs,omitempty"`
	Outputs        []Output       `json:"outputs,omitempty"`
	MaxAttempts    int            `json:"maxAttempts,omitempty"`
	TimeoutSeconds int            `json:"timeoutSeconds,omitempty"`
	OnFailure      string         `json:"onFailure,omitempty"`
	OnCancel       string         `json:"onCancel,omitempty"`
	IsEnd          bool           `json:"isEnd,omitempty"`
	NextStep       string         `json:"nextStep,omitempty"`
	IsCritical     *bool          `json:"isCritical,omitempty"`
	// Loop are an aws:loop step's nested steps, its Steps input as Parse
	// read it. The input stays in Inputs, so the document encodes as it
	// was given and parses again to the same steps.
	Loop []*Step `json:"-"`
	// loopProblems are what Parse found wrong in the Steps input (an
	// unknown key of a nested step), reported by Validate.
	loopProblems Problems
}

// Output selects one value of a step's result.
type Output struct {
	Name     string `json:"Name"`
	Selector string `json:"Selector"`
	Type     string `json:"Type"`
}

// Critical reports whether the step's failure fails the execution: true
// unless said otherwise, and false by default when onFailure is Continue,
// as AWS does.
func (s *Step) Critical() bool {
	if s.IsCritical != nil {
		return *s.IsCritical
	}
	return s.OnFailure != "Continue"
}

// Attempts is maxAttempts with AWS's default of 1.
func (s *Step) Attempts() int {
	if s.MaxAttempts < 1 {
		return 1
	}
	return s.MaxAttempts
}

// Parse decodes a document from JSON. Unknown keys are refused so a
// misspelt field is not silently dropped. Parse does not validate: call
// Validate on the result.
func Parse(data []byte) (*Document, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var d Document
	if err := dec.Decode(&d); err != nil {
		return nil, tocsin.Errorf(tocsin.EINVALID, "runbook document: %v", err)
	}
	if dec.More() {
		return nil, tocsin.Errorf(tocsin.EINVALID, "runbook document: data after the document")
	}
	normalize(&d)
	return &d, nil
}

// FromMap builds a document from an already decoded value (YAML or JSON
// decoded into map[string]any by the caller).
func FromMap(m map[string]any) (*Document, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return nil, tocsin.Errorf(tocsin.EINVALID, "runbook document: %v", err)
	}
	return Parse(data)
}

// normalize turns json.Number into int64 or float64 in defaults and
// inputs, so the rest of the package sees plain Go values.
func normalize(d *Document) {
	for _, p := range d.Parameters {
		if p != nil {
			p.Default = Plain(p.Default)
		}
	}
	for _, s := range d.MainSteps {
		if s != nil {
			plainInputs(s)
			if s.Action == "aws:loop" {
				s.Loop, s.loopProblems = parseLoop(s.Inputs["Steps"])
			}
		}
	}
}

func plainInputs(s *Step) {
	for k, v := range s.Inputs {
		s.Inputs[k] = Plain(v)
	}
}

// parseLoop reads an aws:loop's Steps input as steps, refusing unknown
// keys as Parse does; a problem's path is under "Steps[i]". A Steps that
// is not a list gives no steps: Validate says so.
func parseLoop(raw any) ([]*Step, Problems) {
	list, ok := raw.([]any)
	if !ok {
		return nil, nil
	}
	steps := make([]*Step, len(list))
	var ps Problems
	for i, item := range list {
		path := fmt.Sprintf("Steps[%d]", i)
		data, err := json.Marshal(item)
		if err == nil {
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			dec.UseNumber()
			err = dec.Decode(&steps[i])
		}
		if err != nil {
			steps[i] = nil
			ps = append(ps, Problem{path, strings.TrimPrefix(err.Error(), "json: ")})
			continue
		}
		if steps[i] == nil {
			ps = append(ps, Problem{path, "is empty"})
			continue
		}
		plainInputs(steps[i])
	}
	return steps, ps
}

// Plain turns the json.Number values of a value decoded with UseNumber
// into int64 (whole numbers) or float64, in place, so documents, step
// results and stored executions hold plain Go values whatever decoded
// them.
func Plain(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = Plain(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = Plain(x[k])
		}
	}
	return v
}

// Step returns the step of that name, or nil: a step of mainSteps or one
// nested in an aws:loop (names are unique across the document).
func (d *Document) Step(name string) *Step {
	for _, s := range d.MainSteps {
		if s == nil {
			continue
		}
		if s.Name == name {
			return s
		}
		for _, n := range s.Loop {
			if n != nil && n.Name == name {
				return n
			}
		}
	}
	return nil
}

// parent returns the aws:loop step that holds the named step, nil for a
// step of mainSteps.
func (d *Document) parent(name string) *Step {
	for _, s := range d.MainSteps {
		if s == nil {
			continue
		}
		for _, n := range s.Loop {
			if n != nil && n.Name == name {
				return s
			}
		}
	}
	return nil
}
