-- Answers taken by the web endpoint (answer links) and by phone (`playbook answer`),
-- and CTAs closed by people, with whether the journey has heard of them yet.
-- Applied after 001_core. Idempotent, so re-running is harmless.

-- Where an answer came from: 'link', 'phone'; '' for rows written before this
-- migration or by other paths (which keep their history semantics).
ALTER TABLE answers ADD COLUMN IF NOT EXISTS source text NOT NULL DEFAULT '';
-- When the `answer` signal reached the journey (NULL: not yet, e.g. Temporal was
-- down); and what came of delivering it ('delivered', 'ended', 'no_journey').
ALTER TABLE answers ADD COLUMN IF NOT EXISTS signalled_at timestamptz;
ALTER TABLE answers ADD COLUMN IF NOT EXISTS delivery text NOT NULL DEFAULT '';

-- First answer wins: one answer per journey and question from a person. Two
-- clicks at once race on this index, not on a read-then-write.
CREATE UNIQUE INDEX IF NOT EXISTS answers_first_wins
    ON answers (journey_id, question) WHERE source <> '';

-- Who closed a CTA, and when its journey heard (the `cta_closed` signal).
ALTER TABLE ctas ADD COLUMN IF NOT EXISTS closed_by text NOT NULL DEFAULT '';
ALTER TABLE ctas ADD COLUMN IF NOT EXISTS signalled_at timestamptz;
ALTER TABLE ctas ADD COLUMN IF NOT EXISTS delivery text NOT NULL DEFAULT '';
