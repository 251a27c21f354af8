-- +goose Up
-- Claims go lane by lane (only lanes with idle workers), each reading its
-- own pending jobs in due order; the lanes themselves are found by
-- skipping through this index (one seek per lane), never by scanning the
-- due backlog. (Not a partial index: without statistics SQLite would
-- rather use jobs_state for the equality on state.)
CREATE INDEX jobs_lane_due ON jobs (state, lane, due_at, id);

-- +goose Down
DROP INDEX jobs_lane_due;
