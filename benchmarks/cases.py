"""Benchmark case submission on SQLite and PostgreSQL: ``python -m benchmarks.cases``.

For each database:

* **latency** — N submissions one after another (form complete → case, history, deadlines
  and outbox committed, i.e. the whole :func:`records.services.cases.submit_case`); p50/p95/p99;
* **concurrency** — M submissions from T threads at once; afterwards the distinct case
  numbers, the cases and the outbox rows are counted (each submission in the mix writes
  exactly one outbox row), and number collisions that were retried are reported.

SQLite runs in a temporary file; PostgreSQL in a schema ``xiangyin_bench_<random>`` that is
dropped afterwards (URL: XIANGYIN_BENCH_POSTGRES_URL, else DATABASE_URL if it is PostgreSQL,
else postgres@ / root@127.0.0.1:5432/test).  Results are printed and written to
``results/bench-cases.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
import contextlib
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from knowledge.base import Knowledge
from knowledge.loader import default_knowledge_root, load_knowledge
from cryptography.fernet import Fernet

from records.adapters.crypto import Cipher
from records.adapters.database import make_engine, scratch_schema
from records.adapters.orm import cases, outbox
from records.adapters.unit_of_work import SqlAlchemyUnitOfWork
from records.api import Records
from records.domain.clock import Clock
from records.services.cases import NUMBER_TAKEN_MESSAGE, SubmitCase
from xiangyin.commands.database import upgrade

#: The shipped knowledge, loaded once, outside every measurement.
KNOWLEDGE: Knowledge = load_knowledge(default_knowledge_root())


def _records(engine: Engine) -> Records:
    clock = Clock()
    cipher = Cipher(Fernet.generate_key().decode())
    return Records(lambda: SqlAlchemyUnitOfWork(engine, clock, cipher), KNOWLEDGE, clock, b"bench")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = PROJECT_ROOT / "results" / "bench-cases.json"

# A realistic mix; none of these texts triggers 诉访分离 or an emergency, so every
# submission writes exactly one outbox row (the agency's case_assigned).
_FORMS: list[dict[str, Any]] = [
    {
        "route": "petition",
        "dispute_type": "other",
        "facts": {
            "facts": "村主任把低保名额给了他亲戚，我们真正困难的莫得",
            "petition_request": "重新评定，公开名单",
        },
    },
    {
        "route": "mediation",
        "dispute_type": "neighbour",
        "facts": {
            "facts": "隔壁家的牛又跑到我地头，把苞谷吃了一大片，找他赔他不认账",
            "other_party": "隔壁王老三",
        },
    },
    {
        "route": "legal_aid",
        "dispute_type": "labour",
        "facts": {
            "facts": "在工地打工，包工头欠我三个月工资不给",
            "time_limit": "还有5天",
            "economic_status": "外出打工讨薪",
        },
    },
    {
        "route": "service",
        "dispute_type": "other",
        "facts": {"facts": "异地就医咋个备案"},
    },
]


class _CollisionCounter(logging.Handler):
    """Counts 'case number taken' retries logged by the service layer."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.count = 0
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == NUMBER_TAKEN_MESSAGE:
            with self._lock:
                self.count += 1


def _places() -> list[tuple[str, str]]:
    knowledge = KNOWLEDGE
    return [(t.id, v.id) for t in knowledge.townships for v in t.villages]


