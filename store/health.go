package store

import (
	"context"
	"fmt"

	"tocsin"
)

// Ready reports whether tocsin can commit: it writes a heartbeat row in a
// transaction. A read (Ping) succeeds on a full disk or while another
// writer holds SQLite's lock; an alert could not be stored then, so the
// instance is not ready. Ready returns when ctx ends even if the write is
// still waiting for the database (it then completes or fails on its own).
func (s *DB) Ready(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		done <- s.tx(ctx, func(tx *txn) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES ('readiness', $1)
				ON CONFLICT (name) DO UPDATE SET value = excluded.value`, fmt.Sprint(micros(s.opts.Now())))
			return err
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("commit readiness heartbeat: %w", err)
		}
		return nil
	case <-ctx.Done():
		return tocsin.Errorf(tocsin.EUNAVAILABLE, "the database did not commit a write in time")
	}
}
