package strict

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// duration decodes itself, like tocsin.Duration.
type duration time.Duration

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like 30s, 5m, 1h", b)
	}
	*d = duration(v)
	return nil
}

type channel struct {
	Name    string `json:"name" yaml:"name"`
	Address string `json:"address" yaml:"address"`
}

type base struct {
	ID string `json:"id" yaml:"id"`
}

type doc struct {
	base    `yaml:",inline"`
	Token   string            `json:"token" yaml:"token"`
	Port    int               `json:"port" yaml:"port"`
	Ratio   float64           `json:"ratio" yaml:"ratio"`
	Enable  bool              `json:"enable" yaml:"enable"`
	Wait    duration          `json:"wait" yaml:"wait"`
	Start   time.Time         `json:"start" yaml:"start"`
	Labels  map[string]int    `json:"labels" yaml:"labels"`
	Chans   []channel         `json:"channels" yaml:"channels"`
	Nested  *channel          `json:"nested" yaml:"nested"`
	Ignored string            `json:"-" yaml:"-"`
	Free    map[string]string `json:"free" yaml:"free"`
}

func yamlNode(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	return n.Content[0]
}

func messages(ps Problems) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Error()
	}
	return out
}

func TestYAMLReportsEveryProblemWithPathAndLine(t *testing.T) {
	var d doc
	probs := YAML(yamlNode(t, `id: x
tokn: t
port: often
enable: maybe
wait: 5 minutes
start: 2026-03-02 09:00
labels: {a: 1, b: x}
channels:
  - {name: a, address: x}
  - {name: b, adress: y}
nested: [1]
port: 2
ratio: 0.5
`), &d, Options{})
	want := []string{
		`tokn: unknown key (line 2); did you mean "token"?`,
		`port: "often" is not a valid integer (line 3)`,
		`enable: "maybe" is not a valid boolean (true or false) (line 4)`,
		`wait: "5 minutes" is not a duration like 30s, 5m, 1h (line 5)`,
		`start: "2026-03-02 09:00" is not an RFC 3339 time like 2026-03-02T09:00:00+01:00 (line 6)`,
		`labels.b: "x" is not a valid integer (line 7)`,
		`channels[1].adress: unknown key (line 10); did you mean "address"?`,
		`nested: must be a mapping (line 11)`,
		`port: key is repeated (line 12)`,
	}
	if got := messages(probs); !reflect.DeepEqual(got, want) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// What fits is decoded all the same, past the values that do not.
	if d.ID != "x" || d.Ratio != 0.5 || d.Labels["a"] != 1 || len(d.Chans) != 2 || d.Chans[0].Address != "x" {
		t.Errorf("decoded %+v", d)
	}
}

func TestYAMLCoerceGivesValuesTheirFieldsType(t *testing.T) {
	var d doc
	d.Port = 3000
	n := yamlNode(t, `port: ""
ratio: "0.25"
enable: "true"
wait: "90"
labels: {a: "7", b: ""}
token: ""
`)
	seconds := map[reflect.Type]func(string) (string, error){
		reflect.TypeFor[duration](): func(s string) (string, error) { return s + "s", nil },
	}
	if probs := YAML(n, &d, Options{Coerce: true, Text: seconds}); probs != nil {
		t.Fatalf("problems: %v", probs)
	}
	if d.Port != 3000 || d.Ratio != 0.25 || !d.Enable || time.Duration(d.Wait) != 90*time.Second ||
		!reflect.DeepEqual(d.Labels, map[string]int{"a": 7}) {
		t.Errorf("decoded %+v", d)
	}
}

func TestJSONNamesEveryFieldWithItsPath(t *testing.T) {
	var d doc
	err := JSON([]byte(`{"ID":"x","tokn":"t","port":"2","ratio":true,"wait":5,
		"start":"2026-03-02 09:00","channels":[{"name":"a"},{"name":1,"adress":"y"}],"nested":[]}`), &d)
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("err = %v, not Problems", err)
	}
	want := []string{
		`tokn: unknown field; did you mean "token"?`,
		`port: must be an integer`,
		`ratio: must be a number`,
		`wait: must be *strict.duration, not number`,
		`start: "2026-03-02 09:00" is not an RFC 3339 time like 2026-03-02T09:00:00+01:00`,
		`channels[1].name: must be a string`,
		`channels[1].adress: unknown field; did you mean "address"?`,
		`nested: must be an object`,
	}
	if got := messages(probs); !reflect.DeepEqual(got, want) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestJSONAcceptsWhatEncodingJSONAccepts(t *testing.T) {
	var d doc
	if err := JSON([]byte(`{"Token":"t","id":"x","port":2,"wait":"5m","free":{"a":"b"}}`), &d); err != nil {
		t.Fatal(err)
	}
	if d.Token != "t" || d.ID != "x" || time.Duration(d.Wait) != 5*time.Minute {
		t.Errorf("decoded %+v", d)
	}
	if err := JSON([]byte(`{"port":2} {}`), &d); err == nil || err.Error() != "trailing data after the object" {
		t.Errorf("trailing data: %v", err)
	}
	if err := JSON([]byte(`{"port":`), &d); err == nil || errors.As(err, new(Problems)) {
		t.Errorf("syntax error: %v", err)
	}
}

// yaml.v3 panics decoding a merge key whose value is a mapping used as a
// key; the document gets a problem instead of crashing its reader.
func TestYAMLPanicInTheDecoderIsAProblem(t *testing.T) {
	var v struct {
		X     map[string]any            `yaml:"x"`
		Alert map[string]map[string]any `yaml:"alert"`
	}
	n := yamlNode(t, "x: &a {enable: true, url: http://h}\nalert:\n  wMbhook: *a\n  email: {<<, *a} ")
	probs := YAML(n, &v, Options{})
	if len(probs) == 0 || !strings.Contains(probs.Error(), "cannot be decoded") {
		t.Fatalf("problems = %v", probs)
	}
}
