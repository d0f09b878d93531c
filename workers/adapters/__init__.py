"""Adapters: the outside world behind one interface each. The Postgres store and
its migrations, SMTP email and signed links, the mail sink's mailbox, tracing,
custom actions, the quote, and the cohort compiler (the language's SQL backend)."""
