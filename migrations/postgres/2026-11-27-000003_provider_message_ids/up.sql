-- The provider's id of an outbound message (from its send receipt) is kept apart from the
-- external id of inbound messages: an integrator may number both from separate sequences,
-- and a reply's id "42" must never make the customer's message "42" look like a retry.
ALTER TABLE messages ADD COLUMN provider_message_id TEXT;
-- Partial: inbound rows have none, and an index led by inbox_id that every message is in
-- would tempt the planner away from the (inbox_id, external_id) index of the inbound
-- dedupe lookup.
CREATE UNIQUE INDEX messages_provider_message_id ON messages (inbox_id, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
