"""CLI glue for ``xiangyin knowledge …`` (xiangyin/cli.py registers and calls these).

Usage from cli.py::

    knowledge = subparsers.add_parser("knowledge")
    knowledge_cli.configure_parser(knowledge)      # adds `check` and `import-villages`
    ...
    return knowledge_cli.main(args)                # or main_check(args) directly

Both entry points also accept a plain argument list, e.g. ``main_check(["--root", "kb/"])``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence, TextIO

from knowledge.loader import KnowledgeError, import_villages_csv, knowledge_check

ArgsLike = argparse.Namespace | Sequence[str] | None


def _add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="knowledge folder (default: $XIANGYIN_KNOWLEDGE_DIR or <repo>/knowledge)",
    )


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``check`` and ``import-villages`` sub-commands to a ``knowledge`` parser."""
    sub = parser.add_subparsers(dest="knowledge_command", required=True)
    check = sub.add_parser("check", help="validate knowledge/ and print what it holds")
    _add_root(check)
    check.set_defaults(knowledge_handler=main_check)
    imp = sub.add_parser(
        "import-villages",
        help="replace the sample villages with the county's list (CSV: township,village,aliases,lat,lon)",
    )
    imp.add_argument(
        "csv", type=Path, help="CSV file with the header township,village,aliases,lat,lon"
    )
    _add_root(imp)
    imp.set_defaults(knowledge_handler=main_import_villages)


def _namespace(args: ArgsLike, command: str) -> argparse.Namespace:
    if isinstance(args, argparse.Namespace):
        return args
    parser = argparse.ArgumentParser(prog=f"xiangyin knowledge {command}")
    _add_root(parser)
    if command == "import-villages":
        parser.add_argument("csv", type=Path)
    return parser.parse_args(list(args) if args is not None else [])


def main_check(
    args: ArgsLike = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """``xiangyin knowledge check``: print counts; exit code 1 with the error if invalid."""
    ns = _namespace(args, "check")
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        root = getattr(ns, "root", None)
        lines = knowledge_check(root)
        # case_rules.yml belongs to the case records; check it against the same knowledge.
        from knowledge.case_rules import load_case_rules

        from knowledge.loader import load_knowledge

        knowledge = load_knowledge(root)
        rules = load_case_rules(root, knowledge)
        lines.append(f"case rules: {len(rules.emergency.keywords)} emergency words")
        # reminders.yml (deadline reminders, records/reminders.py) names deadlines too.
        from records.reminders import load_reminder_rules

        reminders = load_reminder_rules(Path(root) if root else None, knowledge)
        lines.append(f"reminders: {len(reminders.agency_duties)} agency duties")
    except KnowledgeError as exc:
        print(f"knowledge check FAILED: {exc}", file=err)
        return 1
    for line in lines:
        print(line, file=out)
    return 0


def main_import_villages(
    args: ArgsLike = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """``xiangyin knowledge import-villages CSV``: import villages, then re-check everything."""
    ns = _namespace(args, "import-villages")
    out = out or sys.stdout
    err = err or sys.stderr
    root = getattr(ns, "root", None)
    try:
        result = import_villages_csv(ns.csv, root)
    except KnowledgeError as exc:
        print(f"import FAILED (nothing written): {exc}", file=err)
        return 1
    print(
        f"imported {result.imported} villages into {result.path} "
        f"(removed {result.removed_samples} sample villages)",
        file=out,
    )
    for township_id, count in result.per_township.items():
        print(f"  {township_id}: {count}", file=out)
    return main_check(argparse.Namespace(root=root), out=out, err=err)


def main(args: argparse.Namespace) -> int:
    """Dispatch a namespace built by :func:`configure_parser`."""
    handler = getattr(args, "knowledge_handler", None)
    if handler is None:
        print("usage: xiangyin knowledge {check,import-villages} …", file=sys.stderr)
        return 2
    return int(handler(args))
