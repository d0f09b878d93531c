-- The outbox (workers/outbox.py): events recorded for a journey, waiting to be
-- signalled to it. An answer, a CTA close or an opt-out is written in the same
-- transaction as its outbox row; the caller delivers it at once if it can, the
-- worker drains what is left. A row is done once `delivery` says what came of it.
-- Applied after 080. Idempotent, so re-running is harmless.

CREATE TABLE IF NOT EXISTS outbox (
    id               bigserial PRIMARY KEY,
    -- One row per thing recorded ('answer:17', 'cta_closed:CTA-7', ...): enqueueing
    -- the same thing twice enqueues it once.
    key              text NOT NULL UNIQUE,
    journey_id       text NOT NULL,
    event            text NOT NULL,
    payload          jsonb NOT NULL DEFAULT '{}',
    -- The signal's request id: Temporal drops a repeat of it to the same run, so a
    -- deliverer that dies between the signal and marking the row delivers it once.
    request_id       text NOT NULL DEFAULT ('outbox-' || gen_random_uuid()),
    -- The row whose delivery/signalled_at the result is copied to, if any.
    answer_id        bigint,
    cta_id           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text NOT NULL DEFAULT '',
    -- '' while waiting; then 'delivered', 'ended' or 'no_journey' (never changed after).
    delivery         text NOT NULL DEFAULT '',
    delivered_at     timestamptz
);
-- What the drainer looks at: the rows still waiting, soonest due first.
CREATE INDEX IF NOT EXISTS outbox_waiting ON outbox (next_attempt_at, id) WHERE delivery = '';

-- What was recorded before the outbox and never reached its journey (Temporal was
-- down and nobody acted again) is delivered now.
INSERT INTO outbox (key, journey_id, event, payload, answer_id)
SELECT 'answer:' || id, journey_id, 'answer',
       jsonb_build_object('question', question, 'choice', choice, 'contact_id', contact_id,
                          'source', source)
       || CASE WHEN ask_key <> '' THEN jsonb_build_object('ask', ask_key) ELSE '{}' END,
       id
FROM answers
WHERE source <> '' AND signalled_at IS NULL AND delivery = ''
ON CONFLICT (key) DO NOTHING;

INSERT INTO outbox (key, journey_id, event, payload, cta_id)
SELECT 'cta_closed:' || id, journey_id, 'cta_closed',
       jsonb_build_object('cta_id', id, 'note', resolution, 'closed_by', closed_by), id
FROM ctas
WHERE status = 'closed' AND journey_id <> '' AND signalled_at IS NULL AND delivery = ''
ON CONFLICT (key) DO NOTHING;
