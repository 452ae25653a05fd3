-- Who uploaded a file through the web chat widget: the widget inbox and the visitor. The
-- anonymous storage quotas (attachments.visitor_daily_mb, attachments.inbox_daily_mb) are
-- sums over these rows in the last 24 hours. NULL for agents' uploads and channels' media,
-- which the quotas do not count. No foreign key: an inbox with conversations is never
-- deleted, and the rows go with their conversation.
ALTER TABLE attachments ADD COLUMN visitor_inbox_id INTEGER;
ALTER TABLE attachments ADD COLUMN visitor_id TEXT;
-- Covering indexes of the two sums, holding visitors' uploads only.
CREATE INDEX attachments_inbox_uploads
    ON attachments (visitor_inbox_id, created_at, byte_size)
    WHERE visitor_inbox_id IS NOT NULL;
CREATE INDEX attachments_visitor_uploads
    ON attachments (visitor_inbox_id, visitor_id, created_at, byte_size)
    WHERE visitor_id IS NOT NULL;
