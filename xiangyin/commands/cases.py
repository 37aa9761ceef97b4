"""Staff commands for case records: ``xiangyin cases …`` and ``xiangyin agencies list``.

    xiangyin cases list [--status S] [--agency ID] [--route R] [--urgent] [--json]
    xiangyin cases show NUMBER [--json] [--show-phone]
    xiangyin cases new-key                              # a key for XIANGYIN_DATA_KEY
    xiangyin cases rekey                                # after adding a key first in the list
    xiangyin cases purge [--dry-run]                    # off unless XIANGYIN_PURGE_AFTER_DAYS
    xiangyin cases transition NUMBER TO --actor NAME --reason TEXT
                              [--outcome O] [--to-agency ID] [--on YYYY-MM-DD] [--json]
    xiangyin agencies list [--level L] [--kind K] [--township ID] [--json]
    xiangyin audit --case NUMBER | --actor tg:ID [--json]

The database is DATABASE_URL (default: the SQLite file var/xiangyin.db), or ``--db URL``.
Phone numbers are masked unless ``--show-phone`` is given.  Exit codes: 0 ok, 1 not found or
database not ready, 2 refused (illegal transition, bad value).  ``xiangyin migrate`` creates
and upgrades the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date
from typing import Any

from knowledge.case_rules import STATUSES
from records.adapters.database import make_engine
from records.api import Records
from records.domain.clock import county_date
from records.domain.model import Case, CaseError, IllegalTransition

__all__ = ["agency_as_dict", "case_as_dict", "register"]


def case_as_dict(
    case: Case, today: date, *, show_phone: bool = False, history: bool = True
) -> dict[str, Any]:
    """A case as JSON-ready data for staff tools (phone masked unless ``show_phone``)."""
    j = case.jurisdiction
    upcoming = case.next_deadline(today)
    data: dict[str, Any] = {
        "number": case.number,
        "route": case.route,
        "dispute_type": case.dispute_type,
        "status": case.status.value,
        "agency": {"id": case.agency.id, "name": case.agency.name} if case.agency else None,
        "intake": {"id": case.intake.id, "name": case.intake.name} if case.intake else None,
        "chain": [{"id": a.id, "name": a.name} for a in case.chain],
        "villager": {
            "sender_id": case.villager.sender_id,
            "name": case.villager.name,
            "phone": case.villager.phone if show_phone else case.villager.phone_masked,
        },
        "filed_by": case.filed_by,
        "jurisdiction": {
            "county_id": j.county_id,
            "township_id": j.township_id,
            "township_name": j.township_name,
            "village_id": j.village_id,
            "village_name": j.village_name,
        },
        "facts": dict(case.facts),
        "urgent": case.urgent,
        "emergency": case.emergency,
        "redirected": case.redirected,
        "redirect": case.redirect.to_dict() if case.redirect else None,
        "screening": case.screening.to_dict() if case.screening else None,
        "also_offer": list(case.also_offer),
        "outcome": case.outcome,
        "created_at": case.created_at.isoformat(),
        "created_on": county_date(case.created_at).isoformat(),
        "updated_at": case.updated_at.isoformat(),
        "deadlines": [d.to_dict() for d in case.deadlines],
        "next_deadline": upcoming.to_dict() if upcoming else None,
    }
    if history:
        data["history"] = [
            {
                "seq": e.seq,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "from": e.from_status.value if e.from_status else None,
                "to": e.to_status.value,
                "reason": e.reason,
                "details": dict(e.details),
            }
            for e in case.history
        ]
    return data


def agency_as_dict(agency: Any) -> dict[str, Any]:
    """A knowledge agency as JSON-ready data."""
    return {
        "id": agency.id,
        "kind": agency.kind,
        "name": agency.name,
        "level": agency.level,
        "township_id": agency.township_id,
        "village_id": agency.village_id,
        "phone": agency.phone,
        "address": agency.address,
        "sample": agency.sample,
    }


# ---------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------


def _records(args: argparse.Namespace) -> Records:
    from xiangyin.commands.database import open_records
    from xiangyin.settings import settings

    config = settings()
    return open_records(config, make_engine(args.db or config.database_url))


def _operator() -> str:
    """Who is at the command line, as the audit trail names them."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no login name (a container): still on the record
        return "cli:unknown"


