"""Staff accounts for the Telegram bot: ``xiangyin staff …``.

    xiangyin staff invite --agency ID --role ROLE [--days 7] [--by NAME] [--db URL]
    xiangyin staff list [--agency ID] [--db URL]
    xiangyin staff remove TELEGRAM_USER_ID [--db URL]

``invite`` prints a one-time code; the person sends ``/join CODE`` to the bot and becomes
staff of that agency in that role (mediator | agent | agency_staff | admin).  Only a hash of
the code is stored.  Exit codes: 0 ok, 1 not found, 2 refused (unknown role or agency).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta

from records.staff import ROLES

__all__ = ["register"]


def _engine(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from records.store import open_engine
    from xiangyin.settings import settings

    config = settings()
    return open_engine(args.db or config.database_url, migrate_schema=config.auto_migrate)


def _cmd_invite(args: argparse.Namespace) -> int:
    from records.staff import create_invite
    from knowledge.loader import get_knowledge

    try:
        code = create_invite(
            _engine(args),
            args.agency,
            args.role,
            created_by=args.by or os.environ.get("USER", "cli"),
            ttl=timedelta(days=args.days),
        )
    except ValueError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    agency = get_knowledge().agencies_by_id[args.agency]
    print(code)
    print(
        f"one-time code for {args.role} at {agency.name} ({args.agency}), valid {args.days} days; "
        f"send it privately: the person sends /join {code} to the bot",
        file=sys.stderr,
    )
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from records.orm import staff

    query = select(staff).order_by(staff.c.agency_id, staff.c.id)
    if args.agency:
        query = query.where(staff.c.agency_id == args.agency)
    with _engine(args).connect() as conn:
        rows = conn.execute(query).all()
    for row in rows:
        state = "active" if row.active else "removed"
        print(
            f"{row.telegram_user_id:<14} {row.role:<13} {row.agency_id:<45} {state:<8} {row.name}"
        )
    print(f"{len(rows)} staff")
    return 0


def _cmd_remove(args: argparse.Namespace) -> int:
    from records.staff import deactivate

    if not deactivate(_engine(args), args.telegram_user_id):
        print(f"no staff member with Telegram id {args.telegram_user_id}", file=sys.stderr)
        return 1
    print(f"staff rights of {args.telegram_user_id} removed")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``staff invite|list|remove`` to the ``xiangyin`` command."""
    parser = subparsers.add_parser("staff", help="staff accounts for the Telegram bot")
    sub = parser.add_subparsers(dest="staff_command", required=True)

    invite = sub.add_parser("invite", help="print a one-time /join code")
    invite.add_argument("--agency", required=True, help="agency id (xiangyin agencies list)")
    invite.add_argument("--role", required=True, choices=ROLES)
    invite.add_argument("--days", type=int, default=7, help="days the code stays valid")
    invite.add_argument("--by", default=None, help="who issued it (kept with the invite)")
    invite.add_argument("--db", default=None, help="database URL (default: DATABASE_URL)")
    invite.set_defaults(func=_cmd_invite)

    listing = sub.add_parser("list", help="registered staff")
    listing.add_argument("--agency", default=None)
    listing.add_argument("--db", default=None)
    listing.set_defaults(func=_cmd_list)

    remove = sub.add_parser("remove", help="take a person's staff rights away")
    remove.add_argument("telegram_user_id", type=int)
    remove.add_argument("--db", default=None)
    remove.set_defaults(func=_cmd_remove)
