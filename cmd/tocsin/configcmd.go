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
			fmt.Fprintf(stdout, "%s: OK (database %s)\n", name, redactURL(res.Config.DatabaseURL()))
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
	if len(built.channels) == 0 {
		warnings = append(warnings, "no notification channel is enabled (alert.slack, alert.email, alert.webhook, …): incidents are recorded but nobody is told")
	}
	return warnings, nil
}
