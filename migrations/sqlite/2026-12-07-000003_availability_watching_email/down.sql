DROP INDEX sla_states_due;
ALTER TABLE sla_states DROP COLUMN due_at;
DROP INDEX notifications_unmailed;
DELETE FROM notifications WHERE kind = 'inbox_conversation';
ALTER TABLE notifications DROP COLUMN emailed_at;
DROP TABLE notification_settings;
DROP TABLE inbox_watchers;
ALTER TABLE agents ADD COLUMN stored_availability TEXT NOT NULL DEFAULT 'offline'
    CHECK (stored_availability IN ('online', 'away', 'offline'));
UPDATE agents SET stored_availability = CASE availability WHEN 'away' THEN 'away' ELSE 'offline' END;
ALTER TABLE agents DROP COLUMN availability;
ALTER TABLE agents RENAME COLUMN stored_availability TO availability;
