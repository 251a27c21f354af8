package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"tocsin"
	"tocsin/api"
	"tocsin/oncall"
	"tocsin/strict"
)

// Apply reads on-call objects from YAML files and makes the server match
// them: a document is `kind: Contact|ContactGroup|Rotation|Schedule|EscalationPlan|Runbook|ResponsePlan|Routing`
// plus the object's fields at the top level, with the names the JSON API
// uses; a schema 0.3 document without kind (schemaVersion and mainSteps)
// is a Runbook named after its file. Objects on the server that the files
// do not mention are left alone, or deleted with --prune.

// kindInfo describes one kind of object apply handles.
type kindInfo struct {
	kind  string // the document's kind
	noun  string // how the plan names it
	path  string // API collection
	many  string // JSON key of the API's list
	new   func() any
	name  func(v any) string
	check func(v any) error // local validation, before talking to the server
	// decode, when set, decodes the kind's documents in place of
	// decodeDocument (a Runbook's body is made from them).
	decode func(d document, v any) error
	// single marks the one document of its kind (Routing): it lives at
	// path itself, is read with GET path and has no name of its own.
	single bool
}

// applyKinds are the kinds apply handles, in the order it applies them:
// each may refer to the ones before it.
var applyKinds = []kindInfo{
	{kind: "Contact", noun: "contact", path: "/api/v1/contacts", many: "contacts",
		new:   func() any { return &tocsin.Contact{} },
		name:  func(v any) string { return v.(*tocsin.Contact).Alias },
		check: func(v any) error { return v.(*tocsin.Contact).Validate() }},
	{kind: "ContactGroup", noun: "contact group", path: "/api/v1/contact-groups", many: "contact_groups",
		new:   func() any { return &tocsin.ContactGroup{} },
		name:  func(v any) string { return v.(*tocsin.ContactGroup).Name },
		check: func(v any) error { return v.(*tocsin.ContactGroup).Validate() }},
	{kind: "Rotation", noun: "rotation", path: "/api/v1/rotations", many: "rotations",
		new:  func() any { return &oncall.Rotation{} },
		name: func(v any) string { return v.(*oncall.Rotation).Name },
		check: func(v any) error {
			r := v.(*oncall.Rotation)
			if !tocsin.ValidName(r.Name) {
				return fmt.Errorf("name: %q must be 1-63 lower-case letters, digits, '.', '-' or '_'", r.Name)
			}
			return r.Validate()
		}},
	{kind: "Schedule", noun: "schedule", path: "/api/v1/schedules", many: "schedules",
		new:   func() any { return &tocsin.Schedule{} },
		name:  func(v any) string { return v.(*tocsin.Schedule).Name },
		check: func(v any) error { return v.(*tocsin.Schedule).Validate() }},
	{kind: "EscalationPlan", noun: "escalation plan", path: "/api/v1/escalation-plans", many: "escalation_plans",
		new:   func() any { return &tocsin.EscalationPlan{} },
		name:  func(v any) string { return v.(*tocsin.EscalationPlan).Name },
		check: func(v any) error { return v.(*tocsin.EscalationPlan).Validate() }},
	// Runbooks before the response plans that name them.
	{kind: "Runbook", noun: "runbook", path: "/api/v1/runbooks", many: "runbooks",
		new:    func() any { return &runbookDoc{} },
		name:   func(v any) string { return v.(*runbookDoc).Name },
		check:  checkRunbook,
		decode: decodeRunbook},
	{kind: "ResponsePlan", noun: "response plan", path: "/api/v1/response-plans", many: "response_plans",
		new:   func() any { return &tocsin.ResponsePlan{} },
		name:  func(v any) string { return v.(*tocsin.ResponsePlan).Name },
		check: func(v any) error { return v.(*tocsin.ResponsePlan).Validate() }},
	{kind: "Routing", noun: "routing", path: "/api/v1/routing", many: "routing", single: true,
		new:   func() any { return &tocsin.Routing{} },
		name:  func(any) string { return "routing" },
		check: func(v any) error { return v.(*tocsin.Routing).Validate() }},
}

