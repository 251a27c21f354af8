-- +goose Up
-- Activation codes sent per channel in the current hour: re-sends are
-- limited, the wrong-attempt counter lasts the hour (a re-send does not
-- reset it), and the codes count toward the number's hourly page limit.
ALTER TABLE contact_channels ADD COLUMN code_sends INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contact_channels ADD COLUMN code_window BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE contact_channels DROP COLUMN code_window;
ALTER TABLE contact_channels DROP COLUMN code_sends;
