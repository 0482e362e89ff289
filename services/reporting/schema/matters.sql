-- Read model "matters": the 政务事项 of the 督办墙 (seed 002: 低保申请、尊老金发放、独生子女费申领
-- 等事项一律公开进度，明确专人限时办理), one row per matter. Public: no applicant data, the
-- place no finer than the community (the events carry nothing more).
CREATE TABLE IF NOT EXISTS service_matters (
    matter_id      uuid PRIMARY KEY,
    -- set once, by ServiceMatterOpened
    kind           text,
    title          text,
    community_code text,
    community_name text,
    street_code    text,
    responder_id   text,
    person         text,
    time_limit     text,
    due_at         timestamptz,
    opened_at      timestamptz,
    -- where it is: open | in_progress | done, by the matter stream's position
    status         text,
    status_at      timestamptz,
    last_step      text,
    status_seq     integer,
    completed_at   timestamptz,
    on_time        boolean,
    warned_at      timestamptz,
    breached_at    timestamptz
);
CREATE INDEX IF NOT EXISTS service_matters_place ON service_matters (community_code, status);
