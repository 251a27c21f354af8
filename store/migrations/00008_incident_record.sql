-- +goose Up
-- The incident record: what a start by hand says (tags, plan, trigger,
-- the caller's idempotency token), responders' own timeline events
-- (references, edits), related items with their attachments, and the
-- change events findings come from.
ALTER TABLE incidents ADD COLUMN tags TEXT NOT NULL DEFAULT '{}';
ALTER TABLE incidents ADD COLUMN response_plan TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN trigger_details TEXT;
ALTER TABLE incidents ADD COLUMN client_token TEXT;
-- A retried start with the same token finds the incident the first made.
CREATE UNIQUE INDEX incidents_client_token ON incidents (client_token) WHERE client_token IS NOT NULL;

ALTER TABLE timeline ADD COLUMN refs TEXT;
ALTER TABLE timeline ADD COLUMN updated_at BIGINT;

CREATE TABLE related_items (
    id           TEXT PRIMARY KEY,
    incident_id  TEXT NOT NULL REFERENCES incidents (id),
    type         TEXT NOT NULL,
    title        TEXT NOT NULL DEFAULT '',
    value        TEXT NOT NULL DEFAULT '',
    filename     TEXT NOT NULL DEFAULT '',
    content_type TEXT NOT NULL DEFAULT '',
    size         BIGINT NOT NULL DEFAULT 0,
    -- An attachment's bytes, base64: one TEXT column reads the same in
    -- both databases.
    content      TEXT,
    created_at   BIGINT NOT NULL,
    created_by   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX related_items_incident ON related_items (incident_id, created_at, id);
-- Children are found by their parent item's value.
CREATE INDEX related_items_value ON related_items (type, value);
-- An incident has at most one parent.
CREATE UNIQUE INDEX related_items_one_parent ON related_items (incident_id) WHERE type = 'parent';

CREATE TABLE changes (
    id          TEXT PRIMARY KEY,
    service     TEXT NOT NULL,
    summary     TEXT NOT NULL,
    at          BIGINT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    links       TEXT NOT NULL DEFAULT '[]',
    custom      TEXT,
    received_at BIGINT NOT NULL
);
CREATE INDEX changes_service ON changes (service, at);

-- +goose Down
DROP TABLE changes;
DROP TABLE related_items;
ALTER TABLE timeline DROP COLUMN updated_at;
ALTER TABLE timeline DROP COLUMN refs;
DROP INDEX incidents_client_token;
ALTER TABLE incidents DROP COLUMN client_token;
ALTER TABLE incidents DROP COLUMN trigger_details;
ALTER TABLE incidents DROP COLUMN response_plan;
ALTER TABLE incidents DROP COLUMN tags;
