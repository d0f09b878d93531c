-- Contact governance: opt-outs, suppressions, reserved touches and the decision log.
-- Applied after the core schema (001_*). Every statement is idempotent so the
-- migration can be re-run safely.

-- People who asked not to be emailed, by address (lower case). Filled by the
-- unsubscribe link, CRM webhooks and `record_opt_out`.
CREATE TABLE IF NOT EXISTS opt_outs (
    email       text PRIMARY KEY,
    source      text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Addresses or whole domains nobody may email (bounces, legal holds, competitors).
-- `entry` is a lower-case email address or a bare domain ("acme.com").
CREATE TABLE IF NOT EXISTS suppressions (
    entry       text PRIMARY KEY,
    reason      text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per allowed touch, reserved before the email leaves. Keyed by the
-- action's idempotency key (and the address, since one step may write to every
-- contact holding a role), so a retried check is allowed again and counted once.
-- `touched_at` is playbook time: rehearsals count against their own clock.
CREATE TABLE IF NOT EXISTS contact_touches (
    idempotency_key  text NOT NULL,
    email            text NOT NULL,
    contact_id       text NOT NULL DEFAULT '',
    account_id       text NOT NULL DEFAULT '',
    journey_id       text NOT NULL DEFAULT '',
    reason           text NOT NULL DEFAULT '',
    touched_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (idempotency_key, email)
);
CREATE INDEX IF NOT EXISTS contact_touches_email_at ON contact_touches (email, touched_at);

-- Every governance decision, allowed or not, for `playbook show` and reports.
CREATE TABLE IF NOT EXISTS touch_decisions (
    id           bigserial PRIMARY KEY,
    journey_id   text NOT NULL DEFAULT '',
    step_key     text NOT NULL DEFAULT '',
    contact_id   text NOT NULL DEFAULT '',
    email        text NOT NULL DEFAULT '',
    account_id   text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT '',
    allowed      boolean NOT NULL,
    action       text NOT NULL,
    rule         text NOT NULL,
    detail       text NOT NULL DEFAULT '',
    retry_at     timestamptz,
    at           timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS touch_decisions_journey ON touch_decisions (journey_id, id);
CREATE INDEX IF NOT EXISTS touch_decisions_account ON touch_decisions (account_id, id);
