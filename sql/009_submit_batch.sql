-- Evidence/Submit for a whole group-commit batch in one statement
-- (server/svc_evidence.c submit_batch; server/dispatch.c run_batch_set).
--
-- evidence_submit_batch() takes the batch's submissions as arrays (element
-- i of every array is request i) and does for all of them what
-- evidence_submit() (sql/007_submit_fast.sql) does for one:
--   1. locks every named appraisal row, in id order (two batches naming the
--      same appraisals queue instead of deadlocking; a single submission
--      locks only one row, so it cannot close a cycle either);
--   2. resolves each request exactly as evidence_submit() does (appraisal
--      by name, membership and role, an unqualified practice in scope, the
--      instance, the stored blob) and skips the ones it does not take;
--   3. builds and hashes each taken request's event exactly as
--      append_event() (sql/005_appraisals.sql) does, chaining the events
--      of one appraisal in request order (seq contiguous, hash =
--      sha256(previous hash || event_canonical(e)));
--   4. inserts all evidence rows in one INSERT, all events in one INSERT,
--      moves each appraisal's chain head once, and sends one NOTIFY per
--      appraisal.
-- It returns one row per request: o_ord (1-based position in the arrays)
-- and o_id NULL when the request was not taken (an id instead of a name, a
-- qualified or ambiguous practice, anything missing or refused); the
-- server then runs that request alone, in the same transaction, through
-- the one-request path, which resolves the unusual form or says precisely
-- why the request is refused. tests/db/test_evidence.c checks the chain
-- such batches leave with the audit verifier.

CREATE FUNCTION evidence_submit_batch(p_appraisal text[], p_user bigint[], p_actor text[],
                                      p_practice text[], p_instance text[], p_kind text[],
                                      p_title text[], p_sha256 text[], p_size bigint[],
                                      p_body_text text[], p_file_name text[], p_site text[],
                                      p_client_id text[], p_peer text[], p_method text)
RETURNS TABLE (o_ord integer, o_id bigint, o_appraisal text, o_practice text,
               o_status text, o_submitted_at text)
LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(cardinality(p_appraisal), 0);
    v_at timestamptz := now();
    v_appraisal bigint;
    v_sealed boolean;
    v_events bigint;
    v_head bytea;
    v_role text;
    v_n bigint;
    v_practice bigint;
    v_practice_code text;
    v_instance bigint;
    v_blob_found boolean;
    v_blob_size bigint;
    v_sha bytea;
    v_id bigint;
    v_status text;
    v_after jsonb;
    v_seq bigint;
    v_hash bytea;
    k integer;
    -- what the previous taken request named (l_appraisal NULL: none)
    l_appraisal text;
    l_user bigint;
    l_practice text;
    l_instance text;
    l_id bigint;
    -- chain state per appraisal touched: id, last seq, last hash
    c_app bigint[] := '{}';
    c_seq bigint[] := '{}';
    c_head bytea[] := '{}';
    -- per request (NULL: not taken)
    r_id bigint[] := '{}';
    r_practice text[] := '{}';
    r_status text[] := '{}';
    -- rows to insert
    x_ord integer[] := '{}';
    x_app bigint[] := '{}';
    x_practice bigint[] := '{}';
    x_instance bigint[] := '{}';
    x_sha bytea[] := '{}';
    x_status text[] := '{}';
    x_event bigint[] := '{}';
    x_after jsonb[] := '{}';
    x_seq bigint[] := '{}';
    x_hash bytea[] := '{}';
