-- 008: the team's judgements on the evidence: characterisations of each
-- (practice, instance) with a version for optimistic concurrency,
-- weaknesses, a lead's judgements where aggregation needs one, and links
-- that reuse evidence of one practice for a practice it maps to. Ratings
-- are not stored: the server recomputes them from these facts on every
-- read (common/rating.h).

CREATE TABLE characterisations (
    appraisal_id    bigint NOT NULL REFERENCES appraisals(id),
    practice_id     bigint NOT NULL REFERENCES practices(id) ON DELETE RESTRICT,
    instance_id     bigint NOT NULL REFERENCES appraisal_instances(id),
    value           text NOT NULL CHECK (value IN ('fi', 'li', 'pi', 'ni', 'ny')),
    note            text NOT NULL DEFAULT '',
    -- 1 for the first write; every change increments it. A writer that
    -- read version N passes --expect-version N and is refused when it moved.
    version         integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    updated_by      bigint NOT NULL REFERENCES users(id),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    site            text NOT NULL DEFAULT '',
    PRIMARY KEY (appraisal_id, practice_id, instance_id)
);

CREATE TABLE weaknesses (
    id              bigserial PRIMARY KEY,
    appraisal_id    bigint NOT NULL REFERENCES appraisals(id),
    practice_id     bigint NOT NULL REFERENCES practices(id) ON DELETE RESTRICT,
    instance_id     bigint NOT NULL REFERENCES appraisal_instances(id),
    text            text NOT NULL CHECK (length(text) BETWEEN 1 AND 4096),
    significant     boolean NOT NULL DEFAULT false,
    created_by      bigint NOT NULL REFERENCES users(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    site            text NOT NULL DEFAULT ''
);
CREATE INDEX weaknesses_appraisal ON weaknesses (appraisal_id, practice_id, instance_id);

-- A lead's organisational-level label for a practice whose instance labels
-- the method leaves to judgement (appraisal-rules.md §4, rows A3/A4).
CREATE TABLE judgements (
    appraisal_id    bigint NOT NULL REFERENCES appraisals(id),
    practice_id     bigint NOT NULL REFERENCES practices(id) ON DELETE RESTRICT,
    value           text NOT NULL CHECK (value IN ('fi', 'li', 'pi', 'ni')),
    rationale       text NOT NULL CHECK (length(rationale) BETWEEN 1 AND 4096),
    version         integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    judged_by       bigint NOT NULL REFERENCES users(id),
    judged_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (appraisal_id, practice_id)
);

-- Evidence reused for another (practice, instance) of the same appraisal,
-- typically a practice it maps to through the crosswalk (model_refs). The
-- evidence row keeps its own practice; a link adds where else it counts.
CREATE TABLE evidence_links (
    evidence_id     bigint NOT NULL REFERENCES evidence(id),
    practice_id     bigint NOT NULL REFERENCES practices(id) ON DELETE RESTRICT,
    instance_id     bigint NOT NULL REFERENCES appraisal_instances(id),
    linked_by       bigint NOT NULL REFERENCES users(id),
    linked_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (evidence_id, practice_id, instance_id)
);
CREATE INDEX evidence_links_target ON evidence_links (practice_id, instance_id);
