"""The use cases on case records: what the bot, the action server and the command line call.

Each service takes a unit of work (:mod:`records.services.unit_of_work`) and runs in one
transaction of its own; every side effect is a domain event that the unit of work turns into
outbox rows in that same transaction.  :mod:`records.api` is the one door for callers.
"""
