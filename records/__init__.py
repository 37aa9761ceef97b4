"""Case records: every completed conversation becomes a tracked case.

Three layers (cosmicpython's), each importing only the ones below it:

* ``domain/``   — plain Python: the ``Case`` with its lifecycle, events and deadlines,
  routing, legal-aid screening, case numbers, staff rights, the clock;
* ``services/`` — the use cases (file, accept, return, escalate, schedule, record an
  outcome, talk, keep a file, note; the reminder and digest passes), each in one unit of
  work whose commit writes the outbox rows of its events;
* ``adapters/`` — SQLAlchemy tables, repositories and unit of work, the outbox dispatcher,
  the engine and the Alembic migrations.

``api.Records`` is the one door for the bot, the action server and the command line.
"""
