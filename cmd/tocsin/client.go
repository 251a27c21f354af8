package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"tocsin"
)

// client talks to a running tocsin server's JSON API.
type client struct {
	base  string
	token string
	http  *http.Client
}

func (c *client) do(ctx context.Context, method, path string, body any, out any) error {
	if body == nil {
		return c.send(ctx, method, path, "", nil, out)
	}
	b, _ := json.Marshal(body)
	return c.send(ctx, method, path, "application/json", b, out)
}

// send sends body as it is, of contentType (a runbook document in YAML),
// or no body when body is nil, and decodes the JSON answer into out.
func (c *client) send(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.base, "/")+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the tocsin server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			return &httpError{Status: resp.StatusCode, text: fmt.Sprintf("%s (HTTP %d)", e.Error.Message, resp.StatusCode)}
		}
		return &httpError{Status: resp.StatusCode, text: fmt.Sprintf("HTTP %d from the server", resp.StatusCode)}
	}
	return json.Unmarshal(data, out)
}

// httpError is an answer of the server that is not a success: its status,
// and the server's message.
type httpError struct {
	Status int
	text   string
}

func (e *httpError) Error() string { return e.text }

// apiToken finds the API token: --token, $TOCSIN_API_TOKEN, or the
// credentials file a local server generated.
func apiToken(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	if t := getenv("TOCSIN_API_TOKEN"); t != "" {
		return t
	}
	dir := getenv("TOCSIN_DATA_DIR")
	if dir == "" {
		dir = "data"
	}
	f, err := os.Open(dir + "/credentials")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "TOCSIN_API_TOKEN="); ok {
			return v
		}
	}
	return ""
}

func incidentCommand(getenv func(string) string, stdout io.Writer) *cobra.Command {
	var server, token string
	var asJSON bool
	cmd := &cobra.Command{Use: "incident", Aliases: []string{"incidents"}, Short: "Start, list, show, triage, acknowledge, resolve and redeliver incidents on a running server"}
	cmd.PersistentFlags().StringVar(&server, "server", "", "server URL (default $TOCSIN_SERVER, else http://localhost:3000)")
	cmd.PersistentFlags().StringVar(&token, "token", "", "API token (default $TOCSIN_API_TOKEN, else data/credentials)")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")
	newClient := func() (*client, error) {
		s := server
		if s == "" {
			s = getenv("TOCSIN_SERVER")
		}
		if s == "" {
			s = "http://localhost:3000"
		}
		t := apiToken(token, getenv)
		if t == "" {
			return nil, fmt.Errorf("no API token: set TOCSIN_API_TOKEN or pass --token")
		}
		return &client{base: s, token: t, http: &http.Client{Timeout: 30 * time.Second}}, nil
	}
	printJSON := func(v any) error {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}

	var status, impact, since, cursor string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List incidents, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"status": status, "impact": impact, "since": since, "cursor": cursor} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if limit > 0 {
				q.Set("limit", fmt.Sprint(limit))
			}
			var out struct {
				Incidents  []*tocsin.Incident `json:"incidents"`
				NextCursor string             `json:"next_cursor"`
			}
			if err := c.do(cmd.Context(), "GET", "/api/v1/incidents?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(out)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tIMPACT\tALERTS\tCREATED\tTITLE")
			for _, inc := range out.Incidents {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d/%d\t%s\t%s\n", inc.ID, inc.Status, inc.Impact, inc.OpenAlertCount, inc.AlertCount,
					inc.CreatedAt.Local().Format("2006-01-02 15:04"), inc.Title)
			}
			tw.Flush()
			if out.NextCursor != "" {
				fmt.Fprintf(stdout, "more: --cursor %s\n", out.NextCursor)
			}
			return nil
		},
	}
	list.Flags().StringVar(&status, "status", "", "triggered, acknowledged, resolved or open (comma-separated)")
	list.Flags().StringVar(&impact, "impact", "", "impacts 1-5 (comma-separated)")
	list.Flags().StringVar(&since, "since", "", "RFC 3339 time or a duration back from now (24h)")
	list.Flags().StringVar(&cursor, "cursor", "", "cursor of the next page")
	list.Flags().IntVar(&limit, "limit", 0, "page size (default 50)")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show an incident with its alerts and timeline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var out struct {
				Incident *tocsin.Incident `json:"incident"`
			}
			if err := c.do(cmd.Context(), "GET", "/api/v1/incidents/"+url.PathEscape(args[0]), nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(out)
			}
			printIncident(stdout, out.Incident)
			return nil
		},
	}
	var by string
	transition := func(use, short, verb string) *cobra.Command {
		c := &cobra.Command{
			Use:   use + " ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := newClient()
				if err != nil {
					return err
				}
				if by == "" {
					by = getenv("USER")
				}
				var out struct {
					Incident *tocsin.Incident `json:"incident"`
					Changed  bool             `json:"changed"`
				}
				if err := c.do(cmd.Context(), "POST", "/api/v1/incidents/"+url.PathEscape(args[0])+"/"+verb, map[string]string{"by": by}, &out); err != nil {
					return err
				}
				if asJSON {
					return printJSON(out)
				}
				if out.Changed {
					fmt.Fprintf(stdout, "%s: %s\n", out.Incident.ID, out.Incident.Status)
				} else {
					fmt.Fprintf(stdout, "%s: already %s\n", out.Incident.ID, out.Incident.Status)
				}
				return nil
			},
		}
		c.Flags().StringVar(&by, "by", "", "who is acting (default $USER)")
		return c
	}
	var noteBy string
	note := &cobra.Command{
		Use:   "note ID TEXT",
		Short: "Add a note to an incident's timeline",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if noteBy == "" {
				noteBy = getenv("USER")
			}
			var out map[string]any
			if err := c.do(cmd.Context(), "POST", "/api/v1/incidents/"+url.PathEscape(args[0])+"/notes", map[string]string{"text": args[1], "by": noteBy}, &out); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "note added")
			return nil
		},
	}
	note.Flags().StringVar(&noteBy, "by", "", "author (default $USER)")
	var redeliverChannel, redeliverBy string
	redeliver := &cobra.Command{
		Use:   "redeliver ID",
		Short: "Queue an incident's failed notifications and escalations again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if redeliverBy == "" {
				redeliverBy = getenv("USER")
			}
			var out struct {
				Requeued int `json:"requeued"`
			}
			body := map[string]string{"channel": redeliverChannel, "by": redeliverBy}
			if err := c.do(cmd.Context(), "POST", "/api/v1/incidents/"+url.PathEscape(args[0])+"/redeliver", body, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(out)
			}
			fmt.Fprintf(stdout, "%s: %d failed deliver%s queued again\n", args[0], out.Requeued, map[bool]string{true: "y", false: "ies"}[out.Requeued == 1])
			return nil
		},
	}
	redeliver.Flags().StringVar(&redeliverChannel, "channel", "", "only this channel or on-call provider (slack, email, pagerduty, …)")
	redeliver.Flags().StringVar(&redeliverBy, "by", "", "who is asking (default $USER)")
	cmd.AddCommand(list, show,
		transition("ack", "Acknowledge an incident", "acknowledge"),
		transition("resolve", "Resolve an incident", "resolve"),
		note, redeliver)
	cmd.AddCommand(recordCommands(newClient, getenv, stdout, &asJSON, printJSON)...)
	return cmd
}

