-- Read model "timeline": every event of a complaint in words (全程留痕), and each
-- notification's latest state.
CREATE TABLE IF NOT EXISTS case_timeline (
    event_id     uuid PRIMARY KEY,
    complaint_id uuid        NOT NULL,
    type         text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    source       text        NOT NULL,
    summary      text        NOT NULL,
    -- Why, for a decision (classification, routing): the reason, and a routing's catalogue
    -- rule and the catalogue version it stood in.
    reason       text,
    rule_id      text,
    rule_version integer,
    trace_id     text,       -- the trace of the hop that carried the event (W3C trace id)
    -- When reporting projected it: projected_at - occurred_at is the pipeline's lag.
    projected_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS case_timeline_complaint ON case_timeline (complaint_id, occurred_at);

CREATE TABLE IF NOT EXISTS case_notifications (
    notification_id uuid PRIMARY KEY,
    complaint_id    uuid,
    audience        text,
    recipient       text,
    channel         text,
    template        text,
    -- the latest attempt; a delivery outranks any attempt
    status          text,
    last_error      text,
    outcome_seq     integer,
    attempts        integer,
    updated_at      timestamptz
);
CREATE INDEX IF NOT EXISTS case_notifications_complaint ON case_notifications (complaint_id);
