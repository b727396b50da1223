-- 015: accepted evidence counted once per INSERT statement, not per row.
--
-- sql/010_rating_cells.sql kept rating_cells exact with a row trigger on
-- evidence inserts: one plpgsql call and one upsert per accepted row. A
-- group-commit batch of Evidence/Submit (evidence_submit_batch) inserts all
-- of its rows in one statement, mostly for a handful of cells, so that
-- trigger was a third of a submission's cost in PostgreSQL (about 25 of 75
-- microseconds per row, EXPLAIN ANALYZE of a 64-row batch). The statement
-- trigger below reads the statement's new rows (a transition table), adds
-- them up per cell and upserts each cell once: the same counts, in the same
-- transaction, whoever inserts (a batch, a single Submit, plain SQL).
-- Updates, deletes and links keep their row triggers (010): they touch one
-- row at a time.

DROP TRIGGER rating_cells_evidence_insert ON evidence;
DROP FUNCTION rating_cells_on_evidence_insert();

CREATE FUNCTION rating_cells_on_evidence_insert_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rating_cells AS c (appraisal_id, practice_id, instance_id, artifacts,
                                   affirmations)
    SELECT n.appraisal_id, n.practice_id, n.instance_id,
           count(*) FILTER (WHERE n.kind = 'artifact'),
           count(*) FILTER (WHERE n.kind = 'affirmation')
      FROM new_evidence n
     WHERE n.status = 'accepted'
     GROUP BY n.appraisal_id, n.practice_id, n.instance_id
    ON CONFLICT (appraisal_id, practice_id, instance_id) DO UPDATE
       SET artifacts = c.artifacts + EXCLUDED.artifacts,
           affirmations = c.affirmations + EXCLUDED.affirmations;
    RETURN NULL;
END
$$;

CREATE TRIGGER rating_cells_evidence_insert AFTER INSERT ON evidence
    REFERENCING NEW TABLE AS new_evidence
    FOR EACH STATEMENT EXECUTE FUNCTION rating_cells_on_evidence_insert_rows();