func printIncident(w io.Writer, inc *tocsin.Incident) {
	fmt.Fprintf(w, "%s  %s\n", inc.ID, inc.Title)
	fmt.Fprintf(w, "status:  %s\nimpact:  %d\nsource:  %s (dedup %s)\nopened:  %s\n", inc.Status, inc.Impact, inc.Source, inc.DedupKey, inc.CreatedAt.Local().Format(time.RFC3339))
	if inc.AckedAt != nil {
		fmt.Fprintf(w, "acked:   %s by %s\n", inc.AckedAt.Local().Format(time.RFC3339), inc.AckedBy)
	}
	if inc.ResolvedAt != nil {
		fmt.Fprintf(w, "resolved: %s by %s\n", inc.ResolvedAt.Local().Format(time.RFC3339), inc.ResolvedBy)
	}
	fmt.Fprintf(w, "\nalerts (%d open of %d):\n", inc.OpenAlertCount, inc.AlertCount)
	for _, a := range inc.Alerts {
		fmt.Fprintf(w, "  %-8s %-9s %s\n", a.Status, a.Severity, a.Title)
	}
	for _, e := range inc.Engagements {
		fmt.Fprintf(w, "\nengagement %s (%s): %s\n", e.Plan, e.ID, e.Status)
		for _, p := range e.Pages {
			fmt.Fprintf(w, "  page %-10s %-8s %-22s %s", p.Contact, p.ChannelType, p.Address, p.Status)
			if p.Provider != "" {
				fmt.Fprintf(w, " via %s", p.Provider)
			}
			fmt.Fprintln(w)
		}
	}
	for k, v := range inc.Tags {
		fmt.Fprintf(w, "tag:     %s=%s\n", k, v)
	}
	if len(inc.RelatedItems) > 0 {
		fmt.Fprintln(w, "\nrelated items:")
		for _, it := range inc.RelatedItems {
			fmt.Fprintf(w, "  %-10s %s %s%s\n", it.Type, it.ID, it.Title, map[bool]string{true: " (" + it.Value + it.Filename + ")"}[it.Value+it.Filename != ""])
		}
	}
	for _, c := range inc.Children {
		fmt.Fprintf(w, "child:   %s %s (%s, impact %d)\n", c.ID, c.Title, c.Status, c.Impact)
	}
	if len(inc.Findings) > 0 {
		fmt.Fprintln(w, "\nfindings (changes before it opened):")
		for _, f := range inc.Findings {
			fmt.Fprintf(w, "  %s %-12s %s\n", f.Timestamp.Local().Format("2006-01-02 15:04"), f.Service, f.Summary)
		}
	}
	fmt.Fprintln(w, "\ntimeline:")
	for _, e := range inc.Timeline {
		actor := ""
		if e.Actor != "" {
			actor = " [" + e.Actor + "]"
		}
		fmt.Fprintf(w, "  %s %-20s%s %s\n", e.At.Local().Format("2006-01-02 15:04:05"), e.Kind, actor, e.Message)
	}
}
