-- +goose Up
-- A job's state: pending (queued, armed or running), cancelled (its
-- incident was acknowledged or resolved while a worker ran it: the outcome
-- is still recorded, then the row goes) or failed (gave up; kept so it can
-- be redelivered).
ALTER TABLE jobs ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
CREATE INDEX jobs_state ON jobs (state, due_at);
CREATE INDEX jobs_incident_lane ON jobs (incident_id, lane, created_at);

-- +goose Down
DROP INDEX jobs_incident_lane;
DROP INDEX jobs_state;
ALTER TABLE jobs DROP COLUMN state;
