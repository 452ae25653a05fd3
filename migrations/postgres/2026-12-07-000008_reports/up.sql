-- Issue #19 (reports): figures per 15-minute bucket (UTC; every time zone's offset is a
-- multiple of 15 minutes, so a local day or hour is a whole number of buckets), one row per
-- dimension value: 'all' (dim_id 0), 'inbox', 'team', 'agent', 'label'. Sums and counts
-- only, so any range adds up; recomputed from the stored conversations, messages, audit
-- entries, surveys and SLA clocks (src/reports/rollup.rs), so a report never reads messages.
CREATE TABLE report_rollups (
    dim                 TEXT NOT NULL CHECK (dim IN ('all', 'inbox', 'team', 'agent', 'label')),
    dim_id              BIGINT NOT NULL,
    bucket_start        TIMESTAMP NOT NULL,
    messages_in         BIGINT NOT NULL DEFAULT 0,
    messages_out        BIGINT NOT NULL DEFAULT 0,
    opened              BIGINT NOT NULL DEFAULT 0,
    reopened            BIGINT NOT NULL DEFAULT 0,
    resolved            BIGINT NOT NULL DEFAULT 0,
    first_responses     BIGINT NOT NULL DEFAULT 0,
    first_response_secs BIGINT NOT NULL DEFAULT 0,
    resolution_secs     BIGINT NOT NULL DEFAULT 0,
    replies             BIGINT NOT NULL DEFAULT 0,
    csat_sent           BIGINT NOT NULL DEFAULT 0,
    csat_answers        BIGINT NOT NULL DEFAULT 0,
    csat_satisfied      BIGINT NOT NULL DEFAULT 0,
    csat_rated          BIGINT NOT NULL DEFAULT 0,
    csat_rating_sum     BIGINT NOT NULL DEFAULT 0,
    sla_met             BIGINT NOT NULL DEFAULT 0,
    sla_breached        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (dim, bucket_start, dim_id)
);
-- The same per UTC day, summed from the day's buckets whenever one of them is recomputed:
-- a long range reads a row per day for its whole days and buckets only at its two ends.
CREATE TABLE report_daily (
    dim                 TEXT NOT NULL CHECK (dim IN ('all', 'inbox', 'team', 'agent', 'label')),
    dim_id              BIGINT NOT NULL,
    day                 TIMESTAMP NOT NULL,
    messages_in         BIGINT NOT NULL DEFAULT 0,
    messages_out        BIGINT NOT NULL DEFAULT 0,
    opened              BIGINT NOT NULL DEFAULT 0,
    reopened            BIGINT NOT NULL DEFAULT 0,
    resolved            BIGINT NOT NULL DEFAULT 0,
    first_responses     BIGINT NOT NULL DEFAULT 0,
    first_response_secs BIGINT NOT NULL DEFAULT 0,
    resolution_secs     BIGINT NOT NULL DEFAULT 0,
    replies             BIGINT NOT NULL DEFAULT 0,
    csat_sent           BIGINT NOT NULL DEFAULT 0,
    csat_answers        BIGINT NOT NULL DEFAULT 0,
    csat_satisfied      BIGINT NOT NULL DEFAULT 0,
    csat_rated          BIGINT NOT NULL DEFAULT 0,
    csat_rating_sum     BIGINT NOT NULL DEFAULT 0,
    sla_met             BIGINT NOT NULL DEFAULT 0,
    sla_breached        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (dim, day, dim_id)
);
-- How far the rollups are computed (one row).
CREATE TABLE report_state (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    covered_until TIMESTAMP NOT NULL,
    refreshed_at  TIMESTAMP NOT NULL
);
-- What the rollup reads a time range of (status changes: the audit log's created_at index).
CREATE INDEX messages_created ON messages (created_at);
CREATE INDEX conversations_created ON conversations (created_at);
CREATE INDEX conversations_first_response ON conversations (first_response_at) WHERE first_response_at IS NOT NULL;
CREATE INDEX csat_surveys_resolved ON csat_surveys (resolved_at);
CREATE INDEX csat_surveys_sent ON csat_surveys (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX csat_surveys_answered ON csat_surveys (answered_at) WHERE answered_at IS NOT NULL;
CREATE INDEX sla_clocks_met ON sla_clocks (met_at) WHERE met_at IS NOT NULL;
CREATE INDEX sla_clocks_breached ON sla_clocks (breached_at) WHERE breached_at IS NOT NULL;
