-- Answers per ask, not per question: a question asked again (a monthly pulse in a
-- loop) is a new ask, and its answer is a new answer. ``ask_key`` is the ask's
-- idempotency key (journey/step/iteration), carried by the answer link; '' for
-- answers given through links signed before it existed, and for answers by phone
-- to a question no email asked. First answer wins, per ask.
-- Applied after 060. Idempotent, so re-running is harmless.

ALTER TABLE answers ADD COLUMN IF NOT EXISTS ask_key text NOT NULL DEFAULT '';

CREATE UNIQUE INDEX IF NOT EXISTS answers_first_wins_per_ask
    ON answers (journey_id, question, ask_key) WHERE source <> '';
DROP INDEX IF EXISTS answers_first_wins;
