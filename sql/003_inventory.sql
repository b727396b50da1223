-- 003: the enterprise inventory. Units form a tree (sites, business units);
-- services belong to a unit; assets (people, information, technology,
-- facilities) support services through links. Removal is soft (removed_at):
-- history stays, names become free again. Every row carries a version that
-- each update increments (optimistic concurrency, audit).

CREATE TABLE units (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    parent_id       bigint REFERENCES units(id),
    site            text NOT NULL DEFAULT '',
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    removed_at      timestamptz,
    CHECK (parent_id IS NULL OR parent_id <> id)
);
CREATE UNIQUE INDEX units_name_active ON units (name) WHERE removed_at IS NULL;
CREATE INDEX units_parent ON units (parent_id);

CREATE TABLE services (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    unit_id         bigint NOT NULL REFERENCES units(id),
    mission         text NOT NULL DEFAULT '',
    criticality     text NOT NULL DEFAULT 'medium'
                    CHECK (criticality IN ('high', 'medium', 'low')),
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    removed_at      timestamptz
);
CREATE UNIQUE INDEX services_name_active ON services (name) WHERE removed_at IS NULL;
CREATE INDEX services_unit ON services (unit_id);

CREATE TABLE assets (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    type            text NOT NULL
                    CHECK (type IN ('people', 'information', 'technology', 'facilities')),
    unit_id         bigint REFERENCES units(id),
    owner           text NOT NULL DEFAULT '',
    description     text NOT NULL DEFAULT '',
    tags            jsonb NOT NULL DEFAULT '[]',
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    removed_at      timestamptz
);
CREATE UNIQUE INDEX assets_name_active ON assets (name) WHERE removed_at IS NULL;
CREATE INDEX assets_unit ON assets (unit_id);
CREATE INDEX assets_type ON assets (type);

-- "asset supports service". Unlinking deletes the row; the event log keeps
-- the history.
CREATE TABLE service_assets (
    service_id      bigint NOT NULL REFERENCES services(id),
    asset_id        bigint NOT NULL REFERENCES assets(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service_id, asset_id)
);
CREATE INDEX service_assets_asset ON service_assets (asset_id);

-- A user may be scoped to a unit: such a user writes only that unit's
-- subtree. NULL: not scoped (admins and program-office write everything;
-- an unscoped plain user reads only).
ALTER TABLE users ADD COLUMN unit_id bigint REFERENCES units(id);
