-- Issue #18: an agent's reply to an unassigned conversation assigns it to them, per inbox
-- (on by default).
ALTER TABLE inboxes ADD COLUMN assign_on_reply BOOLEAN NOT NULL DEFAULT TRUE;
