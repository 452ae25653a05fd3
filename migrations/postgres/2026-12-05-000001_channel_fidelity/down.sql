DROP TABLE unreadable_events;
ALTER TABLE contact_identities DROP COLUMN blocked_at;
ALTER TABLE messages DROP COLUMN details;
