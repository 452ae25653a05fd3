-- Who in a group chat wrote a message, when the conversation is with the group (Telegram
-- groups are one conversation with many people in it).
ALTER TABLE messages ADD COLUMN author TEXT;

-- Where a channel that pulls its updates (Telegram long polling) has read up to, saved in
-- the same place as the messages so a restart neither loses nor repeats updates.
CREATE TABLE channel_cursors (
    inbox_id    BIGINT NOT NULL PRIMARY KEY REFERENCES inboxes (id) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
