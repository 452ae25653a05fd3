ALTER TABLE provider_status_events DROP COLUMN error_reason;
ALTER TABLE provider_status_events DROP COLUMN error_code;
