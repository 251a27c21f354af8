package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"tocsin/api"
	"tocsin/oncall"
)

// apiFlags are the --server and --token flags of commands that talk to a
// running server.
type apiFlags struct {
	server, token string
}

func (f *apiFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.server, "server", "", "server URL (default $TOCSIN_SERVER, else http://localhost:3000)")
	cmd.PersistentFlags().StringVar(&f.token, "token", "", "API token (default $TOCSIN_API_TOKEN, else data/credentials)")
}

func (f *apiFlags) client(getenv func(string) string) (*client, error) {
	s := f.server
	if s == "" {
		s = getenv("TOCSIN_SERVER")
	}
	if s == "" {
		s = "http://localhost:3000"
	}
	t := apiToken(f.token, getenv)
	if t == "" {
		return nil, fmt.Errorf("no API token: set TOCSIN_API_TOKEN or pass --token")
	}
	return &client{base: s, token: t, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// parseWhen reads a time on the command line: RFC 3339, "now", or now plus
// or minus a Go duration or a number of days ("now+24h", "now-30m",
// "now+7d").
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	rest, ok := strings.CutPrefix(s, "now")
	if !ok {
		return time.Time{}, fmt.Errorf("--%s: %q is not an RFC 3339 time (2026-03-02T09:00:00+01:00), now, or now+DURATION", flag, s)
	}
	if rest == "" {
		return now, nil
	}
	sign := time.Duration(1)
	switch rest[0] {
	case '+':
	case '-':
		sign = -1
	default:
		return time.Time{}, fmt.Errorf("--%s: %q: expected + or - after now", flag, s)
	}
	rest = rest[1:]
	if days, ok := strings.CutSuffix(rest, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return time.Time{}, fmt.Errorf("--%s: %q: %q is not a number of days", flag, s, days)
		}
		return now.AddDate(0, 0, int(sign)*n), nil
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s: %q: %q is not a duration like 30m, 24h or 7d", flag, s, rest)
	}
	return now.Add(sign * d), nil
}

// callNoContent sends a request whose success has no body (204), such as
// a DELETE; client.do expects JSON back.
func callNoContent(ctx context.Context, c *client, method, path string) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.base, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the tocsin server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 300 {
		return nil
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
		return fmt.Errorf("%s (HTTP %d)", e.Error.Message, resp.StatusCode)
	}
	return fmt.Errorf("HTTP %d from the server", resp.StatusCode)
}

func printJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// oncallCommand is `tocsin oncall who`.
func oncallCommand(getenv func(string) string, stdout io.Writer) *cobra.Command {
	var srv apiFlags
	cmd := &cobra.Command{Use: "oncall", Short: "Ask a running server who is on call"}
	srv.register(cmd)
	var schedule, at string
	var asJSON bool
	who := &cobra.Command{
		Use:   "who",
		Short: "Show who is on call now, or at --at, in every schedule or in --schedule",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			when, err := parseWhen("at", at, time.Now())
			if err != nil {
				return err
			}
			c, err := srv.client(getenv)
			if err != nil {
				return err
			}
			q := url.Values{"at": {when.Format(time.RFC3339)}}
			if schedule != "" {
				q.Set("schedule", schedule)
			}
			var out struct {
				At        time.Time `json:"at"`
				Schedules []struct {
					Name      string               `json:"name"`
					OnCall    []string             `json:"on_call"`
					Rotations []oncall.LayerOnCall `json:"rotations"`
				} `json:"schedules"`
			}
			if err := c.do(cmd.Context(), "GET", "/api/v1/oncall?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSONTo(stdout, out)
			}
			fmt.Fprintf(stdout, "on call at %s\n", when.Format(whenLayout))
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SCHEDULE\tON CALL\tFROM ROTATION")
			for _, s := range out.Schedules {
				// One line per rotation with someone on call, so a
				// follow-the-sun schedule says which region covers.
				n := 0
				for _, l := range s.Rotations {
					if len(l.OnCall) > 0 {
						fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, strings.Join(l.OnCall, ", "), l.Rotation)
						n++
					}
				}
				if n == 0 {
					fmt.Fprintf(tw, "%s\t(nobody)\t\n", s.Name)
				}
			}
			return tw.Flush()
		},
	}
	who.Flags().StringVar(&schedule, "schedule", "", "only this schedule")
	who.Flags().StringVar(&at, "at", "now", "the instant: RFC 3339, now, or now+DURATION (now+24h, now+7d)")
	who.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(who, checkCommand(getenv, stdout, &srv), shiftsCommand(getenv, stdout, &srv))
	return cmd
}

