package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrateLockClass is the first key of the advisory lock that serialises
// migrations; the second is the schema's hash. (Two-key advisory locks
// are their own key space: they never meet the one-key locks of
// checkParent or the engagement sends.)
const migrateLockClass = 7146111

// schemaLocker serialises migrations per PostgreSQL schema. goose's own
// session locker takes one lock for the whole database and, when it is
// held, tries again every 5 seconds: a tocsin starting beside another
// one's migration — or beside any other schema's, in the same database —
// waited whole seconds for nothing. This one waits on PostgreSQL's own
// queue (pg_advisory_lock returns the moment the holder is done, or when
// ctx ends) and only for tocsins that share the schema.
type schemaLocker struct{}

// SessionLock waits for the schema's migration lock on conn.
func (schemaLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1, hashtext(current_schema()))`, migrateLockClass); err != nil {
		return fmt.Errorf("wait for the migration lock: %w", err)
	}
	return nil
}

// SessionUnlock releases it.
func (schemaLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var released bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1, hashtext(current_schema()))`, migrateLockClass).Scan(&released); err != nil {
		return fmt.Errorf("release the migration lock: %w", err)
	}
	if !released {
		return fmt.Errorf("release the migration lock: this session did not hold it")
	}
	return nil
}
