"""``make chaos``: the fault run that checks every journey against its simulation.

Not collected by pytest (no module here is named ``test_*``): run it with
``make chaos`` or ``python -m tests.chaos --help``. It brings up its own stack
(``stack``) in a temporary directory on free ports, seeds a book and starts one
journey of a shipped playbook per account at rehearsal speed (``book``), plays
the customers, staff and CRM (``script``) while it kills the worker, Postgres,
the SMTP sink and the Temporal server (``faults``), watches the journeys once
the faults are over (``watch``), then checks each journey against the engine's
simulation of the same world (``history``, ``world``, ``oracle``) and prints one
line per figure (``figures``). Exit status 1 if any figure but the journey count
is not zero.
"""
