-- 012: the improvement plan (issue 8, docs/plan.md): actions an
-- appraisal's plan takes against the goals and practices that block the
-- next capability level.
--
-- Plans are made after an appraisal is finalised, so these rows are not
-- facts of the appraisal: nothing here feeds the rating, and changes are
-- allowed on sealed appraisals. They are audited in the non-chained event
-- log (events rows with appraisal_id NULL, object 'plan:APPRAISAL#N', the
-- action before and after as JSON), so the appraisal's hash chain and its
-- seal stay exactly as they were.
--
-- Money is stored as integer hundredths of the currency unit (cents);
-- every action of one appraisal's plan has the same ISO 4217 currency (the
-- server checks it when adding).

CREATE TABLE plan_actions (
    id              bigserial PRIMARY KEY,
    appraisal_id    bigint NOT NULL REFERENCES appraisals(id),
    number          integer NOT NULL CHECK (number >= 1),
    title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    owner           text NOT NULL DEFAULT '' CHECK (length(owner) <= 128),
    due             date,
    status          text NOT NULL DEFAULT 'planned'
                    CHECK (status IN ('planned', 'in-progress', 'done', 'dropped')),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    estimated_cost  bigint NOT NULL DEFAULT 0 CHECK (estimated_cost BETWEEN 0 AND 100000000000000000),
    actual_cost     bigint NOT NULL DEFAULT 0 CHECK (actual_cost BETWEEN 0 AND 100000000000000000),
    version         integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_by      bigint NOT NULL REFERENCES users(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_by      bigint NOT NULL REFERENCES users(id),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (appraisal_id, number)
);

-- The goals and practices one action works on (at least one; the server
-- checks). pa_id is the process area of the goal or practice, for plan
-- show's per-PA view.
CREATE TABLE plan_action_targets (
    action_id       bigint NOT NULL REFERENCES plan_actions(id) ON DELETE CASCADE,
    ord             integer NOT NULL,
    pa_id           bigint NOT NULL REFERENCES process_areas(id) ON DELETE RESTRICT,
    goal_id         bigint REFERENCES goals(id) ON DELETE RESTRICT,
    practice_id     bigint REFERENCES practices(id) ON DELETE RESTRICT,
    label           text NOT NULL,
    CHECK ((goal_id IS NULL) <> (practice_id IS NULL)),
    PRIMARY KEY (action_id, ord)
);
