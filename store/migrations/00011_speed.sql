-- +goose Up
-- Claims go lane by lane (only lanes with idle workers), each reading its
-- own pending jobs in due order; the lanes themselves are found by
-- skipping through this index (one seek per lane), never by scanning the
-- due backlog. (Not a partial index: without statistics SQLite would
-- rather use jobs_state for the equality on state.)
CREATE INDEX jobs_lane_due ON jobs (state, lane, due_at, id);

-- A repeat of an alert that changes nothing (Alertmanager's
-- repeat_interval) is counted, not stored again: content_hash is the hash
-- of what the alert's row and payload say, repeat_count how many such
-- repeats came, last_seen_at when the alert was last reported.
ALTER TABLE alerts ADD COLUMN repeat_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN last_seen_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN content_hash TEXT NOT NULL DEFAULT '';
UPDATE alerts SET last_seen_at = updated_at;

-- +goose Down
ALTER TABLE alerts DROP COLUMN content_hash;
ALTER TABLE alerts DROP COLUMN last_seen_at;
ALTER TABLE alerts DROP COLUMN repeat_count;
DROP INDEX jobs_lane_due;
