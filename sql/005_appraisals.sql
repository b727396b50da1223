-- 005: appraisals, their scope and members, evidence with content-addressed
-- chunked blobs, and the per-appraisal hash chain over the event log.
--
-- An appraisal names models and process areas (scope), instances (services
-- or units of the inventory, the things practices are judged on) and
-- members with per-appraisal roles. Appraisals are never deleted; finalising
-- seals one (sealed_at, sealed_head) and every later change is refused.

CREATE TABLE appraisals (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 128),
    description     text NOT NULL DEFAULT '',
    -- The default target capability level of every PA in scope (0-3);
    -- appraisal_pas.target_level overrides it per PA.
    target_level    integer NOT NULL DEFAULT 1 CHECK (target_level BETWEEN 0 AND 3),
    -- Minimum share of instances (percent) whose affirmations must cover a
    -- practice for its goal to be rated (appraisal-rules.md, coverage).
    affirmation_coverage integer NOT NULL DEFAULT 50
                    CHECK (affirmation_coverage BETWEEN 0 AND 100),
    created_by      bigint NOT NULL REFERENCES users(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Hash chain over this appraisal's events: number of events and the
    -- SHA-256 of the last one (32 zero bytes before the first).
    events          bigint NOT NULL DEFAULT 0,
    head            bytea NOT NULL DEFAULT decode(repeat('00', 32), 'hex')
                    CHECK (length(head) = 32),
    sealed_at       timestamptz,
    sealed_by       bigint REFERENCES users(id),
    sealed_head     bytea CHECK (sealed_head IS NULL OR length(sealed_head) = 32),
    CHECK ((sealed_at IS NULL) = (sealed_head IS NULL))
);

-- Models an appraisal uses. RESTRICT: a model in use by an appraisal cannot
-- be deleted or replaced (`opra model import --replace` is refused).
CREATE TABLE appraisal_models (
    appraisal_id    bigint NOT NULL REFERENCES appraisals(id),
    model_id        bigint NOT NULL REFERENCES models(id) ON DELETE RESTRICT,
    PRIMARY KEY (appraisal_id, model_id)
);

-- Process areas in scope, each optionally with its own target level.
CREATE TABLE appraisal_pas (
    appraisal_id    bigint NOT NULL REFERENCES appraisals(id),
    pa_id           bigint NOT NULL REFERENCES process_areas(id) ON DELETE RESTRICT,
    target_level    integer CHECK (target_level IS NULL OR target_level BETWEEN 0 AND 3),
    PRIMARY KEY (appraisal_id, pa_id)
);
CREATE INDEX appraisal_pas_pa ON appraisal_pas (pa_id);

-- Instances: the services or units practices are characterised on. `name`
-- is how people refer to the instance within the appraisal (the inventory
-- name at scoping time; unique within the appraisal).
CREATE TABLE appraisal_instances (
    id              bigserial PRIMARY KEY,
    appraisal_id    bigint NOT NULL REFERENCES appraisals(id),
    kind            text NOT NULL CHECK (kind IN ('service', 'unit')),
    service_id      bigint REFERENCES services(id),
    unit_id         bigint REFERENCES units(id),
    name            text NOT NULL,
    added_at        timestamptz NOT NULL DEFAULT now(),
    added_by        bigint NOT NULL REFERENCES users(id),
    CHECK ((kind = 'service') = (service_id IS NOT NULL)),
    CHECK ((kind = 'unit') = (unit_id IS NOT NULL)),
    UNIQUE (appraisal_id, name)
);
CREATE UNIQUE INDEX appraisal_instances_service ON appraisal_instances (appraisal_id, service_id)
    WHERE service_id IS NOT NULL;
CREATE UNIQUE INDEX appraisal_instances_unit ON appraisal_instances (appraisal_id, unit_id)
    WHERE unit_id IS NOT NULL;
CREATE INDEX appraisal_instances_service_id ON appraisal_instances (service_id);
CREATE INDEX appraisal_instances_unit_id ON appraisal_instances (unit_id);

