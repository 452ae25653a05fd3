-- Business hours, SLA policies and the escalation supervisor's durable timers (issue #16).

-- A weekly opening schedule in one IANA time zone, shared by any number of inboxes.
-- `hours` is a JSON object of weekday keys to [["HH:MM", "HH:MM"], ...] local intervals;
-- `closed_dates` a JSON list of YYYY-MM-DD dates on which it stays closed.
CREATE TABLE business_schedules (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    time_zone     TEXT NOT NULL,
    hours         TEXT NOT NULL,
    closed_dates  TEXT NOT NULL DEFAULT '[]',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- Which schedule an inbox keeps (none: always open). A table of its own, so the inbox row
-- and every query that reads it stay as they are.
CREATE TABLE inbox_schedules (
    inbox_id     INTEGER NOT NULL PRIMARY KEY REFERENCES inboxes (id) ON DELETE CASCADE,
    schedule_id  INTEGER NOT NULL REFERENCES business_schedules (id) ON DELETE CASCADE
);
CREATE INDEX inbox_schedules_schedule ON inbox_schedules (schedule_id);

-- SLA targets in business seconds. The first enabled policy by `position` whose conditions
-- (each NULL: any) match a conversation applies to it. `actions` is a JSON list of
-- {"on": "warning"|"breach", "do": "raise_priority"|"set_team"|"unassign"|"add_label", ...}.
CREATE TABLE sla_policies (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 TEXT NOT NULL UNIQUE,
    position             INTEGER NOT NULL,
    enabled              BOOLEAN NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    inbox_id             INTEGER REFERENCES inboxes (id) ON DELETE CASCADE,
    priority             TEXT CHECK (priority IN ('none', 'low', 'medium', 'high', 'urgent')),
    team_id              INTEGER REFERENCES teams (id) ON DELETE CASCADE,
    label                TEXT,
    first_response_secs  INTEGER CHECK (first_response_secs > 0),
    next_response_secs   INTEGER CHECK (next_response_secs > 0),
    resolution_secs      INTEGER CHECK (resolution_secs > 0),
    warn_percent         INTEGER NOT NULL DEFAULT 80 CHECK (warn_percent BETWEEN 1 AND 99),
    actions              TEXT NOT NULL DEFAULT '[]',
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);

-- What the supervisor last accounted for in a conversation: its `updated_at` (every
-- message, status, priority, team or label change moves it), so a change it missed (a
-- crash between commit and notice) is found by comparing the two.
CREATE TABLE sla_states (
    conversation_id  INTEGER NOT NULL PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    policy_id        INTEGER REFERENCES sla_policies (id) ON DELETE SET NULL,
    synced_seq       INTEGER NOT NULL,
    synced_at        TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

-- One SLA clock: a target of one conversation, from its start until met or ended. Time is
-- counted in business seconds: `consumed_secs` up to `resumed_at` (NULL while paused).
-- `fire_at` is the next instant the supervisor must act (warning or breach), indexed: the
-- supervisor keeps only the earliest in memory and reloads it after a restart.
CREATE TABLE sla_clocks (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    policy_id        INTEGER REFERENCES sla_policies (id) ON DELETE SET NULL,
    target           TEXT NOT NULL CHECK (target IN ('first_response', 'next_response', 'resolution')),
    target_secs      INTEGER NOT NULL,
    warn_percent     INTEGER NOT NULL,
    consumed_secs    INTEGER NOT NULL DEFAULT 0,
    started_at       TEXT NOT NULL,
    resumed_at    TEXT,
    warn_at          TEXT,
    due_at           TEXT,
    fire_at          TEXT,
    warned_at        TEXT,
    breached_at      TEXT,
    met_at           TEXT,
    ended_at         TEXT
);
CREATE INDEX sla_clocks_fire ON sla_clocks (fire_at) WHERE fire_at IS NOT NULL;
-- One running clock per target: two nodes syncing the same conversation cannot both start it.
CREATE UNIQUE INDEX sla_clocks_running ON sla_clocks (conversation_id, target) WHERE ended_at IS NULL;
CREATE INDEX sla_clocks_conversation ON sla_clocks (conversation_id, id);
