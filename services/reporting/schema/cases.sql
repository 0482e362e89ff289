-- Read model "cases": one row per complaint and one per work order. It serves the case view
-- (with Open311's fields), the public board 督办墙, the measures cube, the monthly ranking and
-- the hot spots. Every column is written by services/reporting/projections.py through
-- commuting upserts (services/reporting/upsert.py): any arrival order gives the same rows.
CREATE TABLE IF NOT EXISTS cases (
    complaint_id        uuid PRIMARY KEY,
    -- set once, by ComplaintFiled (what the resident said and where: until an erasure)
    case_number         text,
    channel             text,
    text                text,
    address             text,
    latitude            double precision,
    longitude           double precision,
    masked_phone        text,
    personal_seq        integer,   -- text … masked_phone: the filing's, until an erasure
    filed_at            timestamptz,
    -- where it is: the finest code known, and its enclosing levels (shared/events/area.py)
    area_code           text,
    district_code       text,
    street_code         text,
    community_code      text,
    grid_code           text,
    place_code          text,      -- building, else grid: where a problem recurs
    area_seq            integer,
    -- intake's classification and status, each the latest by intake's stream position
    type                text,
    type_seq            integer,
    category            text,
    category_seq        integer,
    status              text,
    status_at           timestamptz,
    status_seq          integer,
    -- the latest callback that reached the resident (回访)
    rated_at            timestamptz,
    rated_resolved      boolean,
    rated_satisfied     boolean,   -- 满意 only: 满意率's numerator
    rated_satisfaction  text,      -- satisfied | basically_satisfied | unsatisfied (three levels)
    rated_via           text,      -- callback | sms | wechat | link
    rating_comment      text,
    rating_comment_seq  integer,   -- its own register: a resident's erasure clears it
    rating_seq          integer,
    redo_count          integer,
    answered_at         timestamptz,
    closed_at           timestamptz,
    -- 随手做: a grid worker fixed it on the spot (ComplaintFixedOnSpot); never dispatched
    on_spot_at          timestamptz,
    on_spot_done        text,          -- what was done (a staff member's words, public)
    on_spot_by          text,          -- the grid worker's or head's name
    on_spot_photos      integer,
    patrol_id           uuid,          -- the patrol it was found on
    -- dispatch's view: the current lead order, the case's state and its ladder
    lead_work_order_id  uuid,
    lead_responder_id   text,
    lead_responder_name text,
    lead_responder_kind text,
    lead_seq            integer,
    category_name       text,
    dispatched_at       timestamptz,   -- the first lead order
    dispatch_state      text,          -- open | resolved | cancelled
    dispatch_state_at   timestamptz,
    resolved_at         timestamptz,
    dispatch_state_seq  integer,
    resolution_report   text,
    resolved_seq        integer,
    escalation_level    text,
    escalated_to        text,
    escalation_seq      integer,
    deliberating        boolean,
    agenda_item_id      uuid,
    deliberation_seq    integer,
    last_supervised_at  timestamptz,
    last_urged_at       timestamptz
);
CREATE INDEX IF NOT EXISTS cases_filed_at ON cases (filed_at DESC);
CREATE INDEX IF NOT EXISTS cases_area ON cases (area_code text_pattern_ops);
CREATE INDEX IF NOT EXISTS cases_lead ON cases (lead_responder_id);
CREATE INDEX IF NOT EXISTS cases_place ON cases (place_code, category);

CREATE TABLE IF NOT EXISTS case_work_orders (
    work_order_id    uuid PRIMARY KEY,
    complaint_id     uuid,
    -- set once, by WorkOrderIssued
    responder_id     text,
    responder_name   text,
    responder_kind   text,
    role             text,
    purpose          text,
    round            integer,
    priority         text,
    category         text,
    area_code        text,
    rule_id          text,
    reason           text,
    task             text,
    issued_at        timestamptz,
    -- the clocks: each the latest by the case stream's position (extensions, deliberation)
    sign_due_at      timestamptz,
    sign_seq         integer,
    contact_due_at   timestamptz,
    contact_seq      integer,
    due_at           timestamptz,     -- the feedback deadline 办理时限
    feedback_seq     integer,
    extended         boolean,
    -- each step, set by its own event
    signed_at        timestamptz,
    signed_by        text,
    contacted_at     timestamptz,
    started_at       timestamptz,
    resolved_at      timestamptz,
    report           text,
    returned_at      timestamptz,
    return_reason    text,
    cancelled_at     timestamptz,
    first_breached_at timestamptz,
    urged_at         timestamptz,
    registration_id  text,            -- 双报到: the registered unit or cadre taking the duty
    cadre            text
);
CREATE INDEX IF NOT EXISTS case_work_orders_complaint ON case_work_orders (complaint_id);
CREATE INDEX IF NOT EXISTS case_work_orders_issued ON case_work_orders (issued_at);
CREATE INDEX IF NOT EXISTS case_work_orders_responder ON case_work_orders (responder_id, issued_at);
