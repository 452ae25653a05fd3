DROP INDEX attachments_visitor_uploads;
DROP INDEX attachments_inbox_uploads;
ALTER TABLE attachments DROP COLUMN visitor_id;
ALTER TABLE attachments DROP COLUMN visitor_inbox_id;
