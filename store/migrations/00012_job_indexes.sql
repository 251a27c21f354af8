-- +goose Up
-- Every queued job is inserted into, and every finished one deleted from,
-- each index of jobs: three of them served no query the others do not.
-- Pending jobs by lane and due time are jobs_lane_due (claims, the next
-- due time, the sweep of cancelled jobs); an incident's jobs are
-- jobs_incident (by kind; the per-incident order of notifications reads
-- an incident's few jobs through it). Plans checked with EXPLAIN QUERY
-- PLAN: no statement scans the backlog.
DROP INDEX jobs_due;
DROP INDEX jobs_state;
DROP INDEX jobs_incident_lane;

-- +goose Down
CREATE INDEX jobs_incident_lane ON jobs (incident_id, lane, created_at);
CREATE INDEX jobs_state ON jobs (state, due_at);
CREATE INDEX jobs_due ON jobs (due_at);
