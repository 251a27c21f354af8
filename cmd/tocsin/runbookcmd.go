package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"tocsin"
	"tocsin/api"
	"tocsin/config"
	"tocsin/runbook"
	"tocsin/runbook/action"
)

// runbookCommand is `tocsin runbook`: documents (validate offline, put,
// list) and executions (run, list, show, resume, approve, reject, cancel)
// on a running server.
func runbookCommand(getenv func(string) string, stdout io.Writer) *cobra.Command {
	var srv apiFlags
	var asJSON bool
	cmd := &cobra.Command{Use: "runbook", Aliases: []string{"runbooks"},
		Short: "Validate, store and run runbooks (SSM Automation documents of schema 0.3), and answer their steps"}
	srv.register(cmd)
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")
	rc := &runbookCLI{srv: &srv, getenv: getenv, stdout: stdout, asJSON: &asJSON}
	cmd.AddCommand(rc.validate(), rc.put(), rc.list(), rc.run(), rc.executions(), rc.show(),
		rc.signal("resume", tocsin.SignalResume, "Resume an execution waiting at an aws:pause step"),
		rc.signal("approve", tocsin.SignalApprove, "Approve an aws:approve step (as one of its approvers)"),
		rc.signal("reject", tocsin.SignalReject, "Reject an aws:approve step (as one of its approvers): the step fails"),
		rc.signal("cancel", tocsin.SignalCancel, "Cancel an execution"))
	return cmd
}

// runbookCLI holds what the runbook commands share.
type runbookCLI struct {
	srv    *apiFlags
	getenv func(string) string
	stdout io.Writer
	asJSON *bool
}

