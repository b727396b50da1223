-- 017: fewer per-row foreign-key checks on the rows every submission writes.
--
-- One Evidence/Submit writes an evidence row, an event and an idempotency
-- record. Their foreign keys cost one RI check (an SPI query with a row
-- lock) per key per row: seven per submission, about 30 of the ~75
-- microseconds PostgreSQL spent per row of a 64-row batch, and 0.2 ms of a
-- single submission (EXPLAIN ANALYZE trigger times; docs/evidence.md,
-- "Throughput").
--
-- Four of those keys point at rows that are never deleted: users (revoked,
-- never removed: a token's user stays in the audit trail) and appraisals
-- (sealed, never removed). That is now a rule the database enforces for
-- everyone, not a habit of the server: deleting, truncating or renumbering
-- users or appraisals fails (SQLSTATE 55000). With it, a reference to a user
-- or an appraisal that existed cannot dangle, and the per-row checks of
-- evidence.submitted_by, events.actor_id, events.appraisal_id and
-- idempotency.user_id are dropped (the server writes only ids it has just
-- read: the authenticated caller, the appraisal it locked).
--
-- evidence.appraisal_id and evidence.instance_id become ONE composite key
-- into appraisal_instances (appraisal_id, id): one check instead of two,
-- and a stronger one (the instance must belong to that appraisal, which
-- the separate keys did not say). evidence.practice_id keeps its key
-- (practices go away with a replaced model; ON DELETE RESTRICT guards
-- that), as do decided_by (checked only when a decision is recorded) and
-- blob_sha256 (NULL for text).

CREATE FUNCTION opra_refuse_removal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never deleted or renumbered (other rows refer to them '
                    'without a foreign key): revoke users, finalise appraisals', TG_TABLE_NAME
        USING ERRCODE = '55000';
END
$$;

CREATE TRIGGER users_never_deleted BEFORE DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION opra_refuse_removal();
CREATE TRIGGER users_never_truncated BEFORE TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION opra_refuse_removal();
CREATE TRIGGER users_never_renumbered BEFORE UPDATE OF id ON users
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION opra_refuse_removal();
CREATE TRIGGER appraisals_never_deleted BEFORE DELETE ON appraisals
    FOR EACH ROW EXECUTE FUNCTION opra_refuse_removal();
CREATE TRIGGER appraisals_never_truncated BEFORE TRUNCATE ON appraisals
    FOR EACH STATEMENT EXECUTE FUNCTION opra_refuse_removal();
CREATE TRIGGER appraisals_never_renumbered BEFORE UPDATE OF id ON appraisals
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION opra_refuse_removal();

ALTER TABLE evidence DROP CONSTRAINT evidence_submitted_by_fkey;
ALTER TABLE events DROP CONSTRAINT events_actor_id_fkey,
                   DROP CONSTRAINT events_appraisal_id_fkey;
ALTER TABLE idempotency DROP CONSTRAINT idempotency_user_id_fkey;

ALTER TABLE appraisal_instances
    ADD CONSTRAINT appraisal_instances_appraisal_id_id_key UNIQUE (appraisal_id, id);
ALTER TABLE evidence DROP CONSTRAINT evidence_appraisal_id_fkey,
                     DROP CONSTRAINT evidence_instance_id_fkey,
                     ADD CONSTRAINT evidence_instance_fkey FOREIGN KEY (appraisal_id, instance_id)
                         REFERENCES appraisal_instances (appraisal_id, id);
