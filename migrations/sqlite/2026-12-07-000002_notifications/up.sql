-- Agents' notifications (issue #16): assigned to you, @mentions, new messages in your
-- conversations, SLA warnings and breaches. Read ones are kept (the centre lists them);
-- they go with their agent or conversation.
CREATE TABLE notifications (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id         INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL CHECK (kind IN ('assigned', 'mention', 'message', 'sla_warning', 'sla_breach')),
    conversation_id  INTEGER REFERENCES conversations (id) ON DELETE CASCADE,
    actor_id         INTEGER REFERENCES agents (id) ON DELETE SET NULL,
    body             TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    read_at          TEXT
);
CREATE INDEX notifications_agent ON notifications (agent_id, id);
CREATE INDEX notifications_unread ON notifications (agent_id) WHERE read_at IS NULL;
