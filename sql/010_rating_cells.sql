-- 010: everything Rating/Show needs per (practice, instance) in one row
-- (server/svc_rating.c, docs/rating.md "Performance of opra rating show").
--
-- rating_cells holds, per (appraisal, practice, instance):
--   value, version  a copy of the cell's characterisation (value NULL and
--                   version 0 when it has none). characterisations stays
--                   the source of truth (versions, optimistic concurrency,
--                   notes, who and when); this is a derived copy.
--   artifacts, affirmations
--                   how many accepted artifacts and affirmations count
--                   there: the evidence submitted for the cell plus the
--                   evidence linked to it (evidence_links), exactly what
--     SELECT practice_id, instance_id, kind FROM evidence
--      WHERE status = 'accepted'
--     UNION ALL SELECT l.practice_id, l.instance_id, e.kind
--       FROM evidence_links l JOIN evidence e ON e.id = l.evidence_id
--      WHERE e.status = 'accepted'
--                   counts, grouped by e.appraisal_id, practice_id,
--                   instance_id.
-- Show reads only this table for the cells: one row per cell instead of a
-- characterisation row plus a count row.
--
-- The triggers below keep it exact in the same transaction as every change
-- that affects it, whoever makes the change (Characterize, Submit, Decide,
-- Link, a batch function, or plain SQL): a characterisation inserted,
-- changed (value, version, or the cell it is on) or deleted; evidence
-- inserted as accepted, a status change to or from accepted (and a change
-- of kind, practice, instance or appraisal, which the server never makes),
-- evidence deleted; and links inserted, changed or deleted. A cell whose
-- evidence was all rejected and whose characterisation was deleted keeps a
-- row with zeros.
--
-- Cost: evidence inserted as proposed or rejected (automation's
-- submissions) does not even call a trigger function (the WHEN clause
-- filters it out); accepted evidence and every written characterisation
-- cost one INSERT ... ON CONFLICT DO UPDATE per row. No foreign keys: every
-- row is derived from rows whose own keys are checked, and a foreign-key
-- check per upsert would double the cost. fillfactor 90 leaves room on each
-- page so that the updates (no indexed column changes) stay HOT and the
-- rows of an appraisal stay together for Show's scan.
--
-- Concurrency: the server locks the appraisal row before every one of these
-- changes, so they are serialised per appraisal anyway. Without that lock
-- (plain SQL): every change of a cell's row is an upsert or update that
-- reads the row's latest version under its row lock (characterisation
-- columns are set, counts are added to), so concurrent changes of the
-- same cell compose; a link and a status change of the same evidence could
-- each miss the other's uncommitted row, so the link trigger share-locks
-- the evidence row (which conflicts with the UPDATE) and reads its status
-- after the lock.

CREATE TABLE rating_cells (
    appraisal_id    bigint NOT NULL,
    practice_id     bigint NOT NULL,
    instance_id     bigint NOT NULL,
    value           text,
    version         integer NOT NULL DEFAULT 0,
    artifacts       integer NOT NULL DEFAULT 0,
    affirmations    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (appraisal_id, practice_id, instance_id)
) WITH (fillfactor = 90);

-- ---- characterisations: a copy of value and version ----

CREATE FUNCTION rating_cells_on_characterisation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND
                            (OLD.appraisal_id, OLD.practice_id, OLD.instance_id)
                            IS DISTINCT FROM
                            (NEW.appraisal_id, NEW.practice_id, NEW.instance_id)) THEN
        UPDATE rating_cells SET value = NULL, version = 0
         WHERE appraisal_id = OLD.appraisal_id AND practice_id = OLD.practice_id
           AND instance_id = OLD.instance_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO rating_cells AS c (appraisal_id, practice_id, instance_id, value, version)
        VALUES (NEW.appraisal_id, NEW.practice_id, NEW.instance_id, NEW.value, NEW.version)
        ON CONFLICT (appraisal_id, practice_id, instance_id) DO UPDATE
           SET value = EXCLUDED.value, version = EXCLUDED.version;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER rating_cells_characterisation_insert AFTER INSERT ON characterisations
    FOR EACH ROW EXECUTE FUNCTION rating_cells_on_characterisation();

-- A change of the note alone (or of who and when) leaves the copy as is.
CREATE TRIGGER rating_cells_characterisation_update AFTER UPDATE ON characterisations
    FOR EACH ROW WHEN ((OLD.value, OLD.version, OLD.appraisal_id, OLD.practice_id,
                        OLD.instance_id)
                       IS DISTINCT FROM
                       (NEW.value, NEW.version, NEW.appraisal_id, NEW.practice_id,
                        NEW.instance_id))
    EXECUTE FUNCTION rating_cells_on_characterisation();

CREATE TRIGGER rating_cells_characterisation_delete AFTER DELETE ON characterisations
    FOR EACH ROW EXECUTE FUNCTION rating_cells_on_characterisation();

-- ---- evidence and links: accepted artifacts and affirmations ----

