DROP TABLE channel_cursors;
ALTER TABLE messages DROP COLUMN author;
