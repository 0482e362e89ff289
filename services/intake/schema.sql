-- Intake's own tables beside the event store.
CREATE SEQUENCE IF NOT EXISTS case_number_seq;

-- The contact vault: each resident's data key (wrapped by the master key) encrypts their
-- contacts. Destroying the key makes every copy of the contact unreadable (crypto-shredding).
CREATE TABLE IF NOT EXISTS resident_keys (
    resident_ref text PRIMARY KEY,
    wrapped_key  bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS contacts (
    complaint_id uuid PRIMARY KEY,
    resident_ref text        NOT NULL,
    nonce        bytea       NOT NULL,
    ciphertext   bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- The city's areas and categories as intake validates and classifies by them (newest wins).
CREATE TABLE IF NOT EXISTS catalogues (
    version   serial PRIMARY KEY,
    checksum  text        NOT NULL,
    body      jsonb       NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);

-- The parts of a version of dispatch's city model whose last part has not arrived: applied
-- all at once when it does (store/city.py). A Beijing-size city is ~400 parts; rewriting the
-- whole catalogue at every part made following it quadratic.
CREATE TABLE IF NOT EXISTS catalogue_parts (
    version integer NOT NULL,
    part    integer NOT NULL,
    changes jsonb   NOT NULL,
    PRIMARY KEY (version, part)
);

-- Every complaint's current state (the fold of its stream), written in the same transaction
-- as its events: the triage queue, duplicate search, Open311 and the resident's lookup read it.
CREATE TABLE IF NOT EXISTS complaints (
    complaint_id         uuid PRIMARY KEY,
    case_number          text        NOT NULL UNIQUE,
    channel              text        NOT NULL,
    status               text        NOT NULL,
    type                 text,
    category             text,
    confidence           double precision,
    needs_triage         boolean     NOT NULL DEFAULT false,
    area_code            text        NOT NULL,
    grid_code            text,
    building_code        text,
    address              text        NOT NULL,
    latitude             double precision,
    longitude            double precision,
    text                 text        NOT NULL,
    attributes           jsonb       NOT NULL DEFAULT '{}',
    media_urls           jsonb       NOT NULL DEFAULT '[]',
    resident_ref         text        NOT NULL,
    masked_phone         text,
    duplicate_pending    boolean     NOT NULL DEFAULT false,
    duplicate_candidates jsonb       NOT NULL DEFAULT '[]',
    merged_into          uuid,
    lead_responder       text,
    due_at               timestamptz,
    status_note          text        NOT NULL DEFAULT '',
    filed_at             timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    version              integer     NOT NULL
);
-- The callback worklist (回访): when the unit reported, and callbacks that reached nobody since.
ALTER TABLE complaints ADD COLUMN IF NOT EXISTS resolved_at timestamptz;
ALTER TABLE complaints ADD COLUMN IF NOT EXISTS unreached_callbacks integer NOT NULL DEFAULT 0;
-- When a callback last reached the resident: a merged duplicate's resident is called back
-- (on their own complaint) once the complaint it follows is handled, and not again until the
-- survivor reports anew.
ALTER TABLE complaints ADD COLUMN IF NOT EXISTS reached_at timestamptz;
-- The acceptance limit of a complaint waiting for a person: warned | breached.
ALTER TABLE complaints ADD COLUMN IF NOT EXISTS triage_clock text;
-- Wrong phone tails given for this case number (the lookup, WeChat ratings), ever: past
-- INTAKE_LOOKUP_MAX_MISSES the tail opens nothing more for it.
ALTER TABLE complaints ADD COLUMN IF NOT EXISTS tail_misses integer NOT NULL DEFAULT 0;
-- WeChat pushes seen within the signature window: a signed URL used again for another message
-- is a replay.
CREATE TABLE IF NOT EXISTS wechat_pushes (
    nonce       text NOT NULL,
    signed_at   bigint NOT NULL,
    msg_id      text NOT NULL,
    PRIMARY KEY (nonce, signed_at)
);
CREATE INDEX IF NOT EXISTS complaints_callbacks ON complaints (resolved_at) WHERE status = 'resolved';
CREATE INDEX IF NOT EXISTS complaints_place ON complaints (category, substr(area_code, 1, 12), filed_at);
-- Likely duplicates across a community's border: the same category inside a small box.
CREATE INDEX IF NOT EXISTS complaints_near ON complaints (category, latitude, longitude, filed_at)
    WHERE latitude IS NOT NULL;
CREATE INDEX IF NOT EXISTS complaints_triage ON complaints (filed_at) WHERE status = 'triage' OR duplicate_pending;
CREATE INDEX IF NOT EXISTS complaints_updated ON complaints (updated_at);
CREATE INDEX IF NOT EXISTS complaints_filed ON complaints (filed_at);
-- A resident's replies (their rating by SMS) and their erasure find their complaints.
CREATE INDEX IF NOT EXISTS complaints_resident ON complaints (resident_ref);
CREATE INDEX IF NOT EXISTS complaints_merged_into ON complaints (merged_into) WHERE merged_into IS NOT NULL;

-- One row per step a person can read about: Open311's servicerequestupdates feed and the
-- resident's progress page.
CREATE TABLE IF NOT EXISTS complaint_updates (
    update_id    bigserial PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    complaint_id uuid        NOT NULL,
    event_type   text        NOT NULL,
    status       text        NOT NULL,
    description  text        NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS complaint_updates_by_complaint ON complaint_updates (complaint_id, update_id);
CREATE INDEX IF NOT EXISTS complaint_updates_by_time ON complaint_updates (updated_at);

-- Channel and staff API keys; only a hash of each key is kept.
CREATE TABLE IF NOT EXISTS api_keys (
    key_id          text PRIMARY KEY,
    key_hash        text        NOT NULL UNIQUE,
    name            text        NOT NULL,
    role            text        NOT NULL,
    channel         text,
    rate_per_minute integer     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
-- A staff key's area (an area code at any level; NULL: the whole city).
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS scope text;

-- Dispatch's time limits and working-day calendar as its events publish them
-- (services/intake/store/city.py): what the promise at filing is computed from.
CREATE TABLE IF NOT EXISTS dispatch_time_limits (
    id                smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    body              jsonb    NOT NULL,
    catalogue_version integer  NOT NULL
);
CREATE TABLE IF NOT EXISTS dispatch_calendar (
    year integer PRIMARY KEY,
    body jsonb   NOT NULL
);

-- Area notices (区域通知): a resident's contact for notices, sealed under their own data key
-- (resident_keys: an erasure makes it unreadable with the rest), and the homes (building or
-- unit) they agreed to be sent notices for, by which channels.
CREATE TABLE IF NOT EXISTS notice_contacts (
    resident_ref text PRIMARY KEY,
    nonce        bytea       NOT NULL,
    ciphertext   bytea       NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS notice_consents (
    resident_ref text        NOT NULL,
    area_code    text        NOT NULL,
    channels     text[]      NOT NULL,
    given_at     timestamptz NOT NULL,
    PRIMARY KEY (resident_ref, area_code)
);
