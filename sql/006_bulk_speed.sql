-- 006: faster bulk import (docs/inventory.md). Stage stores each batch
-- whole, as one row of import_batches holding its records as COPY text per
-- kind, instead of one import_rows row (and two index entries) per record;
-- Commit COPYs the batches into temporary tables and applies them from
-- there. imports counts what was staged, so that Commit notices batches a
-- database crash took away (import_batches is UNLOGGED, like import_rows
-- was: a crash empties it) and refuses to apply the rest.

-- Imports staged in the old layout cannot be committed any more: they are
-- dropped (their clients get "no import ... start one with BulkBegin" and
-- run the import again).
DELETE FROM imports;
DROP TABLE import_rows;

ALTER TABLE imports
    ADD COLUMN batches integer NOT NULL DEFAULT 0,  -- distinct seq staged
    ADD COLUMN records bigint NOT NULL DEFAULT 0;   -- records in them

CREATE UNLOGGED TABLE import_batches (
    import_id       text NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    seq             integer NOT NULL,
    records         integer NOT NULL,
    -- The batch's records of each kind, one COPY text row per record
    -- (columns: seq, ord, line, then the kind's fields; see svc_bulk.c).
    units           text NOT NULL DEFAULT '',
    services        text NOT NULL DEFAULT '',
    assets          text NOT NULL DEFAULT '',
    links           text NOT NULL DEFAULT '',
    PRIMARY KEY (import_id, seq)
);
-- Written once, read once: compressing them costs more than it saves.
ALTER TABLE import_batches
    ALTER COLUMN units SET STORAGE EXTERNAL,
    ALTER COLUMN services SET STORAGE EXTERNAL,
    ALTER COLUMN assets SET STORAGE EXTERNAL,
    ALTER COLUMN links SET STORAGE EXTERNAL;
