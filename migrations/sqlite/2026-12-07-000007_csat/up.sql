-- Issue #19 (CSAT): one survey per resolution of a conversation, asked on the customer's
-- channel once `due_at` comes (the inbox's delay after resolving); the answer (a rating of 1
-- to 5; thumbs are 1 and 5) may change within a week of the request.
CREATE TABLE csat_surveys (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    inbox_id        INTEGER NOT NULL,
    resolved_at     TEXT NOT NULL,
    due_at          TEXT NOT NULL,
    sent_at         TEXT,
    question        TEXT NOT NULL,
    scale           TEXT NOT NULL,
    rating          INTEGER CHECK (rating BETWEEN 1 AND 5),
    comment         TEXT,
    answered_at     TEXT,
    UNIQUE (conversation_id, resolved_at)
);
CREATE INDEX csat_surveys_due ON csat_surveys (due_at) WHERE sent_at IS NULL;
CREATE INDEX csat_surveys_conversation ON csat_surveys (conversation_id, id);
