-- +goose Up
-- tocsin's own on-call: contacts, rotations, overrides, schedules,
-- escalation plans, and the engagements and pages that run them.

CREATE TABLE contacts (
    alias           TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    time_zone       TEXT NOT NULL DEFAULT '',
    engagement_plan TEXT NOT NULL DEFAULT '[]',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE contact_channels (
    contact_alias TEXT NOT NULL REFERENCES contacts (alias) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    type          TEXT NOT NULL,
    address       TEXT NOT NULL,
    position      INTEGER NOT NULL,
    activated_at  BIGINT,
    code_hash     TEXT NOT NULL DEFAULT '',
    code_expires  BIGINT NOT NULL DEFAULT 0,
    code_attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (contact_alias, name)
);

CREATE TABLE rotations (
    name       TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE overrides (
    id         TEXT PRIMARY KEY,
    rotation   TEXT NOT NULL REFERENCES rotations (name) ON DELETE CASCADE,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    members    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX overrides_rotation ON overrides (rotation, ends_at);

CREATE TABLE schedules (
    name       TEXT PRIMARY KEY,
    rotations  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE escalation_plans (
    name       TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE engagements (
    id          TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    plan        TEXT NOT NULL,
    parent_id   TEXT,
    test        BOOLEAN NOT NULL DEFAULT FALSE,
    status      TEXT NOT NULL,
    stop_reason TEXT NOT NULL DEFAULT '',
    -- progress counts the stages started, so a re-run stage job (after a
    -- crash or a lost lease) does not page twice.
    progress    INTEGER NOT NULL DEFAULT 0,
    started_at  BIGINT NOT NULL,
    stopped_at  BIGINT
);
CREATE INDEX engagements_incident ON engagements (incident_id);

CREATE TABLE pages (
    id            TEXT PRIMARY KEY,
    engagement_id TEXT NOT NULL REFERENCES engagements (id),
    incident_id   TEXT NOT NULL REFERENCES incidents (id),
    page_key      TEXT NOT NULL UNIQUE,
    contact_alias TEXT NOT NULL,
    channel_name  TEXT NOT NULL,
    channel_type  TEXT NOT NULL,
    address       TEXT NOT NULL,
    essential     BOOLEAN NOT NULL DEFAULT FALSE,
    ack_code      TEXT NOT NULL,
    status        TEXT NOT NULL,
    provider      TEXT NOT NULL DEFAULT '',
    provider_ref  TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT '',
    due_at        BIGINT NOT NULL,
    sent_at       BIGINT,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX pages_incident ON pages (incident_id);
CREATE INDEX pages_engagement ON pages (engagement_id, contact_alias);
CREATE INDEX pages_address ON pages (address, sent_at);
CREATE INDEX pages_ack_code ON pages (ack_code);
CREATE INDEX pages_provider_ref ON pages (provider_ref);

CREATE TABLE receipts (
    id         TEXT PRIMARY KEY,
    page_id    TEXT NOT NULL REFERENCES pages (id),
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX receipts_page ON receipts (page_id, at);

-- +goose Down
DROP TABLE receipts;
DROP TABLE pages;
DROP TABLE engagements;
DROP TABLE escalation_plans;
DROP TABLE schedules;
DROP TABLE overrides;
DROP TABLE rotations;
DROP TABLE contact_channels;
DROP TABLE contacts;
