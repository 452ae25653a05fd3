DROP INDEX messages_provider_message_id;
ALTER TABLE messages DROP COLUMN provider_message_id;
