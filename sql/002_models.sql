-- 002: models as data. A model (CERT-RMM, CMMI-SVC, SM, an imported OSCAL
-- catalog, ...) is process areas -> goals (specific and generic) ->
-- practices, each with provenance (confirmed or not), and practices carry
-- cross-references to practices of other models and to codes of practice.

CREATE TABLE models (
    id              bigserial PRIMARY KEY,
    key             text NOT NULL UNIQUE CHECK (key ~ '^[a-z0-9][a-z0-9.-]{0,63}$'),
    name            text NOT NULL,
    short_name      text NOT NULL DEFAULT '',
    version         text NOT NULL,
    publisher       text NOT NULL DEFAULT '',
    description     text NOT NULL DEFAULT '',
    confirmed       boolean NOT NULL DEFAULT true,
    sources         text NOT NULL DEFAULT '',
    note            text NOT NULL DEFAULT '',
    source_format   text NOT NULL DEFAULT 'opra',
    imported_at     timestamptz NOT NULL DEFAULT now(),
    imported_by     bigint REFERENCES users(id)
);

CREATE TABLE process_areas (
    id              bigserial PRIMARY KEY,
    model_id        bigint NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    ord             integer NOT NULL,
    code            text NOT NULL,
    name            text NOT NULL,
    category        text NOT NULL,
    purpose         text NOT NULL DEFAULT '',
    confirmed       boolean NOT NULL DEFAULT true,
    sources         text NOT NULL DEFAULT '',
    note            text NOT NULL DEFAULT '',
    UNIQUE (model_id, code)
);

CREATE TABLE goals (
    id              bigserial PRIMARY KEY,
    pa_id           bigint NOT NULL REFERENCES process_areas(id) ON DELETE CASCADE,
    ord             integer NOT NULL,
    code            text NOT NULL,
    title           text NOT NULL,
    generic         boolean NOT NULL,
    confirmed       boolean NOT NULL DEFAULT true,
    sources         text NOT NULL DEFAULT '',
    note            text NOT NULL DEFAULT '',
    UNIQUE (pa_id, code)
);

CREATE TABLE practices (
    id              bigserial PRIMARY KEY,
    goal_id         bigint NOT NULL REFERENCES goals(id) ON DELETE CASCADE,
    model_id        bigint NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    ord             integer NOT NULL,
    code            text NOT NULL,
    -- "ADM:SG1.SP1"; lower-cased copy for case-insensitive lookups
    full_id         text NOT NULL,
    full_id_lower   text NOT NULL,
    title           text NOT NULL,
    statement       text NOT NULL DEFAULT '',
    subpractices    jsonb NOT NULL DEFAULT '[]',
    work_products   jsonb NOT NULL DEFAULT '[]',
    confirmed       boolean NOT NULL DEFAULT true,
    sources         text NOT NULL DEFAULT '',
    note            text NOT NULL DEFAULT '',
    UNIQUE (model_id, full_id_lower)
);
CREATE INDEX practices_full_id_lower ON practices (full_id_lower);

-- Crosswalk: a reference from a practice or from a whole process area to a
-- practice of a model, a whole process area of a model (by model key and
-- local/full id, so it may point at a model imported later), or a code of
-- practice.
CREATE TABLE model_refs (
    id              bigserial PRIMARY KEY,
    practice_id     bigint REFERENCES practices(id) ON DELETE CASCADE,
    pa_id           bigint REFERENCES process_areas(id) ON DELETE CASCADE,
    ord             integer NOT NULL,
    target_model    text,
    target_practice text,
    target_pa       text,
    -- lower-cased target_practice or target_pa, for lookups
    target_lower    text,
    code            text,
    ref             text,
    note            text NOT NULL DEFAULT '',
    confirmed       boolean NOT NULL DEFAULT true,
    CHECK ((practice_id IS NULL) <> (pa_id IS NULL)),
    CHECK ((target_model IS NOT NULL AND (target_practice IS NULL) <> (target_pa IS NULL)
            AND code IS NULL)
        OR (code IS NOT NULL AND target_model IS NULL AND target_practice IS NULL
            AND target_pa IS NULL))
);
CREATE INDEX model_refs_practice ON model_refs (practice_id);
CREATE INDEX model_refs_pa ON model_refs (pa_id);
CREATE INDEX model_refs_target ON model_refs (target_model, target_lower);
