-- Read model "patrols": grid workers' and grid heads' patrols 巡查 (每日巡、及时记), one row
-- per patrol and one per matter found on it. Findings feed the recurring places (a place found
-- again and again counts even when no resident complained) and the patrol measures. Each row
-- is one PatrolRecorded's, written once (services/reporting/projections.py).
CREATE TABLE IF NOT EXISTS patrols (
    patrol_id       uuid PRIMARY KEY,
    area_code       text,
    district_code   text,
    street_code     text,
    community_code  text,
    grid_code       text,
    place_code      text,
    patroller       text,      -- a staff member's name (no resident's)
    started_at      timestamptz,
    ended_at        timestamptz,
    findings        integer,
    fixed_on_spot   integer,
    recorded_at     timestamptz
);
CREATE INDEX IF NOT EXISTS patrols_started ON patrols (started_at);

CREATE TABLE IF NOT EXISTS patrol_findings (
    finding_id      uuid PRIMARY KEY,
    patrol_id       uuid,
    area_code       text,
    district_code   text,
    street_code     text,
    community_code  text,
    grid_code       text,
    place_code      text,      -- building, else grid: where a problem recurs
    category        text,
    outcome         text,      -- fixed_on_spot | reported | noted
    complaint_id    uuid,      -- the case it became (fixed on the spot, or reported)
    case_number     text,
    found_at        timestamptz
);
CREATE INDEX IF NOT EXISTS patrol_findings_place ON patrol_findings (place_code, category);
