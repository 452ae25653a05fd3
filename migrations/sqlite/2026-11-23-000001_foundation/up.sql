-- Switchboard foundation schema (SQLite). The PostgreSQL twin in migrations/postgres must
-- keep the same tables, columns and meaning; src/db/schema.rs describes both.
-- Times are UTC, stored as ISO-8601 text. JSON documents are stored as text.

CREATE TABLE agents (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    email          TEXT    NOT NULL UNIQUE,
    name           TEXT    NOT NULL,
    password_hash  TEXT    NOT NULL,
    role           TEXT    NOT NULL CHECK (role IN ('admin', 'agent')),
    availability   TEXT    NOT NULL DEFAULT 'offline' CHECK (availability IN ('online', 'away', 'offline')),
    capacity       INTEGER CHECK (capacity IS NULL OR capacity >= 0),
    active         BOOLEAN NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    last_login_at  TEXT,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
);

CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id      INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    token_hash    TEXT    NOT NULL UNIQUE,
    created_at    TEXT    NOT NULL,
    expires_at    TEXT    NOT NULL
);
CREATE INDEX sessions_agent ON sessions (agent_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id      INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    token_prefix  TEXT    NOT NULL,
    token_hash    TEXT    NOT NULL UNIQUE,
    last_used_at  TEXT,
    created_at    TEXT    NOT NULL
);
CREATE INDEX api_tokens_agent ON api_tokens (agent_id);

CREATE TABLE teams (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    description  TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE team_members (
    team_id     INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    agent_id    INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (team_id, agent_id)
);
CREATE INDEX team_members_agent ON team_members (agent_id);

-- One configured channel instance: a WhatsApp number, a Telegram bot, a mailbox, a website.
-- Inboxes are disabled, not deleted: tables holding their history refuse the delete.
CREATE TABLE inboxes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL,
    channel_type  TEXT    NOT NULL CHECK (channel_type IN ('api', 'widget', 'telegram', 'whatsapp', 'email')),
    settings      TEXT    NOT NULL DEFAULT '{}',
    secrets       TEXT    NOT NULL DEFAULT '{}',
    enabled       BOOLEAN NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

CREATE TABLE inbox_members (
    inbox_id    INTEGER NOT NULL REFERENCES inboxes (id) ON DELETE CASCADE,
    agent_id    INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (inbox_id, agent_id)
);
CREATE INDEX inbox_members_agent ON inbox_members (agent_id);

CREATE TABLE contacts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT,
    email       TEXT,
    phone       TEXT,
    language    TEXT,
    avatar_url  TEXT,
    attributes  TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX contacts_email ON contacts (email);
CREATE INDEX contacts_phone ON contacts (phone);

-- How a contact is known on one channel; one contact can hold many.
CREATE TABLE contact_identities (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id    INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    inbox_id      INTEGER NOT NULL REFERENCES inboxes (id) ON DELETE RESTRICT,
    channel_type  TEXT    NOT NULL CHECK (channel_type IN ('api', 'widget', 'telegram', 'whatsapp', 'email')),
    identifier    TEXT    NOT NULL,
    verification  TEXT    NOT NULL DEFAULT 'unverified' CHECK (verification IN ('unverified', 'provider', 'hmac')),
    profile       TEXT    NOT NULL DEFAULT '{}',
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    UNIQUE (inbox_id, identifier)
);
CREATE INDEX contact_identities_contact ON contact_identities (contact_id);

CREATE TABLE conversations (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind                    TEXT    NOT NULL DEFAULT 'support' CHECK (kind IN ('support', 'internal_ticket', 'team_channel', 'direct_message')),
    inbox_id                INTEGER REFERENCES inboxes (id) ON DELETE RESTRICT,
    contact_id              INTEGER REFERENCES contacts (id) ON DELETE SET NULL,
    subject                 TEXT,
    status                  TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'snoozed', 'resolved', 'closed')),
    priority                TEXT    NOT NULL DEFAULT 'none' CHECK (priority IN ('none', 'low', 'medium', 'high', 'urgent')),
    assignee_id             INTEGER REFERENCES agents (id) ON DELETE SET NULL,
    team_id                 INTEGER REFERENCES teams (id) ON DELETE SET NULL,
    snoozed_until           TEXT,
    first_response_at       TEXT,
    resolved_at             TEXT,
    ticket_number           INTEGER UNIQUE,
    linked_conversation_id  INTEGER REFERENCES conversations (id) ON DELETE SET NULL,
    last_seq                INTEGER NOT NULL DEFAULT 0,
    last_activity_at        TEXT    NOT NULL,
    created_at              TEXT    NOT NULL,
    updated_at              TEXT    NOT NULL,
    CHECK (kind <> 'support' OR inbox_id IS NOT NULL)
);
CREATE INDEX conversations_inbox_status_activity ON conversations (inbox_id, status, last_activity_at);
CREATE INDEX conversations_assignee_status ON conversations (assignee_id, status);
CREATE INDEX conversations_contact ON conversations (contact_id);
CREATE INDEX conversations_team_status ON conversations (team_id, status);
CREATE INDEX conversations_activity ON conversations (last_activity_at);
CREATE INDEX conversations_linked ON conversations (linked_conversation_id);

