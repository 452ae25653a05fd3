-- When the customer last wrote through this identity: channels with a reply window
-- (WhatsApp: 24 hours) accept free-form replies only within it.
ALTER TABLE contact_identities ADD COLUMN last_inbound_at TEXT;

-- A channel's approved message templates (WhatsApp), as last fetched from the provider:
-- agents pick from this copy; admins refresh it on demand.
CREATE TABLE channel_templates (
    inbox_id    INTEGER NOT NULL PRIMARY KEY REFERENCES inboxes (id) ON DELETE CASCADE,
    templates   TEXT    NOT NULL,
    fetched_at  TEXT NOT NULL
);