// validate is `tocsin runbook validate FILE...`: offline, the server's own
// checks (api.CheckRunbook), with the policy of --config when given.
func (rc *runbookCLI) validate() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check runbook documents offline: parse, validate and (with --config) the configuration's policy; every problem with its file and path",
		Long: `validate reads each file as a schema 0.3 document (JSON for *.json or a body
starting with {, YAML otherwise) and makes the checks the server makes when
the document is put: unknown keys, step names and targets, actions,
operators, parameters. With --config it also checks the configuration's
policy: tocsin:http URLs under runbooks.http.allow, tocsin:script only with
runbooks.scripts.enabled and a listed interpreter. It talks to no server
and exits non-zero when any file has a problem.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			policy, err := configPolicy(configPath, rc.getenv)
			if err != nil {
				return err
			}
			bad := 0
			for _, file := range args {
				doc, probs, err := checkRunbookFile(file, policy)
				if err != nil {
					return err
				}
				if len(probs) > 0 {
					bad++
					for _, p := range probs {
						fmt.Fprintln(rc.stdout, problemLine(file, p))
					}
					continue
				}
				fmt.Fprintf(rc.stdout, "%s: ok (%d steps)\n", file, len(doc.MainSteps))
			}
			if policy == nil {
				fmt.Fprintln(rc.stdout, "(the configuration's policy was not checked: pass --config FILE)")
			}
			if bad > 0 {
				return fmt.Errorf("%d of %d runbook files have problems", bad, len(args))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "the server's configuration file: check its runbooks policy too")
	return cmd
}

// problemLine words a document's problem with its file: "FILE: path: message".
func problemLine(file string, p runbook.Problem) string {
	if p.Path == "" {
		return file + ": " + p.Message
	}
	return file + ": " + p.Path + ": " + p.Message
}

// configPolicy builds the runbook policy of the configuration at path, as
// the server builds it from the same actions; nil without a path.
func configPolicy(path string, getenv func(string) string) (*runbook.Policy, error) {
	if path == "" {
		return nil, nil
	}
	res, err := config.Load(path, getenv)
	if err != nil {
		return nil, err
	}
	script, _ := action.NewScript(res.Config.Runbooks.Scripts)
	p := action.Policy(action.NewHTTP(res.Config.Runbooks.HTTP, nil), script)
	return &p, nil
}

// checkRunbookFile reads and checks one document, against the policy
// when there is one.
func checkRunbookFile(file string, policy *runbook.Policy) (*runbook.Document, runbook.Problems, error) {
	body, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	asJSON := isJSONFile(file, body)
	if policy == nil {
		doc, probs := api.ParseRunbook(body, asJSON)
		return doc, probs, nil
	}
	doc, probs := api.CheckRunbook(body, asJSON, *policy)
	return doc, probs, nil
}

// isJSONFile says whether a runbook file is JSON: by its name, or a body
// that starts like an object.
func isJSONFile(file string, body []byte) bool {
	return strings.EqualFold(filepath.Ext(file), ".json") || bytes.HasPrefix(bytes.TrimSpace(body), []byte("{"))
}

// runbookNameOf is the name a runbook file gives its document: its base
// name without the extension (ec2-cpu-util-runbook.yaml →
// ec2-cpu-util-runbook).
func runbookNameOf(file string) string {
	base := filepath.Base(file)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// put is `tocsin runbook put [NAME] -f FILE`: the file as it is, so the
// server keeps the text as written.
func (rc *runbookCLI) put() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "put [NAME] -f FILE",
		Short: "Store a runbook document (a new version when it changed); NAME defaults to the file's base name",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return fmt.Errorf("-f: the document's file is required")
			}
			name := runbookNameOf(file)
			if len(args) == 1 {
				name = args[0]
			}
			body, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			c, err := rc.srv.client(rc.getenv)
			if err != nil {
				return err
			}
			var out struct {
				Runbook *tocsin.Runbook `json:"runbook"`
				Created bool            `json:"created"`
			}
			if err := c.send(cmd.Context(), "PUT", "/api/v1/runbooks/"+url.PathEscape(name), runbookContentType(isJSONFile(file, body)), body, &out); err != nil {
				return fmt.Errorf("put runbook %s: %w", name, err)
			}
			if *rc.asJSON {
				return printJSONTo(rc.stdout, out)
			}
			state := "unchanged"
			if out.Created {
				state = "stored"
			}
			fmt.Fprintf(rc.stdout, "runbook %s: version %d %s\n", out.Runbook.Name, out.Runbook.Version, state)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the document, YAML or JSON")
	return cmd
}

// runbookContentType is the Content-Type a document is sent with.
func runbookContentType(asJSON bool) string {
	if asJSON {
		return "application/json"
	}
	return "application/yaml"
}

func (rc *runbookCLI) list() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the stored runbooks, each at its latest version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := rc.srv.client(rc.getenv)
			if err != nil {
				return err
			}
			var out struct {
				Runbooks []*tocsin.Runbook `json:"runbooks"`
			}
			if err := c.do(cmd.Context(), "GET", "/api/v1/runbooks", nil, &out); err != nil {
				return err
			}
			if *rc.asJSON {
				return printJSONTo(rc.stdout, out)
			}
			sort.Slice(out.Runbooks, func(i, j int) bool { return out.Runbooks[i].Name < out.Runbooks[j].Name })
			tw := tabwriter.NewWriter(rc.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tUPDATED\tDESCRIPTION")
			for _, rb := range out.Runbooks {
				first, _, _ := strings.Cut(strings.TrimSpace(rb.Description), "\n")
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", rb.Name, rb.Version, rb.CreatedAt.Local().Format("2006-01-02 15:04"), tocsin.Truncate(first, 70))
			}
			return tw.Flush()
		},
	}
}

// run is `tocsin runbook run NAME [--incident ID] [-p Key=Value ...]`.
func (rc *runbookCLI) run() *cobra.Command {
	var incident, as string
	var params []string
	cmd := &cobra.Command{
		Use:   "run NAME [--incident ID] [-p Key=Value ...] [--as NAME]",
		Short: "Start an execution of a runbook's latest version, for an incident with --incident",
		Long: `run starts an execution. Parameters are Key=Value; repeat a key for the items
