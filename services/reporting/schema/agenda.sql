-- Read model "agenda": the deliberation agenda 议事清单 of each community and the district's
-- joint meeting 大党委联席会议, one row per agenda item.
CREATE TABLE IF NOT EXISTS agenda_items (
    item_id          uuid PRIMARY KEY,
    complaint_id     uuid,
    community_code   text,
    community_name   text,
    title            text,
    reason           text,
    opened_by        text,
    opened_at        timestamptz,
    -- where it is now (community or district) and at which of the five steps
    level            text,
    district_code    text,
    stage            text,
    stage_at         timestamptz,
    stage_seq        integer,
    topic            text,
    parties          jsonb,
    topic_seq        integer,
    minutes          text,
    settled          boolean,
    participants     jsonb,
    held_at          timestamptz,
    held_seq         integer,
    decision         text,
    assignments      jsonb,
    decided_at       timestamptz,
    decided_seq      integer,
    verdict          text,
    review_satisfied boolean,
    reviewed_at      timestamptz,
    reviewed_seq     integer,
    raised_at        timestamptz,
    raise_reason     text,
    -- --- ballot ---
    held_ballot_id   uuid,   -- the ballot whose result the last meeting was (征求意见、表决)
    cost_shares      jsonb   -- 联合出资: who pays what, as decided
);
CREATE INDEX IF NOT EXISTS agenda_items_community ON agenda_items (community_code, opened_at);
CREATE INDEX IF NOT EXISTS agenda_items_level ON agenda_items (level, district_code);
