-- +goose Up
-- Idempotency keys of intake requests (SNS MessageIds), kept a day.
CREATE TABLE intake_keys (
    key        TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
CREATE INDEX intake_keys_created ON intake_keys (created_at);

-- +goose Down
DROP TABLE intake_keys;
