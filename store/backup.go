package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/pressly/goose/v3"

	"tocsin"
)

// Backup writes a consistent copy of the database at dbURL to the new file
// to, safely while a server runs on it. A SQLite database is copied with
// VACUUM INTO, which reads one snapshot — committed transactions in the
// WAL included, unlike a copy of the file — and needs no lock the server
// holds. A PostgreSQL database is dumped with pg_dump (custom format),
// which must be installed.
func Backup(ctx context.Context, dbURL, to string) error {
	dialect, dsn, err := ParseURL(dbURL)
	if err != nil {
		return err
	}
	if dialect == Postgres {
		return pgTool(ctx, "pg_dump", dsn, "--format=custom", "--file="+to)
	}
	path, _, _ := strings.Cut(dsn, "?")
	if _, err := os.Stat(path); err != nil {
		return tocsin.Errorf(tocsin.ENOTFOUND, "backup: no SQLite database at %s", path)
	}
	// VACUUM INTO takes an empty file: create it owner-only, and refuse
	// to overwrite anything.
	f, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return tocsin.Errorf(tocsin.ECONFLICT, "backup: %s exists; give a new file", to)
	} else if err != nil {
		return fmt.Errorf("create backup file: %w", err)
	}
	f.Close()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		os.Remove(to)
		return fmt.Errorf("open sqlite: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO $1`, to); err != nil {
		os.Remove(to)
		return fmt.Errorf("backup: %w", translate(err))
	}
	return nil
}

// Restore replaces the database at dbURL with the backup in from. For
// SQLite it refuses while a server holds the database, checks that from is
// an intact tocsin database this binary can run, and moves the current
// database aside (FILE.before-restore) before copying from into place.
// For PostgreSQL it runs pg_restore --clean; stop every instance first.
func Restore(ctx context.Context, dbURL, from string) error {
	dialect, dsn, err := ParseURL(dbURL)
	if err != nil {
		return err
	}
	if _, err := os.Stat(from); err != nil {
		return tocsin.Errorf(tocsin.ENOTFOUND, "restore: no backup file %s", from)
	}
	if dialect == Postgres {
		return pgTool(ctx, "pg_restore", dsn, "--clean", "--if-exists", "--no-owner", "--single-transaction", from)
	}
	path, _, _ := strings.Cut(dsn, "?")
	lock, err := lockFile(path + ".lock")
	if err != nil {
		if tocsin.ErrorCode(err) == tocsin.ECONFLICT {
			return tocsin.Errorf(tocsin.ECONFLICT, "restore: a tocsin server is using %s; stop it first", path)
		}
		return err
	}
	defer lock.Close()
	if err := checkBackup(ctx, from); err != nil {
		return err
	}
	tmp := path + ".restoring"
	if err := copyFile(from, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	// The current database's WAL belongs to it, not to the backup: it
	// moves aside with it, or SQLite would replay it onto the restored file.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		aside := path + ".before-restore" + suffix
		os.Remove(aside)
		if err := os.Rename(path+suffix, aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
			os.Remove(tmp)
			return fmt.Errorf("move the current database aside: %w", err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// checkBackup makes sure a file is an intact SQLite database of a tocsin
// schema this binary knows.
func checkBackup(ctx context.Context, file string) error {
	db, err := sql.Open("sqlite", "file:"+file+"?mode=ro")
	if err != nil {
		return fmt.Errorf("open backup: %w", err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&check); err != nil || check != "ok" {
		return tocsin.Errorf(tocsin.EINVALID, "restore: %s is not an intact SQLite database (%v%s)", file, err, check)
	}
	var version int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&version); err != nil || version == 0 {
		return tocsin.Errorf(tocsin.EINVALID, "restore: %s is not a tocsin database", file)
	}
	if known := knownVersion(); version > known {
		return tocsin.Errorf(tocsin.ECONFLICT, "restore: %s has schema version %d, newer than this tocsin knows (%d); restore it with the tocsin that made it", file, version, known)
	}
	return nil
}

// knownVersion is the highest embedded migration.
func knownVersion() int64 {
	var max int64
	entries, _ := fs.ReadDir(migrations, "migrations")
	for _, e := range entries {
		if v, err := goose.NumericComponent(e.Name()); err == nil && v > max {
			max = v
		}
	}
	return max
}

// copyFile copies from to a new owner-only file to and syncs it.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("read backup: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("restore: %w", err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("restore: %w", err)
	}
	return out.Close()
}

// pgTool runs pg_dump or pg_restore against dsn, passed as --dbname with
// pgx's search_path turned into libpq's options. The password travels in
// PGPASSWORD, not on the command line other users can read; errors never
// show it.
func pgTool(ctx context.Context, tool, dsn string, args ...string) error {
	bin, err := exec.LookPath(tool)
	if err != nil {
		return tocsin.Errorf(tocsin.ENOTIMPLEMENTED, "%s is not installed: install the PostgreSQL client tools (Debian: apt install postgresql-client), "+
			"or run %s yourself against the database (see README, Operations)", tool, tool)
	}
	env := os.Environ()
	target := dsn
	if u, err := url.Parse(dsn); err == nil {
		q := u.Query()
		if pw, ok := u.User.Password(); ok {
			env = append(env, "PGPASSWORD="+pw)
			u.User = url.User(u.User.Username())
		}
		if pw := q.Get("password"); pw != "" {
			env = append(env, "PGPASSWORD="+pw)
			q.Del("password")
		}
		if sp := q.Get("search_path"); sp != "" {
			q.Del("search_path")
			q.Set("options", "-csearch_path="+sp)
			if tool == "pg_dump" {
				args = append(args, "--schema="+strings.Split(sp, ",")[0])
			}
		}
		u.RawQuery = q.Encode()
		target = u.String()
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--dbname=" + target}, args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return redactErr(fmt.Errorf("%s: %w: %s", tool, err, strings.TrimSpace(string(out))), dsn)
	}
	return nil
}
