package runbook_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"tocsin"
	"tocsin/runbook"
)

func TestPathSelect(t *testing.T) {
	var doc any
	if err := json.Unmarshal([]byte(`{
		"StatusCode": 200,
		"Body": {"status": "ok", "items": [{"id": "a", "tags": {"env": "prod"}}, {"id": "b"}], "a.b": 1, "deep": {"id": "z"}},
		"Payload": {"count": 3}
	}`), &doc); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sel      string
		want     []any
		definite bool
	}{
		{"$", []any{doc}, true},
		{"$.StatusCode", []any{float64(200)}, true},
		{"$.Body.status", []any{"ok"}, true},
		{"$['Body']['status']", []any{"ok"}, true},
		{`$.Body["a.b"]`, []any{float64(1)}, true},
		{"$.Body.items[0].id", []any{"a"}, true},
		{"$.Body.items[-1].id", []any{"b"}, true},
		{"$.Body.items[2].id", nil, true},
		{"$.Body.items[*].id", []any{"a", "b"}, false},
		{"$.Body.items.*.id", []any{"a", "b"}, false},
		{"$..id", []any{"z", "a", "b"}, false},
		{"$.Body..env", []any{"prod"}, false},
		{"$.Payload.*", []any{float64(3)}, false},
		{"$.Body.status.more", nil, true},
		{"$.Missing", nil, true},
		{"$.Body.items.id", nil, true},
	} {
		p, err := runbook.ParsePath(tc.sel)
		if err != nil {
			t.Errorf("%s: %v", tc.sel, err)
			continue
		}
		if got := p.Select(doc); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %#v, want %#v", tc.sel, got, tc.want)
		}
		if p.Definite() != tc.definite || p.String() != tc.sel {
			t.Errorf("%s: definite %v", tc.sel, p.Definite())
		}
	}
}

func TestParsePathErrors(t *testing.T) {
	for sel, want := range map[string]string{
		"Body.status":   "must start with $",
		"$.":            "a member name is empty",
		"$.a[":          "a [ without ]",
		"$.a[x]":        "[x] is not an index",
		"$.a['x]":       "an unterminated quoted name",
		"$a":            `unexpected 'a'`,
		"$.items[0]]":   `unexpected ']'`,
		"$..":           "a member name is empty",
		"$.a[?(@.x)]":   "is not an index",
		"$.a['x'] junk": "unexpected ' '",
	} {
		_, err := runbook.ParsePath(sel)
		if err == nil || tocsin.ErrorCode(err) != tocsin.EINVALID || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %s", sel, err, want)
		}
	}
	d := load(t, base+"- {name: a, action: 'tocsin:http', inputs: {Method: GET, URL: 'http://x'}, outputs: [{Name: o, Selector: 'Body.x', Type: String}]}\n")
	if ps := d.Validate(); len(ps) != 1 || ps[0].Path != "mainSteps[0].outputs[0].Selector" || !strings.Contains(ps[0].Message, "must start with $") {
		t.Errorf("Validate: %v", ps)
	}
}

func TestSelectOutput(t *testing.T) {
	raw := map[string]any{
		"StatusCode": 201,
		"Headers":    map[string]string{"X-Count": "7"},
		"Body":       json.RawMessage(`{"n": 4, "f": 1.5, "ok": true, "okText": "false", "list": ["a", 2], "objs": [{"k": 1}], "map": {"k": "v"}, "nul": null}`),
	}
	for _, tc := range []struct {
		sel, typ string
		want     any
		err      string
	}{
		{"$.StatusCode", runbook.TypeInteger, int64(201), ""},
		{"$.StatusCode", runbook.TypeString, "201", ""},
		{"$.Headers.X-Count", runbook.TypeInteger, int64(7), ""},
		{"$.Body.n", runbook.TypeInteger, int64(4), ""},
		{"$.Body.f", runbook.TypeInteger, nil, `output "o": $.Body.f is a number, not a Integer`},
		{"$.Body.f", runbook.TypeString, "1.5", ""},
		{"$.Body.ok", runbook.TypeBoolean, true, ""},
		{"$.Body.okText", runbook.TypeBoolean, false, ""},
		{"$.Body.n", runbook.TypeBoolean, nil, `is a number, not a Boolean`},
		{"$.Body.list", runbook.TypeStringList, []any{"a", "2"}, ""},
		{"$.Body.objs", runbook.TypeMapList, []any{map[string]any{"k": int64(1)}}, ""},
		{"$.Body.objs[*].k", runbook.TypeStringList, []any{"1"}, ""},
		{"$.Body.list", runbook.TypeMapList, nil, "is a list, not a MapList"},
		{"$.Body.map", runbook.TypeStringMap, map[string]any{"k": "v"}, ""},
		{"$.Body.map", runbook.TypeString, nil, "is an object, not a String"},
		{"$.Body.nul", runbook.TypeString, nil, "is null, not a String"},
		{"$.Body.none", runbook.TypeString, nil, `output "o": $.Body.none selects nothing`},
		{"$..k", runbook.TypeString, nil, "selects 2 values, a String is one"},
		{"$.Body.objs[*].missing", runbook.TypeStringList, []any{}, ""},
		{"Body", runbook.TypeString, nil, `output "o": selector "Body" must start with $`},
	} {
		got, err := runbook.SelectOutput(runbook.Output{Name: "o", Selector: tc.sel, Type: tc.typ}, raw)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s as %s: %v, want %s", tc.sel, tc.typ, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s as %s: %#v %v, want %#v", tc.sel, tc.typ, got, err, tc.want)
		}
	}
}
