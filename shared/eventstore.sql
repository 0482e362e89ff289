-- The event store, inbox and relay bookkeeping every service database has.
CREATE TABLE IF NOT EXISTS events (
    global_position bigserial PRIMARY KEY,
    stream          text        NOT NULL,
    position        integer     NOT NULL CHECK (position >= 0),
    type            text        NOT NULL,
    version         integer     NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    id              uuid        NOT NULL UNIQUE,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (stream, position)
);

-- (consumer, event_id) commits with the handler's effects: a redelivered message finds its row.
CREATE TABLE IF NOT EXISTS inbox (
    consumer   text        NOT NULL,
    event_id   uuid        NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE IF NOT EXISTS relay_checkpoints (
    relay      text PRIMARY KEY,
    position   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The next offset the broker acknowledged per partition: if a partition's end offset is ever
-- below it, the broker has lost data and the relay re-drives.
CREATE TABLE IF NOT EXISTS relay_offsets (
    relay       text    NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint  NOT NULL,
    PRIMARY KEY (relay, partition)
);

-- Answers to HTTP writes sent with an Idempotency-Key (shared/idempotency.py), committed with
-- the change they answer.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key          text PRIMARY KEY,
    request_hash text        NOT NULL,
    status_code  integer     NOT NULL,
    response     jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
