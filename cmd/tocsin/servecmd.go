package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"tocsin/app"
	"tocsin/config"
)

func serveCommand(getenv func(string) string, stderr io.Writer) *cobra.Command {
	var path, addr, database string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the tocsin server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if path == "" {
				path = getenv("TOCSIN_CONFIG")
			}
			// The same check as `config check`: every problem at once.
			res, err := app.Check(cmd.Context(), path, getenv)
			if err != nil {
				return err
			}
			cfg := res.Config
			if addr != "" {
				host, port, err := net.SplitHostPort(addr)
				if err != nil {
					return fmt.Errorf("--addr: %q is not HOST:PORT", addr)
				}
				cfg.Host = host
				if cfg.Port, err = strconv.Atoi(port); err != nil {
					return fmt.Errorf("--addr: %q is not HOST:PORT", addr)
				}
			}
			if database != "" {
				cfg.Database = database
			}
			logger := newLogger(cfg.Log, stderr)
			for _, u := range res.Unused {
				logger.Warn("configuration key is not used by tocsin", "key", u)
			}
			for _, w := range res.Warnings {
				logger.Warn(w)
			}
			a, err := app.New(cmd.Context(), cfg, app.Options{Logger: logger, Version: Version})
			if err != nil {
				return err
			}
			defer a.Close()
			ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
			if err != nil {
				return err
			}
			return a.Serve(cmd.Context(), ln)
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "configuration file (default $TOCSIN_CONFIG; none needed)")
	cmd.Flags().StringVar(&addr, "addr", "", "listen address HOST:PORT (default $TOCSIN_ADDR, else host:port from the file, 0.0.0.0:3000)")
	cmd.Flags().StringVar(&database, "database", "", "SQLite path, sqlite://PATH or postgres://URL (default $TOCSIN_DATABASE_URL, else data/tocsin.db)")
	return cmd
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(c.Level)))
	if c.Level == "" {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