BEGIN
    IF n = 0 THEN
        RETURN;
    END IF;
    PERFORM 1 FROM appraisals WHERE name = ANY (p_appraisal) ORDER BY id FOR UPDATE;
    FOR i IN 1 .. n LOOP
        r_id := r_id || NULL::bigint;
        r_practice := r_practice || NULL::text;
        r_status := r_status || NULL::text;
        CONTINUE WHEN strpos(p_practice[i], '/') > 0;
        v_sha := decode(p_sha256[i], 'hex');
        -- A text submission naming what the previous taken one named (the
        -- common case: clients submitting many affirmations) resolves the
        -- same, without the query: all of the batch is checked and then
        -- committed together, as if its requests had arrived at one instant,
        -- just as a single submission is checked before its commit.
        IF p_body_text[i] IS NOT NULL AND l_appraisal IS NOT NULL
           AND p_appraisal[i] = l_appraisal AND p_user[i] = l_user
           AND p_practice[i] = l_practice AND p_instance[i] = l_instance THEN
            v_appraisal := l_id;
        ELSE
            l_appraisal := NULL;
            -- As in evidence_submit(), without the lock (taken above).
            SELECT a.id, a.sealed_at IS NOT NULL, a.events, a.head, coalesce(m.role, ''),
                   pr.n, pr.id, pr.full_id, ins.id, b.sha256 IS NOT NULL, b.size
              INTO v_appraisal, v_sealed, v_events, v_head, v_role,
                   v_n, v_practice, v_practice_code, v_instance, v_blob_found, v_blob_size
              FROM appraisals a
              LEFT JOIN appraisal_members m ON m.appraisal_id = a.id AND m.user_id = p_user[i]
              LEFT JOIN appraisal_instances ins ON ins.appraisal_id = a.id
                                               AND ins.name = p_instance[i]
              LEFT JOIN blobs b ON p_body_text[i] IS NULL AND b.sha256 = v_sha
              CROSS JOIN LATERAL (SELECT count(*) AS n, min(p.id) AS id, min(p.full_id) AS full_id
                                    FROM practices p
                                    JOIN goals g ON g.id = p.goal_id
                                    JOIN appraisal_pas ap ON ap.pa_id = g.pa_id
                                                         AND ap.appraisal_id = a.id
                                   WHERE p.full_id_lower = lower(p_practice[i])) pr
             WHERE a.name = p_appraisal[i];
            CONTINUE WHEN NOT FOUND OR v_sealed OR v_role NOT IN ('lead', 'appraiser', 'automation')
                OR v_n <> 1 OR v_instance IS NULL
                OR (p_body_text[i] IS NULL AND (NOT v_blob_found OR v_blob_size <> p_size[i]));
            l_appraisal := p_appraisal[i];
            l_user := p_user[i];
            l_practice := p_practice[i];
            l_instance := p_instance[i];
            l_id := v_appraisal;
        END IF;
        k := array_position(c_app, v_appraisal);
        IF k IS NULL THEN
            c_app := c_app || v_appraisal;
            c_seq := c_seq || v_events;
            c_head := c_head || v_head;
            k := cardinality(c_app);
        END IF;
        v_status := CASE WHEN v_role = 'automation' THEN 'proposed' ELSE 'accepted' END;
        v_id := nextval('evidence_id_seq');
        v_seq := c_seq[k] + 1;
        v_after := jsonb_build_object('id', v_id::text, 'practice', v_practice_code,
                                      'instance', p_instance[i], 'kind', p_kind[i],
                                      'status', v_status, 'sha256', encode(v_sha, 'hex'),
                                      'size', p_size[i], 'title', p_title[i],
                                      'site', coalesce(p_site[i], ''),
                                      'file_name', p_file_name[i],
                                      'text', p_body_text[i] IS NOT NULL);
        -- event_canonical(e) written out, as in evidence_submit(); before is
        -- NULL for a new item.
        v_hash := sha256(c_head[k] || convert_to(concat_ws(E'\n',
            'opra-event-v1',
            v_seq::text,
            (extract(epoch FROM v_at) * 1000000)::bigint::text,
            p_user[i]::text,
            p_actor[i], coalesce(p_client_id[i], ''), coalesce(p_site[i], ''),
            coalesce(p_peer[i], ''), p_method, 'evidence ' || v_id,
            'null',
            v_after::text), 'UTF8'));
        c_seq[k] := v_seq;
        c_head[k] := v_hash;
        r_id[i] := v_id;
        r_practice[i] := v_practice_code;
        r_status[i] := v_status;
        x_ord := x_ord || i;
        x_app := x_app || v_appraisal;
        x_practice := x_practice || v_practice;
        x_instance := x_instance || v_instance;
        x_sha := x_sha || v_sha;
        x_status := x_status || v_status;
        x_event := x_event || nextval('events_id_seq');
        x_after := x_after || v_after;
        x_seq := x_seq || v_seq;
        x_hash := x_hash || v_hash;
    END LOOP;
    IF cardinality(x_ord) > 0 THEN
        INSERT INTO evidence (id, appraisal_id, practice_id, instance_id, kind, title, status,
                              sha256, size, body_text, blob_sha256, file_name, submitted_by,
                              submitted_at, site, client_id)
        SELECT r_id[t.o], t.app, t.pr, t.ins, p_kind[t.o], p_title[t.o], t.st, t.sha,
               p_size[t.o], p_body_text[t.o],
               CASE WHEN p_body_text[t.o] IS NULL THEN t.sha END, p_file_name[t.o],
               p_user[t.o], v_at, coalesce(p_site[t.o], ''), coalesce(p_client_id[t.o], '')
          FROM unnest(x_ord, x_app, x_practice, x_instance, x_sha, x_status)
               AS t(o, app, pr, ins, sha, st);
        INSERT INTO events (id, at, actor_id, actor, client_id, site, peer, method, object,
                            before, after, appraisal_id, seq, hash)
        SELECT t.ev, v_at, p_user[t.o], p_actor[t.o], coalesce(p_client_id[t.o], ''),
               coalesce(p_site[t.o], ''), coalesce(p_peer[t.o], ''), p_method,
               'evidence ' || r_id[t.o], NULL, t.after, t.app, t.seq, t.hash
          FROM unnest(x_ord, x_event, x_after, x_app, x_seq, x_hash)
               AS t(o, ev, after, app, seq, hash);
        UPDATE appraisals a SET events = c.seq, head = c.head
          FROM unnest(c_app, c_seq, c_head) AS c(id, seq, head)
         WHERE a.id = c.id;
        PERFORM pg_notify('opra_events', c.id::text) FROM unnest(c_app) AS c(id);
    END IF;
    RETURN QUERY
        SELECT t.o::integer, t.id, CASE WHEN t.id IS NOT NULL THEN p_appraisal[t.o] END,
               t.pr, t.st, to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
          FROM unnest(r_id, r_practice, r_status) WITH ORDINALITY AS t(id, pr, st, o);
END
$$;
