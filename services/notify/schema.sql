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
-- Where it goes within its channel (a subscription, a gateway): claims are capped per
-- endpoint, so one slow endpoint cannot take every worker of its channel.
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS endpoint text NOT NULL DEFAULT '';
-- The trace of the event that asked for it (W3C traceparent): its gateway calls continue it.
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS traceparent text;
-- What a claim looks at: the open deliveries (due, or sending with a lease that may expire),
-- never the delivered history, which grows with every message ever sent.
DROP INDEX IF EXISTS deliveries_due;
CREATE INDEX IF NOT EXISTS deliveries_open ON deliveries (channel, next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX IF NOT EXISTS deliveries_complaint ON deliveries (complaint_id);
CREATE INDEX IF NOT EXISTS deliveries_abandoned ON deliveries (channel) WHERE status = 'abandoned';

-- What notify knows of a complaint from the events it has seen (no personal data).
CREATE TABLE IF NOT EXISTS complaint_facts (
    complaint_id       uuid PRIMARY KEY,
    case_number        text,
    area_code          text,
    intake_channel     text,
    lead_work_order_id uuid,
    lead_responder_id  text,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- The complaints merged into this one (并案), whose residents hear of its progress too.
ALTER TABLE complaint_facts ADD COLUMN IF NOT EXISTS followers uuid[] NOT NULL DEFAULT '{}';

-- Downstream systems' webhook subscriptions (Standard Webhooks), filtered by event type and area.
CREATE TABLE IF NOT EXISTS subscriptions (
    subscription_id text PRIMARY KEY,
    url             text        NOT NULL,
    secret          text        NOT NULL,
    event_types     text[]      NOT NULL DEFAULT '{}',
    area_code       text,
    description     text        NOT NULL DEFAULT '',
    status          text        NOT NULL DEFAULT 'active',
    disabled_reason text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- How to reach each unit (通讯录): the channels a responder's or supervisor's messages take.
CREATE TABLE IF NOT EXISTS directory (
    recipient_id  text PRIMARY KEY,
    name          text        NOT NULL,
    sms           text,
    email         text,
    wechat_openid text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- An entry on duty for an area (staff: complaints waiting there for a person; supervisor: its
-- overdue ones) is told of that area's triage clock, besides what is addressed to its id.
ALTER TABLE directory ADD COLUMN IF NOT EXISTS area_code text;
ALTER TABLE directory ADD COLUMN IF NOT EXISTS duty text;

-- Status changes for the live stream (SSE), in commit order (see store.add_live_updates).
CREATE TABLE IF NOT EXISTS live_updates (
    id           bigserial PRIMARY KEY,
    complaint_id uuid        NOT NULL,
    area_code    text        NOT NULL DEFAULT '',
    type         text        NOT NULL,
    data         jsonb       NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS api_keys (
    key_id          text PRIMARY KEY,
    key_hash        text        NOT NULL UNIQUE,
    name            text        NOT NULL,
    role            text        NOT NULL,
    rate_per_minute integer     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
-- An ops or subscriber key's area (an area code at any level; NULL: the whole city).
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS scope text;
-- A subscriber key's event types (NULL: any subscribable type).
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS event_types text[];
-- The subscriber key a subscription belongs to (NULL: an admin's); only that key manages it.
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS owner_key_id text;
CREATE INDEX IF NOT EXISTS subscriptions_owner ON subscriptions (owner_key_id);
