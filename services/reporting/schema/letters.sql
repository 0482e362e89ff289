-- What operators did with dead letters (services/reporting/letters.py): each redrive or park,
-- by whom and why. Not a read model: no event holds it, so nothing could rebuild it, and a
-- rebuild leaves it alone (like api_keys).
CREATE TABLE IF NOT EXISTS dead_letter_actions (
    action_id  bigserial   PRIMARY KEY,
    letter_id  text        NOT NULL,  -- kafka:<dlq topic>:<partition>:<offset> | notify:<notification id>
    action     text        NOT NULL CHECK (action IN ('redrive', 'park')),
    actor      text        NOT NULL,  -- the console key's name
    reason     text        NOT NULL,
    topic      text        NOT NULL,
    event_type text,
    acted_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dead_letter_actions_letter ON dead_letter_actions (letter_id, acted_at);
