"""The fuzz tests' big run: ``python -m benchmarks.fuzz [--scale 3]``.

Runs the properties of tests/test_fuzz.py (hostile inputs to the bot, the Rasa channel and the
actions; strategies in tests/hostile.py) with the "bench" profile: random (not derandomized)
examples, ``--scale`` times as many as `make test` runs (each test's own count there, 15 to
150).  Writes results/fuzz.json: per target the examples run, whether it failed, and the
seconds; a failure's minimal example is in pytest's output (add it as an ``@example``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from xiangyin.settings import PROJECT_ROOT

DEFAULT_OUT = PROJECT_ROOT / "results" / "fuzz.json"
COUNTS = "XIANGYIN_FUZZ_COUNTS"

#: A pytest plugin (loaded with -p) that writes each test's outcome, seconds and examples.
PLUGIN = '''
import json, os, time
import pytest
from tests.hostile import EXAMPLES_RUN

RESULTS = {}

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    before, start = dict(EXAMPLES_RUN), time.perf_counter()
    outcome = yield
    RESULTS[item.name] = {
        "examples": sum(EXAMPLES_RUN.values()) - sum(before.values()),
        "failed": outcome.excinfo is not None,
        "seconds": round(time.perf_counter() - start, 2),
    }

def pytest_sessionfinish(session):
    with open(os.environ["XIANGYIN_FUZZ_COUNTS"], "w", encoding="utf-8") as out:
        json.dump(RESULTS, out)
'''


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=int(os.environ.get("FUZZ_SCALE", "3")),
                        help="examples per test, times the count `make test` runs (default 3)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("-k", default="", help="only the tests whose names match (pytest -k)")
    args = parser.parse_args(argv)

    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"xiangyin-fuzz-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "fuzz_results_plugin.py").write_text(PLUGIN, encoding="utf-8")
    counts = work / "counts.json"
    env = {
        **os.environ,
        "XIANGYIN_FUZZ_PROFILE": "bench",
        "XIANGYIN_FUZZ_SCALE": str(args.scale),
        COUNTS: str(counts),
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(work), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "-p", "fuzz_results_plugin", "tests/test_fuzz.py"]
    if args.k:
        command += ["-k", args.k]
    start = time.perf_counter()
    returncode = subprocess.call(command, cwd=PROJECT_ROOT, env=env)
    seconds = time.perf_counter() - start
    tests: dict[str, Any] = json.loads(counts.read_text(encoding="utf-8")) if counts.exists() else {}
    report = {
        "scale": args.scale,
        "profile": "bench",
        "tests": tests,
        "examples": sum(t["examples"] for t in tests.values()),
        "failures": sorted(name for name, t in tests.items() if t["failed"]),
        "seconds": round(seconds, 1),
        "pytest_exit_code": returncode,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("examples", "failures", "seconds")}, ensure_ascii=False))
    print(f"written to {args.out}")
    return returncode


if __name__ == "__main__":
    raise SystemExit(main())