CREATE TABLE labels (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    color       TEXT NOT NULL DEFAULT '#888888',
    created_at  TEXT NOT NULL
);

CREATE TABLE conversation_labels (
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    label_id         INTEGER NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    PRIMARY KEY (conversation_id, label_id)
);
CREATE INDEX conversation_labels_label ON conversation_labels (label_id);

CREATE TABLE messages (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    inbox_id         INTEGER REFERENCES inboxes (id) ON DELETE RESTRICT,
    seq              INTEGER NOT NULL,
    direction        TEXT    NOT NULL CHECK (direction IN ('inbound', 'outbound', 'internal')),
    sender_type      TEXT    NOT NULL CHECK (sender_type IN ('contact', 'agent', 'bot', 'system')),
    sender_id        INTEGER,
    content          TEXT    NOT NULL DEFAULT '',
    content_type     TEXT    NOT NULL DEFAULT 'text',
    private          BOOLEAN NOT NULL DEFAULT 0 CHECK (private IN (0, 1)),
    reply_to_id      INTEGER REFERENCES messages (id) ON DELETE SET NULL,
    idempotency_key  TEXT,
    external_id      TEXT,
    delivery_status  TEXT    CHECK (delivery_status IS NULL OR delivery_status IN ('queued', 'sent', 'delivered', 'read', 'failed')),
    error_code       TEXT,
    error_reason     TEXT,
    provider_at      TEXT,
    edited_at        TEXT,
    deleted_at       TEXT,
    created_at       TEXT    NOT NULL,
    UNIQUE (conversation_id, seq),
    UNIQUE (inbox_id, external_id),
    UNIQUE (conversation_id, idempotency_key)
);

CREATE INDEX messages_reply_to ON messages (reply_to_id);

CREATE TABLE message_edits (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id        INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    previous_content  TEXT    NOT NULL,
    edited_at         TEXT    NOT NULL
);
CREATE INDEX message_edits_message ON message_edits (message_id);

CREATE TABLE attachments (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id       INTEGER REFERENCES messages (id) ON DELETE CASCADE,
    file_name        TEXT    NOT NULL,
    content_type     TEXT    NOT NULL,
    byte_size        INTEGER NOT NULL CHECK (byte_size >= 0),
    sha256           TEXT    NOT NULL,
    storage_key      TEXT    NOT NULL UNIQUE,
    width            INTEGER,
    height           INTEGER,
    thumb_small_key  TEXT,
    thumb_large_key  TEXT,
    created_at       TEXT    NOT NULL
);
CREATE INDEX attachments_message ON attachments (message_id);
CREATE INDEX attachments_conversation ON attachments (conversation_id);

-- Agents taking part in a conversation, with how far each has read (unread counts).
CREATE TABLE conversation_participants (
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    agent_id         INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    last_read_seq    INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    PRIMARY KEY (conversation_id, agent_id)
);
CREATE INDEX conversation_participants_agent ON conversation_participants (agent_id);

-- Outbound messages waiting to be sent; written in the same transaction as the message.
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id       INTEGER NOT NULL UNIQUE REFERENCES messages (id) ON DELETE CASCADE,
    inbox_id         INTEGER NOT NULL REFERENCES inboxes (id) ON DELETE RESTRICT,
    state            TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'in_flight', 'done', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT    NOT NULL,
    last_error       TEXT,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_inbox_due ON outbox (inbox_id, state, next_attempt_at);

-- Every delivery status a provider reported, raw, kept for support and audits.
CREATE TABLE provider_status_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    inbox_id     INTEGER NOT NULL REFERENCES inboxes (id) ON DELETE RESTRICT,
    message_id   INTEGER REFERENCES messages (id) ON DELETE SET NULL,
    external_id  TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    received_at  TEXT    NOT NULL
);
CREATE INDEX provider_status_events_message ON provider_status_events (message_id);
CREATE INDEX provider_status_events_external ON provider_status_events (inbox_id, external_id);

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    actor_type   TEXT    NOT NULL CHECK (actor_type IN ('agent', 'system', 'cli')),
    actor_id     INTEGER,
    action       TEXT    NOT NULL,
    target_type  TEXT,
    target_id    INTEGER,
    details      TEXT    NOT NULL DEFAULT '{}',
    ip           TEXT,
    created_at   TEXT    NOT NULL
);
CREATE INDEX audit_log_created ON audit_log (created_at);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id);
