ALTER TABLE attachments DROP COLUMN thumbnail_error;
ALTER TABLE messages DROP COLUMN attachments;