def _cmd_new_key(args: argparse.Namespace) -> int:
    from records.adapters.crypto import new_key

    print(new_key())
    print(
        "set it as XIANGYIN_DATA_KEY (first in the list) for every process, and keep a copy "
        "safe: without it nothing stored can be read",
        file=sys.stderr,
    )
    return 0


def _cmd_rekey(args: argparse.Namespace) -> int:
    from bot.state_store import BotStateStore
    from records.adapters.crypto import Cipher, DataKeyError, rekey
    from records.domain.clock import Clock
    from xiangyin.settings import settings

    config = settings()
    try:
        cipher = Cipher(config.data_key)
    except DataKeyError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    engine = make_engine(args.db or config.database_url)
    changed = rekey(engine, cipher)
    # The bot's own tables (its users' state, messages kept for Rasa) under the same key.
    changed += asyncio.run(BotStateStore(engine, Clock(), cipher).rekey())
    print(f"{changed} rows now under the first key of XIANGYIN_DATA_KEY")
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    from records.adapters.crypto import Cipher, DataKeyError
    from records.adapters.retention import MIN_DAYS, purge_closed
    from records.domain.clock import Clock
    from xiangyin.settings import settings

    config = settings()
    if config.purge_after_days is None:
        print(
            "purge is off: the county sets XIANGYIN_PURGE_AFTER_DAYS once its archive keeps "
            "what the archive rules require (README, Security and privacy)",
            file=sys.stderr,
        )
        return 0
    if config.purge_after_days < MIN_DAYS:
        print(f"refused: XIANGYIN_PURGE_AFTER_DAYS under {MIN_DAYS}", file=sys.stderr)
        return 2
    try:
        cipher = Cipher(config.data_key)
    except DataKeyError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    report = purge_closed(
        make_engine(args.db or config.database_url),
        cipher,
        Clock(),
        after_days=config.purge_after_days,
        actor=_operator(),
        dry_run=args.dry_run,
    )
    verb = "would purge" if report.dry_run else "purged"
    for number in report.numbers:
        print(f"{verb} {number}")
    print(
        f"{verb} {len(report.numbers)} case(s) closed more than {config.purge_after_days} days ago"
        + ("" if report.dry_run else f"; {report.files_deleted} file(s) deleted")
    )
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    if not args.case and not args.actor:
        print("give --case NUMBER or --actor tg:<id>", file=sys.stderr)
        return 2
    from records.domain.case_number import normalize

    number = (normalize(args.case) or args.case) if args.case else None
    entries = _records(args).audit_trail(number=number, actor=args.actor)
    if args.json:
        _print_json(
            [
                {"at": e.at.isoformat(), "actor": e.actor, "action": e.action,
                 "case": e.case_number, "details": e.details}
                for e in entries
            ]
        )
        return 0
    for e in entries:
        details = " ".join(f"{k}={v}" for k, v in (e.details or {}).items())
        print(f"{e.at.isoformat()[:19]}  {e.actor:<20} {e.action:<22} {e.case_number or '-':<13} {details}")
    print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
    return 0


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _database_error(exc: Exception) -> int:
    print(
        f"database error: {type(exc).__name__}: {str(exc).splitlines()[0]}\n"
        "is the schema created? run: xiangyin migrate",
        file=sys.stderr,
    )
    return 1