// checkCommand is `tocsin oncall check`: the coverage report.
func checkCommand(getenv func(string) string, stdout io.Writer, srv *apiFlags) *cobra.Command {
	var days int
	var from, zone string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check [--days N]",
		Short: "List coverage gaps: schedules with nobody on call and escalation plans that reach nobody in the next N days",
		Long: `check is the on-call quality report: for the next --days (default 7) it
lists the times each schedule has nobody on call (including gaps that a
daylight-saving change opens between follow-the-sun rotations), the times
each escalation plan would reach nobody at all, and the contacts plans engage
whose channels are not activated. It changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			start, err := parseWhen("from", from, time.Now())
			if err != nil {
				return err
			}
			loc, err := loadZoneFlag(zone)
			if err != nil {
				return err
			}
			if days < 1 {
				return fmt.Errorf("--days: must be at least 1")
			}
			c, err := srv.client(getenv)
			if err != nil {
				return err
			}
			q := url.Values{"from": {start.Format(time.RFC3339)}, "days": {strconv.Itoa(days)}}
			var out struct {
				From     time.Time        `json:"from"`
				To       time.Time        `json:"to"`
				Findings []oncall.Finding `json:"findings"`
			}
			if err := c.do(cmd.Context(), "GET", "/api/v1/oncall/check?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSONTo(stdout, out)
			}
			span := fmt.Sprintf("%s to %s", out.From.In(loc).Format(whenLayout), out.To.In(loc).Format(whenLayout))
			if len(out.Findings) == 0 {
				fmt.Fprintf(stdout, "no coverage gaps from %s\n", span)
				return nil
			}
			fmt.Fprintf(stdout, "%d coverage problems from %s:\n", len(out.Findings), span)
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WHAT\tPROBLEM\tDETAIL")
			for _, f := range out.Findings {
				detail := f.Message
				if f.Problem == oncall.FindingGap {
					who := "nobody on call"
					if f.Kind == "escalation_plan" {
						who = "reaches nobody"
					}
					detail = fmt.Sprintf("%s %s → %s (%s)", who, f.From.In(loc).Format(whenLayout), f.To.In(loc).Format(whenLayout), shortDuration(f.To.Sub(*f.From)))
				}
				fmt.Fprintf(tw, "%s %s\t%s\t%s\n", strings.ReplaceAll(f.Kind, "_", " "), f.Name, f.Problem, detail)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&days, "days", 7, "how many days ahead to check")
	cmd.Flags().StringVar(&from, "from", "now", "start of the window: RFC 3339, now, or now+DURATION")
	cmd.Flags().StringVar(&zone, "time-zone", "", "IANA zone to show times in (default the local zone)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// shiftsCommand is `tocsin oncall shifts`: a schedule's calendar.
func shiftsCommand(getenv func(string) string, stdout io.Writer, srv *apiFlags) *cobra.Command {
	var schedule, from, to, zone string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "shifts --schedule S [--from T] [--to T]",
		Short: "Print a schedule's shifts (overrides applied) and the gaps between them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			start, err := parseWhen("from", from, now)
			if err != nil {
				return err
			}
			end := start.AddDate(0, 0, 7)
			if to != "" {
				if end, err = parseWhen("to", to, now); err != nil {
					return err
				}
			}
			loc, err := loadZoneFlag(zone)
			if err != nil {
				return err
			}
			c, err := srv.client(getenv)
			if err != nil {
				return err
			}
			q := url.Values{"from": {start.Format(time.RFC3339)}, "to": {end.Format(time.RFC3339)}}
			var out struct {
				Schedule string         `json:"schedule"`
				From     time.Time      `json:"from"`
				To       time.Time      `json:"to"`
				Shifts   []oncall.Shift `json:"shifts"`
			}
			if err := c.do(cmd.Context(), "GET", "/api/v1/schedules/"+url.PathEscape(schedule)+"/shifts?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSONTo(stdout, out)
			}
			fmt.Fprintf(stdout, "schedule %s, %s to %s\n", schedule, out.From.In(loc).Format(whenLayout), out.To.In(loc).Format(whenLayout))
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "START\tEND\tON CALL\tTYPE")
			gap := func(a, b time.Time) {
				fmt.Fprintf(tw, "%s\t%s\t(nobody)\tgap\n", a.In(loc).Format(whenLayout), b.In(loc).Format(whenLayout))
			}
			at := out.From
			for _, s := range out.Shifts {
				if s.Start.After(at) {
					gap(at, s.Start)
				}
				typ := s.Type
				if len(s.Replaced) > 0 {
					typ += " (replaces " + strings.Join(s.Replaced, ", ") + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Start.In(loc).Format(whenLayout), s.End.In(loc).Format(whenLayout), orNone(strings.Join(s.Members, ", ")), typ)
				at = s.End
			}
			if out.To.After(at) {
				gap(at, out.To)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&schedule, "schedule", "", "the schedule")
	cmd.Flags().StringVar(&from, "from", "now", "start: RFC 3339, now, or now+DURATION")
	cmd.Flags().StringVar(&to, "to", "", "end (default a week after --from)")
	cmd.Flags().StringVar(&zone, "time-zone", "", "IANA zone to show times in (default the local zone)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("schedule")
	return cmd
}

// overrideListBack is how far back `override list` looks by default.
const overrideListBack = "now-30d"

// overrideCommand is `tocsin override add|list|delete`.
func overrideCommand(getenv func(string) string, stdout io.Writer) *cobra.Command {
	var srv apiFlags
	cmd := &cobra.Command{Use: "override", Aliases: []string{"overrides"}, Short: "Add, list and delete rotation overrides on a running server"}
	srv.register(cmd)

	var rotation, start, end, members string
	add := &cobra.Command{
		Use:   "add --rotation R --start T --end T --members a,b",
		Short: "Put other members on call for a rotation for a while",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			from, err := parseWhen("start", start, now)
			if err != nil {
				return err
			}
			to, err := parseWhen("end", end, now)
			if err != nil {
				return err
			}
			o := oncall.Override{Rotation: rotation, Start: from, End: to, Members: splitMembers(members)}
			c, err := srv.client(getenv)
			if err != nil {
				return err
			}
			var out struct {
				ID string `json:"id"`
			}
			if err := c.do(cmd.Context(), "POST", "/api/v1/overrides", o, &out); err != nil {
				return err
			}
			who := strings.Join(o.Members, ", ")
			if who == "" {
				who = "nobody"
			}
			fmt.Fprintf(stdout, "override %s: %s on call for rotation %s from %s to %s\n", out.ID, who, rotation,
				from.Format(time.RFC3339), to.Format(time.RFC3339))
			return nil
		},
	}
	add.Flags().StringVar(&rotation, "rotation", "", "the rotation overridden")
	add.Flags().StringVar(&start, "start", "", "when the override starts: RFC 3339, now, or now+DURATION")
	add.Flags().StringVar(&end, "end", "", "when it ends")
	add.Flags().StringVar(&members, "members", "", `contact aliases on call instead, comma-separated ("" for nobody)`)
	for _, f := range []string{"rotation", "start", "end", "members"} {
		_ = add.MarkFlagRequired(f)
	}

	var listRotation, from, to string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the overrides overlapping a window (default: from 30 days ago, 400 days on)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if listRotation != "" {
				q.Set("rotation", listRotation)
			}
			// Overrides that have not ended, and those that ended in the
			// last month (an override just added for past dates shows).
			if from == "" {
				from = overrideListBack
			}
			for flag, v := range map[string]string{"from": from, "to": to} {
				if v != "" {
					t, err := parseWhen(flag, v, time.Now())
					if err != nil {
						return err
					}
					q.Set(flag, t.Format(time.RFC3339))
				}
			}
			c, err := srv.client(getenv)
			if err != nil {
				return err
			}
			var out struct {
				Overrides []oncall.StoredOverride `json:"overrides"`
			}
			if err := c.do(cmd.Context(), "GET", "/api/v1/overrides?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSONTo(stdout, out)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tROTATION\tSTART\tEND\tMEMBERS")
			for _, o := range out.Overrides {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.ID, o.Rotation, o.Start.Local().Format("2006-01-02 15:04 -07:00"),
					o.End.Local().Format("2006-01-02 15:04 -07:00"), strings.Join(o.Members, ", "))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&listRotation, "rotation", "", "only this rotation")
	list.Flags().StringVar(&from, "from", "", "window start: RFC 3339, now, or now±DURATION (default "+overrideListBack+")")
	list.Flags().StringVar(&to, "to", "", "window end (default 400 days after --from)")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an override",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := srv.client(getenv)
			if err != nil {
				return err
			}
			if err := callNoContent(cmd.Context(), c, "DELETE", "/api/v1/overrides/"+url.PathEscape(args[0])); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "override %s deleted\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(add, list, del)
	return cmd
}

func splitMembers(s string) []string {
	out := []string{}
	for _, m := range strings.Split(s, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}

// rotationCommand is `tocsin rotation list|show|delete` and `tocsin
// rotation preview`, which needs no server.
func rotationCommand(getenv func(string) string, stdout io.Writer) *cobra.Command {
	cmd, _ := objectCommand(getenv, stdout, "Rotation", "rotation", "rotations")
	cmd.Short = "List, show and delete rotations on a running server; preview one offline"
	var file, from, to, format string
	preview := &cobra.Command{
		Use:   "preview -f FILE [--from T] [--to T]",
		Short: "Show the shifts of a rotation in a YAML file, without a server",
		Long: `Preview reads one kind: Rotation document, and optionally kind: Override
documents for it (their rotation may be left out), and prints the shifts
between --from (default now) and --to (default a week later). Members need
not be contacts yet.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("-o: %q is not table or json", format)
			}
			rot, ovs, err := readPreview(file)
			if err != nil {
				return err
			}
			now := time.Now()
			start, err := parseWhen("from", from, now)
			if err != nil {
				return err
			}
			end := start.AddDate(0, 0, 7)
			if to != "" {
				if end, err = parseWhen("to", to, now); err != nil {
					return err
				}
			}
			if end.Sub(start) > api.MaxWindow {
				return fmt.Errorf("--to: at most %d days after --from", int(api.MaxWindow/(24*time.Hour)))
			}
			shifts, err := oncall.Shifts(rot, ovs, start, end)
			if err != nil {
				return fmt.Errorf("%s: %s", file, message(err))
			}
			if format == "json" {
				return printJSONTo(stdout, map[string]any{"shifts": shifts})
			}
			printShifts(stdout, rot, shifts)
			return nil
		},
	}
	preview.Flags().StringVarP(&file, "file", "f", "", "YAML file with the rotation (and overrides)")
	preview.Flags().StringVar(&from, "from", "now", "start: RFC 3339, now, or now+DURATION")
	preview.Flags().StringVar(&to, "to", "", "end (default a week after --from)")
	preview.Flags().StringVarP(&format, "output", "o", "table", "table or json")
	_ = preview.MarkFlagRequired("file")
	cmd.AddCommand(preview)
	return cmd
}

// readPreview reads the rotation and overrides of a preview file.
func readPreview(file string) (*oncall.Rotation, []oncall.Override, error) {
	docs, err := readDocuments(file)
	if err != nil {
		return nil, nil, err
	}
	var rot *oncall.Rotation
	var ovs []oncall.Override
	var overrideDocs []document
	for _, d := range docs {
		switch d.kind {
		case "Rotation":
			if rot != nil {
				return nil, nil, fmt.Errorf("%s: a preview file holds one rotation", d.where)
			}
			rot = &oncall.Rotation{}
			if err := decodeDocument(d, rot); err != nil {
				return nil, nil, err
			}
		case "Override":
			var o oncall.Override
			if err := decodeDocument(d, &o); err != nil {
				return nil, nil, err
			}
			ovs = append(ovs, o)
			overrideDocs = append(overrideDocs, d)
		default:
			return nil, nil, fmt.Errorf("%s: kind: %q is not Rotation or Override", d.where, d.kind)
		}
	}
	if rot == nil {
		return nil, nil, fmt.Errorf("%s: no kind: Rotation document", file)
	}
	if rot.Name == "" {
		rot.Name = "preview"
	}
	if err := rot.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: rotation %s: %s", file, rot.Name, message(err))
	}
	for i := range ovs {
		if ovs[i].Rotation == "" {
			ovs[i].Rotation = rot.Name
		}
		if ovs[i].Rotation != rot.Name {
			return nil, nil, fmt.Errorf("%s: rotation: %q is not the file's rotation %q", overrideDocs[i].where, ovs[i].Rotation, rot.Name)
		}
		if err := ovs[i].Validate(); err != nil {
			return nil, nil, fmt.Errorf("%s: %s", overrideDocs[i].where, message(err))
		}
	}
	return rot, ovs, nil
}

// printShifts prints shifts as a table in the rotation's zone.
func printShifts(w io.Writer, rot *oncall.Rotation, shifts []oncall.Shift) {
	fmt.Fprintf(w, "rotation %s (%s)\n", rot.Name, rot.TimeZone)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "START\tEND\tMEMBERS\tTYPE")
	const layout = "Mon 2006-01-02 15:04 -07:00"
	for _, s := range shifts {
		typ := s.Type
		if len(s.Replaced) > 0 {
			typ += " (replaces " + strings.Join(s.Replaced, ", ") + ")"
		}
		who := strings.Join(s.Members, ", ")
		if who == "" {
			who = "(nobody)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Start.Format(layout), s.End.Format(layout), who, typ)
	}
	tw.Flush()
}