// kindList names the kinds apply handles, for messages.
func kindList() string {
	names := make([]string, len(applyKinds))
	for i, k := range applyKinds {
		names[i] = k.kind
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// objectPath is where an object of kind k is read and written.
func (k kindInfo) objectPath(name string) string {
	if k.single {
		return k.path
	}
	return k.path + "/" + url.PathEscape(name)
}

func kindByName(kind string) (kindInfo, bool) {
	for _, k := range applyKinds {
		if k.kind == kind {
			return k, true
		}
	}
	return kindInfo{}, false
}

// document is one YAML document of a file, its kind split off.
type document struct {
	where string // "FILE: document N"
	kind  string
	node  *yaml.Node // the mapping without its kind
	// bare marks a schema 0.3 document without kind, alone in file,
	// whose text raw is the runbook's body.
	bare bool
	file string
	raw  []byte
}

// object is a decoded document.
type object struct {
	document
	info  kindInfo
	name  string
	value any
}

// label names an object in the plan: "response plan EC2HighCPU", "routing".
func (o *object) label() string {
	if o.info.single {
		return o.info.noun
	}
	return o.info.noun + " " + o.name
}

func applyCommand(getenv func(string) string, stdout io.Writer) *cobra.Command {
	var srv apiFlags
	var paths []string
	var dryRun, prune bool
	cmd := &cobra.Command{
		Use:   "apply -f DIR|FILE [-f DIR|FILE]...",
		Short: "Create, update (and with --prune delete) contacts, contact groups, rotations, schedules, escalation plans, runbooks, response plans and the routing from YAML files",
		Long: `Apply reads YAML documents (several per file, separated by ---), each a
kind (Contact, ContactGroup, Rotation, Schedule, EscalationPlan, Runbook,
ResponsePlan or Routing) and that object's fields, compares them with the
server and creates or replaces what differs, in dependency order. A Runbook
is name: and document: (the schema 0.3 mapping); a file holding only a
schema 0.3 document (schemaVersion, mainSteps, no kind) is a Runbook named
after the file, stored as written. It prints a plan first, with a warning for
each escalation plan that would reach nobody in the coming week (an empty
schedule, channels not activated); --dry-run stops there. Objects the files
do not mention are left alone, unless --prune: then they are deleted after
the other changes, and listed in the plan with "-" before anything changes.
Overrides are not part of apply.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(paths) == 0 {
				return fmt.Errorf("-f: a directory or a YAML file is required")
			}
			objs, err := loadObjects(paths...)
			if err != nil {
				return err
			}
			c, err := srv.client(getenv)
			if err != nil {
				return err
			}
			return applyObjects(cmd, c, objs, dryRun, prune, stdout)
		},
	}
	srv.register(cmd)
	cmd.Flags().StringArrayVarP(&paths, "file", "f", nil, "a YAML file, or a directory of them (*.yaml, *.yml; not recursive); repeat for several")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	cmd.Flags().BoolVar(&prune, "prune", false, "also delete the objects on the server that the files do not contain (the routing document too, when the files have none)")
	return cmd
}

// loadObjects reads, decodes and checks every object under paths, and
// orders them for applying.
func loadObjects(paths ...string) ([]*object, error) {
	var files []string
	for _, p := range paths {
		fs, err := yamlFiles(p)
		if err != nil {
			return nil, err
		}
		files = append(files, fs...)
	}
	var objs []*object
	var problems []string
	seen := map[string]string{}
	for _, f := range files {
		docs, err := readDocuments(f)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			info, ok := kindByName(d.kind)
			if !ok {
				if d.kind == "Override" {
					problems = append(problems, d.where+": kind Override is not part of apply; use tocsin override add")
				} else {
					problems = append(problems, fmt.Sprintf("%s: kind: %q is not %s", d.where, d.kind, kindList()))
				}
				continue
			}
			v := info.new()
			decode := decodeDocument
			if info.decode != nil {
				decode = info.decode
			}
			if err := decode(d, v); err != nil {
				problems = append(problems, err.Error())
				continue
			}
			o := &object{document: d, info: info, name: info.name(v), value: v}
			if err := info.check(v); err != nil {
				problems = append(problems, d.where+": "+message(err))
				continue
			}
			key := info.kind + "/" + o.name
			if first, dup := seen[key]; dup && info.single {
				problems = append(problems, fmt.Sprintf("%s: there is one routing document; another is at %s", d.where, first))
				continue
			} else if dup {
				problems = append(problems, fmt.Sprintf("%s: %s %s is also defined at %s", d.where, info.noun, o.name, first))
				continue
			}
			seen[key] = d.where
			objs = append(objs, o)
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("%s: no objects found", strings.Join(paths, ", "))
	}
	return orderObjects(objs)
}

// message is the text of an error without tocsin's code wrapper.
func message(err error) string {
	var te *tocsin.Error
	if errors.As(err, &te) {
		return te.Message
	}
	return err.Error()
}

// yamlFiles lists path itself, or the YAML files in directory path.
func yamlFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
			out = append(out, filepath.Join(path, e.Name()))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no *.yaml or *.yml files", path)
	}
	return out, nil
}

// readDocuments splits a YAML file into its documents, skipping empty ones.
func readDocuments(file string) ([]document, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []document
	bare := ""
	for i := 1; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		where := fmt.Sprintf("%s: document %d", file, i)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		if len(n.Content) == 0 || n.Content[0].Tag == "!!null" {
			continue
		}
		root := n.Content[0]
		if root.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s (line %d): must be a mapping with a kind", where, root.Line)
		}
		d := document{where: where, file: file, node: &yaml.Node{Kind: yaml.MappingNode, Tag: root.Tag, Line: root.Line, Column: root.Column}}
		for j := 0; j+1 < len(root.Content); j += 2 {
			if k := root.Content[j]; k.Value == "kind" {
				d.kind = root.Content[j+1].Value
				continue
			}
			d.node.Content = append(d.node.Content, root.Content[j], root.Content[j+1])
		}
		if d.kind == "" && isBareRunbook(root) {
			d.kind, d.bare, d.raw, bare = "Runbook", true, b, where
		}
		if d.kind == "" {
			return nil, fmt.Errorf("%s (line %d): kind: is required (%s, or a schema 0.3 runbook: schemaVersion and mainSteps)", where, root.Line, kindList())
		}
		out = append(out, d)
	}
	if bare != "" && len(out) > 1 {
		return nil, fmt.Errorf("%s: a runbook without kind is named after its file and stored as its text, so it must be alone in the file; give it kind: Runbook, name: and document: to keep it with others", bare)
	}
	return out, nil
}

// decodeDocument decodes a document strictly into v: every unknown or
// repeated key, time that is not RFC 3339 or bad duration is an error
// naming the file, the document, the key and its line.
func decodeDocument(d document, v any) error {
	probs := strict.YAML(d.node, v, strict.Options{})
	if len(probs) == 0 {
		return nil
	}
	msgs := make([]string, len(probs))
	for i, p := range probs {
		msgs[i] = describeProblem(p)
	}
	return fmt.Errorf("%s (kind %s): %s", d.where, d.kind, strings.Join(msgs, "; "))
}

// describeProblem words a problem as apply always has, the key first:
// `unknown key "channels[0].adress" (line 25)`, `members (line 3): must
// be a list`.
func describeProblem(p strict.Problem) string {
	switch {
	case p.Msg == strict.UnknownKey && p.Hint != "":
		return fmt.Sprintf("unknown key %q (line %d); %s", p.Path, p.Line, p.Hint)
	case p.Msg == strict.UnknownKey:
		return fmt.Sprintf("unknown key %q (line %d)", p.Path, p.Line)
	case p.Line == 0:
		return p.Msg
	case p.Path == "":
		p.Path = "document"
	}
	return fmt.Sprintf("%s (line %d): %s", p.Path, p.Line, p.Msg)
}

// orderObjects sorts objects by kind, keeping file order within a kind,
// except that an escalation plan comes after the plans it engages.
// Response plans, then the routing, come last.
func orderObjects(objs []*object) ([]*object, error) {
	rank := func(o *object) int {
		return slices.IndexFunc(applyKinds, func(k kindInfo) bool { return k.kind == o.kind })
	}
	slices.SortStableFunc(objs, func(a, b *object) int { return rank(a) - rank(b) })
	plans := map[string]*object{}
	var out, after []*object
	planRank := slices.IndexFunc(applyKinds, func(k kindInfo) bool { return k.kind == "EscalationPlan" })
	for _, o := range objs {
		switch {
		case o.kind == "EscalationPlan":
			plans[o.name] = o
		case rank(o) > planRank:
			// Response plans and the routing engage escalation plans.
			after = append(after, o)
		default:
			out = append(out, o)
		}
	}
	if err := checkPlanLoops(objs, nil); err != nil {
		return nil, err
	}
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(o *object, chain []string) error
	visit = func(o *object, chain []string) error {
		if state[o.name] != 0 { // done (a loop was refused above)
			return nil
		}
		state[o.name] = 1
		for _, st := range o.value.(*tocsin.EscalationPlan).Stages {
			for _, t := range st.Targets {
				if dep := plans[t.EscalationPlan]; dep != nil {
					if err := visit(dep, append(chain, o.name)); err != nil {
						return err
					}
				}
			}
		}
		state[o.name] = 2
		out = append(out, o)
		return nil
	}
	for _, o := range objs {
		if o.kind == "EscalationPlan" {
			if err := visit(o, nil); err != nil {
				return nil, err
			}
		}
	}
	return append(out, after...), nil
}

// change is what apply does to one object.
type change struct {
	obj    *object
	op     string   // "create", "update" or "unchanged"
	fields []string // for an update, the fields that differ
}

// applyObjects compares the objects with the server, prints the plan (with
// coverage warnings for the escalation plans in the files) and, unless
// dryRun, creates and replaces what differs; with prune it then deletes what
// the files no longer contain.
func applyObjects(cmd *cobra.Command, c *client, objs []*object, dryRun, prune bool, stdout io.Writer) error {
	ctx := cmd.Context()
	current, err := listCurrent(cmd, c)
	if err != nil {
		return err
	}
	if err := checkServed(objs, current); err != nil {
		return err
	}
	if err := checkReferences(objs, current); err != nil {
		return err
	}
	if err := checkPlanLoops(objs, current["EscalationPlan"]); err != nil {
		return err
	}
	var changes []change
	counts := map[string]int{}
	for _, o := range objs {
		ch := change{obj: o, op: "create"}
		if have, ok := current[o.kind][o.name]; ok {
			ch.fields = diffFields(o.value, have)
			ch.op = "update"
			if len(ch.fields) == 0 {
				ch.op = "unchanged"
			}
		}
		counts[ch.op]++
		changes = append(changes, ch)
	}
	var deletions []*object
	if prune {
		if deletions, err = pruneList(objs, current); err != nil {
			return err
		}
		counts["delete"] = len(deletions)
	}
	for _, ch := range changes {
		o := ch.obj
		switch ch.op {
		case "create":
			fmt.Fprintf(stdout, "+ %s (create)\n", o.label())
		case "update":
			fmt.Fprintf(stdout, "~ %s (update: %s)\n", o.label(), strings.Join(ch.fields, ", "))
			have := current[o.kind][o.name]
			for _, line := range fieldChanges(o.value, have, ch.fields) {
				fmt.Fprintf(stdout, "    %s\n", line)
			}
			for _, w := range deactivations(o.value, have) {
				fmt.Fprintf(stdout, "    ! %s\n", w)
			}
		default:
			fmt.Fprintf(stdout, "= %s (unchanged)\n", o.label())
		}
	}
	for _, o := range deletions {
		fmt.Fprintf(stdout, "- %s (delete: not in the files)\n", o.label())
	}
	if err := printCoverageWarnings(cmd, c, objs, current, stdout); err != nil {
		return err
	}
	summary := fmt.Sprintf("%d to create, %d to update, %d unchanged", counts["create"], counts["update"], counts["unchanged"])
	if prune {
		summary += fmt.Sprintf(", %d to delete", counts["delete"])
	}
	if dryRun {
		fmt.Fprintf(stdout, "dry run: %s; nothing was changed\n", summary)
		return nil
	}
	done, total := 0, counts["create"]+counts["update"]+counts["delete"]
	for _, ch := range changes {
		if ch.op == "unchanged" {
			continue
		}
		o := ch.obj
		var out map[string]any
		var err error
		if rb, ok := o.value.(*runbookDoc); ok {
			// The document itself, as written: the server keeps its text.
			err = c.send(ctx, "PUT", o.info.objectPath(o.name), runbookContentType(rb.Format == "json"), []byte(rb.Body), &out)
		} else {
			err = c.do(ctx, "PUT", o.info.objectPath(o.name), o.value, &out)
		}
		if err != nil {
			return fmt.Errorf("%s: %s %s: %w (%d of %d changes applied)", o.where, o.info.noun, o.name, err, done, total)
		}
		done++
	}
	for _, o := range deletions {
		if err := callNoContent(ctx, c, "DELETE", o.info.objectPath(o.name)); err != nil {
			return fmt.Errorf("delete %s %s: %w (%d of %d changes applied)", o.info.noun, o.name, err, done, total)
		}
		done++
	}
	applied := fmt.Sprintf("applied: %d created, %d updated, %d unchanged", counts["create"], counts["update"], counts["unchanged"])
	if prune {
		applied += fmt.Sprintf(", %d deleted", counts["delete"])
	}
	fmt.Fprintln(stdout, applied)
	return nil
}

// listCurrent reads every object of every kind apply handles from the
// server: kind → name → object.
func listCurrent(cmd *cobra.Command, c *client) (map[string]map[string]any, error) {
	current := map[string]map[string]any{}
	for _, k := range applyKinds {
		var list map[string]json.RawMessage
		var items []json.RawMessage
		err := c.do(cmd.Context(), "GET", k.path, nil, &list)
		var he *httpError
		switch {
		case k.kind == "Runbook" && errors.As(err, &he) && he.Status == http.StatusNotFound:
			// This server keeps no runbooks: current has no "Runbook",
			// and response plans' runbooks are not checked (nor are they
			// by the server).
			continue
		case k.single && errors.As(err, &he) && he.Status == http.StatusNotFound:
			// None yet.
		case err != nil:
			return nil, fmt.Errorf("list %s: %w", k.many, err)
		case k.single:
			items = []json.RawMessage{list[k.many]}
		default:
			if err := json.Unmarshal(list[k.many], &items); err != nil {
				return nil, fmt.Errorf("list %s: %w", k.many, err)
			}
		}
		current[k.kind] = map[string]any{}
		for _, raw := range items {
			v := k.new()
			if err := json.Unmarshal(raw, v); err != nil {
				return nil, fmt.Errorf("list %s: %w", k.many, err)
			}
			current[k.kind][k.name(v)] = v
		}
	}
	return current, nil
}

// pruneList returns the server's objects that the files do not contain, in
// the order to delete them (plans first, contacts last). An object the
// files still refer to is an error before anything changes: the server
// would refuse to delete it (409).
func pruneList(objs []*object, current map[string]map[string]any) ([]*object, error) {
	inFiles := map[string]bool{}
	for _, o := range objs {
		inFiles[o.kind+"/"+o.name] = true
	}
	var out []*object
	for i := len(applyKinds) - 1; i >= 0; i-- {
		k := applyKinds[i]
		for _, name := range sortedNames(current[k.kind]) {
			if !inFiles[k.kind+"/"+name] {
				out = append(out, &object{document: document{kind: k.kind}, info: k, name: name, value: current[k.kind][name]})
			}
		}
	}
	deleted := map[string]bool{}
	for _, o := range out {
		deleted[o.kind+"/"+o.name] = true
	}
	var problems []string
	for _, o := range objs {
		for _, ref := range references(o.value) {
			if deleted[ref.kind+"/"+ref.name] {
				info, _ := kindByName(ref.kind)
				problems = append(problems, fmt.Sprintf("%s: %s %s: %s: %s %s is not in the files, so --prune would delete it, but the server refuses to delete a %s that is still in use (409); keep it in the files or remove this reference",
					o.where, o.info.noun, o.name, ref.field, info.noun, ref.name, info.noun))
			}
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return out, nil
}

func sortedNames(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// reference is one name an object uses.
type reference struct{ field, kind, name string }

// references lists the names of other objects that v uses.
func references(v any) []reference {
	var out []reference
	switch v := v.(type) {
	case *tocsin.ContactGroup:
		for i, m := range v.Members {
			out = append(out, reference{fmt.Sprintf("members[%d]", i), "Contact", m})
		}
	case *oncall.Rotation:
		for i, m := range v.Members {
			out = append(out, reference{fmt.Sprintf("members[%d]", i), "Contact", m})
		}
	case *tocsin.Schedule:
		for i, r := range v.Rotations {
			out = append(out, reference{fmt.Sprintf("rotations[%d]", i), "Rotation", r})
		}
	case *tocsin.ResponsePlan:
		for i, e := range v.Engagements {
			kind, name := e.Target()
			out = append(out, reference{fmt.Sprintf("engagements[%d].%s", i, kind), engagementKinds[kind], name})
		}
		if v.Runbook != nil {
			out = append(out, reference{"runbook.name", "Runbook", v.Runbook.Name})
		}
	case *runbookDoc:
		out = runbookReferences(v)
	case *tocsin.Routing:
		for i, r := range v.Rules {
			if r.ResponsePlan != "" {
				out = append(out, reference{fmt.Sprintf("rules[%d].response_plan", i), "ResponsePlan", r.ResponsePlan})
			}
		}
		if d := v.Default; d != nil && d.ResponsePlan != "" {
			out = append(out, reference{"default.response_plan", "ResponsePlan", d.ResponsePlan})
		}
	case *tocsin.EscalationPlan:
		for i, st := range v.Stages {
			for j, t := range st.Targets {
				f := fmt.Sprintf("stages[%d].targets[%d]", i, j)
				switch {
				case t.Contact != "":
					out = append(out, reference{f + ".contact", "Contact", t.Contact})
				case t.ContactGroup != "":
					out = append(out, reference{f + ".contact_group", "ContactGroup", t.ContactGroup})
				case t.Schedule != "":
					out = append(out, reference{f + ".schedule", "Schedule", t.Schedule})
				case t.EscalationPlan != "":
					out = append(out, reference{f + ".escalation_plan", "EscalationPlan", t.EscalationPlan})
				}
			}
		}
	}
	return out
}

// engagementKinds are the kinds a response plan's engagement names, by
// the engagement's field.
var engagementKinds = map[string]string{"escalation_plan": "EscalationPlan", "schedule": "Schedule", "contact": "Contact", "contact_group": "ContactGroup"}

// printCoverageWarnings checks each escalation plan in the files for
// reaching somebody in the coming week, as the server would have things
// after this apply (a channel whose address changes needs activating
// again), and prints a warning line per problem. Warnings never stop apply.
func printCoverageWarnings(cmd *cobra.Command, c *client, objs []*object, current map[string]map[string]any, stdout io.Writer) error {
	var plans []string
	for _, o := range objs {
		if o.kind == "EscalationPlan" {
			plans = append(plans, o.name)
		}
	}
	if len(plans) == 0 {
		return nil
	}
	now := time.Now()
	to := now.Add(api.PlanCheckWindow)
	q := url.Values{"from": {now.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
	var ovs struct {
		Overrides []oncall.StoredOverride `json:"overrides"`
	}
	if err := c.do(cmd.Context(), "GET", "/api/v1/overrides?"+q.Encode(), nil, &ovs); err != nil {
		return fmt.Errorf("list overrides: %w", err)
	}
	setup := api.NewSetup(mergedList[tocsin.Contact](objs, current, "Contact"), mergedList[tocsin.ContactGroup](objs, current, "ContactGroup"),
		mergedList[oncall.Rotation](objs, current, "Rotation"), mergedList[tocsin.Schedule](objs, current, "Schedule"),
		mergedList[tocsin.EscalationPlan](objs, current, "EscalationPlan"), ovs.Overrides)
	for _, o := range objs {
		fc, ok := o.value.(*tocsin.Contact)
		if !ok {
			continue
		}
		// The files say nothing of activation: a channel keeps the
		// server's as long as its type and address stay, as the store does.
		merged := *fc
		merged.Channels = slices.Clone(fc.Channels)
		have, _ := current["Contact"][o.name].(*tocsin.Contact)
		for i, ch := range merged.Channels {
			merged.Channels[i].Activated = have != nil && slices.ContainsFunc(have.Channels, func(h tocsin.ContactChannel) bool {
				return h.Name == ch.Name && h.Type == ch.Type && h.Address == ch.Address && h.Activated
			})
		}
		setup.Contacts[o.name] = &merged
	}
	// Contacts are named once, however many plans engage them.
	var dark []string
	for _, name := range plans {
		findings, err := oncall.CheckPlan(setup, name, now, to)
		if err != nil {
			return fmt.Errorf("check escalation plan %s: %w", name, err)
		}
		for _, f := range findings {
			if f.Problem == oncall.FindingNoChannel {
				if !slices.Contains(dark, f.Name) {
					dark = append(dark, f.Name)
				}
				continue
			}
			fmt.Fprintf(stdout, "! warning: %s\n", f.Message)
		}
	}
	if len(dark) > 0 {
		slices.Sort(dark)
		fmt.Fprintf(stdout, "! warning: these contacts have no activated channel, so paging them sends nothing: %s "+
			"(activate a channel with POST /api/v1/contacts/ALIAS/channels/CHANNEL/activation)\n", strings.Join(dark, ", "))
	}
	return nil
}

// mergedList returns the server's objects of a kind with the files'
// objects in their place.
func mergedList[T any](objs []*object, current map[string]map[string]any, kind string) []*T {
	byName := map[string]*T{}
	for name, v := range current[kind] {
		byName[name] = v.(*T)
	}
	for _, o := range objs {
		if o.kind == kind {
			byName[o.name] = o.value.(*T)
		}
	}
	out := make([]*T, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, byName[name])
	}
	return out
}

// checkPlanLoops refuses, with the server's own check
// (tocsin.CheckEscalationLoops), escalation plans that would engage each
// other in a loop once the files' plans replace the server's.
func checkPlanLoops(objs []*object, server map[string]any) error {
	all := map[string]*tocsin.EscalationPlan{}
	for name, v := range server {
		all[name] = v.(*tocsin.EscalationPlan)
	}
	where := map[string]string{}
	for _, o := range objs {
		if p, ok := o.value.(*tocsin.EscalationPlan); ok {
			all[o.name], where[o.name] = p, o.where
		}
	}
	loop := tocsin.EscalationLoop(all)
	if loop == nil {
		return nil
	}
	err := message(tocsin.CheckEscalationLoops(all))
	for _, name := range loop {
		if w, ok := where[name]; ok {
			return fmt.Errorf("%s: %s", w, err)
		}
	}
	return errors.New(err)
}

// checkServed refuses, before anything changes, runbooks in the files when
// the server keeps none (its API has no /api/v1/runbooks).
func checkServed(objs []*object, current map[string]map[string]any) error {
	if _, ok := current["Runbook"]; ok {
		return nil
	}
	for _, o := range objs {
		if o.kind == "Runbook" {
			return fmt.Errorf("%s: runbook %s: this server keeps no runbooks (GET /api/v1/runbooks answers 404)", o.where, o.name)
		}
	}
	return nil
}

// checkReferences reports, before anything changes, names that are
// neither in the files nor on the server.
func checkReferences(objs []*object, current map[string]map[string]any) error {
	exists := func(kind, name string) bool {
		if _, served := current[kind]; !served {
			return true // the server keeps none of these, and checks none
		}
		if _, ok := current[kind][name]; ok {
			return true
		}
		return slices.ContainsFunc(objs, func(o *object) bool { return o.kind == kind && o.name == name })
	}
	var problems []string
	missing := func(o *object, field, kind, name string) {
		if !exists(kind, name) {
			info, _ := kindByName(kind)
			problems = append(problems, fmt.Sprintf("%s: %s %s: %s: no %s %q in the files or on the server", o.where, o.info.noun, o.name, field, info.noun, name))
		}
	}
	for _, o := range objs {
		switch v := o.value.(type) {
		case *tocsin.ResponsePlan, *tocsin.Routing, *runbookDoc:
			for _, ref := range references(v) {
				missing(o, ref.field, ref.kind, ref.name)
			}
		case *tocsin.ContactGroup:
			for i, m := range v.Members {
				missing(o, fmt.Sprintf("members[%d]", i), "Contact", m)
			}
		case *oncall.Rotation:
			for i, m := range v.Members {
				missing(o, fmt.Sprintf("members[%d]", i), "Contact", m)
			}
		case *tocsin.Schedule:
			for i, r := range v.Rotations {
				missing(o, fmt.Sprintf("rotations[%d]", i), "Rotation", r)
			}
		case *tocsin.EscalationPlan:
			for i, st := range v.Stages {
				for j, t := range st.Targets {
					f := fmt.Sprintf("stages[%d].targets[%d]", i, j)
					switch {
					case t.Contact != "":
						missing(o, f+".contact", "Contact", t.Contact)
					case t.ContactGroup != "":
						missing(o, f+".contact_group", "ContactGroup", t.ContactGroup)
					case t.Schedule != "":
						missing(o, f+".schedule", "Schedule", t.Schedule)
					case t.EscalationPlan != "":
						missing(o, f+".escalation_plan", "EscalationPlan", t.EscalationPlan)
					}
				}
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// diffFields lists the top-level JSON fields in which want and have differ,
// after normalising both (read-only fields dropped, defaults filled in,
// times in UTC), in the order the type declares them.
func diffFields(want, have any) []string {
	if rb, ok := want.(*runbookDoc); ok {
		return rb.changes(have.(*runbookDoc))
	}
	a, _ := json.Marshal(normalized(want))
	b, _ := json.Marshal(normalized(have))
	var ma, mb map[string]json.RawMessage
	_ = json.Unmarshal(a, &ma)
	_ = json.Unmarshal(b, &mb)
	var out []string
	for _, k := range jsonFieldOrder(reflect.TypeOf(want).Elem()) {
		if !bytes.Equal(ma[k], mb[k]) {
			out = append(out, k)
		}
	}
	return out
}

// fieldChanges writes each changed field as "field: old → new", the
// values as compact JSON of the normalised objects, each cut to maxShown.
func fieldChanges(want, have any, fields []string) []string {
	if rb, ok := want.(*runbookDoc); ok {
		return rb.changeLines(have.(*runbookDoc), fields)
	}
	a, _ := json.Marshal(normalized(want))
	b, _ := json.Marshal(normalized(have))
	var ma, mb map[string]json.RawMessage
	_ = json.Unmarshal(a, &ma)
	_ = json.Unmarshal(b, &mb)
	shown := func(v json.RawMessage) string {
		if v == nil {
			return "(none)"
		}
		if r := []rune(string(v)); len(r) > maxShown {
			return string(r[:maxShown-1]) + "…"
		}
		return string(v)
	}
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		out = append(out, fmt.Sprintf("%s: %s → %s", f, shown(mb[f]), shown(ma[f])))
	}
	return out
}

// maxShown bounds a value shown in the plan.
const maxShown = 120

// deactivations warns of contact channels whose type or address changes:
// the server deactivates them, and they are not paged until activated again.
func deactivations(want, have any) []string {
	w, ok := want.(*tocsin.Contact)
	h, ok2 := have.(*tocsin.Contact)
	if !ok || !ok2 {
		return nil
	}
	var out []string
	for _, nc := range w.Channels {
		for _, oc := range h.Channels {
			if oc.Name == nc.Name && (oc.Type != nc.Type || oc.Address != nc.Address) {
				out = append(out, fmt.Sprintf("channel %s: %s %s → %s %s: the channel is deactivated and is not paged until activated again with a new code",
					nc.Name, oc.Type, oc.Address, nc.Type, nc.Address))
			}
		}
	}
	return out
}

// jsonFieldOrder lists the JSON names of t's fields in declaration order.
func jsonFieldOrder(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// normalized returns a copy of an object as the comparison sees it.
func normalized(v any) any {
	switch v := v.(type) {
	case *tocsin.Contact:
		c := *v
		c.CreatedAt, c.UpdatedAt = time.Time{}, time.Time{}
		c.Channels = make([]tocsin.ContactChannel, len(v.Channels))
		for i, ch := range v.Channels {
			ch.Activated, ch.ActivatedAt = false, nil
			c.Channels[i] = ch
		}
		if len(c.EngagementPlan) == 0 {
			c.EngagementPlan = nil
		}
		return &c
	case *tocsin.ContactGroup:
		g := *v
		g.CreatedAt, g.UpdatedAt = time.Time{}, time.Time{}
		if g.Members == nil {
			g.Members = []string{}
		}
		return &g
	case *oncall.Rotation:
		r := *v
		r.Start = r.Start.UTC()
		if r.Members == nil {
			r.Members = []string{}
		}
		r.Recurrence.Multiplier = max(r.Recurrence.Multiplier, 1)
		r.Recurrence.OnCalls = max(r.Recurrence.OnCalls, 1)
		return &r
	case *tocsin.Schedule:
		s := *v
		s.CreatedAt, s.UpdatedAt = time.Time{}, time.Time{}
		if s.Rotations == nil {
			s.Rotations = []string{}
		}
		return &s
	case *tocsin.ResponsePlan:
		// The server never shows secrets: they are not compared.
		p := *v
		p.CreatedAt, p.UpdatedAt = time.Time{}, time.Time{}
		p.IncidentTemplate.NotificationTargets = slices.Clone(v.IncidentTemplate.NotificationTargets)
		for i := range p.IncidentTemplate.NotificationTargets {
			p.IncidentTemplate.NotificationTargets[i].Secret = ""
		}
		return &p
	case *tocsin.Routing:
		r := *v
		if r.Rules == nil {
			r.Rules = []tocsin.RoutingRule{}
		}
		return &r
	case *tocsin.EscalationPlan:
		p := *v
		p.CreatedAt, p.UpdatedAt = time.Time{}, time.Time{}
		p.Stages = make([]tocsin.Stage, len(v.Stages))
		for i, st := range v.Stages {
			if st.Targets == nil {
				st.Targets = []tocsin.Target{}
			}
			p.Stages[i] = st
		}
		return &p
	}
	return v
}
