DROP TABLE saved_views;
DROP INDEX conversations_waiting;
ALTER TABLE conversations DROP COLUMN waiting_since;