-- Adds n (negative to remove) items of kind to every cell where evidence
-- ev counts: its own (practice, instance) and each cell it is linked to.
CREATE FUNCTION rating_cells_add(ev bigint, p_appraisal bigint, p_practice bigint,
                                 p_instance bigint, p_kind text, n integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rating_cells AS c (appraisal_id, practice_id, instance_id, artifacts,
                                   affirmations)
    SELECT p_appraisal, x.practice_id, x.instance_id,
           CASE WHEN p_kind = 'artifact' THEN n * x.k ELSE 0 END,
           CASE WHEN p_kind = 'affirmation' THEN n * x.k ELSE 0 END
      FROM (SELECT practice_id, instance_id, count(*)::integer AS k
              FROM (SELECT p_practice AS practice_id, p_instance AS instance_id
                    UNION ALL
                    SELECT l.practice_id, l.instance_id FROM evidence_links l
                     WHERE l.evidence_id = ev) y
             GROUP BY practice_id, instance_id) x
    ON CONFLICT (appraisal_id, practice_id, instance_id) DO UPDATE
       SET artifacts = c.artifacts + EXCLUDED.artifacts,
           affirmations = c.affirmations + EXCLUDED.affirmations;
END
$$;

-- Evidence inserted as accepted: one upsert (a new row has no links yet).
CREATE FUNCTION rating_cells_on_evidence_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rating_cells AS c (appraisal_id, practice_id, instance_id, artifacts,
                                   affirmations)
    VALUES (NEW.appraisal_id, NEW.practice_id, NEW.instance_id,
            CASE WHEN NEW.kind = 'artifact' THEN 1 ELSE 0 END,
            CASE WHEN NEW.kind = 'affirmation' THEN 1 ELSE 0 END)
    ON CONFLICT (appraisal_id, practice_id, instance_id) DO UPDATE
       SET artifacts = c.artifacts + EXCLUDED.artifacts,
           affirmations = c.affirmations + EXCLUDED.affirmations;
    RETURN NULL;
END
$$;

CREATE TRIGGER rating_cells_evidence_insert AFTER INSERT ON evidence
    FOR EACH ROW WHEN (NEW.status = 'accepted')
    EXECUTE FUNCTION rating_cells_on_evidence_insert();

-- Status (or placement) changed, or evidence deleted: take the old row's
-- counts out where it counted, and put the new row's in.
CREATE FUNCTION rating_cells_on_evidence_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'accepted' THEN
        PERFORM rating_cells_add(OLD.id, OLD.appraisal_id, OLD.practice_id,
                                 OLD.instance_id, OLD.kind, -1);
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.status = 'accepted' THEN
        PERFORM rating_cells_add(NEW.id, NEW.appraisal_id, NEW.practice_id,
                                 NEW.instance_id, NEW.kind, 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER rating_cells_evidence_update AFTER UPDATE ON evidence
    FOR EACH ROW WHEN ((OLD.status = 'accepted' OR NEW.status = 'accepted') AND
                       (OLD.status, OLD.kind, OLD.appraisal_id, OLD.practice_id,
                        OLD.instance_id, OLD.id)
                       IS DISTINCT FROM
                       (NEW.status, NEW.kind, NEW.appraisal_id, NEW.practice_id,
                        NEW.instance_id, NEW.id))
    EXECUTE FUNCTION rating_cells_on_evidence_change();

CREATE TRIGGER rating_cells_evidence_delete AFTER DELETE ON evidence
    FOR EACH ROW WHEN (OLD.status = 'accepted')
    EXECUTE FUNCTION rating_cells_on_evidence_change();

-- A link counts its evidence in one more cell while the evidence is
-- accepted.
CREATE FUNCTION rating_cells_on_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    e record;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        SELECT appraisal_id, kind, status INTO e FROM evidence
         WHERE id = OLD.evidence_id FOR SHARE;
        IF FOUND AND e.status = 'accepted' THEN
            UPDATE rating_cells
               SET artifacts = artifacts - CASE WHEN e.kind = 'artifact' THEN 1 ELSE 0 END,
                   affirmations = affirmations -
                                  CASE WHEN e.kind = 'affirmation' THEN 1 ELSE 0 END
             WHERE appraisal_id = e.appraisal_id AND practice_id = OLD.practice_id
               AND instance_id = OLD.instance_id;
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        SELECT appraisal_id, kind, status INTO e FROM evidence
         WHERE id = NEW.evidence_id FOR SHARE;
        IF FOUND AND e.status = 'accepted' THEN
            INSERT INTO rating_cells AS c (appraisal_id, practice_id, instance_id,
                                           artifacts, affirmations)
            VALUES (e.appraisal_id, NEW.practice_id, NEW.instance_id,
                    CASE WHEN e.kind = 'artifact' THEN 1 ELSE 0 END,
                    CASE WHEN e.kind = 'affirmation' THEN 1 ELSE 0 END)
            ON CONFLICT (appraisal_id, practice_id, instance_id) DO UPDATE
               SET artifacts = c.artifacts + EXCLUDED.artifacts,
                   affirmations = c.affirmations + EXCLUDED.affirmations;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER rating_cells_link AFTER INSERT OR UPDATE OR DELETE ON evidence_links
    FOR EACH ROW EXECUTE FUNCTION rating_cells_on_link();

-- The cells of what is stored so far, in key order (so each appraisal's
-- rows are together). Migrations run in one transaction, and every writer
-- of these tables takes a lock this waits for.
LOCK TABLE characterisations, evidence, evidence_links IN SHARE MODE;
INSERT INTO rating_cells (appraisal_id, practice_id, instance_id, value, version, artifacts,
                          affirmations)
SELECT appraisal_id, practice_id, instance_id, max(value), coalesce(max(version), 0),
       count(*) FILTER (WHERE kind = 'artifact'),
       count(*) FILTER (WHERE kind = 'affirmation')
  FROM (SELECT c.appraisal_id, c.practice_id, c.instance_id, c.value, c.version,
               NULL::text AS kind
          FROM characterisations c
        UNION ALL
        SELECT e.appraisal_id, e.practice_id, e.instance_id, NULL, NULL, e.kind
          FROM evidence e
         WHERE e.status = 'accepted'
        UNION ALL
        SELECT e.appraisal_id, l.practice_id, l.instance_id, NULL, NULL, e.kind
          FROM evidence_links l JOIN evidence e ON e.id = l.evidence_id
         WHERE e.status = 'accepted') x
 GROUP BY appraisal_id, practice_id, instance_id
 ORDER BY appraisal_id, practice_id, instance_id;
