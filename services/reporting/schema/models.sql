-- Which shape of each read model the tables hold, and how its last rebuild went.
CREATE TABLE IF NOT EXISTS read_models (
    name        text PRIMARY KEY,
    version     integer     NOT NULL,
    rebuilt_at  timestamptz,
    events      bigint,
    seconds     double precision
);
