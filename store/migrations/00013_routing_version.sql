-- +goose Up
-- The version of the routing document and response plans: every write of
-- either bumps it in its own transaction (store: bumpRouting), so an
-- instance may keep the routing it read and check, in a statement intake
-- runs anyway, that the version is still the one it read.
CREATE TABLE routing_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO routing_version (id, version) VALUES (1, 1);

-- +goose Down
DROP TABLE routing_version;