CREATE TABLE appraisal_members (
    appraisal_id    bigint NOT NULL REFERENCES appraisals(id),
    user_id         bigint NOT NULL REFERENCES users(id),
    role            text NOT NULL CHECK (role IN ('lead', 'appraiser', 'viewer', 'automation')),
    added_at        timestamptz NOT NULL DEFAULT now(),
    added_by        bigint NOT NULL REFERENCES users(id),
    PRIMARY KEY (appraisal_id, user_id)
);
CREATE INDEX appraisal_members_user ON appraisal_members (user_id);

-- Evidence files travel in chunks. An upload collects the chunks of one
-- (sha256, size); the blob exists only once Commit has verified the bytes
-- against the declared SHA-256 (a row in blobs). Chunks of uploads that
-- never commit are invisible and may be collected later.
CREATE TABLE uploads (
    id              bigserial PRIMARY KEY,
    sha256          bytea NOT NULL CHECK (length(sha256) = 32),
    size            bigint NOT NULL CHECK (size >= 0),
    chunk_size      integer NOT NULL CHECK (chunk_size > 0),
    user_id         bigint NOT NULL REFERENCES users(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    committed_at    timestamptz,
    -- Incremental hashing of the chunks received in order: the SHA-256
    -- state after `hashed_upto` bytes (opaque to SQL), so Commit need not
    -- read everything back. NULL: Commit hashes from the start.
    hashed_upto     bigint NOT NULL DEFAULT 0,
    hash_state      bytea
);
-- One open upload per content: concurrent and resumed uploads of the same
-- file share it.
CREATE UNIQUE INDEX uploads_open ON uploads (sha256, size) WHERE committed_at IS NULL;

CREATE TABLE upload_chunks (
    upload_id       bigint NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    seq             integer NOT NULL CHECK (seq >= 0),
    data            bytea NOT NULL,
    PRIMARY KEY (upload_id, seq)
);
-- Evidence is mostly compressed already (PDF, images, archives): store the
-- chunks out of line without trying to compress them again.
ALTER TABLE upload_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE blobs (
    sha256          bytea PRIMARY KEY CHECK (length(sha256) = 32),
    size            bigint NOT NULL CHECK (size >= 0),
    upload_id       bigint NOT NULL UNIQUE REFERENCES uploads(id),
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Objective evidence for (practice, instance). Text evidence (affirmation
-- notes, short artifacts) is stored inline; files are blobs. Evidence from
-- automation starts as proposed; only accepted evidence counts.
CREATE TABLE evidence (
    id              bigserial PRIMARY KEY,
    appraisal_id    bigint NOT NULL REFERENCES appraisals(id),
    practice_id     bigint NOT NULL REFERENCES practices(id) ON DELETE RESTRICT,
    instance_id     bigint NOT NULL REFERENCES appraisal_instances(id),
    kind            text NOT NULL CHECK (kind IN ('artifact', 'affirmation')),
    title           text NOT NULL DEFAULT '',
    status          text NOT NULL CHECK (status IN ('proposed', 'accepted', 'rejected')),
    sha256          bytea NOT NULL CHECK (length(sha256) = 32),
    size            bigint NOT NULL CHECK (size >= 0),
    body_text       text,
    blob_sha256     bytea REFERENCES blobs(sha256),
    file_name       text NOT NULL DEFAULT '',
    submitted_by    bigint NOT NULL REFERENCES users(id),
    submitted_at    timestamptz NOT NULL DEFAULT now(),
    site            text NOT NULL DEFAULT '',
    client_id       text NOT NULL DEFAULT '',
    decided_by      bigint REFERENCES users(id),
    decided_at      timestamptz,
    reason          text NOT NULL DEFAULT '',
    CHECK ((body_text IS NULL) <> (blob_sha256 IS NULL))
);
CREATE INDEX evidence_appraisal ON evidence (appraisal_id, practice_id, instance_id);
CREATE INDEX evidence_blob ON evidence (blob_sha256) WHERE blob_sha256 IS NOT NULL;

-- The event log gains the per-appraisal hash chain and a transaction id for
-- watchers. For an appraisal's events: seq = 1, 2, ... in commit order (the
-- appraisal row is locked from the append to the commit), and
--   hash = sha256(previous hash || event_canonical(event))
-- with the previous hash of seq 1 being 32 zero bytes. `xid` lets a watcher
-- of all appraisals read events in an order no later commit can insert into
-- (docs/protocol.md, watch).
ALTER TABLE events
    ADD COLUMN appraisal_id bigint REFERENCES appraisals(id),
    ADD COLUMN seq          bigint,
    ADD COLUMN hash         bytea CHECK (hash IS NULL OR length(hash) = 32),
    ADD COLUMN xid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    ADD CHECK ((appraisal_id IS NULL) = (seq IS NULL) AND (seq IS NULL) = (hash IS NULL));
CREATE UNIQUE INDEX events_appraisal_seq ON events (appraisal_id, seq) WHERE appraisal_id IS NOT NULL;
CREATE INDEX events_xid ON events (xid, id);

-- What the chain hashes for one event: its fields as text, one per line, in
-- a form that does not depend on session settings. oprad's verifier
-- (opra audit --verify) recomputes this in C from the same columns.
CREATE FUNCTION event_canonical(e events) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to(concat_ws(E'\n',
        'opra-event-v1',
        e.seq::text,
        (extract(epoch FROM e.at) * 1000000)::bigint::text,
        coalesce(e.actor_id::text, ''),
        e.actor, e.client_id, e.site, e.peer, e.method, e.object,
        coalesce(e.before::text, 'null'),
        coalesce(e.after::text, 'null')), 'UTF8')
$$;

-- Appends one event to an appraisal's chain in the caller's transaction and
-- returns its seq and hash. Refused (SQLSTATE 55000) once the appraisal is
-- sealed, except for the sealing event itself (p_sealing). Notifies
-- watchers (channel opra_events, payload = appraisal id) at commit.
CREATE FUNCTION append_event(p_appraisal bigint, p_actor_id bigint, p_actor text,
                             p_client_id text, p_site text, p_peer text, p_method text,
                             p_object text, p_before jsonb, p_after jsonb,
                             p_sealing boolean DEFAULT false,
                             OUT o_id bigint, OUT o_seq bigint, OUT o_hash bytea)
LANGUAGE plpgsql AS $$
DECLARE
    a appraisals%ROWTYPE;
    e events%ROWTYPE;
BEGIN
    SELECT * INTO a FROM appraisals WHERE id = p_appraisal FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'appraisal % does not exist', p_appraisal USING ERRCODE = '23503';
    END IF;
    IF a.sealed_at IS NOT NULL AND NOT p_sealing THEN
        RAISE EXCEPTION 'appraisal ''%'' was finalised (sealed) at %; it cannot change',
            a.name, a.sealed_at USING ERRCODE = '55000';
    END IF;
    -- The row is built first so the hash covers exactly what is stored;
    -- now() is the transaction's timestamp, the same the column default uses.
    e.id := nextval(pg_get_serial_sequence('events', 'id'));
    e.at := now();
    e.actor_id := p_actor_id;
    e.actor := p_actor;
    e.client_id := coalesce(p_client_id, '');
    e.site := coalesce(p_site, '');
    e.peer := coalesce(p_peer, '');
    e.method := p_method;
    e.object := p_object;
    e.before := p_before;
    e.after := p_after;
    e.appraisal_id := p_appraisal;
    e.seq := a.events + 1;
    o_hash := sha256(a.head || event_canonical(e));
    INSERT INTO events (id, at, actor_id, actor, client_id, site, peer, method, object, before,
                        after, appraisal_id, seq, hash)
    VALUES (e.id, e.at, e.actor_id, e.actor, e.client_id, e.site, e.peer, e.method, e.object,
            e.before, e.after, e.appraisal_id, e.seq, o_hash);
    UPDATE appraisals SET events = e.seq, head = o_hash WHERE id = p_appraisal;
    PERFORM pg_notify('opra_events', p_appraisal::text);
    o_id := e.id;
    o_seq := e.seq;
END
$$;
