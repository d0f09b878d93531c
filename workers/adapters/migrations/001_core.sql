-- The book of business: the facts of dsl/schema.py, one table per root.
-- Column names are the schema's field names, so a fact path `account.acv` is
-- the column `accounts.acv` (enrolment compiles entry conditions to SQL on them).

CREATE TABLE accounts (
    id                       text PRIMARY KEY,
    name                     text NOT NULL,
    segment                  text NOT NULL DEFAULT '',   -- enterprise | mid_market | smb
    region                   text NOT NULL DEFAULT '',   -- amer | emea | apac | japan
    acv                      numeric(14, 2) NOT NULL DEFAULT 0,
    csm_owner                text NOT NULL DEFAULT '',
    renewal_rep              text NOT NULL DEFAULT '',
    sales_owner              text NOT NULL DEFAULT '',
    tam_owner                text NOT NULL DEFAULT '',
    risk_level               text NOT NULL DEFAULT 'low', -- low | medium | high
    renewal_intent           text NOT NULL DEFAULT '',    -- yes | no | not_decision_maker | ''
    health_score             numeric(5, 1) NOT NULL DEFAULT 0,
    deployment               text NOT NULL DEFAULT 'cloud', -- cloud | on_premise
    product_line             text NOT NULL DEFAULT '',
    installed_version        text NOT NULL DEFAULT '',
    ga_version               text NOT NULL DEFAULT '',
    versions_behind          integer NOT NULL DEFAULT 0,
    fiscal_year_start_month  integer NOT NULL DEFAULT 1,
    onboarding_complete      boolean NOT NULL DEFAULT false,
    timezone                 text NOT NULL DEFAULT 'UTC',
    migration_stage          text NOT NULL DEFAULT 'not_started',
    updated_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_segment_region ON accounts (segment, region);
CREATE INDEX accounts_csm_owner ON accounts (csm_owner);

CREATE TABLE subscriptions (
    id                     text PRIMARY KEY,
    account_id             text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    status                 text NOT NULL DEFAULT 'active', -- active | renewed | churned
    product                text NOT NULL DEFAULT '',
    start_date             date NOT NULL,
    renewal_date           date NOT NULL,
    licences               integer NOT NULL DEFAULT 0,
    unit_price             numeric(12, 2) NOT NULL DEFAULT 0,
    currency               text NOT NULL DEFAULT 'USD',
    weekly_notice_opt_out  boolean NOT NULL DEFAULT false,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_account ON subscriptions (account_id, renewal_date);
CREATE INDEX subscriptions_renewal ON subscriptions (renewal_date) WHERE status = 'active';

CREATE TABLE contacts (
    id          text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name        text NOT NULL DEFAULT '',
    email       text NOT NULL DEFAULT '',
    title       text NOT NULL DEFAULT '',
    timezone    text NOT NULL DEFAULT 'UTC',
    opted_out   boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_account ON contacts (account_id);
CREATE INDEX contacts_email ON contacts (lower(email));

-- A contact may hold several roles; `rank` orders the holders of one role, the
-- first one is `contacts.<role>` in the facts.
CREATE TABLE contact_roles (
    contact_id  text NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    account_id  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role        text NOT NULL, -- decision_maker | renewal_contact | admin | champion | billing
    rank        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (contact_id, role)
);
CREATE INDEX contact_roles_account ON contact_roles (account_id, role, rank);

-- Usage snapshots: one row per account and day, history kept, the latest wins.
CREATE TABLE usage (
    account_id        text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    as_of             date NOT NULL,
    devices_in_use    integer NOT NULL DEFAULT 0,
    active_users      integer NOT NULL DEFAULT 0,
    last_login        date,
    adoption_percent  numeric(5, 1) NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, as_of)
);

CREATE TABLE nps_responses (
    id            text PRIMARY KEY,
    account_id    text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    contact_id    text NOT NULL DEFAULT '',
    score         integer NOT NULL CHECK (score BETWEEN 0 AND 10),
    category      text NOT NULL, -- promoter | passive | detractor
    comment       text NOT NULL DEFAULT '',
    responded_on  date NOT NULL
);
CREATE INDEX nps_account ON nps_responses (account_id, responded_on);

-- ---------------------------------------------------------------------------
-- What journeys did, written through workers.store by the activities.
-- Every row a retried activity could write twice carries its idempotency key.

CREATE TABLE emails (
    id               bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    journey_id       text NOT NULL DEFAULT '',
    step_id          text NOT NULL DEFAULT '',
    account_id       text NOT NULL DEFAULT '',
    contact_id       text NOT NULL DEFAULT '',
    to_address       text NOT NULL,
    template         text NOT NULL DEFAULT '',
    subject          text NOT NULL DEFAULT '',
    message_id       text NOT NULL DEFAULT '',
    status           text NOT NULL DEFAULT 'sent',
    sent_at          timestamptz NOT NULL DEFAULT now(),
    playbook_time    timestamptz
);
CREATE INDEX emails_journey ON emails (journey_id, id);
CREATE INDEX emails_account ON emails (account_id, id);

CREATE SEQUENCE cta_number;
CREATE TABLE ctas (
    id               text PRIMARY KEY DEFAULT ('CTA-' || nextval('cta_number')),
    idempotency_key  text NOT NULL UNIQUE,
    account_id       text NOT NULL DEFAULT '',
    owner_role       text NOT NULL DEFAULT 'ops',
    owner            text NOT NULL DEFAULT '',
    priority         text NOT NULL DEFAULT 'medium',
    reason           text NOT NULL DEFAULT '',
    due_at           timestamptz,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    resolution       text NOT NULL DEFAULT '',
    journey_id       text NOT NULL DEFAULT '',
    step_id          text NOT NULL DEFAULT '',
    opened_at        timestamptz NOT NULL DEFAULT now(),
    closed_at        timestamptz
);
CREATE INDEX ctas_open ON ctas (status, owner, due_at);
CREATE INDEX ctas_account ON ctas (account_id);
CREATE INDEX ctas_journey ON ctas (journey_id);

CREATE TABLE quotes (
    id                       text PRIMARY KEY,
    idempotency_key          text NOT NULL UNIQUE,
    account_id               text NOT NULL,
    subscription_id          text NOT NULL DEFAULT '',
    licences                 integer NOT NULL,
    organic_growth_licences  integer NOT NULL DEFAULT 0,
    unit_price               numeric(12, 2) NOT NULL,
    uplift_percent           numeric(6, 2) NOT NULL DEFAULT 0,
    total                    numeric(14, 2) NOT NULL,
    currency                 text NOT NULL DEFAULT 'USD',
    journey_id               text NOT NULL DEFAULT '',
    created_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quotes_account ON quotes (account_id, created_at);

-- Answers keep their history (a customer may click another choice later); the latest wins.
CREATE TABLE answers (
    id           bigserial PRIMARY KEY,
    journey_id   text NOT NULL,
    account_id   text NOT NULL DEFAULT '',
    question     text NOT NULL,
    choice       text NOT NULL,
    contact_id   text NOT NULL DEFAULT '',
    answered_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX answers_journey ON answers (journey_id, question, id);

-- Audit of every `set`: who (journey, step) changed what, from what, to what.
CREATE TABLE fact_changes (
    id          bigserial PRIMARY KEY,
    account_id  text NOT NULL,
    path        text NOT NULL,
    old_value   jsonb,
    new_value   jsonb,
    journey_id  text NOT NULL DEFAULT '',
    step_id     text NOT NULL DEFAULT '',
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fact_changes_account ON fact_changes (account_id, id);

-- Stage changes, outcomes and other milestones, for reports and `playbook show`.
CREATE TABLE journey_events (
    id               bigserial PRIMARY KEY,
    journey_id       text NOT NULL,
    account_id       text NOT NULL DEFAULT '',
    playbook         text NOT NULL DEFAULT '',
    kind             text NOT NULL,
    detail           text NOT NULL DEFAULT '',
    data             jsonb NOT NULL DEFAULT '{}',
    idempotency_key  text UNIQUE,
    at               timestamptz NOT NULL DEFAULT now(),
    recorded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journey_events_journey ON journey_events (journey_id, id);
CREATE INDEX journey_events_kind ON journey_events (kind, at);
