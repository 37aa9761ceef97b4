"""The case store on real databases: migrations, the SQL unit of work, the outbox
dispatcher, concurrency, and what a database error may print.  (The use cases themselves are
tested without a database: tests/test_case_services.py.)

Every test runs twice: on a SQLite file in tmp_path and on PostgreSQL (127.0.0.1:5432,
database ``test``, user postgres or root, trust auth) in a schema of its own,
``xiangyin_test_<random>``, created for the test and dropped afterwards.  The schema is
always created by the migrations (xiangyin migrate's ``upgrade``), as in production.
Deselect the PostgreSQL runs with ``-m "not postgres"``; point them elsewhere with
XIANGYIN_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Engine

from sqlalchemy import insert

from alembic.script import ScriptDirectory

from records.adapters.database import alembic_config, make_engine
from records.adapters.orm import case_deadlines, case_events, cases, metadata, outbox
from records.adapters.outbox import (
    Dispatcher,
    OutboxMessage,
    outbox_counts,
    requeue_dead,
)
from records.adapters.outbox import outbox_rows as listed_rows
from records.adapters.repository import StoreError
from records.adapters.unit_of_work import SqlAlchemyUnitOfWork
from records.api import Records
from records.domain.case_number import is_valid
from records.domain.clock import FixedClock, naive_utc
from records.domain.model import Status
from records.services.unit_of_work import ConcurrentUpdate
from tests.case_commands import AT, mediation, petition
from records.adapters.crypto import Cipher
from tests.conftest import postgres_schema
from tests.fakes import shipped_knowledge
from xiangyin.commands.database import upgrade


# ---------------------------------------------------------------------------
# Engines: SQLite file and PostgreSQL schema
# ---------------------------------------------------------------------------


CIPHER = Cipher(os.environ["XIANGYIN_DATA_KEY"])


def records(engine: Engine, clock: FixedClock | None = None) -> Records:
    """The case records on ``engine``, with the shipped knowledge."""
    clock = clock or FixedClock(AT)
    return Records(
        lambda: SqlAlchemyUnitOfWork(engine, clock, CIPHER), shipped_knowledge(), clock, b"pepper"
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    """The same tests on a SQLite file and on a PostgreSQL schema."""
    if request.param == "postgres":
        with postgres_schema(request.getfixturevalue("postgres_url")) as pg:
            yield pg
        return
    sqlite = make_engine(f"sqlite:///{tmp_path / 'cases.db'}")
    upgrade(sqlite)
    yield sqlite
    sqlite.dispose()


def count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def outbox_rows(engine: Engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(outbox).order_by(outbox.c.id)).all()


# ---------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------


def test_migrate_creates_the_case_tables_and_running_it_again_changes_nothing(engine):
    names = set(inspect(engine).get_table_names())
    assert {"cases", "case_events", "case_deadlines", "outbox", "alembic_version"} <= names
    assert {"processed_updates", "bot_state", "relay_backlog", "bot_alembic_version"} <= names
    upgrade(engine)
    with engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert conn.execute(text("SELECT version_num FROM bot_alembic_version")).scalar_one() == "b0002"


def test_the_migrations_build_exactly_the_tables_the_code_describes(engine):
    from bot.state_store import metadata as bot_metadata

    with engine.connect() as conn:
        for tables in (metadata, bot_metadata):
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_object": lambda o, name, type_, r, c, t=tables: type_ != "table"
                    or name in t.tables,
                },
            )
            assert compare_metadata(context, tables) == []


# ---------------------------------------------------------------------------
# Submission
# ---------------------------------------------------------------------------


def test_submitting_a_petition_writes_case_history_deadlines_and_outbox_together(engine):
    result = records(engine).submit_case(petition())
    assert result.created and is_valid(result.number) and result.number.startswith("XF-2611-")
    assert (count(engine, cases), count(engine, case_events), count(engine, case_deadlines)) == (
        1,
        2,
        2,
    )
    [message] = outbox_rows(engine)
    assert (message.recipient_kind, message.recipient_id, message.kind) == (
        "agency",
        "mouding.county_petition_bureau",
        "case_assigned",
    )
    assert CIPHER.decrypt_json(message.payload)["number"] == result.number and message.delivered_at is None
    assert "13987654321" not in str(message.payload)

    stored = records(engine).get_case(result.number)
    assert stored.status is Status.ROUTED and stored.agency.name == "牟定县信访局"
    assert stored.villager.phone == "13987654321" and stored.jurisdiction.village_name == "天台村"
    assert [(e.from_status, e.to_status) for e in stored.history] == [
        (None, Status.SUBMITTED),
        (Status.SUBMITTED, Status.ROUTED),
    ]
    due = {d.deadline_id: d.due for d in stored.deadlines}
    # Submitted Fri 20 Nov 2026: 15 日 → Sat 5 Dec → Mon 7 Dec; 5 工作日 → Fri 27 Nov.
    assert due == {
        "petition_intake_notice": date(2026, 12, 7),
        "petition_objection": date(2026, 11, 27),
    }
    assert result.next_deadline.deadline_id == "petition_objection"


def test_a_failure_in_the_middle_of_a_submission_leaves_nothing_behind(engine, monkeypatch):
    def broken(event, case):
        raise RuntimeError("outbox unavailable")

    # The case, its history and deadlines are already inserted when the outbox is written.
    monkeypatch.setattr("records.services.unit_of_work.messages_for_event", broken)
    with pytest.raises(RuntimeError, match="outbox unavailable"):
        records(engine).submit_case(petition())
    assert [count(engine, t) for t in (cases, case_events, case_deadlines, outbox)] == [0, 0, 0, 0]


@pytest.mark.postgres
def test_two_staff_changing_the_same_case_at_once_cannot_overwrite_each_other(pg_engine):
    # (On SQLite the second transaction cannot even start until the first has finished.)
    engine = pg_engine
    number = records(engine).submit_case(mediation()).number
    clock = FixedClock(AT)
    first = SqlAlchemyUnitOfWork(engine, clock, CIPHER)
    second = SqlAlchemyUnitOfWork(engine, clock, CIPHER)
    with first:
        slow = first.cases.get(number)  # read without a lock
        with second:
            fast = second.cases.get(number)
            fast.accept(actor="mediator:zhang", reason="受理", at=AT)
            second.commit()
        slow.close(actor="mediator:li", reason="撤回", at=AT)
        with pytest.raises(ConcurrentUpdate):
            first.commit()
    assert records(engine).get_case(number).status is Status.ACCEPTED


# ---------------------------------------------------------------------------
# Outbox dispatcher
# ---------------------------------------------------------------------------


def Clock() -> FixedClock:  # noqa: N802 - reads like the class it makes
    """A clock the test moves by hand."""
    return FixedClock(AT)


def queue(engine: Engine, n: int, clock: FixedClock) -> None:
    """``n`` outbox rows, as a unit of work would write them."""
    now = naive_utc(clock.now())
    with engine.begin() as conn:
        conn.execute(
            insert(outbox),
            [
                {
                    "recipient_kind": "agency",
                    "recipient_id": f"agency-{i % 3}",
                    "kind": "test",
                    "message_key": "test.message",
                    "payload": CIPHER.encrypt_json({"i": i}),
                    "created_at": now,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for i in range(n)
            ],
        )


def test_two_dispatchers_running_at_once_never_deliver_the_same_row_twice(engine):
    clock = Clock()
    queue(engine, 60, clock)
    delivered: list[int] = []
    lock = threading.Lock()

    def send(message: OutboxMessage) -> None:
        time.sleep(0.001)  # let the dispatchers interleave
        with lock:
            delivered.append(message.id)

    def work(worker: str) -> None:
        dispatcher = Dispatcher(engine, send, worker, batch_size=5, clock=clock, cipher=CIPHER)

        async def drain() -> None:
            while (await dispatcher.run_once()).claimed:
                pass

        asyncio.run(drain())

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, ["w1", "w2", "w3", "w4"]))
    assert len(delivered) == 60 and len(set(delivered)) == 60
    assert outbox_counts(engine) == {"total": 60, "delivered": 60, "dead": 0, "pending": 0}


async def test_a_failing_send_is_retried_with_back_off_and_not_lost(engine):
    clock = Clock()
    queue(engine, 1, clock)
    failures = iter([ConnectionError("agency bot offline"), TimeoutError("slow")])

    async def send(message: OutboxMessage) -> None:  # coroutine senders are supported
        error = next(failures, None)
        if error:
            raise error

    dispatcher = Dispatcher(
        engine, send, "w1", base_delay=timedelta(seconds=10), jitter=0, clock=clock, cipher=CIPHER
    )
    assert (await dispatcher.run_once()).retried == 1
    [row] = outbox_rows(engine)
    assert row.attempts == 1 and row.delivered_at is None and "ConnectionError" in row.last_error
    assert row.next_attempt_at == naive_utc(clock.now() + timedelta(seconds=10))

    assert (await dispatcher.run_once()).claimed == 0  # not due yet
    clock.advance(timedelta(seconds=10))
    assert (await dispatcher.run_once()).retried == 1  # second failure: twice the wait
    [row] = outbox_rows(engine)
    assert row.next_attempt_at == naive_utc(clock.now() + timedelta(seconds=20))
    clock.advance(timedelta(seconds=20))
    report = await dispatcher.run_once()
    assert report.delivered == 1
    [row] = outbox_rows(engine)
    assert row.attempts == 3 and row.delivered_at is not None


async def test_a_message_that_keeps_failing_becomes_a_dead_letter_and_is_kept(engine):
    clock = Clock()
    queue(engine, 1, clock)

    def send(message: OutboxMessage) -> None:
        raise RuntimeError("no such chat")

    dispatcher = Dispatcher(
        engine,
        send,
        "w1",
        max_attempts=3,
        jitter=0,
        base_delay=timedelta(seconds=1),
        clock=clock,
        cipher=CIPHER,
    )
    outcomes = []
    for _ in range(3):
        report = await dispatcher.run_once()
        outcomes.append((report.retried, report.dead))
        clock.advance(timedelta(minutes=1))
    assert outcomes == [(1, 0), (1, 0), (0, 1)]
    assert outbox_counts(engine)["dead"] == 1 and count(engine, outbox) == 1
    assert (await dispatcher.run_once()).claimed == 0  # dead letters are not retried
    [row] = outbox_rows(engine)
    assert requeue_dead(engine, row.id, clock=clock)
    assert (await dispatcher.run_once()).claimed == 1


async def test_a_dispatcher_that_dies_after_claiming_has_its_rows_delivered_once_by_another(engine):
    clock = Clock()
    queue(engine, 3, clock)
    crashed = Dispatcher(
        engine, lambda m: None, "crashed", lease=timedelta(minutes=5), clock=clock, cipher=CIPHER
    )
    claimed = crashed.claim_batch()  # … and the process dies before sending
    assert len(claimed) == 3

    sent: list[int] = []
    survivor = Dispatcher(
        engine, lambda m: sent.append(m.id), "survivor", clock=clock, cipher=CIPHER
    )
    assert (await survivor.run_once()).claimed == 0  # the lease still holds
    clock.advance(timedelta(minutes=5, seconds=1))
    assert (await survivor.run_once()).delivered == 3
    assert (await survivor.run_once()).claimed == 0
    assert sorted(sent) == sorted(m.id for m in claimed)
    # The dead worker's late report cannot undo the delivery.
    assert crashed.mark_failed(claimed[0], "late") == "lost"
    assert outbox_counts(engine)["delivered"] == 3


def test_marking_a_message_delivered_twice_is_harmless(engine):
    clock = Clock()
    queue(engine, 1, clock)
    dispatcher = Dispatcher(engine, lambda m: None, "w1", clock=clock, cipher=CIPHER)
    [message] = dispatcher.claim_batch()
    assert dispatcher.mark_delivered(message.id) is True
    assert dispatcher.mark_delivered(message.id) is False
    assert outbox_counts(engine)["delivered"] == 1


def test_case_messages_flow_from_submission_to_the_sender(engine):
    records(engine).submit_case(mediation())
    received: list[OutboxMessage] = []
    report = asyncio.run(Dispatcher(engine, received.append, "w1", clock=Clock(), cipher=CIPHER).run_once())
    assert report.delivered == 1
    assert received[0].recipient_id == "gonghe.tiantai.village_mediation"
    assert received[0].payload["jurisdiction"]["village_name"] == "天台村"


# ---------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------


def test_200_submissions_from_20_threads_get_200_distinct_numbers_and_200_messages(engine):
    store = records(engine)
    def submit(i: int) -> str:
        cmd = mediation(key=f"conv-{i}:1763604000.{i}", sender=f"tg:{i}")
        return store.submit_case(cmd).number

    with ThreadPoolExecutor(max_workers=20) as pool:
        numbers = list(pool.map(submit, range(200)))
    assert len(set(numbers)) == 200 and all(is_valid(n) for n in numbers)
    assert count(engine, cases) == 200 and count(engine, outbox) == 200


def test_the_same_confirmation_sent_from_10_threads_at_once_makes_one_case(engine):
    with ThreadPoolExecutor(max_workers=10) as pool:
        store = records(engine)
        results = list(pool.map(lambda _: store.submit_case(petition()), range(10)))
    assert len({r.number for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert (count(engine, cases), count(engine, outbox)) == (1, 1)


# ---------------------------------------------------------------------------
# Privacy and the staff CLI
# ---------------------------------------------------------------------------


def test_a_database_error_never_prints_the_villagers_phone(engine):
    import traceback

    from records.domain.model import Case, Jurisdiction, Villager

    broken = Case.submit(
        number="XF-2611-2222",
        route="petition",
        dispute_type=None,  # NOT NULL in the table: PostgreSQL reports the whole failing row
        facts={"facts": "x"},
        villager=Villager("tg:1", "李四", "13987654321"),
        jurisdiction=Jurisdiction("mouding"),
        at=AT,
    )
    with SqlAlchemyUnitOfWork(engine, Clock(), CIPHER) as uow, pytest.raises(StoreError) as error:
        uow.cases.add(broken)
    printed = "".join(traceback.format_exception(error.type, error.value, error.tb))
    assert "dispute_type" in printed and "13987654321" not in printed


def test_staff_can_list_show_and_move_cases_from_the_command_line(tmp_path, capsys):
    import json

    from xiangyin.cli import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["migrate", "--db", url]) == 0
    number = records(make_engine(url)).submit_case(mediation()).number
    capsys.readouterr()

    assert main(["cases", "--db", url, "list", "--status", "routed", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["number"] == number and listed["villager"]["phone"] == "139****5678"

    assert (
        main(
            [
                "cases",
                "--db",
                url,
                "transition",
                number.lower(),
                "accepted",
                "--actor",
                "mediator:zhang",
                "--reason",
                "已联系双方",
                "--json",
            ]
        )
        == 0
    )
    moved = json.loads(capsys.readouterr().out)
    assert moved["status"] == "accepted" and moved["history"][-1]["actor"] == "mediator:zhang"

    with pytest.raises(SystemExit):  # 'submitted' is never a target: argparse refuses it
        main(
            [
                "cases",
                "--db",
                url,
                "transition",
                number,
                "submitted",
                "--actor",
                "x",
                "--reason",
                "y",
            ]
        )
    assert (
        main(
            ["cases", "--db", url, "transition", number, "routed", "--actor", "x", "--reason", "y"]
        )
        == 2
    )
    assert "refused" in capsys.readouterr().err

    assert main(["cases", "--db", url, "show", number]) == 0
    shown = capsys.readouterr().out
    assert number in shown and "天台村人民调解委员会" in shown and "13912345678" not in shown
    assert main(["cases", "--db", url, "show", "MD-2611-2222"]) == 1

    assert main(["agencies", "list", "--level", "county", "--json"]) == 0
    agencies = json.loads(capsys.readouterr().out)
    assert {a["level"] for a in agencies} == {"county"} and len(agencies) >= 10


def test_staff_see_given_up_messages_and_can_send_them_again(tmp_path, capsys):
    from xiangyin.cli import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["migrate", "--db", url]) == 0
    engine = make_engine(url)
    clock = Clock()
    queue(engine, 2, clock)

    def refuse(message: OutboxMessage) -> None:
        raise RuntimeError("chat not found")

    dispatcher = Dispatcher(engine, refuse, "w1", max_attempts=1, clock=clock, cipher=CIPHER)
    assert asyncio.run(dispatcher.run_once()).dead == 2
    capsys.readouterr()
    assert main(["outbox", "list", "--dead", "--db", url]) == 0
    listed = capsys.readouterr().out
    assert listed.count("dead") >= 2 and "chat not found" in listed and "2 dead" in listed
    dead_id = listed_rows(engine, state="dead")[0].id
    assert main(["outbox", "requeue", str(dead_id), "--db", url]) == 0
    assert outbox_counts(engine)["dead"] == 1
    assert main(["outbox", "requeue", str(dead_id), "--db", url]) == 1  # not dead any more


# ---------------------------------------------------------------------------
# Reads beside a writer (trust, item 10) and migrations at once (item 11)
# ---------------------------------------------------------------------------


def test_reading_a_case_is_not_held_up_by_a_writer_on_sqlite(tmp_path):
    """Reads begin a plain transaction (WAL: no lock); only writes take BEGIN IMMEDIATE.  A
    read that queued behind the writer would wait out the 30 s busy timeout and fail."""
    engine = make_engine(f"sqlite:///{tmp_path / 'cases.db'}")
    upgrade(engine)
    number = records(engine).submit_case(petition()).number
    read: list = []
    with engine.begin() as writer:  # a long write transaction holds the write lock
        writer.execute(text("UPDATE cases SET updated_at = updated_at"))
        reader = threading.Thread(target=lambda: read.append(records(engine).get_case(number)))
        reader.start()
        reader.join(timeout=20)
        finished_while_writing = not reader.is_alive()
    reader.join()
    assert finished_while_writing and read and read[0].number == number
    engine.dispose()


@pytest.mark.postgres
def test_replicas_starting_together_migrate_one_after_the_other(postgres_url):
    """Four processes start at once on an empty schema: the advisory lock makes one migrate
    and the others find it done — no 'relation already exists', one Alembic version row."""
    from records.adapters.database import scratch_schema

    with scratch_schema(postgres_url, "xiangyin_test", prepare=lambda e: None) as engine:
        with ThreadPoolExecutor(max_workers=4) as pool:
            outcomes = list(pool.map(lambda _: upgrade(engine), range(4)))
        assert outcomes == [None] * 4
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert len(versions) == 1
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