def _cmd_list(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DBAPIError

    records = _records(args)
    try:
        found = records.list_cases(
            status=args.status,
            agency_id=args.agency,
            route=args.route,
            township_id=args.township,
            urgent=True if args.urgent else None,
            limit=args.limit,
        )
    except DBAPIError as exc:
        return _database_error(exc)
    today = records.clock.today()
    if args.json:
        _print_json([case_as_dict(c, today, history=False) for c in found])
        return 0
    print(
        f"{'number':<13} {'status':<11} {'route':<9} {'type':<11} {'flags':<5} {'next due':<10} "
        f"{'created':<10} agency"
    )
    for case in found:
        flags = (
            ("E" if case.emergency else "")
            + ("U" if case.urgent else "")
            + ("R" if case.redirected else "")
        )
        upcoming = case.next_deadline(today)
        due = upcoming.due.isoformat() if upcoming and upcoming.due else "-"
        agency = case.agency.name if case.agency else "-"
        print(
            f"{case.number:<13} {case.status.value:<11} {case.route:<9} {case.dispute_type:<11} "
            f"{flags or '-':<5} {due:<10} {county_date(case.created_at).isoformat():<10} {agency}"
        )
    print(f"{len(found)} case(s)")
    return 0


def _print_case(case: Case, today: date, show_phone: bool) -> None:
    data = case_as_dict(case, today, show_phone=show_phone)
    print(f"case {data['number']}  [{data['status']}]  {data['route']}/{data['dispute_type']}")
    agency = data["agency"]
    print(f"  agency:    {agency['name'] + ' (' + agency['id'] + ')' if agency else '-'}")
    if data["intake"]:
        print(f"  intake:    {data['intake']['name']} ({data['intake']['id']})")
    if data["chain"]:
        print(f"  chain:     {' → '.join(a['name'] for a in data['chain'])}")
    v = data["villager"]
    print(f"  villager:  {v['name'] or '-'}  phone {v['phone'] or '-'}  sender {v['sender_id']}")
    if data["filed_by"]:
        print(f"  filed by:  {data['filed_by']}")
    j = data["jurisdiction"]
    print(f"  place:     {j['township_name'] or '-'} {j['village_name'] or ''}".rstrip())
    flags = [name for name in ("emergency", "urgent", "redirected") if data[name]]
    print(f"  flags:     {', '.join(flags) or '-'}")
    for key, value in data["facts"].items():
        print(f"  {key + ':':<18} {value}")
    if data["redirect"]:
        r = data["redirect"]
        print(f"  redirect:  {r['name']} ({r['law']} {r['article']}), offer {r['offer_route']}")
    if data["screening"]:
        s = data["screening"]
        print(
            f"  legal aid: article {s['article'] or '-'}, exempt {s['exempt_group'] or '-'}, "
            f"hardship test {'yes' if s['hardship_test_needed'] else 'no'}, "
            f"urgent {'yes' if s['urgent'] else 'no'}"
        )
    if data["outcome"]:
        print(f"  outcome:   {data['outcome']}")
    print("  deadlines:")
    for d in data["deadlines"] or []:
        info = " (information)" if d["information"] else ""
        print(f"    {d['due'] or 'no date':<10} {d['name']} [{d['law']} {d['article']}]{info}")
    print("  history:")
    for e in data["history"]:
        print(
            f"    {e['seq']:>2}. {e['at'][:19]}  {e['from'] or '-':>11} → {e['to']:<11} "
            f"{e['actor']}: {e['reason']}"
        )


def _cmd_show(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DBAPIError

    from records.services.cases import CaseNotFound

    records = _records(args)
    try:
        case = records.get_case(args.number)
    except CaseNotFound as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except DBAPIError as exc:
        return _database_error(exc)
    today = records.clock.today()
    records.record_read(_operator(), case.number, personal=args.show_phone)
    if args.json:
        _print_json(case_as_dict(case, today, show_phone=args.show_phone))
    else:
        _print_case(case, today, args.show_phone)
    return 0


def _cmd_transition(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DBAPIError

    from records.services.cases import CaseNotFound

    details: dict[str, Any] = {}
    if args.outcome:
        details["outcome"] = args.outcome
    if args.to_agency:
        details["to_agency"] = args.to_agency
    if args.on:
        details["event_date"] = args.on
    records = _records(args)
    try:
        case = records.transition(args.number, args.to, args.actor, args.reason, **details)
    except CaseNotFound as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except (IllegalTransition, CaseError, ValueError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    except DBAPIError as exc:
        return _database_error(exc)
    if args.json:
        _print_json(case_as_dict(case, records.clock.today()))
    else:
        agency = case.agency.name if case.agency else "-"
        print(f"case {case.number} is now {case.status.value} (agency: {agency})")
    return 0


def _cmd_agencies_list(args: argparse.Namespace) -> int:
    from knowledge.loader import load_knowledge
    from xiangyin.settings import settings

    agencies = [
        a
        for a in load_knowledge(settings().knowledge_dir).agencies
        if (args.level is None or a.level == args.level)
        and (args.kind is None or a.kind == args.kind)
        and (args.township is None or a.township_id == args.township)
    ]
    if args.json:
        _print_json([agency_as_dict(a) for a in agencies])
        return 0
    for a in agencies:
        print(f"{a.id:<48} {a.level:<9} {a.name}{'  (sample)' if a.sample else ''}")
    print(f"{len(agencies)} agenc{'y' if len(agencies) == 1 else 'ies'}")
    return 0


# ---------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add the ``cases`` and ``agencies`` commands to the ``xiangyin`` parser."""
    from knowledge.schema import LEVELS

    cases = subparsers.add_parser("cases", help="case records: list, show, move (staff)")
    cases.add_argument("--db", default=None, help="database URL (default: DATABASE_URL)")
    csub = cases.add_subparsers(dest="cases_command", required=True)

    key = csub.add_parser("new-key", help="print a new key for XIANGYIN_DATA_KEY")
    key.set_defaults(func=_cmd_new_key)
    rekey = csub.add_parser(
        "rekey", help="rewrite personal data under the first key of XIANGYIN_DATA_KEY"
    )
    rekey.set_defaults(func=_cmd_rekey)
    purge = csub.add_parser(
        "purge", help="remove closed cases' personal data after XIANGYIN_PURGE_AFTER_DAYS"
    )
    purge.add_argument("--dry-run", action="store_true", help="only list what would go")
    purge.set_defaults(func=_cmd_purge)

    lst = csub.add_parser("list", help="list cases, newest first")
    lst.add_argument("--status", choices=STATUSES)
    lst.add_argument("--agency", help="agency id, e.g. gonghe.township_justice_office")
    lst.add_argument("--route", choices=("petition", "mediation", "legal_aid", "service"))
    lst.add_argument("--township", help="township id, e.g. gonghe")
    lst.add_argument("--urgent", action="store_true", help="only urgent cases")
    lst.add_argument("--limit", type=int, default=None)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=_cmd_list)

    show = csub.add_parser("show", help="one case with its deadlines and history")
    show.add_argument("number", help="case number, e.g. MD-2611-7K4Q")
    show.add_argument("--json", action="store_true")
    show.add_argument("--show-phone", action="store_true", help="print the full phone number")
    show.set_defaults(func=_cmd_show)

    move = csub.add_parser("transition", help="move a case to another status")
    move.add_argument("number")
    move.add_argument("to", choices=[s for s in STATUSES if s != "submitted"])
    move.add_argument("--actor", required=True, help="who is making the change")
    move.add_argument("--reason", required=True, help="why (recorded in the history)")
    move.add_argument("--outcome", help="for resolved: agreement, reply, done …")
    move.add_argument("--to-agency", help="agency id to route to")
    move.add_argument("--on", help="date the step happened (YYYY-MM-DD), default today")
    move.add_argument("--json", action="store_true")
    move.set_defaults(func=_cmd_transition)

    audit = subparsers.add_parser("audit", help="who saw or did what (the audit trail)")
    audit.add_argument("--case", help="case number")
    audit.add_argument("--actor", help="a person, e.g. tg:123456 or cli:name")
    audit.add_argument("--json", action="store_true")
    audit.add_argument("--db", default=None, help="database URL (default: DATABASE_URL)")
    audit.set_defaults(func=_cmd_audit)

    agencies = subparsers.add_parser("agencies", help="agencies from knowledge/")
    asub = agencies.add_subparsers(dest="agencies_command", required=True)
    alist = asub.add_parser("list", help="list agencies")
    alist.add_argument("--level", choices=LEVELS)
    alist.add_argument("--kind", help="agency kind, e.g. police_station")
    alist.add_argument("--township", help="township id, e.g. gonghe")
    alist.add_argument("--json", action="store_true")
    alist.set_defaults(func=_cmd_agencies_list)
