ALTER TABLE inboxes DROP COLUMN assign_on_reply;
