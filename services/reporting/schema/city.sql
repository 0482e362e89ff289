-- Read model "city": the names of areas and units as dispatch's city model has them
-- (CityModelChanged), so that reports say 榆山街道 rather than 370124001000.
CREATE TABLE IF NOT EXISTS areas (
    code       text PRIMARY KEY,
    name       text,
    level      text,
    parent     text,
    removed    boolean,
    removed_seq bigint,
    change_seq bigint
);
CREATE TABLE IF NOT EXISTS responders (
    id         text PRIMARY KEY,
    name       text,
    kind       text,
    person     text,      -- 负责人: the named person on the public board
    areas      jsonb,
    removed    boolean,
    removed_seq bigint,
    change_seq bigint
);
CREATE TABLE IF NOT EXISTS categories (
    code       text PRIMARY KEY,
    name       text,
    category_group text,
    priority   text,
    removed    boolean,
    removed_seq bigint,
    change_seq bigint
);
