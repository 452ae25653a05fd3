-- Issue #16, last part. Agents choose their availability: online (routing gives them
-- conversations), busy (working, nothing new) or away (not at the desk; notifications go
-- by email). "offline" is no longer stored: it is what presence shows without a connection.
ALTER TABLE agents ADD COLUMN chosen_availability TEXT NOT NULL DEFAULT 'online'
    CHECK (chosen_availability IN ('online', 'away', 'busy'));
UPDATE agents SET chosen_availability = CASE availability WHEN 'away' THEN 'away' ELSE 'online' END;
ALTER TABLE agents DROP COLUMN availability;
ALTER TABLE agents RENAME COLUMN chosen_availability TO availability;

-- Inboxes an agent watches: a new conversation there notifies them.
CREATE TABLE inbox_watchers (
    agent_id    INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    inbox_id    INTEGER NOT NULL REFERENCES inboxes (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (agent_id, inbox_id)
);
CREATE INDEX inbox_watchers_inbox ON inbox_watchers (inbox_id);

-- Each agent's notification settings; no row = the defaults (email on for every kind,
-- no quiet hours). Quiet hours are minutes of the day in the agent's time zone; a window
-- may wrap midnight (22:00-07:00). last_emailed_at spaces the digests.
CREATE TABLE notification_settings (
    agent_id            INTEGER PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    email_enabled       BOOLEAN NOT NULL DEFAULT 1 CHECK (email_enabled IN (0, 1)),
    email_kinds         TEXT NOT NULL,
    quiet_start_minute  INTEGER CHECK (quiet_start_minute BETWEEN 0 AND 1439),
    quiet_end_minute    INTEGER CHECK (quiet_end_minute BETWEEN 0 AND 1439),
    time_zone           TEXT NOT NULL DEFAULT 'UTC',
    last_emailed_at     TEXT,
    updated_at          TEXT NOT NULL
);

-- Notifications gain the watched-inbox kind and the time a digest mailed them.
CREATE TABLE notifications_next (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id         INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL CHECK (kind IN ('assigned', 'mention', 'message', 'sla_warning', 'sla_breach', 'inbox_conversation')),
    conversation_id  INTEGER REFERENCES conversations (id) ON DELETE CASCADE,
    actor_id         INTEGER REFERENCES agents (id) ON DELETE SET NULL,
    body             TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    read_at          TEXT,
    emailed_at       TEXT
);
INSERT INTO notifications_next (id, agent_id, kind, conversation_id, actor_id, body, created_at, read_at)
    SELECT id, agent_id, kind, conversation_id, actor_id, body, created_at, read_at FROM notifications;
-- Keep the AUTOINCREMENT high mark, so ids of deleted notifications are never reused.
UPDATE sqlite_sequence SET seq = max(seq, (SELECT seq FROM sqlite_sequence WHERE name = 'notifications'))
    WHERE name = 'notifications_next';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'notifications_next', seq FROM sqlite_sequence WHERE name = 'notifications'
    AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'notifications_next');
DROP TABLE notifications;
ALTER TABLE notifications_next RENAME TO notifications;
CREATE INDEX notifications_agent ON notifications (agent_id, id);
CREATE INDEX notifications_unread ON notifications (agent_id) WHERE read_at IS NULL;
CREATE INDEX notifications_unmailed ON notifications (created_at) WHERE read_at IS NULL AND emailed_at IS NULL;

-- The soonest due time of a conversation's running SLA clocks, kept by the supervisor with
-- each sync: the inbox's "SLA due" sort reads it through an index.
ALTER TABLE sla_states ADD COLUMN due_at TEXT;
-- Cut to microseconds (26 characters), as the supervisor writes it and page cursors carry it.
UPDATE sla_states SET due_at = (
    SELECT substr(min(c.due_at), 1, 26) FROM sla_clocks c
    WHERE c.conversation_id = sla_states.conversation_id
      AND c.ended_at IS NULL AND c.met_at IS NULL AND c.due_at IS NOT NULL);
CREATE INDEX sla_states_due ON sla_states (due_at, conversation_id) WHERE due_at IS NOT NULL;
