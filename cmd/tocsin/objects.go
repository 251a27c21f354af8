package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"tocsin"
	"tocsin/oncall"
)

// Listing, showing and deleting the objects apply manages: `tocsin contact
// list`, `tocsin group show NAME`, `tocsin plan delete NAME`, … They talk
// to the same API as apply.

// listColumns are the columns of `tocsin NOUN list` after the name, per kind.
var listColumns = map[string]struct {
	header string
	row    func(v any) string
}{
	"Contact": {"NAME\tCHANNELS", func(v any) string {
		c := v.(*tocsin.Contact)
		var chans []string
		for _, ch := range c.Channels {
			state := "not activated"
			if ch.Activated {
				state = "activated"
			}
			chans = append(chans, fmt.Sprintf("%s (%s, %s)", ch.Name, ch.Type, state))
		}
		return c.Name + "\t" + orNone(strings.Join(chans, ", "))
	}},
	"ContactGroup": {"MEMBERS", func(v any) string { return strings.Join(v.(*tocsin.ContactGroup).Members, ", ") }},
	"Rotation": {"TIME ZONE\tRECURRENCE\tMEMBERS", func(v any) string {
		r := v.(*oncall.Rotation)
		rec := r.Recurrence.Type
		if m := r.Recurrence.Multiplier; m > 1 {
			rec = fmt.Sprintf("%s ×%d", rec, m)
		}
		if len(r.Coverage) > 0 {
			rec += fmt.Sprintf(", %d coverage windows", len(r.Coverage))
		}
		return r.TimeZone + "\t" + rec + "\t" + strings.Join(r.Members, ", ")
	}},
	"Schedule": {"ROTATIONS", func(v any) string { return strings.Join(v.(*tocsin.Schedule).Rotations, ", ") }},
	"EscalationPlan": {"STAGES", func(v any) string {
		p := v.(*tocsin.EscalationPlan)
		var stages []string
		for _, st := range p.Stages {
			var targets []string
			for _, t := range st.Targets {
				targets = append(targets, targetLabel(t))
			}
			stages = append(stages, strings.Join(targets, " + ")+" ("+shortDuration(st.Duration.Std())+")")
		}
		s := strings.Join(stages, " → ")
		if p.Repeat > 0 {
			s += fmt.Sprintf(", repeated %d times", p.Repeat)
		}
		return s
	}},
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// targetLabel names a stage target: "schedule platform", "contact mavis*"
// (the star marks essential targets).
func targetLabel(t tocsin.Target) string {
	var s string
	switch {
	case t.Contact != "":
		s = "contact " + t.Contact
	case t.ContactGroup != "":
		s = "group " + t.ContactGroup
	case t.Schedule != "":
		s = "schedule " + t.Schedule
	case t.EscalationPlan != "":
		s = "plan " + t.EscalationPlan
	case t.Channel != "":
		s = "channel " + t.Channel
	}
	if t.Essential {
		s += "*"
	}
	return s
}

// shortDuration writes 5m rather than 5m0s, and 1h rather than 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// objectCommand is `tocsin NOUN list|show|delete` for one kind that apply
// handles; extra subcommands may be added by the caller.
func objectCommand(getenv func(string) string, stdout io.Writer, kind, use string, aliases ...string) (*cobra.Command, *apiFlags) {
	info, _ := kindByName(kind)
	srv := &apiFlags{}
	cmd := &cobra.Command{Use: use, Aliases: aliases, Short: "List, show and delete " + info.noun + "s on a running server"}
	srv.register(cmd)
	cols := listColumns[kind]
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List every " + info.noun,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := srv.client(getenv)
			if err != nil {
				return err
			}
			var raw map[string]json.RawMessage
			if err := c.do(cmd.Context(), "GET", info.path, nil, &raw); err != nil {
				return err
			}
			if asJSON {
				return printJSONTo(stdout, raw)
			}
			var items []json.RawMessage
			if err := json.Unmarshal(raw[info.many], &items); err != nil {
				return fmt.Errorf("list %s: %w", info.many, err)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, strings.ToUpper(strings.ReplaceAll(info.noun, " ", "_"))+"\t"+cols.header)
			for _, it := range items {
				v := info.new()
				if err := json.Unmarshal(it, v); err != nil {
					return fmt.Errorf("list %s: %w", info.many, err)
				}
				fmt.Fprintln(tw, info.name(v)+"\t"+cols.row(v))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	var showJSON bool
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Print a " + info.noun + " as a YAML document apply reads (--json: as the API has it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := srv.client(getenv)
			if err != nil {
				return err
			}
			var raw map[string]json.RawMessage
			if err := c.do(cmd.Context(), "GET", info.path+"/"+url.PathEscape(args[0]), nil, &raw); err != nil {
				return err
			}
			if showJSON {
				return printJSONTo(stdout, raw)
			}
			v := info.new()
			for _, body := range raw {
				if err := json.Unmarshal(body, v); err != nil {
					return fmt.Errorf("show %s: %w", info.noun, err)
				}
			}
			return printDocument(stdout, info.kind, v)
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print the API's JSON (with read-only fields such as channel activation)")
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a " + info.noun + " (refused while something still uses it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := srv.client(getenv)
			if err != nil {
				return err
			}
			if err := callNoContent(cmd.Context(), c, "DELETE", info.path+"/"+url.PathEscape(args[0])); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s %s deleted\n", info.noun, args[0])
			return nil
		},
	}
	cmd.AddCommand(list, show, del)
	return cmd, srv
}

// printDocument writes v as an apply document: kind first, then the
// object's YAML fields. A contact's channel activation, which apply does
// not set, is given in comments.
func printDocument(w io.Writer, kind string, v any) error {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return fmt.Errorf("encode %s: %w", kind, err)
	}
	n.Content = append([]*yaml.Node{{Kind: yaml.ScalarNode, Value: "kind"}, {Kind: yaml.ScalarNode, Value: kind}}, n.Content...)
	if c, ok := v.(*tocsin.Contact); ok {
		var notes []string
		for _, ch := range c.Channels {
			state := "not activated"
			if ch.Activated {
				state = "activated"
			}
			notes = append(notes, "channel "+ch.Name+": "+state)
		}
		n.HeadComment = strings.Join(notes, "\n")
	}
	b, err := yaml.Marshal(&n)
	if err != nil {
		return fmt.Errorf("encode %s: %w", kind, err)
	}
	_, err = w.Write(b)
	return err
}

// previewAnswer is the API's answer to a page preview.
type previewAnswer struct {
	oncall.PagePreview
	Plan    string `json:"escalation_plan"`
	Contact string `json:"contact"`
}

// previewCommand is `tocsin plan preview NAME` or `tocsin contact preview
// ALIAS`: who engaging it at --at would page, by what and when.
func previewCommand(getenv func(string) string, stdout io.Writer, srv *apiFlags, what, path string) *cobra.Command {
	var at, zone string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "preview NAME",
		Short: "Show whom engaging the " + what + " now (or --at) would page, by which channel and when, if nobody acknowledged",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			when, err := parseWhen("at", at, time.Now())
			if err != nil {
				return err
			}
			loc, err := loadZoneFlag(zone)
			if err != nil {
				return err
			}
			c, err := srv.client(getenv)
			if err != nil {
				return err
			}
			var out previewAnswer
			q := url.Values{"at": {when.Format(time.RFC3339)}}
			if err := c.do(cmd.Context(), "GET", path+"/"+url.PathEscape(args[0])+"/preview?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSONTo(stdout, out)
			}
			printPreview(stdout, what, args[0], &out.PagePreview, loc)
			return nil
		},
	}
	cmd.Flags().StringVar(&at, "at", "now", "when the engagement starts: RFC 3339, now, or now+DURATION")
	cmd.Flags().StringVar(&zone, "time-zone", "", "IANA zone to show times in (default the local zone)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// loadZoneFlag reads a --time-zone flag; empty is the local zone.
func loadZoneFlag(zone string) (*time.Location, error) {
	if zone == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "Local" {
		return nil, fmt.Errorf("--time-zone: %q is not an IANA time zone like Europe/Berlin", zone)
	}
	return loc, nil
}

const whenLayout = "Mon 2006-01-02 15:04 -07:00"

func printPreview(w io.Writer, what, name string, pv *oncall.PagePreview, loc *time.Location) {
	fmt.Fprintf(w, "engaging %s %s at %s, if nobody acknowledges:\n", what, name, pv.At.In(loc).Format(whenLayout))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AFTER\tAT\tSTAGE\tCONTACT\tCHANNEL\tVIA")
	for _, p := range pv.Pages {
		stage := "-"
		if p.Stage > 0 {
			stage = fmt.Sprint(p.Stage)
			if p.Repeat > 0 {
				stage += fmt.Sprintf(" (repeat %d)", p.Repeat)
			}
			if p.Essential {
				stage += " *"
			}
		}
		channel := p.Channel + " (" + p.Type + ")"
		if p.Retry > 0 {
			channel += fmt.Sprintf(" retry %d", p.Retry)
		}
		fmt.Fprintf(tw, "+%s\t%s\t%s\t%s\t%s\t%s\n", shortDuration(p.At.Sub(pv.At)), p.At.In(loc).Format("15:04"), stage,
			p.Contact, channel, strings.Join(p.Via, " › "))
	}
	for _, ch := range pv.Channels {
		fmt.Fprintf(tw, "+%s\t%s\t%d\t(team channel)\t%s\t%s\n", shortDuration(ch.At.Sub(pv.At)), ch.At.In(loc).Format("15:04"), ch.Stage,
			ch.Channel, strings.Join(ch.Via, " › "))
	}
	tw.Flush()
	if len(pv.Pages) == 0 {
		fmt.Fprintln(w, "nobody would be paged")
	}
	for _, n := range pv.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
	if !pv.Ends.IsZero() && what == "escalation plan" {
		fmt.Fprintf(w, "the last stage ends at +%s (%s); * marks essential targets, whose acknowledgement stops the plan\n",
			shortDuration(pv.Ends.Sub(pv.At)), pv.Ends.In(loc).Format(whenLayout))
	}
}

// icalLinkCommand is `tocsin ical-link`: a schedule's or a contact's
// calendar feed URL, and --rotate to revoke every link given out.
func icalLinkCommand(getenv func(string) string, stdout io.Writer) *cobra.Command {
	var srv apiFlags
	var schedule, contact string
	var rotate bool
	cmd := &cobra.Command{
		Use:   "ical-link (--schedule S | --contact C) [--rotate]",
		Short: "Print the secret calendar (iCalendar) feed URL of a schedule or a contact; --rotate revokes every link",
		Long: `ical-link prints the URL of a schedule's or a contact's on-call calendar,
for calendar apps to subscribe to. The URL carries a secret token: anyone with
it can read the feed. --rotate changes the key that signs every feed URL, so
all links handed out before stop working (401) at once; with --schedule or
--contact the new link is printed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (schedule == "") == (contact == "") && !(rotate && schedule == "" && contact == "") {
				return fmt.Errorf("give one of --schedule or --contact (or --rotate alone)")
			}
			c, err := srv.client(getenv)
			if err != nil {
				return err
			}
			if rotate {
				var out map[string]string
				if err := c.do(cmd.Context(), "POST", "/api/v1/ical-key/rotate", nil, &out); err != nil {
					return err
				}
				fmt.Fprintln(cmd.ErrOrStderr(), "calendar key rotated: every calendar link given out before no longer works")
			}
			path := "/api/v1/schedules/" + url.PathEscape(schedule)
			if contact != "" {
				path = "/api/v1/contacts/" + url.PathEscape(contact)
			} else if schedule == "" {
				return nil
			}
			var out struct {
				URL string `json:"url"`
			}
			if err := c.do(cmd.Context(), "GET", path+"/ical-url", nil, &out); err != nil {
				return err
			}
			fmt.Fprintln(stdout, out.URL)
			return nil
		},
	}
	srv.register(cmd)
	cmd.Flags().StringVar(&schedule, "schedule", "", "the schedule's feed")
	cmd.Flags().StringVar(&contact, "contact", "", "the contact's feed (their shifts in every schedule)")
	cmd.Flags().BoolVar(&rotate, "rotate", false, "rotate the signing key first: every existing link stops working")
	return cmd
}

// contactCommand is `tocsin contact list|show|delete|preview`.
func contactCommand(getenv func(string) string, stdout io.Writer) *cobra.Command {
	cmd, srv := objectCommand(getenv, stdout, "Contact", "contact", "contacts")
	cmd.AddCommand(previewCommand(getenv, stdout, srv, "contact", "/api/v1/contacts"))
	return cmd
}

// groupCommand is `tocsin group list|show|delete` for contact groups.
func groupCommand(getenv func(string) string, stdout io.Writer) *cobra.Command {
	cmd, _ := objectCommand(getenv, stdout, "ContactGroup", "group", "groups", "contact-group", "contact-groups")
	return cmd
}

// scheduleCommand is `tocsin schedule list|show|delete`.
func scheduleCommand(getenv func(string) string, stdout io.Writer) *cobra.Command {
	cmd, _ := objectCommand(getenv, stdout, "Schedule", "schedule", "schedules")
	return cmd
}

// planCommand is `tocsin plan list|show|delete|preview` for escalation plans.
func planCommand(getenv func(string) string, stdout io.Writer) *cobra.Command {
	cmd, srv := objectCommand(getenv, stdout, "EscalationPlan", "plan", "plans", "escalation-plan", "escalation-plans")
	cmd.AddCommand(previewCommand(getenv, stdout, srv, "escalation plan", "/api/v1/escalation-plans"))
	return cmd
}
