"""Services: the one API that the CLI, the web endpoint, Schedules and the worker
call. Journeys, enrolment, events reaching journeys (triggers, answers, CTAs, the
outbox), contact governance, GA releases, imports and the synthetic book."""
