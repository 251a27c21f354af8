-- +goose Up
-- Runbook documents (issue 12) and their versions: each apply that changes
-- the body or the parsed document adds a version, and executions run the
-- version they started with.
CREATE TABLE runbooks (
    name       TEXT PRIMARY KEY,
    latest     INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE runbook_versions (
    name        TEXT NOT NULL REFERENCES runbooks (name) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    -- The document as given (YAML or JSON), byte for byte.
    body        TEXT NOT NULL,
    format      TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- The parsed document as JSON (runbook.Document): what executions run.
    document    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);

-- An execution keeps a copy of its version's document: it runs on when
-- the runbook is deleted or changed. row_version guards every write
-- (compare-and-set): two writers of one execution never both win.
CREATE TABLE runbook_executions (
    id              TEXT PRIMARY KEY,
    incident_id     TEXT REFERENCES incidents (id),
    runbook         TEXT NOT NULL,
    version         INTEGER NOT NULL,
    document        TEXT NOT NULL,
    parent_id       TEXT REFERENCES runbook_executions (id),
    parent_step     INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL,
    parameters      TEXT NOT NULL DEFAULT '{}',
    outputs         TEXT NOT NULL DEFAULT '{}',
    failure_message TEXT NOT NULL DEFAULT '',
    current_step    INTEGER NOT NULL DEFAULT 0,
    started_by      TEXT NOT NULL DEFAULT '',
    started_at      BIGINT NOT NULL,
    ended_at        BIGINT,
    row_version     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX runbook_executions_incident ON runbook_executions (incident_id, started_at);
CREATE INDEX runbook_executions_status ON runbook_executions (status, started_at);
CREATE INDEX runbook_executions_started ON runbook_executions (started_at, id);
CREATE INDEX runbook_executions_parent ON runbook_executions (parent_id) WHERE parent_id IS NOT NULL;

-- One row per run of a step (a step can run more than once in an
-- execution), keyed by its order in the execution.
CREATE TABLE runbook_steps (
    execution_id    TEXT NOT NULL REFERENCES runbook_executions (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    name            TEXT NOT NULL,
    action          TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempt         INTEGER NOT NULL DEFAULT 0,
    inputs          TEXT NOT NULL DEFAULT '{}',
    outputs         TEXT NOT NULL DEFAULT '{}',
    failure_message TEXT NOT NULL DEFAULT '',
    wake_at         BIGINT,
    -- Set before a non-idempotent action's attempt starts: found set
    -- after a crash, the action is not run again.
    running         BOOLEAN NOT NULL DEFAULT FALSE,
    approvals       TEXT NOT NULL DEFAULT '[]',
    child_id        TEXT NOT NULL DEFAULT '',
    started_at      BIGINT NOT NULL,
    ended_at        BIGINT,
    PRIMARY KEY (execution_id, seq)
);

-- +goose Down
DROP TABLE runbook_steps;
DROP INDEX runbook_executions_parent;
DROP INDEX runbook_executions_started;
DROP INDEX runbook_executions_status;
DROP INDEX runbook_executions_incident;
DROP TABLE runbook_executions;
DROP TABLE runbook_versions;
DROP TABLE runbooks;
