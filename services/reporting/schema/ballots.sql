-- Read model "ballots": consultations and ballots (征求意见、表决) of an area's households, and
-- their turnout. No household ids: a ballot's roll is a count, a vote a row keyed by its event.
CREATE TABLE IF NOT EXISTS ballots (
    ballot_id      uuid PRIMARY KEY,
    item_id        uuid,
    kind           text,
    title          text,
    proposal       text,
    options        jsonb,
    quorum         text,
    majority       text,
    majority_of    text,
    area_code      text,
    community_code text,
    eligible       integer,
    opened_at      timestamptz,
    closes_at      timestamptz,
    -- the result, once closed
    cast_count     integer,
    tally          jsonb,
    quorum_met     boolean,
    carried        boolean,
    outcome        text,
    closed_at      timestamptz
);
CREATE INDEX IF NOT EXISTS ballots_community ON ballots (community_code, closes_at);

CREATE TABLE IF NOT EXISTS ballot_votes (
    vote_id   uuid PRIMARY KEY,
    ballot_id uuid,
    method    text,
    cast_at   timestamptz
);
CREATE INDEX IF NOT EXISTS ballot_votes_ballot ON ballot_votes (ballot_id);
