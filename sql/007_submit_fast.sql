-- Evidence/Submit in one statement (server/svc_evidence.c; the throughput
-- goals are in bench/bench_evidence.c).
--
-- evidence_submit() does a plain Submit (appraisal by name, an unqualified
-- practice in scope, an instance by name, text or a stored blob) in one
-- round trip: one query resolves everything and locks the appraisal row,
-- one statement inserts the evidence and its event and moves the chain
-- head, then the NOTIFY for watchers. The event is built and hashed exactly
-- as append_event() does (sql/005_appraisals.sql), inline: nesting
-- plpgsql calls and the SQL function event_canonical() (planned anew in
-- every transaction) cost more than the statements themselves. It returns
-- o_id NULL when the request is anything else (an id instead of a name, a
-- qualified or ambiguous practice, anything missing or refused): the
-- server then takes the slow path, whose shared helpers resolve the
-- unusual form or say precisely why the request is refused.
--
-- evidence_add() is the slow path's insert: it takes the appraisal row lock
-- first, then inserts the evidence (whose foreign key share-locks the row
-- already locked: nothing new), then appends the event with append_event().

CREATE FUNCTION evidence_add(p_appraisal bigint, p_practice bigint, p_practice_code text,
                             p_instance bigint, p_instance_name text, p_kind text,
                             p_title text, p_status text, p_sha256 bytea, p_size bigint,
                             p_body_text text, p_file_name text, p_user bigint,
                             p_actor text, p_site text, p_client_id text, p_peer text,
                             p_method text,
                             OUT o_id bigint, OUT o_submitted_at text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM appraisals WHERE id = p_appraisal FOR UPDATE;
    o_id := nextval(pg_get_serial_sequence('evidence', 'id'));
    INSERT INTO evidence (id, appraisal_id, practice_id, instance_id, kind, title, status,
                          sha256, size, body_text, blob_sha256, file_name, submitted_by,
                          site, client_id)
    VALUES (o_id, p_appraisal, p_practice, p_instance, p_kind, p_title, p_status, p_sha256,
            p_size, p_body_text, CASE WHEN p_body_text IS NULL THEN p_sha256 END,
            p_file_name, p_user, coalesce(p_site, ''), coalesce(p_client_id, ''));
    -- Refuses (55000) when the appraisal is sealed; the insert above goes
    -- with the failed statement.
    PERFORM append_event(p_appraisal, p_user, p_actor, p_client_id, p_site, p_peer, p_method,
        'evidence ' || o_id,
        NULL,
        jsonb_build_object('id', o_id::text, 'practice', p_practice_code,
                           'instance', p_instance_name, 'kind', p_kind, 'status', p_status,
                           'sha256', encode(p_sha256, 'hex'), 'size', p_size,
                           'title', p_title, 'site', coalesce(p_site, ''),
                           'file_name', p_file_name, 'text', p_body_text IS NOT NULL),
        false);
    o_submitted_at := to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
END
$$;

CREATE FUNCTION evidence_submit(p_appraisal text, p_user bigint, p_practice text,
                                p_instance text, p_kind text, p_title text, p_sha256 bytea,
                                p_size bigint, p_body_text text, p_file_name text,
                                p_actor text, p_site text, p_client_id text, p_peer text,
                                p_method text,
                                OUT o_id bigint, OUT o_appraisal text, OUT o_practice text,
                                OUT o_status text, OUT o_submitted_at text)
LANGUAGE plpgsql AS $$
DECLARE
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
    e events%ROWTYPE;
    v_hash bytea;
BEGIN
    IF strpos(p_practice, '/') > 0 THEN
        RETURN;
    END IF;
    -- Everything Submit needs, and the appraisal row lock, in one query. The
    -- lock comes first for every submission (before any foreign key
    -- share-locks the row), so concurrent submissions queue instead of
    -- deadlocking; a refused request's lock goes with its rollback.
    SELECT a.id, a.sealed_at IS NOT NULL, a.events, a.head, coalesce(m.role, ''),
           pr.n, pr.id, pr.full_id, i.id, b.sha256 IS NOT NULL, b.size
      INTO v_appraisal, v_sealed, v_events, v_head, v_role,
           v_n, v_practice, v_practice_code, v_instance, v_blob_found, v_blob_size
      FROM appraisals a
      LEFT JOIN appraisal_members m ON m.appraisal_id = a.id AND m.user_id = p_user
      LEFT JOIN appraisal_instances i ON i.appraisal_id = a.id AND i.name = p_instance
      LEFT JOIN blobs b ON p_body_text IS NULL AND b.sha256 = p_sha256
      CROSS JOIN LATERAL (SELECT count(*) AS n, min(p.id) AS id, min(p.full_id) AS full_id
                            FROM practices p
                            JOIN goals g ON g.id = p.goal_id
                            JOIN appraisal_pas ap ON ap.pa_id = g.pa_id
                                                 AND ap.appraisal_id = a.id
                           WHERE p.full_id_lower = lower(p_practice)) pr
     WHERE a.name = p_appraisal
       FOR UPDATE OF a;
    IF NOT FOUND OR v_sealed OR v_role NOT IN ('lead', 'appraiser', 'automation')
       OR v_n <> 1 OR v_instance IS NULL
       OR (p_body_text IS NULL AND (NOT v_blob_found OR v_blob_size <> p_size)) THEN
        RETURN; -- the slow path says why
    END IF;
    o_appraisal := p_appraisal;
    o_practice := v_practice_code;
    o_status := CASE WHEN v_role = 'automation' THEN 'proposed' ELSE 'accepted' END;
    o_id := nextval('evidence_id_seq');
    -- The event exactly as append_event() (sql/005_appraisals.sql) builds
    -- and hashes it: the hashed bytes are event_canonical(e), written out
    -- here because calling that SQL function plans it anew in every
    -- transaction. tests/db/test_evidence.c checks both give the same hash.
    e.id := nextval('events_id_seq');
    e.at := now();
    e.actor_id := p_user;
    e.actor := p_actor;
    e.client_id := coalesce(p_client_id, '');
    e.site := coalesce(p_site, '');
    e.peer := coalesce(p_peer, '');
    e.method := p_method;
    e.object := 'evidence ' || o_id;
    e.before := NULL;
    e.after := jsonb_build_object('id', o_id::text, 'practice', v_practice_code,
                                  'instance', p_instance, 'kind', p_kind, 'status', o_status,
                                  'sha256', encode(p_sha256, 'hex'), 'size', p_size,
                                  'title', p_title, 'site', coalesce(p_site, ''),
                                  'file_name', p_file_name, 'text', p_body_text IS NOT NULL);
    e.appraisal_id := v_appraisal;
    e.seq := v_events + 1;
    v_hash := sha256(v_head || convert_to(concat_ws(E'\n',
        'opra-event-v1',
        e.seq::text,
        (extract(epoch FROM e.at) * 1000000)::bigint::text,
        coalesce(e.actor_id::text, ''),
        e.actor, e.client_id, e.site, e.peer, e.method, e.object,
        coalesce(e.before::text, 'null'),
        coalesce(e.after::text, 'null')), 'UTF8'));
    WITH ev AS (
        INSERT INTO evidence (id, appraisal_id, practice_id, instance_id, kind, title, status,
                              sha256, size, body_text, blob_sha256, file_name, submitted_by,
                              site, client_id)
        VALUES (o_id, v_appraisal, v_practice, v_instance, p_kind, p_title, o_status,
                p_sha256, p_size, p_body_text,
                CASE WHEN p_body_text IS NULL THEN p_sha256 END, p_file_name, p_user,
                e.site, e.client_id)
    ), ins AS (
        INSERT INTO events (id, at, actor_id, actor, client_id, site, peer, method, object,
                            before, after, appraisal_id, seq, hash)
        VALUES (e.id, e.at, e.actor_id, e.actor, e.client_id, e.site, e.peer, e.method,
                e.object, e.before, e.after, e.appraisal_id, e.seq, v_hash)
    )
    UPDATE appraisals SET events = e.seq, head = v_hash WHERE id = v_appraisal;
    PERFORM pg_notify('opra_events', v_appraisal::text);
    o_submitted_at := to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
END
$$;
