-- What a message shows of its files (id, name, type, size, dimensions, thumbnail ready),
-- kept on the message so every read and every realtime event carries it without a join;
-- the attachments table stays the source for downloads and permissions.
ALTER TABLE messages ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]';
-- Why no thumbnails could be made of an image (it passed the header check but does not
-- decode), so the start-up sweep does not try it again forever.
ALTER TABLE attachments ADD COLUMN thumbnail_error TEXT;
