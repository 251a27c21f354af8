-- +goose Up
-- The notices sent to a contact that are not pages (hand-off notes,
-- activation codes), one row per job that sent one: the contact's record
-- of them, and what keeps a delivered note from being sent again.
CREATE TABLE contact_notices (
    id            TEXT PRIMARY KEY,
    contact_alias TEXT NOT NULL,
    channel_name  TEXT NOT NULL,
    kind          TEXT NOT NULL,
    text          TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    error         TEXT NOT NULL DEFAULT '',
    at            BIGINT NOT NULL
);
CREATE INDEX contact_notices_contact ON contact_notices (contact_alias, at);

-- +goose Down
DROP TABLE contact_notices;
