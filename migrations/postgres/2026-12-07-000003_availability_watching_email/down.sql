DROP INDEX sla_states_due;
ALTER TABLE sla_states DROP COLUMN due_at;
DROP INDEX notifications_unmailed;
ALTER TABLE notifications DROP COLUMN emailed_at;
DELETE FROM notifications WHERE kind = 'inbox_conversation';
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
    CHECK (kind IN ('assigned', 'mention', 'message', 'sla_warning', 'sla_breach'));
DROP TABLE notification_settings;
DROP TABLE inbox_watchers;
ALTER TABLE agents DROP CONSTRAINT agents_availability_check;
UPDATE agents SET availability = 'offline' WHERE availability = 'busy';
ALTER TABLE agents ALTER COLUMN availability SET DEFAULT 'offline';
ALTER TABLE agents ADD CONSTRAINT agents_availability_check
    CHECK (availability IN ('online', 'away', 'offline'));
