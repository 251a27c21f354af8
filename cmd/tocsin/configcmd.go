package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"tocsin/app"
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
			res, err := app.Check(cmd.Context(), path, getenv)
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
