package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"tocsin"
)

// recordCommands are `incident start` and `incident update`: the incident
// record by hand, through the API (POST and PATCH /api/v1/incidents).
func recordCommands(newClient func() (*client, error), getenv func(string) string, stdout io.Writer, asJSON *bool, printJSON func(any) error) []*cobra.Command {
	var title, summary, plan, token, by string
	var impact int
	var tags []string
	start := &cobra.Command{
		Use:   "start --title TITLE",
		Short: "Start an incident by hand (from a response plan with --plan)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{"title": title, "by": byOrUser(by, getenv)}
			if impact != 0 {
				body["impact"] = impact
			}
			for k, v := range map[string]string{"summary": summary, "response_plan": plan, "client_token": token} {
				if v != "" {
					body[k] = v
				}
			}
			if len(tags) > 0 {
				m := map[string]string{}
				for _, t := range tags {
					k, v, ok := strings.Cut(t, "=")
					if !ok || k == "" {
						return fmt.Errorf("--tag %q: want KEY=VALUE", t)
					}
					m[k] = v
				}
				body["tags"] = m
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var out struct {
				Incident *tocsin.Incident `json:"incident"`
				Created  bool             `json:"created"`
			}
			if err := c.do(cmd.Context(), "POST", "/api/v1/incidents", body, &out); err != nil {
				return err
			}
			if *asJSON {
				return printJSON(out)
			}
			if out.Created {
				fmt.Fprintf(stdout, "%s: started (impact %d)\n", out.Incident.ID, out.Incident.Impact)
			} else {
				fmt.Fprintf(stdout, "%s: already started with this client token\n", out.Incident.ID)
			}
			return nil
		},
	}
	start.Flags().StringVar(&title, "title", "", "the incident's title (required)")
	start.Flags().IntVar(&impact, "impact", 0, "1 critical, 2 high, 3 medium (default), 4 low, 5 no impact")
	start.Flags().StringVar(&summary, "summary", "", "what is known so far")
	start.Flags().StringVar(&plan, "plan", "", "the response plan to start from")
	start.Flags().StringArrayVar(&tags, "tag", nil, "a tag KEY=VALUE (repeatable; service=NAME finds its changes)")
	start.Flags().StringVar(&token, "client-token", "", "idempotency token: a retry with the same token starts nothing")
	start.Flags().StringVar(&by, "by", "", "who starts it (default $USER)")
	_ = start.MarkFlagRequired("title")

	var uTitle, uSummary, uStatus, uBy string
	var uImpact int
	update := &cobra.Command{
		Use:   "update ID [--impact N] [--title T] [--summary S] [--status acknowledged|resolved]",
		Short: "Triage an incident: change its impact, title, summary or status",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{"by": byOrUser(uBy, getenv)}
			f := cmd.Flags()
			if f.Changed("impact") {
				body["impact"] = uImpact
			}
			if f.Changed("title") {
				body["title"] = uTitle
			}
			if f.Changed("summary") {
				body["summary"] = uSummary
			}
			if uStatus != "" {
				body["status"] = uStatus
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var out struct {
				Incident *tocsin.Incident `json:"incident"`
			}
			if err := c.do(cmd.Context(), "PATCH", "/api/v1/incidents/"+url.PathEscape(args[0]), body, &out); err != nil {
				return err
			}
			if *asJSON {
				return printJSON(out)
			}
			inc := out.Incident
			fmt.Fprintf(stdout, "%s: %s, impact %d (%s): %s\n", inc.ID, inc.Status, inc.Impact, tocsin.ImpactName(inc.Impact), inc.Title)
			return nil
		},
	}
	update.Flags().IntVar(&uImpact, "impact", 0, "1 critical … 5 no impact")
	update.Flags().StringVar(&uTitle, "title", "", "a new title")
	update.Flags().StringVar(&uSummary, "summary", "", "a new summary")
	update.Flags().StringVar(&uStatus, "status", "", "acknowledged or resolved")
	update.Flags().StringVar(&uBy, "by", "", "who triages (default $USER)")
	return []*cobra.Command{start, update}
}

func byOrUser(by string, getenv func(string) string) string {
	if by == "" {
		return getenv("USER")
	}
	return by
}
