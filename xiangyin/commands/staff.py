"""Staff accounts: ``xiangyin staff …``.

    xiangyin staff invite --agency ID --role ROLE [--days 7] [--by NAME] [--db URL]
    xiangyin staff list [--agency ID] [--db URL]
    xiangyin staff remove ACTOR [--db URL]            # e.g. tg:123456789

``invite`` prints a one-time code; the person sends ``/join CODE`` to the bot and becomes
staff of that agency in that role (mediator | agent | agency_staff | admin).  Only a keyed
hash of the code is stored, keyed with XIANGYIN_SECRET — the same secret the bot runs with,
or the code will not be recognised.  Exit codes: 0 ok, 1 not found, 2 refused (unknown role
or agency, no secret).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta

from records.api import Records
from records.domain.identity import ChannelIdentity
from records.domain.staff import ROLES

__all__ = ["register"]


def _records(args: argparse.Namespace) -> Records:
    from xiangyin.commands.database import open_database, open_records
    from xiangyin.settings import settings

    config = settings()
    return open_records(config, open_database(config, args.db))


def _cmd_invite(args: argparse.Namespace) -> int:
    from xiangyin.settings import settings

    if not settings().secret:
        print(
            "refused: set XIANGYIN_SECRET to the bot's secret (invite codes are keyed with it)",
            file=sys.stderr,
        )
        return 2
    records = _records(args)
    try:
        code = records.create_invite(
            args.agency,
            args.role,
            created_by=args.by or os.environ.get("USER", "cli"),
            ttl=timedelta(days=args.days),
        )
    except ValueError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    agency = records.knowledge.agencies_by_id[args.agency]
    print(code)
    print(
        f"one-time code for {args.role} at {agency.name} ({args.agency}), valid {args.days} days; "
        f"send it privately: the person sends /join {code} to the bot",
        file=sys.stderr,
    )
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    members = [
        m for m in _records(args).active_staff() if not args.agency or m.agency_id == args.agency
    ]
    for member in sorted(members, key=lambda m: m.agency_id):
        print(f"{member.actor:<16} {member.role:<13} {member.agency_id:<45} {member.name}")
    print(f"{len(members)} staff")
    return 0


def _cmd_remove(args: argparse.Namespace) -> int:
    try:
        identity = ChannelIdentity.parse(args.actor)
    except ValueError:
        identity = ChannelIdentity("tg", args.actor)  # a bare Telegram id
    if not _records(args).deactivate(identity):
        print(f"no active staff member {identity.actor}", file=sys.stderr)
        return 1
    print(f"staff rights of {identity.actor} removed")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``staff invite|list|remove`` to the ``xiangyin`` command."""
    parser = subparsers.add_parser("staff", help="staff accounts")
    sub = parser.add_subparsers(dest="staff_command", required=True)

    invite = sub.add_parser("invite", help="print a one-time /join code")
    invite.add_argument("--agency", required=True, help="agency id (xiangyin agencies list)")
    invite.add_argument("--role", required=True, choices=ROLES)
    invite.add_argument("--days", type=int, default=7, help="days the code stays valid")
    invite.add_argument("--by", default=None, help="who issued it (kept with the invite)")
    invite.add_argument("--db", default=None, help="database URL (default: DATABASE_URL)")
    invite.set_defaults(func=_cmd_invite)

    listing = sub.add_parser("list", help="active staff")
    listing.add_argument("--agency", default=None)
    listing.add_argument("--db", default=None)
    listing.set_defaults(func=_cmd_list)

    remove = sub.add_parser("remove", help="take a person's staff rights away")
    remove.add_argument("actor", help="tg:<Telegram user id> (or the bare id)")
    remove.add_argument("--db", default=None)
    remove.set_defaults(func=_cmd_remove)
