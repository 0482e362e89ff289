-- Dispatch's own tables beside the event store. The events are the truth; these are views,
-- timers and keys, rewritten in the same transaction as the events they follow.

-- The newest version of the city model as one body (the CityModelChanged events hold every
-- version; an older one is rebuilt from them when a decision is explained).
CREATE TABLE IF NOT EXISTS city_models (
    version   integer PRIMARY KEY,
    checksum  text        NOT NULL,
    body      jsonb       NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE city_models ALTER COLUMN version DROP DEFAULT;

-- Public holidays and make-up workdays, one row per loaded year (CalendarLoaded events).
CREATE TABLE IF NOT EXISTS calendars (
    year      integer PRIMARY KEY,
    body      jsonb       NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);

-- Each case as dispatch follows it (the fold of its stream, for queues and lists).
CREATE TABLE IF NOT EXISTS cases (
    complaint_id      uuid PRIMARY KEY,
    area_code         text        NOT NULL,
    category          text,
    status            text        NOT NULL,
    round             integer     NOT NULL,
    level             text        NOT NULL,
    lead_responder_id text,
    arbitrator_id     text,
    deliberation_item uuid,
    updated_at        timestamptz NOT NULL,
    version           integer     NOT NULL
);
CREATE INDEX IF NOT EXISTS cases_arbitrator ON cases (arbitrator_id) WHERE arbitrator_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS work_orders (
    work_order_id     uuid PRIMARY KEY,
    complaint_id      uuid        NOT NULL,
    responder_id      text        NOT NULL,
    role              text        NOT NULL,
    status            text        NOT NULL,
    priority          text        NOT NULL,
    rule_id           text,
    catalogue_version integer     NOT NULL,
    due_at            timestamptz NOT NULL,
    issued_at         timestamptz NOT NULL
);
ALTER TABLE work_orders ADD COLUMN IF NOT EXISTS purpose text NOT NULL DEFAULT 'dispatch';
ALTER TABLE work_orders ADD COLUMN IF NOT EXISTS area_code text NOT NULL DEFAULT '';
ALTER TABLE work_orders ADD COLUMN IF NOT EXISTS breached boolean NOT NULL DEFAULT false;
ALTER TABLE work_orders ADD COLUMN IF NOT EXISTS updated_at timestamptz;
ALTER TABLE work_orders ADD COLUMN IF NOT EXISTS data jsonb NOT NULL DEFAULT '{}';
CREATE INDEX IF NOT EXISTS work_orders_complaint ON work_orders (complaint_id);
CREATE INDEX IF NOT EXISTS work_orders_responder ON work_orders (responder_id, status);
CREATE INDEX IF NOT EXISTS work_orders_area ON work_orders (area_code text_pattern_ops);

-- Durable timers (SLA clocks): when to look at one clock of one order again. A poller claims
-- due rows with FOR UPDATE SKIP LOCKED; the firing and the row's deletion commit together
-- with the SlaWarned / SlaBreached event, so each fires exactly once across workers and
-- restarts. Rows are derived from the case: see services/dispatch/workers.py.
CREATE TABLE IF NOT EXISTS timers (
    work_order_id uuid        NOT NULL,
    clock         text        NOT NULL,
    kind          text        NOT NULL,
    due_at        timestamptz NOT NULL,
    fire_at       timestamptz NOT NULL,
    complaint_id  uuid        NOT NULL,
    PRIMARY KEY (work_order_id, clock, kind, due_at)
);
CREATE INDEX IF NOT EXISTS timers_fire_at ON timers (fire_at);
CREATE INDEX IF NOT EXISTS timers_complaint ON timers (complaint_id);

-- Deliberation agenda items (议事清单), community and district.
CREATE TABLE IF NOT EXISTS agenda_items (
    item_id        uuid PRIMARY KEY,
    complaint_id   uuid        NOT NULL,
    community_code text        NOT NULL,
    district_code  text,
    level          text        NOT NULL,
    stage          text        NOT NULL,
    updated_at     timestamptz NOT NULL,
    data           jsonb       NOT NULL
);
CREATE INDEX IF NOT EXISTS agenda_items_place ON agenda_items (level, community_code);

-- Keys of responders (a unit acts on its own orders), supervisors (an area scope) and admins.
CREATE TABLE IF NOT EXISTS api_keys (
    key_id          text PRIMARY KEY,
    key_hash        text        NOT NULL UNIQUE,
    name            text        NOT NULL,
    role            text        NOT NULL,
    responder_id    text,
    scope           text,
    rate_per_minute integer     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);

-- The community 大党委 (one row per community) and its joint meetings (meeting).
CREATE TABLE IF NOT EXISTS councils (
    community_code text PRIMARY KEY,
    updated_at     timestamptz NOT NULL,
    data           jsonb       NOT NULL
);
CREATE TABLE IF NOT EXISTS council_meetings (
    meeting_id     uuid PRIMARY KEY,
    community_code text        NOT NULL,
    kind           text        NOT NULL,
    status         text        NOT NULL,
    scheduled_for  timestamptz NOT NULL,
    held_at        timestamptz,
    updated_at     timestamptz NOT NULL,
    data           jsonb       NOT NULL
);
CREATE INDEX IF NOT EXISTS council_meetings_community ON council_meetings (community_code, held_at);

-- Household registers (户册) per area: one row per household, replaced with each load
-- (HouseholdsRegistered events). A household is `<unit code>/<door>`; no names. Its `ref`
-- (`<unit code>/<random>`) is what every event names instead: the door stays here.
CREATE TABLE IF NOT EXISTS households (
    household_id  text PRIMARY KEY,
    area_code     text        NOT NULL,  -- the register it came with
    unit_code     text        NOT NULL,
    registered_at timestamptz NOT NULL
);
ALTER TABLE households ADD COLUMN IF NOT EXISTS ref text;
CREATE UNIQUE INDEX IF NOT EXISTS households_ref ON households (ref);
CREATE INDEX IF NOT EXISTS households_register ON households (area_code);
CREATE INDEX IF NOT EXISTS households_unit ON households (unit_code text_pattern_ops);

-- Consultations and ballots (征求意见、表决): the fold of each ballot's stream, and when it
-- closes. The timer loop closes due open ones (FOR UPDATE SKIP LOCKED, as with the timers).
CREATE TABLE IF NOT EXISTS ballots (
    ballot_id      uuid PRIMARY KEY,
    item_id        uuid,
    area_code      text        NOT NULL,
    community_code text        NOT NULL,
    status         text        NOT NULL,
    closes_at      timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    data           jsonb       NOT NULL
);
CREATE INDEX IF NOT EXISTS ballots_due ON ballots (closes_at) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS ballots_place ON ballots (area_code text_pattern_ops);

-- Voting links: only the hash of each household's secret token is kept. A new link for a
-- household replaces its old one.
CREATE TABLE IF NOT EXISTS ballot_tokens (
    token_hash   text PRIMARY KEY,
    ballot_id    uuid        NOT NULL,
    household_id text        NOT NULL,
    issued_at    timestamptz NOT NULL,
    UNIQUE (ballot_id, household_id)
);

-- 政务事项 (seed 002: 低保申请、尊老金发放…明确专人限时办理), one row per matter (the fold of its
-- stream): the staff's own list and the community's. No applicant data is ever stored here.
CREATE TABLE IF NOT EXISTS service_matters (
    matter_id      uuid PRIMARY KEY,
    community_code text        NOT NULL,
    responder_id   text        NOT NULL,
    status         text        NOT NULL,
    due_at         timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    data           jsonb       NOT NULL
);
CREATE INDEX IF NOT EXISTS service_matters_place ON service_matters (community_code, status);
