"""The local stack of `playbook dev up`: Temporal dev server (``temporal``), embedded
Postgres (``postgres``), SMTP sink (``smtp_sink``), detached processes
(``supervisor``), and the parts put together (``parts.LocalStack``)."""
