-- +goose Up
-- Response plans (the JSON of tocsin.ResponsePlan, like escalation plans)
-- and the one routing document (the JSON of tocsin.Routing, in one row).
CREATE TABLE response_plans (
    name       TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE routing (
    name       TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- What a response plan made of an incident (its name and tags are
-- 00008's columns): the rendered dedupe string (open incidents with the
-- same one absorb new alerts) and the chat channels its notifications go to.
ALTER TABLE incidents ADD COLUMN dedupe_string TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN chat_channels TEXT NOT NULL DEFAULT '[]';
CREATE UNIQUE INDEX incidents_open_dedupe_string ON incidents (dedupe_string) WHERE status <> 'resolved' AND dedupe_string <> '';

-- +goose Down
DROP INDEX incidents_open_dedupe_string;
ALTER TABLE incidents DROP COLUMN chat_channels;
ALTER TABLE incidents DROP COLUMN dedupe_string;
DROP TABLE routing;
DROP TABLE response_plans;