def _command(i: int, tag: str, places: list[tuple[str, str]]) -> SubmitCase:
    form = _FORMS[i % len(_FORMS)]
    township, village = places[i % len(places)]
    return SubmitCase(
        submission_key=f"bench-{tag}-{i}",
        route=form["route"],
        sender_id=f"bench:{tag}:{i}",
        dispute_type=form["dispute_type"],
        facts=form["facts"],
        name="测试",
        phone="13900000000",
        township_id=township,
        village_id=village,
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _count(engine: Engine, table: Any, where: Any = None) -> int:
    query = select(func.count()).select_from(table)
    if where is not None:
        query = query.where(where)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def bench_backend(
    engine: Engine, *, sequential: int, concurrent: int, threads: int
) -> dict[str, Any]:
    """Run both measurements on a migrated, empty database."""
    records = _records(engine)
    places = _places()
    counter = _CollisionCounter()
    service_log = logging.getLogger("records.services.cases")
    old_level, old_propagate = service_log.level, service_log.propagate
    # DEBUG to see the collision retries; not propagated, so the per-case INFO lines of
    # 2,000 submissions do not flood the console.
    service_log.setLevel(logging.DEBUG)
    service_log.propagate = False
    service_log.addHandler(counter)
    try:
        # Warm-up (knowledge, case rules, connection pool) outside the measurement.
        records.submit_case(_command(0, "warmup", places))

        latencies: list[float] = []
        for i in range(sequential):
            cmd = _command(i, "seq", places)
            start = time.perf_counter()
            records.submit_case(cmd)
            latencies.append((time.perf_counter() - start) * 1000)
        sequential_collisions = counter.count

        errors: list[str] = []
        numbers: list[str] = []
        lock = threading.Lock()

        def submit(i: int) -> None:
            try:
                number = records.submit_case(_command(i, "conc", places)).number
            except Exception as exc:  # noqa: BLE001 - counted and reported, not hidden
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                return
            with lock:
                numbers.append(number)

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(submit, range(concurrent)))
        wall = time.perf_counter() - start
        conc_cases = _count(engine, cases, cases.c.submission_key.like("bench-conc-%"))
        conc_outbox = _count(engine, outbox, outbox.c.case_number.in_(numbers)) if numbers else 0
    finally:
        service_log.removeHandler(counter)
        service_log.setLevel(old_level)
        service_log.propagate = old_propagate

    return {
        "sequential": {
            "submissions": sequential,
            "p50_ms": round(statistics.median(latencies), 2),
            "p95_ms": round(_percentile(latencies, 0.95), 2),
            "p99_ms": round(_percentile(latencies, 0.99), 2),
            "max_ms": round(max(latencies), 2),
            "mean_ms": round(statistics.fmean(latencies), 2),
            "number_collisions_retried": sequential_collisions,
        },
        "concurrent": {
            "submissions": concurrent,
            "threads": threads,
            "wall_seconds": round(wall, 2),
            "submissions_per_second": round(concurrent / wall, 1),
            "distinct_numbers": len(set(numbers)),
            "cases": conc_cases,
            "outbox_rows": conc_outbox,
            "errors": len(errors),
            "error_samples": errors[:5],
            "number_collisions_retried": counter.count - sequential_collisions,
        },
        "total_cases": _count(engine, cases),
        "total_outbox_rows": _count(engine, outbox),
    }


@contextmanager
def _sqlite(threads: int) -> Iterator[Engine]:
    folder = Path(tempfile.mkdtemp(prefix="xiangyin-bench-"))
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}", pool_size=threads, max_overflow=10)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)


def _postgres_url() -> str | None:
    configured = os.environ.get("XIANGYIN_BENCH_POSTGRES_URL")
    database = os.environ.get("DATABASE_URL", "")
    if configured:
        candidates = [configured]
    elif database.startswith("postgres"):
        candidates = [database]
    else:
        candidates = [
            f"postgresql+psycopg2://{user}@127.0.0.1:5432/test" for user in ("postgres", "root")
        ]
    for url in candidates:
        probe = create_engine(url, future=True)
        try:
            with probe.connect():
                return url
        except OperationalError:
            continue
        finally:
            probe.dispose()
    return None


def _postgres(url: str, threads: int) -> contextlib.AbstractContextManager[Engine]:
    return scratch_schema(
        url, "xiangyin_bench", pool_size=threads, max_overflow=10, prepare=upgrade
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the JSON report."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.cases", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sequential", type=int, default=500)
    parser.add_argument("--concurrent", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    report: dict[str, Any] = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "cpu_count": os.cpu_count(),
        "backends": {},
    }
    sizes = {"sequential": args.sequential, "concurrent": args.concurrent, "threads": args.threads}
    if args.only in (None, "sqlite"):
        with _sqlite(args.threads) as engine:
            report["backends"]["sqlite"] = bench_backend(engine, **sizes)
            report["backends"]["sqlite"]["server"] = f"sqlite {engine.dialect.dbapi.sqlite_version}"
    if args.only in (None, "postgresql"):
        url = _postgres_url()
        if url is None:
            report["backends"]["postgresql"] = {"skipped": "PostgreSQL not reachable"}
        else:
            with _postgres(url, args.threads) as engine:
                report["backends"]["postgresql"] = bench_backend(engine, **sizes)
                with engine.connect() as conn:
                    version = conn.exec_driver_sql("SHOW server_version").scalar_one()
                report["backends"]["postgresql"]["server"] = f"postgresql {version}"

    for name, result in report["backends"].items():
        if "skipped" in result:
            print(f"{name}: skipped ({result['skipped']})")
            continue
        seq, conc = result["sequential"], result["concurrent"]
        print(
            f"{name}: submit p50 {seq['p50_ms']} ms, p95 {seq['p95_ms']} ms, "
            f"p99 {seq['p99_ms']} ms over {seq['submissions']}; "
            f"{conc['submissions']} from {conc['threads']} threads in "
            f"{conc['wall_seconds']} s ({conc['submissions_per_second']}/s): "
            f"{conc['distinct_numbers']} distinct numbers, {conc['cases']} cases, "
            f"{conc['outbox_rows']} outbox rows, {conc['errors']} errors, "
            f"{conc['number_collisions_retried']} number collisions retried"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
