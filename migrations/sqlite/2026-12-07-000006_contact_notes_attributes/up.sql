-- Issue #18 item 2 (contacts).
-- Agents' notes on a customer (not on one conversation): who wrote them and when.
CREATE TABLE contact_notes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id  INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    author_id   INTEGER REFERENCES agents (id) ON DELETE SET NULL,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX contact_notes_contact ON contact_notes (contact_id, id);

-- The custom attributes admins define for contacts: the key in contacts.attributes, the label
-- agents see and the kind of value (text, number, date, checkbox, list, link).
CREATE TABLE contact_attributes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT NOT NULL UNIQUE,
    label       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    options     TEXT NOT NULL DEFAULT '[]',
    created_at  TEXT NOT NULL
);
