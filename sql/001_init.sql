-- 001: users, tokens, idempotency records and the event log.
-- Applied by oprad at start (or `oprad migrate`) inside one transaction.

CREATE TABLE users (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    role            text NOT NULL CHECK (role IN ('admin', 'program-office', 'user', 'automation')),
    -- Token = "opra_" || selector || secret. Only the SHA-256 of the secret is kept.
    token_selector  text NOT NULL UNIQUE,
    token_hash      bytea NOT NULL CHECK (length(token_hash) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      bigint REFERENCES users(id),
    revoked_at      timestamptz
);

-- A mutating request's idempotency key and the response it produced, stored
-- in the same transaction as the change it made: a retry with the same key
-- gets the stored response and changes nothing.
CREATE TABLE idempotency (
    user_id         bigint NOT NULL REFERENCES users(id),
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 128),
    method          text NOT NULL,
    request_sha256  bytea NOT NULL,
    status          integer,
    response        bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_created_at ON idempotency (created_at);

-- Every change, who made it, from where, and what it was. Appraisal events
-- are additionally hash-chained per appraisal (appraisal_id set).
CREATE TABLE events (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor_id        bigint REFERENCES users(id),
    actor           text NOT NULL,
    client_id       text NOT NULL DEFAULT '',
    site            text NOT NULL DEFAULT '',
    peer            text NOT NULL DEFAULT '',
    method          text NOT NULL,
    object          text NOT NULL,
    before          jsonb,
    after           jsonb
);
CREATE INDEX events_at ON events (at);
