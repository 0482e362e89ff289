-- Read model "meetings": each community's 大党委 (its members, its cadence), its joint meetings
-- (agenda, attendance, minutes) and the duties their decisions gave (work orders, followed in
-- case_work_orders like any other).
CREATE TABLE IF NOT EXISTS councils (
    community_code   text PRIMARY KEY,
    community_name   text,
    members          jsonb,
    cadence_months   integer,
    constituted_at   timestamptz,
    members_seq      integer
);

CREATE TABLE IF NOT EXISTS council_meetings (
    meeting_id       uuid PRIMARY KEY,
    community_code   text,
    community_name   text,
    kind             text,
    title            text,
    scheduled_for    timestamptz,
    scheduled_at     timestamptz,
    items            jsonb,
    items_at         timestamptz,
    items_seq        integer,
    held_at          timestamptz,
    attendance       jsonb,
    absent           jsonb,
    minutes          text
);
CREATE INDEX IF NOT EXISTS council_meetings_community ON council_meetings (community_code, scheduled_for);

CREATE TABLE IF NOT EXISTS council_duties (
    work_order_id    uuid PRIMARY KEY,
    meeting_id       uuid,
    decision_id      uuid,
    community_code   text,
    item_key         text,
    case_id          uuid,
    decision         text,
    responder_id     text,
    responder_name   text,
    task             text,
    due_at           timestamptz,
    decided_at       timestamptz
);
CREATE INDEX IF NOT EXISTS council_duties_meeting ON council_duties (meeting_id);
CREATE INDEX IF NOT EXISTS council_duties_community ON council_duties (community_code, due_at);
