-- +goose Up
-- Contact groups: named sets of contacts that escalation stages engage
-- together (AWS Incident Manager's "contact group"). The spec is the JSON
-- of tocsin.ContactGroup, like rotations and escalation plans.
CREATE TABLE contact_groups (
    name       TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE contact_groups;
