package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"tocsin"
	"tocsin/api"
	"tocsin/ingest"
	"tocsin/oncall"
	"tocsin/response"
	"tocsin/route"
)

// routeCommand is `tocsin route`: offline checks of routing rules.
func routeCommand(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "route",
		Short: "Check routing rules and response plans offline",
	}
	cmd.AddCommand(routeTestCommand(stdout))
	return cmd
}

// routeTestFlags are the inputs of `tocsin route test`.
type routeTestFlags struct {
	alert, routing, plans, source, at, oncallDir, zone string
}

func routeTestCommand(stdout io.Writer) *cobra.Command {
	var f routeTestFlags
	cmd := &cobra.Command{
		Use:   "test -f ALERT.json --routing ROUTING.yaml --plans PLANS.yaml",
		Short: "Show which routing rules an alert matches and why, and what would happen, without a server",
		Long: `Route test decodes an alert payload with the decoder of its source (--source,
or detected as POST /api/incidents does; an SNS notification or a bare
CloudWatch alarm is read as CloudWatch, without checking the signature),
routes it through the Routing document at the instant --at, and prints for
each alert the rules that matched and the conditions that held, the rules
that did not and the condition that failed, the incident a response plan
would open (title, impact, dedupe string), whether the paging policy lets it
page, and the engagements. With --oncall DIR (the on-call YAML files that
tocsin apply reads) it also checks that the plans' engagements exist and
shows who would be paged, counting every contact channel as activated
(activation is known only to the server). Nothing is sent anywhere.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return routeTest(f, stdout) },
	}
	cmd.Flags().StringVarP(&f.alert, "file", "f", "", "the alert payload (JSON), as the sender posts it")
	cmd.Flags().StringVar(&f.routing, "routing", "", "the YAML file holding the kind: Routing document")
	cmd.Flags().StringVar(&f.plans, "plans", "", "a YAML file, or a directory of them, holding kind: ResponsePlan documents")
	cmd.Flags().StringVar(&f.source, "source", "", "the intake the alert comes in on: alertmanager, grafana, cloudwatch, sentry, pagerduty, generic or versus (default: detected)")
	cmd.Flags().StringVar(&f.at, "at", "now", "when the alert arrives: RFC 3339, now, or now+DURATION")
	cmd.Flags().StringVar(&f.oncallDir, "oncall", "", "a directory or file of on-call YAML (as for tocsin apply) to preview who would be paged")
	cmd.Flags().StringVar(&f.zone, "time-zone", "", "IANA zone to show times in (default the local zone)")
	return cmd
}

func routeTest(f routeTestFlags, stdout io.Writer) error {
	switch {
	case f.alert == "":
		return errors.New("-f: the alert file is required")
	case f.routing == "":
		return errors.New("--routing: the routing file is required")
	case f.plans == "":
		return errors.New("--plans: a response plan file or directory is required")
	}
	now, err := parseWhen("at", f.at, time.Now())
	if err != nil {
		return err
	}
	loc, err := loadZoneFlag(f.zone)
	if err != nil {
		return err
	}
	routing, plans, err := loadRouting(f.routing, f.plans)
	if err != nil {
		return err
	}
	var setup *oncall.Setup
	if f.oncallDir != "" {
		if setup, err = loadOnCallSetup(f.oncallDir, plans); err != nil {
			return err
		}
	}
	body, err := os.ReadFile(f.alert)
	if err != nil {
		return err
	}
	alerts, integration, err := decodeAlerts(body, f.source, now)
	if err != nil {
		return fmt.Errorf("%s: %s", f.alert, message(err))
	}
	for i, a := range alerts {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		printRouted(stdout, routeRun{alert: a, n: i + 1, of: len(alerts), integration: integration, now: now, loc: loc,
			routing: routing, plans: plans, setup: setup})
	}
	return nil
}

// loadedPlan is a response plan with where it was read.
type loadedPlan struct {
	*tocsin.ResponsePlan
	where string
}

// loadRouting reads the Routing document of routingFile and the response
// plans under plansPath with apply's strict decoding, and checks them:
// every problem names the file, the document and the field. Routing
// documents met under plansPath are skipped (they are read from
// routingFile), so --plans may be the directory holding both.
func loadRouting(routingFile, plansPath string) (*tocsin.Routing, map[string]loadedPlan, error) {
	var problems []string
	docs, err := readDocuments(routingFile)
	if err != nil {
		return nil, nil, err
	}
	var routing *tocsin.Routing
	var routingWhere string
	for _, d := range docs {
		if d.kind != "Routing" {
			problems = append(problems, fmt.Sprintf("%s: kind: %q is not Routing (response plans go in --plans)", d.where, d.kind))
			continue
		}
		if routing != nil {
			problems = append(problems, fmt.Sprintf("%s: a second Routing document (the first is %s): routing is one ordered list", d.where, routingWhere))
			continue
		}
		r := &tocsin.Routing{}
		if err := decodeDocument(d, r); err != nil {
			problems = append(problems, err.Error())
		} else if err := r.Validate(); err != nil {
			problems = append(problems, d.where+": "+message(err))
		}
		routing, routingWhere = r, d.where
	}
	if routing == nil && len(problems) == 0 {
		problems = append(problems, routingFile+": no kind: Routing document")
	}
	files, err := yamlFiles(plansPath)
	if err != nil {
		return nil, nil, err
	}
	plans := map[string]loadedPlan{}
	for _, file := range files {
		docs, err := readDocuments(file)
		if err != nil {
			return nil, nil, err
		}
		for _, d := range docs {
			switch d.kind {
			case "Routing":
				continue
			case "ResponsePlan":
			default:
				problems = append(problems, fmt.Sprintf("%s: kind: %q is not ResponsePlan", d.where, d.kind))
				continue
			}
			p := &tocsin.ResponsePlan{}
			if err := decodeDocument(d, p); err != nil {
				problems = append(problems, err.Error())
				continue
			}
			if err := p.Validate(); err != nil {
				problems = append(problems, d.where+": "+message(err))
				continue
			}
			if first, dup := plans[p.Name]; dup {
				problems = append(problems, fmt.Sprintf("%s: response plan %s is also defined at %s", d.where, p.Name, first.where))
				continue
			}
			plans[p.Name] = loadedPlan{p, d.where}
		}
	}
	if len(problems) == 0 {
		names := map[string]bool{}
		for n := range plans {
			names[n] = true
		}
		if err := routing.CheckPlans(names); err != nil {
			problems = append(problems, routingWhere+": "+message(err))
		}
	}
	if len(problems) > 0 {
		return nil, nil, errors.New(strings.Join(problems, "\n"))
	}
	return routing, plans, nil
}

// loadOnCallSetup reads on-call objects as tocsin apply does, checks that
// the plans' engagements name them, and builds the preview's setup with
// every contact channel counted as activated.
func loadOnCallSetup(path string, plans map[string]loadedPlan) (*oncall.Setup, error) {
	objs, err := loadObjects(path)
	if err != nil {
		return nil, err
	}
	names := map[string]map[string]bool{}
	for _, o := range objs {
		if names[o.kind] == nil {
			names[o.kind] = map[string]bool{}
		}
		names[o.kind][o.name] = true
	}
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(plans)) {
		p := plans[name]
		if err := p.CheckPlanReferences(names["EscalationPlan"], names["Schedule"], names["Contact"], names["ContactGroup"]); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s (not in %s)", p.where, message(err), path))
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	contacts := mergedList[tocsin.Contact](objs, nil, "Contact")
	for i, c := range contacts {
		active := *c
		active.Channels = slices.Clone(c.Channels)
		for j := range active.Channels {
			active.Channels[j].Activated = true
		}
		contacts[i] = &active
	}
	return api.NewSetup(contacts, mergedList[tocsin.ContactGroup](objs, nil, "ContactGroup"), mergedList[oncall.Rotation](objs, nil, "Rotation"),
		mergedList[tocsin.Schedule](objs, nil, "Schedule"), mergedList[tocsin.EscalationPlan](objs, nil, "EscalationPlan"), nil), nil
}

// decodeAlerts decodes a payload with the real decoder of its intake and
// returns the intake's name. Without a source the payload is detected as
// POST /api/incidents does, except that an SNS notification or a bare
// CloudWatch alarm is taken as arriving through SNS (its signature is
// not checked offline).
func decodeAlerts(body []byte, source string, now time.Time) ([]*tocsin.Alert, string, error) {
	switch source {
	case tocsin.SourceCloudWatch:
		alerts, err := cloudWatchAlerts(body, now)
		return alerts, source, err
	case tocsin.IntakeVersus:
		alerts, err := ingest.Detect(body, now)
		return alerts, source, err
	case "":
		if isSNS(body) {
			alerts, err := cloudWatchAlerts(body, now)
			return alerts, tocsin.SourceCloudWatch, err
		}
		alerts, err := ingest.Detect(body, now)
		if err == nil && slices.ContainsFunc(alerts, func(a *tocsin.Alert) bool { return a.Source == tocsin.SourceCloudWatch }) {
			return alerts, tocsin.SourceCloudWatch, nil
		}
		return alerts, tocsin.IntakeVersus, err
	}
	decode, ok := ingest.Lookup(source)
	if !ok {
		return nil, "", fmt.Errorf("--source: %q is not one of %s", source, strings.Join(tocsin.Intakes, ", "))
	}
	alerts, err := decode(body, now)
	return alerts, source, err
}

// isSNS reports whether body looks like an SNS delivery.
func isSNS(body []byte) bool {
	var m struct{ Type, TopicArn string }
	return json.Unmarshal(bytes.TrimSpace(body), &m) == nil && m.Type != "" && m.TopicArn != ""
}

// cloudWatchAlerts decodes a CloudWatch alarm, bare or inside an SNS
// notification.
func cloudWatchAlerts(body []byte, now time.Time) ([]*tocsin.Alert, error) {
	if !isSNS(body) {
		return ingest.CloudWatchAlarm(body, now)
	}
	m, err := ingest.ParseSNS(body)
	if err != nil {
		return nil, err
	}
	if m.Type != "Notification" {
		return nil, fmt.Errorf("an SNS %s carries no alarm", m.Type)
	}
	return ingest.CloudWatchAlarm([]byte(m.Message), now)
}

// routeRun is one alert to route and print.
type routeRun struct {
	alert       *tocsin.Alert
	n, of       int
	integration string
	now         time.Time
	loc         *time.Location
	routing     *tocsin.Routing
	plans       map[string]loadedPlan
	setup       *oncall.Setup
}

func printRouted(w io.Writer, r routeRun) {
	a := r.alert
	fmt.Fprintf(w, "alert %d of %d: %q (source %s, severity %s, status %s), in through %s at %s\n", r.n, r.of, a.Title, a.Source,
		orNone(a.Severity), a.Status, r.integration, r.now.In(r.loc).Format(whenLayout))
	if len(a.Labels) > 0 {
		var ls []string
		for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
			ls = append(ls, k+"="+a.Labels[k])
		}
		fmt.Fprintf(w, "  labels: %s\n", strings.Join(ls, " "))
	}
	res := route.Match(r.routing, a, r.integration, r.now)
	for _, m := range res.Missed {
		fmt.Fprintf(w, "  - rule %s (rules[%d]) did not match: %s\n", m.Rule, m.Index, m.Reason)
	}
	if len(res.Matches) == 0 {
		fmt.Fprintln(w, "no rule matched and the routing has no default: the incident opens as without routing")
		return
	}
	for _, m := range res.Matches {
		if res.Default {
			fmt.Fprintln(w, "no rule matched: the default applies")
		} else {
			cont := ""
			if m.Continue {
				cont = " (continue: the rules after it are tried too)"
			}
			fmt.Fprintf(w, "+ rule %s (rules[%d]) matched%s:\n", m.Rule, m.Index, cont)
			for _, why := range m.Reasons {
				fmt.Fprintf(w, "    %s\n", why)
			}
		}
		if m.NotifyOnly {
			fmt.Fprintln(w, "  → notify only: the channels are told, nobody is paged")
			continue
		}
		printPlanOutcome(w, r, r.plans[m.ResponsePlan])
	}
}

// printPlanOutcome prints the incident a plan would open for the alert,
// the paging policy's answer and the engagements.
func printPlanOutcome(w io.Writer, r routeRun, p loadedPlan) {
	fmt.Fprintf(w, "  → response plan %s\n", p.Name)
	f, err := response.Incident(p.ResponsePlan, r.alert, nil)
	if err != nil {
		fmt.Fprintf(w, "    warning: %s (those fields fall back to the alert's)\n", message(err))
	}
	fmt.Fprintf(w, "    incident: %q, impact %d (%s)\n", f.Title, f.Impact, tocsin.ImpactName(f.Impact))
	if f.DedupeString != "" {
		fmt.Fprintf(w, "    dedupe string: %q (an open incident with it absorbs the alert)\n", f.DedupeString)
	}
	if len(f.Tags) > 0 {
		var ts []string
		for _, k := range slices.Sorted(maps.Keys(f.Tags)) {
			ts = append(ts, k+"="+f.Tags[k])
		}
		fmt.Fprintf(w, "    tags: %s\n", strings.Join(ts, " "))
	}
	for _, c := range p.ChatChannels {
		switch {
		case c.Destination == "":
			fmt.Fprintf(w, "    chat channel: %s\n", c.Channel)
		case c.ReplaceDefaults:
			fmt.Fprintf(w, "    chat channel: %s → %s (instead of its default destination)\n", c.Channel, c.Destination)
		default:
			fmt.Fprintf(w, "    chat channel: %s → %s (besides its default destination)\n", c.Channel, c.Destination)
		}
	}
	ok, why := route.MayPage(r.routing.PagingPolicy, p.Name, f.Impact)
	if !ok {
		fmt.Fprintf(w, "    paging: refused: %s; nobody is paged\n", why)
		return
	}
	fmt.Fprintf(w, "    paging: allowed: %s\n", why)
	if len(p.Engagements) == 0 {
		fmt.Fprintln(w, "    engages nobody")
	}
	for i, e := range p.Engagements {
		kind, name := e.Target()
		when := "at once"
		if e.Delay > 0 {
			when = "after " + shortDuration(e.Delay.Std()) + " unless acknowledged first"
		}
		fmt.Fprintf(w, "    engages %s %s %s\n", strings.ReplaceAll(kind, "_", " "), name, when)
		if r.setup == nil {
			continue
		}
		pv, err := previewEngagement(r.setup, p.Name, i, e, r.now.Add(e.Delay.Std()))
		if err != nil {
			fmt.Fprintf(w, "    preview: %s\n", message(err))
			continue
		}
		var b strings.Builder
		printPreview(&b, strings.ReplaceAll(kind, "_", " "), name, pv, r.loc)
		for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
			fmt.Fprintln(w, "      "+line)
		}
	}
	if r.setup != nil && len(p.Engagements) > 0 {
		fmt.Fprintln(w, "    (offline: every contact channel is counted as activated)")
	}
}

// previewEngagement previews an engagement at start: an escalation plan as
// itself, anything else as a one-stage plan engaging it.
func previewEngagement(s *oncall.Setup, plan string, i int, e tocsin.ResponseEngagement, start time.Time) (*oncall.PagePreview, error) {
	if e.EscalationPlan != "" {
		return oncall.PreviewPlan(s, e.EscalationPlan, start)
	}
	name := fmt.Sprintf("%s engagement %d", plan, i+1)
	one := *s
	one.Plans = maps.Clone(s.Plans)
	one.Plans[name] = &tocsin.EscalationPlan{Name: name, Stages: []tocsin.Stage{{Targets: []tocsin.Target{{
		Contact: e.Contact, ContactGroup: e.ContactGroup, Schedule: e.Schedule, Essential: true}}}}}
	return oncall.PreviewPlan(&one, name, start)
}
