-- An email that could not be sent says so: status 'failed' and why. A failed row
-- is claimed again by the next attempt under the same idempotency key.
ALTER TABLE emails ADD COLUMN IF NOT EXISTS error text NOT NULL DEFAULT '';