of a StringList (-p Ids=i-1 -p Ids=i-2); a StringMap or MapList value is JSON.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			values, err := parseParams(params)
			if err != nil {
				return err
			}
			c, err := rc.srv.client(rc.getenv)
			if err != nil {
				return err
			}
			body := map[string]any{"parameters": values, "by": byOrUser(as, rc.getenv)}
			if incident != "" {
				body["incident_id"] = incident
			}
			var out struct {
				Execution *tocsin.RunbookExecution `json:"execution"`
			}
			if err := c.do(cmd.Context(), "POST", "/api/v1/runbooks/"+url.PathEscape(args[0])+"/executions", body, &out); err != nil {
				return fmt.Errorf("run %s: %w", args[0], err)
			}
			if *rc.asJSON {
				return printJSONTo(rc.stdout, out)
			}
			fmt.Fprintf(rc.stdout, "%s: %s\n", out.Execution.ID, executionState(out.Execution))
			return nil
		},
	}
	cmd.Flags().StringVar(&incident, "incident", "", "the incident it runs for (its timeline records every step)")
	cmd.Flags().StringArrayVarP(&params, "parameter", "p", nil, "a parameter Key=Value (repeatable)")
	cmd.Flags().StringVar(&as, "as", "", "who starts it (default $USER)")
	return cmd
}

// parseParams reads Key=Value flags into AWS's map of lists.
func parseParams(flags []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("-p %q: want Key=Value", f)
		}
		out[k] = append(out[k], v)
	}
	return out, nil
}

// executionState reads like "Waiting at Inspect (runbook ec2-cpu-util-runbook version 1)".
func executionState(e *tocsin.RunbookExecution) string {
	s := e.Status
	if st := currentStep(e); st != nil && !tocsin.RunbookEnded(e.Status) {
		s += " at " + st.Name
	}
	s += fmt.Sprintf(" (runbook %s version %d)", e.Runbook, e.Version)
	if e.FailureMessage != "" {
		s += ": " + e.FailureMessage
	}
	return s
}

// currentStep is the step the execution runs or waits at, or nil.
func currentStep(e *tocsin.RunbookExecution) *tocsin.RunbookStep {
	for _, st := range e.Steps {
		if e.Current != 0 && st.Seq == e.Current {
			return st
		}
	}
	return nil
}

func (rc *runbookCLI) executions() *cobra.Command {
	var incident, rb, status string
	var limit int
	cmd := &cobra.Command{
		Use:   "executions [--incident ID] [--runbook NAME] [--status S]",
		Short: "List runbook executions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"incident_id": incident, "runbook": rb, "status": status} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if limit > 0 {
				q.Set("limit", fmt.Sprint(limit))
			}
			c, err := rc.srv.client(rc.getenv)
			if err != nil {
				return err
			}
			var out struct {
				Executions []*tocsin.RunbookExecution `json:"executions"`
			}
			if err := c.do(cmd.Context(), "GET", "/api/v1/runbook-executions?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			if *rc.asJSON {
				return printJSONTo(rc.stdout, out)
			}
			tw := tabwriter.NewWriter(rc.stdout, 0, 4, 2, ' ', 0)
			// Lists carry no steps: `runbook show` has them.
			fmt.Fprintln(tw, "ID\tRUNBOOK\tVERSION\tSTATUS\tINCIDENT\tSTARTED")
			for _, e := range out.Executions {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", e.ID, e.Runbook, e.Version, e.Status, e.IncidentID, e.StartedAt.Local().Format("2006-01-02 15:04"))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&incident, "incident", "", "only this incident's")
	cmd.Flags().StringVar(&rb, "runbook", "", "only this runbook's")
	cmd.Flags().StringVar(&status, "status", "", "only these statuses (comma-separated: Waiting,InProgress)")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many")
	return cmd
}

// executionView is GET /api/v1/runbook-executions/{id}'s answer.
type executionView struct {
	Execution           *tocsin.RunbookExecution `json:"execution"`
	CurrentStep         string                   `json:"current_step,omitempty"`
	CurrentInstructions string                   `json:"current_instructions"`
	Upcoming            []string                 `json:"upcoming"`
}

func (rc *runbookCLI) show() *cobra.Command {
	return &cobra.Command{
		Use:   "show EXEC_ID",
		Short: "Show an execution: its steps, the current step's instructions and the steps to come",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := rc.srv.client(rc.getenv)
			if err != nil {
				return err
			}
			var out executionView
			if err := c.do(cmd.Context(), "GET", "/api/v1/runbook-executions/"+url.PathEscape(args[0]), nil, &out); err != nil {
				return err
			}
			if *rc.asJSON {
				return printJSONTo(rc.stdout, out)
			}
			printExecution(rc.stdout, &out)
			return nil
		},
	}
}

