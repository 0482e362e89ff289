-- Notify's own tables beside the event store.
-- One row per (event, recipient, channel): the unique key is what makes a redelivered or
-- replayed event produce no second message.
CREATE TABLE IF NOT EXISTS deliveries (
    notification_id uuid PRIMARY KEY,
    event_id        uuid        NOT NULL,
    complaint_id    uuid        NOT NULL,
    audience        text        NOT NULL,
    recipient       text        NOT NULL,
    channel         text        NOT NULL,
    template        text        NOT NULL,
    payload         jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, recipient, channel)
);
-- The causing event's conversation, so outcome events follow it (correlation and causation).
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS correlation_id uuid;
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_complaint ON deliveries (complaint_id);
