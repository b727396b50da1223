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

-- Stored tags are always a JSON array of strings (the server writes them).
ALTER TABLE assets ADD CONSTRAINT assets_tags_array CHECK (jsonb_typeof(tags) = 'array');

-- Refusing removal of a unit that users are still scoped to looks them up.
CREATE INDEX users_unit ON users (unit_id) WHERE unit_id IS NOT NULL;

-- Defence in depth for the tree: no unit may become its own ancestor,
-- whatever path writes parent_id. The server checks first and answers with a
-- message naming both units; it also serialises moves with a transaction
-- advisory lock, since two concurrent moves (A under B, B under A) each pass
-- this check alone.
CREATE FUNCTION units_no_cycle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.parent_id IS NOT NULL AND EXISTS (
        WITH RECURSIVE up(id, parent_id) AS (
            SELECT id, parent_id FROM units WHERE id = NEW.parent_id
            UNION
            SELECT u.id, u.parent_id FROM units u JOIN up ON u.id = up.parent_id)
        SELECT 1 FROM up WHERE id = NEW.id) THEN
        RAISE EXCEPTION 'unit "%" cannot be placed there: the new parent is inside its subtree',
            NEW.name USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER units_no_cycle BEFORE UPDATE OF parent_id ON units
    FOR EACH ROW WHEN (NEW.parent_id IS DISTINCT FROM OLD.parent_id)
    EXECUTE FUNCTION units_no_cycle();