// printExecution writes an execution as `runbook show` shows it.
func printExecution(w io.Writer, v *executionView) {
	e := v.Execution
	fmt.Fprintf(w, "%s  runbook %s version %d\n", e.ID, e.Runbook, e.Version)
	fmt.Fprintf(w, "status:   %s\n", e.Status)
	if e.IncidentID != "" {
		fmt.Fprintf(w, "incident: %s\n", e.IncidentID)
	}
	fmt.Fprintf(w, "started:  %s", e.StartedAt.Local().Format(time.RFC3339))
	if e.StartedBy != "" {
		fmt.Fprintf(w, " by %s", e.StartedBy)
	}
	fmt.Fprintln(w)
	if !e.EndedAt.IsZero() {
		fmt.Fprintf(w, "ended:    %s\n", e.EndedAt.Local().Format(time.RFC3339))
	}
	if e.FailureMessage != "" {
		fmt.Fprintf(w, "failure:  %s\n", e.FailureMessage)
	}
	if len(e.Parameters) > 0 {
		fmt.Fprintf(w, "parameters: %s\n", compactJSON(e.Parameters))
	}
	fmt.Fprintln(w, "\nsteps:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  SEQ\tNAME\tACTION\tSTATUS\tATTEMPT\tSTARTED\tENDED")
	for _, st := range e.Steps {
		ended := ""
		if !st.EndedAt.IsZero() {
			ended = st.EndedAt.Local().Format("15:04:05")
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%d\t%s\t%s\n", st.Seq, st.Name, st.Action, st.Status, st.Attempt, st.StartedAt.Local().Format("2006-01-02 15:04:05"), ended)
	}
	tw.Flush()
	for _, st := range e.Steps {
		printStepDetail(w, st)
	}
	if len(e.Outputs) > 0 {
		fmt.Fprintf(w, "\noutputs: %s\n", compactJSON(e.Outputs))
	}
	if v.CurrentStep != "" {
		fmt.Fprintf(w, "\ncurrent step: %s\n", v.CurrentStep)
		if v.CurrentInstructions != "" {
			fmt.Fprintln(w, "instructions:")
			for _, line := range strings.Split(v.CurrentInstructions, "\n") {
				fmt.Fprintln(w, "  "+line)
			}
		}
	}
	if len(v.Upcoming) > 0 {
		fmt.Fprintf(w, "\nto come: %s\n", strings.Join(v.Upcoming, ", "))
	}
}

// printStepDetail writes what a step's row cannot hold: inputs, outputs,
// its failure and its approvals.
func printStepDetail(w io.Writer, st *tocsin.RunbookStep) {
	if len(st.Inputs) == 0 && len(st.Outputs) == 0 && st.FailureMessage == "" && len(st.Approvals) == 0 {
		return
	}
	fmt.Fprintf(w, "  %d %s:\n", st.Seq, st.Name)
	if len(st.Inputs) > 0 {
		fmt.Fprintf(w, "    inputs:  %s\n", tocsin.Truncate(compactJSON(st.Inputs), 300))
	}
	if len(st.Outputs) > 0 {
		fmt.Fprintf(w, "    outputs: %s\n", tocsin.Truncate(compactJSON(st.Outputs), 300))
	}
	if st.FailureMessage != "" {
		fmt.Fprintf(w, "    failure: %s\n", st.FailureMessage)
	}
	for _, a := range st.Approvals {
		verdict := "rejected"
		if a.Approved {
			verdict = "approved"
		}
		line := fmt.Sprintf("    %s by %s at %s", verdict, a.By, a.At.Local().Format("2006-01-02 15:04:05"))
		if a.Comment != "" {
			line += ": " + a.Comment
		}
		fmt.Fprintln(w, line)
	}
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// signal is `tocsin runbook resume|approve|reject|cancel EXEC_ID`.
func (rc *runbookCLI) signal(verb, typ, short string) *cobra.Command {
	var as, comment string
	answer := typ == tocsin.SignalApprove || typ == tocsin.SignalReject
	use := verb + " EXEC_ID [--as NAME] [--comment TEXT]"
	if answer {
		use = verb + " EXEC_ID --as NAME [--comment TEXT]"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := rc.srv.client(rc.getenv)
			if err != nil {
				return err
			}
			body := map[string]string{"by": byOrUser(as, rc.getenv)}
			if comment != "" {
				body["comment"] = comment
			}
			var out struct {
				Execution *tocsin.RunbookExecution `json:"execution"`
			}
			if err := c.do(cmd.Context(), "POST", "/api/v1/runbook-executions/"+url.PathEscape(args[0])+"/"+verb, body, &out); err != nil {
				return fmt.Errorf("%s %s: %w", verb, args[0], err)
			}
			if *rc.asJSON {
				return printJSONTo(rc.stdout, out)
			}
			fmt.Fprintf(rc.stdout, "%s: %s\n", out.Execution.ID, executionState(out.Execution))
			return nil
		},
	}
	who := "who resumes (default $USER)"
	if answer {
		who = "the approver answering (a contact's alias or a user's name)"
	} else if typ == tocsin.SignalCancel {
		who = "who cancels (default $USER)"
	}
	cmd.Flags().StringVar(&as, "as", "", who)
	cmd.Flags().StringVar(&comment, "comment", "", "a comment for the timeline")
	if answer {
		_ = cmd.MarkFlagRequired("as")
	}
	return cmd
}

// runbookDoc is a runbook as apply sends it: `kind: Runbook` with name and
// document (the schema 0.3 mapping inline, sent as JSON), or a bare schema
// 0.3 document named after its file (sent as the file's text). Read back
// from the server it holds the stored body and document.
type runbookDoc struct {
	Name     string         `json:"name" yaml:"name"`
	Document map[string]any `json:"document" yaml:"document"`
	// Body is what PUT sends; Format is its encoding, "yaml" or "json".
	Body   string `json:"body" yaml:"-"`
	Format string `json:"format" yaml:"-"`
	// bare says the document is a file of its own, without kind.
	bare bool
}

// isBareRunbook reports whether a YAML document without kind is a schema
// 0.3 document: it has schemaVersion and mainSteps.
func isBareRunbook(root *yaml.Node) bool {
	has := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		has[root.Content[i].Value] = true
	}
	return has["schemaVersion"] && has["mainSteps"]
}

