"""Case records: every completed conversation becomes a tracked case.

Layout (cosmicpython style):

* ``domain``       — the plain-Python ``Case`` with its lifecycle, deadlines and domain events;
* ``case_number``  — readable case numbers with a check character (``MD-2611-7K4Q``);
* ``deadlines``    — statutory deadlines computed from ``knowledge/deadlines.yml``;
* ``routing``      — which agency gets the case, 诉访分离 and emergencies;
* ``legal_aid``    — legal-aid screening (法律援助法 Art 31/32/42/44);
* ``case_rules``   — the validated loader of ``knowledge/case_rules.yml``;
* ``orm``/``store``— tables, Alembic migrations, repository and unit of work;
* ``outbox``       — outbox messages and the dispatcher that delivers them;
* ``services``     — the use cases the bot, the actions and the staff CLI call.
"""
