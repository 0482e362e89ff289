-- Dispatch's own tables beside the event store.
-- Every load of a city model is kept (and recorded as a CityModelLoaded event), so a routing
-- decision can always be explained by the catalogue version it used.
CREATE TABLE IF NOT EXISTS city_models (
    version   serial PRIMARY KEY,
    checksum  text        NOT NULL,
    body      jsonb       NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS work_orders (
    work_order_id     uuid PRIMARY KEY,
    complaint_id      uuid        NOT NULL,
    responder_id      text        NOT NULL,
    role              text        NOT NULL,
    status            text        NOT NULL,
    priority          text        NOT NULL,
    rule_id           text,
    catalogue_version integer     NOT NULL,
    due_at            timestamptz NOT NULL,
    issued_at         timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS work_orders_complaint ON work_orders (complaint_id);
CREATE INDEX IF NOT EXISTS work_orders_responder ON work_orders (responder_id, status);
