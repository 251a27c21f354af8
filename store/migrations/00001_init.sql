-- +goose Up
-- One schema for SQLite and PostgreSQL: text ids, times as unix
-- microseconds (BIGINT), JSON as TEXT.

CREATE TABLE incidents (
    id               TEXT PRIMARY KEY,
    title            TEXT NOT NULL,
    summary          TEXT NOT NULL DEFAULT '',
    impact           INTEGER NOT NULL,
    status           TEXT NOT NULL,
    source           TEXT NOT NULL,
    dedup_key        TEXT NOT NULL,
    labels           TEXT NOT NULL DEFAULT '{}',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    acked_at         BIGINT,
    acked_by         TEXT NOT NULL DEFAULT '',
    resolved_at      BIGINT,
    resolved_by      TEXT NOT NULL DEFAULT '',
    alert_count      INTEGER NOT NULL DEFAULT 0,
    open_alert_count INTEGER NOT NULL DEFAULT 0
);
-- At most one open incident per dedupe string: concurrent ingests of the
-- same group cannot open two.
CREATE UNIQUE INDEX incidents_open_dedup ON incidents (source, dedup_key) WHERE status <> 'resolved';
CREATE INDEX incidents_created ON incidents (created_at, id);

CREATE TABLE payloads (
    id          TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

CREATE TABLE alerts (
    id          TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    payload_id  TEXT REFERENCES payloads (id),
    source      TEXT NOT NULL,
    dedup_key   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      TEXT NOT NULL,
    severity    TEXT NOT NULL DEFAULT '',
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    labels      TEXT NOT NULL DEFAULT '{}',
    annotations TEXT NOT NULL DEFAULT '{}',
    links       TEXT NOT NULL DEFAULT '[]',
    starts_at   BIGINT,
    ends_at     BIGINT,
    received_at BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX alerts_incident_fingerprint ON alerts (incident_id, fingerprint);

CREATE TABLE timeline (
    id          TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL DEFAULT '',
    message     TEXT NOT NULL,
    data        TEXT
);
CREATE INDEX timeline_incident ON timeline (incident_id, at, id);

-- The outbox and the durable timers are one table: an outbox row is a
-- timer due at once.
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    lane        TEXT NOT NULL,
    job_key     TEXT,
    incident_id TEXT,
    args        TEXT NOT NULL DEFAULT '{}',
    due_at      BIGINT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (due_at);
CREATE INDEX jobs_incident ON jobs (incident_id, kind);
CREATE UNIQUE INDEX jobs_key ON jobs (job_key) WHERE job_key IS NOT NULL;

CREATE TABLE channel_refs (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    channel     TEXT NOT NULL,
    ref         TEXT NOT NULL,
    PRIMARY KEY (incident_id, channel)
);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- +goose Down
DROP TABLE settings;
DROP TABLE channel_refs;
DROP TABLE jobs;
DROP TABLE timeline;
DROP TABLE alerts;
DROP TABLE payloads;
DROP TABLE incidents;
