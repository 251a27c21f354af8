package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"tocsin/config"
	"tocsin/notify"
	"tocsin/store"
)

func configCommand(getenv func(string) string, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with the configuration file"}
	var path string
	check := &cobra.Command{
		Use:   "check",
		Short: "Check a configuration file as serve does; exit non-zero naming every problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if path == "" {
				path = getenv("TOCSIN_CONFIG")
			}
			res, err := checkConfig(cmd.Context(), path, getenv)
			if err != nil {
				return err
			}
			for _, u := range res.Unused {
				fmt.Fprintln(stdout, "unused:", u)
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(stdout, "warning:", w)
			}
			name := path
			if name == "" {
				name = "(defaults)"
			}
			fmt.Fprintf(stdout, "%s: OK (database %s)\n", name, store.RedactURL(res.Config.DatabaseURL()))
			return nil
		},
	}
	check.Flags().StringVarP(&path, "config", "c", "", "configuration file (default $TOCSIN_CONFIG)")
	cmd.AddCommand(check)
	return cmd
}

// checkConfig is the one check `config check` and `serve` both run: it
// loads the file at path, builds what serve builds from it (checkSetup)
// and reports the problems of both at once, so the two commands accept and
// refuse the same files in the same words. The warnings of both are in
// the Result.
func checkConfig(ctx context.Context, path string, getenv func(string) string) (*config.Result, error) {
	res, err := config.Load(path, getenv)
	var probs config.Problems
	if err != nil && (res == nil || !errors.As(err, &probs)) {
		return nil, err
	}
	warnings, err := checkSetup(ctx, res.Config, probs)
	if err != nil {
		return nil, err
	}
	res.Warnings = append(res.Warnings, warnings...)
	return res, nil
}

// checkSetup builds every channel, the on-call provider and the paging
// providers of cfg as newApp does, without touching the network, and
// returns what is worth a warning and every problem: known (the file's
// own problems, from config.Load) followed by what building found. A
// component with a known problem is not built again.
func checkSetup(ctx context.Context, cfg *config.Config, known config.Problems) (warnings []string, err error) {
	skip := func(key string) bool {
		for _, p := range known {
			if strings.HasPrefix(p, key+".") || strings.HasPrefix(p, key+":") {
				return true
			}
		}
		return false
	}
	built, probs := buildParts(ctx, cfg, slog.New(slog.DiscardHandler), skip)
	if probs = append(known, probs...); len(probs) > 0 {
		return nil, probs
	}
	warnings = append(warnings, checkTemplates(cfg)...)
	if len(built.channels) == 0 {
		warnings = append(warnings, "no notification channel is enabled (alert.slack, alert.email, alert.webhook, …): incidents are recorded but nobody is told")
	}
	return warnings, nil
}

// checkTemplates renders every configured template of an enabled channel
// against a sample payload of each source. A failure is a warning, not a
// problem: serve falls back to the built-in template for a message the
// user's template cannot render, and a template written for one source
// (a Versus template reading .Logs) is right not to fit the others.
// Unreadable or unparsable templates are problems, found by buildParts.
func checkTemplates(cfg *config.Config) []string {
	a := cfg.Alert
	var warnings []string
	for _, t := range []struct {
		channel, path string
		enabled       bool
	}{
		{"slack", a.Slack.TemplatePath, a.Slack.Enable},
		{"telegram", a.Telegram.TemplatePath, a.Telegram.Enable},
		{"viber", a.Viber.TemplatePath, a.Viber.Enable},
		{"msteams", a.MSTeams.TemplatePath, a.MSTeams.Enable},
		{"lark", a.Lark.TemplatePath, a.Lark.Enable},
		{"email", a.Email.TemplatePath, a.Email.Enable},
	} {
		if !t.enabled || t.path == "" {
			continue
		}
		if err := notify.CheckTemplate(t.channel, t.path); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				warnings = append(warnings, "alert."+t.channel+".template_path: "+line+" (the built-in template is used for such messages)")
			}
		}
	}
	if a.Email.Enable && a.Email.Subject != "" {
		if t, err := notify.ParseTemplate("subject", a.Email.Subject, false); err == nil {
			if err := t.Check(); err != nil {
				warnings = append(warnings, "alert.email.subject: "+err.Error()+" (the built-in subject is used for such messages)")
			}
		}
	}
	return warnings
}
