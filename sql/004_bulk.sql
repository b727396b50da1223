-- 004: bulk import (InventoryBulk). An import is staged in batches into
-- import_rows and applied in one transaction at Commit; Abort or a real
-- Commit deletes it. Staged rows are scratch data: UNLOGGED (a crash loses
-- them, and the client starts the import again).

CREATE TABLE imports (
    id              text PRIMARY KEY,          -- 32 random hex digits
    user_id         bigint NOT NULL REFERENCES users(id),
    source          text NOT NULL DEFAULT '',  -- the client's file name
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE UNLOGGED TABLE import_rows (
    import_id       text NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    seq             integer NOT NULL,          -- the batch
    ord             integer NOT NULL,          -- the record within the batch
    line            bigint NOT NULL,           -- line in the client's file
    kind            text NOT NULL,
    name            text NOT NULL DEFAULT '',
    parent          text NOT NULL DEFAULT '',
    site            text NOT NULL DEFAULT '',
    unit            text NOT NULL DEFAULT '',
    mission         text NOT NULL DEFAULT '',
    criticality     text NOT NULL DEFAULT '',
    type            text NOT NULL DEFAULT '',
    owner           text NOT NULL DEFAULT '',
    description     text NOT NULL DEFAULT '',
    tags            jsonb NOT NULL DEFAULT '[]',
    service         text NOT NULL DEFAULT '',
    asset           text NOT NULL DEFAULT '',
    -- Scratch columns Commit fills for units: created by this import, and
    -- the parent the unit had before it.
    created         boolean NOT NULL DEFAULT false,
    old_parent      bigint,
    PRIMARY KEY (import_id, seq, ord)
);
CREATE INDEX import_rows_kind ON import_rows (import_id, kind);
