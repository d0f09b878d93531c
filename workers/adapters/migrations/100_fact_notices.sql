-- Data changes waiting to reach journeys (workers/services/fact_notices.py): an
-- import records one notice per account whose facts it changed, with the changed
-- paths, in its own transaction. Telling the account's running journeys (an
-- outbox row each) marks the notice told; a notice Temporal could not list
-- journeys for waits, and the worker tells it later.
-- Applied after 090. Idempotent, so re-running is harmless.

CREATE TABLE IF NOT EXISTS fact_notices (
    id               bigserial PRIMARY KEY,
    account_id       text NOT NULL,
    paths            text[] NOT NULL,
    source           text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text NOT NULL DEFAULT '',
    told_at          timestamptz,
    -- The journeys told (an outbox row each), once told.
    journeys         text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS fact_notices_waiting ON fact_notices (next_attempt_at, id)
    WHERE told_at IS NULL;
