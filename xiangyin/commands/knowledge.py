"""``xiangyin knowledge check`` and ``xiangyin knowledge import-villages CSV``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from knowledge.check import check
from knowledge.schema import KnowledgeError
from knowledge.villages import import_villages_csv

__all__ = ["main_check", "main_import"]


def main_check(
    args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Print what knowledge/ holds; exit code 1 with the first problem if it is invalid."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        lines = check(getattr(args, "root", None))
    except KnowledgeError as exc:
        print(f"knowledge check FAILED: {exc}", file=err)
        return 1
    for line in lines:
        print(line, file=out)
    return 0


def main_import(
    args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Replace the sample villages with the county's CSV, then check everything again."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        result = import_villages_csv(Path(args.csv), Path(args.root))
    except KnowledgeError as exc:
        print(f"import FAILED (nothing written): {exc}", file=err)
        return 1
    print(
        f"imported {result.imported} villages into {result.path} "
        f"(removed {result.removed_samples} sample villages)",
        file=out,
    )
    return main_check(args, out=out, err=err)
