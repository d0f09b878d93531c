-- The ids of signed webhooks received (workers/services/webhook_ids.py): a
-- request whose id is here is a replay or a retry of one already acted on, and is
-- answered `duplicate` without acting. A request is refused once its timestamp is
-- five minutes old, so an id kept a day is long past any replay; older ones are
-- deleted as new ones come in.
-- Applied after 110. Idempotent, so re-running is harmless.

CREATE TABLE IF NOT EXISTS webhook_ids (
    id           text PRIMARY KEY,
    endpoint     text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_ids_received ON webhook_ids (received_at);