// decodeRunbook decodes a Runbook document of apply and fills the body it
// is sent with.
func decodeRunbook(d document, v any) error {
	rb := v.(*runbookDoc)
	if !d.bare {
		if err := decodeDocument(d, rb); err != nil {
			return err
		}
		if rb.Document == nil {
			return fmt.Errorf("%s (kind Runbook): document: is required (the schema 0.3 mapping)", d.where)
		}
		body, err := json.Marshal(rb.Document)
		if err != nil {
			return fmt.Errorf("%s (kind Runbook): document: %v", d.where, err)
		}
		rb.Body, rb.Format = string(body), "json"
		return nil
	}
	if err := d.node.Decode(&rb.Document); err != nil {
		return fmt.Errorf("%s: %v", d.where, err)
	}
	rb.Name, rb.Body, rb.Format, rb.bare = runbookNameOf(d.file), string(d.raw), "yaml", true
	return nil
}

// checkRunbook checks a Runbook of apply as the server would (but for the
// configuration's policy, which only the server knows).
func checkRunbook(v any) error {
	rb := v.(*runbookDoc)
	if !tocsin.ValidRunbookName(rb.Name) {
		field := "name"
		if rb.bare {
			field = "the file's base name"
		}
		return fmt.Errorf("%s: %q must be 3-128 letters, digits or _-.:/", field, rb.Name)
	}
	// The configuration's policy is the server's to check.
	_, probs := api.ParseRunbook([]byte(rb.Body), rb.Format == "json")
	msgs := make([]string, len(probs))
	for i, p := range probs {
		path := p.Path
		if !rb.bare {
			path = strings.TrimSuffix("document."+path, ".")
		}
		msgs[i] = path + ": " + p.Message
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// parsedDocument is the runbook's document as the server keeps it
// (runbook.Parse's, encoded again), so documents compare whatever their
// text.
func (rb *runbookDoc) parsedDocument() map[string]any {
	doc, err := runbook.FromMap(rb.Document)
	if err != nil {
		return rb.Document
	}
	var m map[string]any
	b, _ := json.Marshal(doc)
	_ = json.Unmarshal(b, &m)
	return m
}

// changes lists what differs from the server's version: the document's
// top-level keys that differ (a list's items by index when only some
// changed: document.mainSteps[1]), or "body" when only the text does (a
// comment); none when the body is the one stored, as the store decides.
func (rb *runbookDoc) changes(have *runbookDoc) []string {
	if rb.Body == have.Body {
		return nil
	}
	want, got := rb.parsedDocument(), have.parsedDocument()
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if compactJSON(want[k]) == compactJSON(got[k]) {
			continue
		}
		wl, ok1 := want[k].([]any)
		gl, ok2 := got[k].([]any)
		if !ok1 || !ok2 || len(wl) != len(gl) {
			out = append(out, "document."+k)
			continue
		}
		for i := range wl {
			if compactJSON(wl[i]) != compactJSON(gl[i]) {
				out = append(out, fmt.Sprintf("document.%s[%d]", k, i))
			}
		}
	}
	if len(out) == 0 {
		out = []string{"body"}
	}
	return out
}

// changeLines words changes as apply's plan does: "field: old → new".
func (rb *runbookDoc) changeLines(have *runbookDoc, fields []string) []string {
	want, got := rb.parsedDocument(), have.parsedDocument()
	shown := func(m map[string]any, field string) string {
		key, index, isItem := strings.Cut(strings.TrimPrefix(field, "document."), "[")
		v, ok := m[key]
		if isItem && ok {
			var i int
			fmt.Sscanf(index, "%d]", &i)
			v = v.([]any)[i]
		}
		if !ok {
			return "(none)"
		}
		return tocsin.Truncate(compactJSON(v), maxShown)
	}
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		if f == "body" {
			out = append(out, "body: the text changed, the document did not")
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s → %s", f, shown(got, f), shown(want, f)))
	}
	return out
}

// runbookReferences are the runbooks a runbook's aws:executeAutomation
// steps start (by a literal DocumentName).
func runbookReferences(rb *runbookDoc) []reference {
	doc, err := runbook.FromMap(rb.Document)
	if err != nil {
		return nil
	}
	var out []reference
	see := func(s *runbook.Step, path string) {
		if s == nil || s.Action != "aws:executeAutomation" {
			return
		}
		if name, ok := s.Inputs["DocumentName"].(string); ok && !strings.Contains(name, "{{") {
			field := path + ".inputs.DocumentName"
			if !rb.bare {
				field = "document." + field
			}
			out = append(out, reference{field, "Runbook", name})
		}
	}
	for i, s := range doc.MainSteps {
		if s == nil {
			continue
		}
		path := fmt.Sprintf("mainSteps[%d]", i)
		see(s, path)
		// An aws:loop's nested steps start runbooks too.
		for j, n := range s.Loop {
			see(n, fmt.Sprintf("%s.inputs.Steps[%d]", path, j))
		}
	}
	return out
}
