-- What a channel tells about a message beyond its text (the quoted message, a forward's
-- origin, a forum topic, the group author's id), as a JSON object; NULL when nothing.
ALTER TABLE messages ADD COLUMN details TEXT;

-- Set while the customer has blocked the channel (a Telegram bot): replies fail at once.
ALTER TABLE contact_identities ADD COLUMN blocked_at TEXT;

-- Provider updates that could not be read at all (no chat, no message id), kept as they
-- arrived so an admin can see them and replay them once the parser reads them.
CREATE TABLE unreadable_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    inbox_id     INTEGER NOT NULL REFERENCES inboxes (id) ON DELETE CASCADE,
    reason       TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    received_at  TEXT    NOT NULL,
    replayed_at  TEXT
);
CREATE INDEX unreadable_events_inbox ON unreadable_events (inbox_id, id);
