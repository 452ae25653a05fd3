-- Issue #16, last part. Agents choose their availability: online (routing gives them
-- conversations), busy (working, nothing new) or away (not at the desk; notifications go
-- by email). "offline" is no longer stored: it is what presence shows without a connection.
ALTER TABLE agents DROP CONSTRAINT agents_availability_check;
UPDATE agents SET availability = 'online' WHERE availability NOT IN ('online', 'away');
ALTER TABLE agents ALTER COLUMN availability SET DEFAULT 'online';
ALTER TABLE agents ADD CONSTRAINT agents_availability_check
    CHECK (availability IN ('online', 'away', 'busy'));

-- Inboxes an agent watches: a new conversation there notifies them.
CREATE TABLE inbox_watchers (
    agent_id    BIGINT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    inbox_id    BIGINT NOT NULL REFERENCES inboxes (id) ON DELETE CASCADE,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (agent_id, inbox_id)
);
CREATE INDEX inbox_watchers_inbox ON inbox_watchers (inbox_id);

-- Each agent's notification settings; no row = the defaults (email on for every kind,
-- no quiet hours). Quiet hours are minutes of the day in the agent's time zone; a window
-- may wrap midnight (22:00-07:00). last_emailed_at spaces the digests.
CREATE TABLE notification_settings (
    agent_id            BIGINT PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    email_enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    email_kinds         TEXT NOT NULL,
    quiet_start_minute  BIGINT CHECK (quiet_start_minute BETWEEN 0 AND 1439),
    quiet_end_minute    BIGINT CHECK (quiet_end_minute BETWEEN 0 AND 1439),
    time_zone           TEXT NOT NULL DEFAULT 'UTC',
    last_emailed_at     TIMESTAMP,
    updated_at          TIMESTAMP NOT NULL
);

-- Notifications gain the watched-inbox kind and the time a digest mailed them.
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
    CHECK (kind IN ('assigned', 'mention', 'message', 'sla_warning', 'sla_breach', 'inbox_conversation'));
ALTER TABLE notifications ADD COLUMN emailed_at TIMESTAMP;
CREATE INDEX notifications_unmailed ON notifications (created_at) WHERE read_at IS NULL AND emailed_at IS NULL;

-- The soonest due time of a conversation's running SLA clocks, kept by the supervisor with
-- each sync: the inbox's "SLA due" sort reads it through an index.
ALTER TABLE sla_states ADD COLUMN due_at TIMESTAMP;
UPDATE sla_states SET due_at = (
    SELECT min(c.due_at) FROM sla_clocks c
    WHERE c.conversation_id = sla_states.conversation_id
      AND c.ended_at IS NULL AND c.met_at IS NULL AND c.due_at IS NOT NULL);
CREATE INDEX sla_states_due ON sla_states (due_at, conversation_id) WHERE due_at IS NOT NULL;
