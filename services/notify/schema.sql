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

-- A subscription's delivery log reads its webhook deliveries, newest first.
CREATE INDEX IF NOT EXISTS deliveries_webhook ON deliveries (endpoint, created_at)
    WHERE channel = 'webhook';

-- Every subscribable event's public body (what a webhook carries), in the order notify
-- handled them, kept for the replay retention window (NOTIFY_REPLAY_RETENTION_DAYS): a replay
-- sends these again, including events from before its subscription existed. Positions come
-- from a sequence and each insert has its transaction's id first, so a replay's end is read
-- up to a Horizon (see webhook_log.append), as the live stream is.
CREATE TABLE IF NOT EXISTS webhook_events (
    position     bigserial PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    event_type   text        NOT NULL,
    complaint_id uuid        NOT NULL,
    area_code    text,
    at           timestamptz NOT NULL,  -- the event's time (a replay's `since` compares it)
    body         jsonb       NOT NULL,
    logged_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_events_at ON webhook_events (at);
CREATE INDEX IF NOT EXISTS webhook_events_logged ON webhook_events (logged_at);

-- A subscriber's "send me again everything since": the events in (after_position,
-- upto_position] that match the subscription, sent one after another; `sent_position` is the
-- last one delivered, so a replay taken over after a crash goes on from there. Whoever drives
-- it holds it until `lease_until`. At most one runs per subscription.
CREATE TABLE IF NOT EXISTS replays (
    replay_id       uuid PRIMARY KEY,
    subscription_id text        NOT NULL,
    since           timestamptz,
    after_event_id  uuid,
    after_position  bigint      NOT NULL,
    upto_position   bigint      NOT NULL,
    sent_position   bigint      NOT NULL,
    total           integer     NOT NULL,
    sent            integer     NOT NULL DEFAULT 0,
    status          text        NOT NULL DEFAULT 'running',  -- running | done | failed | cancelled
    last_error      text,
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS replays_one_running ON replays (subscription_id)
    WHERE status = 'running';
-- Each take-over of a replay draws the next epoch; what a driver records is fenced on the
-- epoch it took, so one whose lease ran out (and was taken over) records nothing more.
ALTER TABLE replays ADD COLUMN IF NOT EXISTS lease_epoch integer NOT NULL DEFAULT 0;
-- Finished replays are forgotten past the retention window (webhook_log.prune).
CREATE INDEX IF NOT EXISTS replays_finished ON replays (finished_at) WHERE status <> 'running';

-- What a replay sent, event by event, for the subscription's delivery log. `webhook_id` is the
-- live delivery's notification id for the same (subscription, event): a subscriber that
-- deduplicates by it or by the body's event id sees each event once.
CREATE TABLE IF NOT EXISTS replay_sends (
    replay_id       uuid        NOT NULL,
    position        bigint      NOT NULL,
    subscription_id text        NOT NULL,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    webhook_id      uuid        NOT NULL,
    status          text        NOT NULL,  -- pending (to retry) | delivered | abandoned
    attempts        integer     NOT NULL DEFAULT 1,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    PRIMARY KEY (replay_id, position)
);
CREATE INDEX IF NOT EXISTS replay_sends_subscription ON replay_sends (subscription_id, created_at);

-- Area notices (区域通知). Who agreed to notices for which home (a building or a unit) and by
-- which channels, as intake's NoticeConsentRecorded / NoticeConsentWithdrawn say (a resident
-- by their reference and masked phone: the contact stays in intake's vault).
CREATE TABLE IF NOT EXISTS notice_consents (
    resident_ref text   NOT NULL,
    area_code    text   NOT NULL,
    channels     text[] NOT NULL,
    masked_phone text,
    PRIMARY KEY (resident_ref, area_code)
);
CREATE INDEX IF NOT EXISTS notice_consents_area ON notice_consents (area_code text_pattern_ops);
-- The notices posted (NoticePosted), for their senders' tracking.
CREATE TABLE IF NOT EXISTS notices (
    notice_id   uuid PRIMARY KEY,
    area_code   text        NOT NULL,
    kind        text        NOT NULL,
    title       text        NOT NULL,
    body        text        NOT NULL,
    sender_name text        NOT NULL,
    actor       text        NOT NULL,
    key_id      text        NOT NULL,
    starts_at   timestamptz,
    ends_at     timestamptz,
    send_at     timestamptz,
    recipients  integer     NOT NULL,
    posted_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS notices_area ON notices (area_code text_pattern_ops, posted_at);
-- A notice's messages are deliveries like any other (`complaint_id` holds the notice's id, so
-- the senders, retries and dead letters treat them alike); `notice_id` says which they are,
-- `masked_recipient` is what the sender's tracking shows of the resident.
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS notice_id uuid;
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS masked_recipient text;
CREATE INDEX IF NOT EXISTS deliveries_notice ON deliveries (notice_id) WHERE notice_id IS NOT NULL;
