-- Reporting's read models. Each row is written so that events of different topics may arrive
-- in any order: columns are set by the event that owns them, never derived from arrival order.
CREATE TABLE IF NOT EXISTS cases (
    complaint_id     uuid PRIMARY KEY,
    case_number      text,
    channel          text,
    category         text,
    area_code        text,
    address          text,
    masked_phone     text,
    filed_at         timestamptz,
    lead_responder_id   text,
    lead_responder_name text,
    dispatched_at    timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS cases_filed_at ON cases (filed_at DESC);
CREATE INDEX IF NOT EXISTS cases_area ON cases (area_code text_pattern_ops);
CREATE INDEX IF NOT EXISTS cases_lead ON cases (lead_responder_id);

CREATE TABLE IF NOT EXISTS case_work_orders (
    work_order_id  uuid PRIMARY KEY,
    complaint_id   uuid        NOT NULL,
    responder_id   text        NOT NULL,
    responder_name text        NOT NULL,
    responder_kind text        NOT NULL,
    role           text        NOT NULL,
    priority       text        NOT NULL,
    rule_id        text,
    reason         text        NOT NULL,
    due_at         timestamptz NOT NULL,
    issued_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS case_work_orders_complaint ON case_work_orders (complaint_id);

CREATE TABLE IF NOT EXISTS case_notifications (
    notification_id uuid PRIMARY KEY,
    complaint_id    uuid        NOT NULL,
    audience        text        NOT NULL,
    recipient       text        NOT NULL,
    channel         text        NOT NULL,
    template        text        NOT NULL,
    status          text        NOT NULL,
    attempts        integer     NOT NULL,
    last_error      text,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS case_notifications_complaint ON case_notifications (complaint_id);

CREATE TABLE IF NOT EXISTS case_timeline (
    event_id     uuid PRIMARY KEY,
    complaint_id uuid        NOT NULL,
    type         text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    source       text        NOT NULL,
    summary      text        NOT NULL
);
-- When reporting projected it: projected_at - occurred_at is the pipeline's lag.
-- (Schema files run at every start: changes are added as idempotent ALTERs.)
ALTER TABLE case_timeline
    ADD COLUMN IF NOT EXISTS projected_at timestamptz NOT NULL DEFAULT clock_timestamp();
CREATE INDEX IF NOT EXISTS case_timeline_complaint ON case_timeline (complaint_id, occurred_at);
