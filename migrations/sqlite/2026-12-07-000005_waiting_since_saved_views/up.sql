-- Issue #18 item 5 (the conversation list).
-- When the customer's oldest unanswered message came: set by a customer's message (kept while
-- they wait), cleared by a public reply. "Oldest waiting" sorts by it.
ALTER TABLE conversations ADD COLUMN waiting_since TEXT;
UPDATE conversations SET waiting_since = (
    SELECT MIN(m.created_at) FROM messages m
    WHERE m.conversation_id = conversations.id
      AND m.direction = 'inbound' AND m.sender_type = 'contact'
      -- An out-of-office reply is no one waiting (kept in details as "automatic").
      AND (m.details IS NULL OR m.details NOT LIKE '%"automatic":%')
      AND m.id > COALESCE((
          SELECT MAX(o.id) FROM messages o
          WHERE o.conversation_id = conversations.id
            AND o.direction = 'outbound' AND o.private = 0), 0))
WHERE kind = 'support' AND status IN ('open', 'pending', 'snoozed');
CREATE INDEX conversations_waiting ON conversations (waiting_since, id) WHERE waiting_since IS NOT NULL;

-- An agent's named filter sets for the conversation list.
CREATE TABLE saved_views (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id    INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    filters     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (agent_id, name)
);
