"""The ``xiangyin`` command line: ``cli.py`` and its ``commands/`` (run, chat, migrate, bot,
actions, knowledge, cases, staff, generate), the process runner of ``make run`` (``run.py``)
and the settings read from the environment (``settings.py``).  Every process starts here: it
reads the settings, loads the knowledge, makes the clock and opens the records, then passes
them down."""
