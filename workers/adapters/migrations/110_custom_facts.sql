-- A team's own facts (issue 10; docs/language.md, "The data model"), stored
-- beside the built-in columns, typed by the team's model file:
--
-- * facts a team adds to account or subscription: one key each in the row's
--   `custom` object (`accounts.custom->>'support_tier'`);
-- * facts of a group a team declares (`support.open_p1_tickets`): one row per
--   account and group in `fact_groups`, its facts one key each.
--
-- Values are JSON: text and one-of words as strings, numbers as numbers, bools as
-- bools, dates as 'YYYY-MM-DD'. Their types are the model's, checked on the way in
-- (the importer, fact updates, `set`); a fact never given is absent (null to a
-- playbook). JSONB rather than a column per fact: the model is a file the team
-- edits while journeys run, and a declared fact must not wait for DDL. Enrolment
-- queries them with ->> and a cast by type (workers/adapters/cohort.py).
-- Applied after 100. Idempotent, so re-running is harmless.

ALTER TABLE accounts ADD COLUMN IF NOT EXISTS custom jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(custom) = 'object');
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS custom jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(custom) = 'object');

CREATE TABLE IF NOT EXISTS fact_groups (
    account_id  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    group_name  text NOT NULL,
    facts       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(facts) = 'object'),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, group_name)
);
CREATE INDEX IF NOT EXISTS fact_groups_group ON fact_groups (group_name);
