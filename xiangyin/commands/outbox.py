"""The outbox for staff: ``xiangyin outbox list|requeue``.

    xiangyin outbox list [--dead | --pending] [--limit 50] [--db URL]
    xiangyin outbox requeue ID [--db URL]

A row is dead after its last attempt failed (the recipient could not be reached, or the
messenger kept refusing); once the cause is fixed — the person unblocked the bot, an agency
got staff — ``requeue`` gives it another round of attempts.  Payloads are not printed: they
may quote a villager.  Exit codes: 0 ok, 1 no such dead row.
"""

from __future__ import annotations

import argparse
import sys

from records.adapters.database import make_engine
from records.adapters.outbox import outbox_counts, outbox_rows, requeue_dead
from records.domain.clock import Clock

__all__ = ["register"]


def _engine(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from xiangyin.settings import settings

    return make_engine(args.db or settings().database_url)


def _cmd_list(args: argparse.Namespace) -> int:
    engine = _engine(args)
    state = "dead" if args.dead else "pending" if args.pending else "all"
    for row in outbox_rows(engine, state=state, limit=args.limit):
        status = (
            "dead" if row.dead_at else "delivered" if row.delivered_at else f"try {row.attempts}"
        )
        print(
            f"{row.id:>6} {status:<10} {row.kind:<18} {row.recipient_kind}:{row.recipient_id:<24} "
            f"{row.case_number or '-':<13} {(row.last_error or '')[:60]}"
        )
    counts = outbox_counts(engine)
    print(
        f"{counts['pending']} pending, {counts['delivered']} delivered, {counts['dead']} dead "
        f"of {counts['total']}"
    )
    return 0


def _cmd_requeue(args: argparse.Namespace) -> int:
    if not requeue_dead(_engine(args), args.id, Clock()):
        print(f"no dead outbox row {args.id}", file=sys.stderr)
        return 1
    print(f"outbox row {args.id} will be tried again")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``outbox list|requeue`` to the ``xiangyin`` command."""
    parser = subparsers.add_parser("outbox", help="messages waiting, delivered or given up")
    sub = parser.add_subparsers(dest="outbox_command", required=True)
    listing = sub.add_parser("list", help="the latest rows, newest first")
    which = listing.add_mutually_exclusive_group()
    which.add_argument("--dead", action="store_true", help="only rows given up")
    which.add_argument("--pending", action="store_true", help="only rows still to deliver")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--db", default=None)
    listing.set_defaults(func=_cmd_list)
    requeue = sub.add_parser("requeue", help="try a dead row again")
    requeue.add_argument("id", type=int)
    requeue.add_argument("--db", default=None)
    requeue.set_defaults(func=_cmd_requeue)
