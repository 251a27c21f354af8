package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"tocsin/config"
	"tocsin/store"
)

// databaseURL is the database a maintenance command works on: --database,
// else the configuration's (as serve finds it).
func databaseURL(getenv func(string) string, path, database string) (string, error) {
	if database != "" {
		return database, nil
	}
	if path == "" {
		path = getenv("TOCSIN_CONFIG")
	}
	res, err := config.Load(path, getenv)
	if err != nil {
		return "", err
	}
	return res.Config.DatabaseURL(), nil
}

func backupCommand(getenv func(string) string, stdout io.Writer) *cobra.Command {
	var path, database, to string
	cmd := &cobra.Command{
		Use:   "backup --to FILE",
		Short: "Write a consistent backup of the database, safely while the server runs",
		Long: "SQLite: a consistent copy made with VACUUM INTO (never copy tocsin.db by hand: its WAL holds the latest commits).\n" +
			"PostgreSQL: pg_dump --format=custom (the PostgreSQL client tools must be installed).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return fmt.Errorf("--to: required (the new backup file)")
			}
			dbURL, err := databaseURL(getenv, path, database)
			if err != nil {
				return err
			}
			if err := store.Backup(cmd.Context(), dbURL, to); err != nil {
				return fmt.Errorf("back up %s: %w", store.RedactURL(dbURL), err)
			}
			size := ""
			if st, err := os.Stat(to); err == nil {
				size = fmt.Sprintf(" (%d bytes)", st.Size())
			}
			fmt.Fprintf(stdout, "backup of %s written to %s%s\n", store.RedactURL(dbURL), to, size)
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "configuration file (default $TOCSIN_CONFIG)")
	cmd.Flags().StringVar(&database, "database", "", "database URL (default: the configuration's)")
	cmd.Flags().StringVar(&to, "to", "", "the backup file to create (must not exist)")
	return cmd
}

func restoreCommand(getenv func(string) string, stdout io.Writer) *cobra.Command {
	var path, database, from string
	cmd := &cobra.Command{
		Use:   "restore --from FILE",
		Short: "Replace the database with a backup (stop the server first)",
		Long: "SQLite: refuses while a server holds the database; checks the backup, moves the current database to\n" +
			"FILE.before-restore and copies the backup into place. PostgreSQL: pg_restore --clean (stop every instance first).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" {
				return fmt.Errorf("--from: required (a file written by tocsin backup)")
			}
			dbURL, err := databaseURL(getenv, path, database)
			if err != nil {
				return err
			}
			if err := store.Restore(cmd.Context(), dbURL, from); err != nil {
				return fmt.Errorf("restore %s: %w", store.RedactURL(dbURL), err)
			}
			fmt.Fprintf(stdout, "%s restored from %s; start tocsin serve\n", store.RedactURL(dbURL), from)
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "configuration file (default $TOCSIN_CONFIG)")
	cmd.Flags().StringVar(&database, "database", "", "database URL (default: the configuration's)")
	cmd.Flags().StringVar(&from, "from", "", "the backup file")
	return cmd
}
