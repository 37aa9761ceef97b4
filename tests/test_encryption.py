"""Personal data is encrypted at rest (trust, item 7): what the database file holds, key
rotation with ``rekey``, and rows written before encryption was switched on."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from records.adapters.crypto import PREFIX, Cipher, DataKeyError, new_key, rekey
from records.adapters.database import make_engine
from records.adapters.unit_of_work import SqlAlchemyUnitOfWork
from records.api import Records
from records.domain.clock import FixedClock
from tests.case_commands import AT, petition
from tests.fakes import shipped_knowledge
from xiangyin.commands.database import upgrade

NAME, PHONE, WORDS = "李四", "13987654321", "村主任把低保名额给了他亲戚"


def records(engine: Engine, cipher: Cipher) -> Records:
    clock = FixedClock(AT)
    return Records(
        lambda: SqlAlchemyUnitOfWork(engine, clock, cipher), shipped_knowledge(), clock, b"pepper"
    )


@pytest.fixture
def db(tmp_path: Path) -> tuple[Engine, Path]:
    path = tmp_path / "cases.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    yield engine, path
    engine.dispose()


def raw_cases(engine: Engine) -> list:
    with engine.connect() as conn:
        return conn.execute(text("SELECT villager_name, villager_phone, facts FROM cases")).all()


def test_the_database_file_holds_no_name_phone_or_story_in_clear(db):
    engine, path = db
    cipher = Cipher(new_key())
    filed = records(engine, cipher).submit_case(petition())

    [(name, phone, facts)] = raw_cases(engine)
    assert all(str(v).startswith(PREFIX) for v in (name, phone, facts))
    engine.dispose()  # checkpoint: everything on disk in the main file
    on_disk = b"".join(p.read_bytes() for p in path.parent.glob("cases.db*"))
    for secret in (NAME, PHONE, WORDS):
        assert secret.encode() not in on_disk, secret

    case = records(engine, cipher).get_case(filed.number)  # and the records read it back
    assert (case.villager.name, case.villager.phone) == (NAME, PHONE)
    assert WORDS in case.facts["facts"]


def test_a_wrong_key_is_refused_rather_than_read_as_garbage(db):
    engine, _ = db
    number = records(engine, Cipher(new_key())).submit_case(petition()).number
    with pytest.raises(DataKeyError):
        records(engine, Cipher(new_key())).get_case(number)


def test_rotating_the_key_new_first_then_rekey_then_the_old_key_can_go(db):
    engine, _ = db
    old, new = new_key(), new_key()
    number = records(engine, Cipher(old)).submit_case(petition()).number

    both = Cipher(f"{new},{old}")
    assert records(engine, both).get_case(number).villager.phone == PHONE  # old rows still read
    assert rekey(engine, both) > 0
    assert records(engine, Cipher(new)).get_case(number).villager.phone == PHONE
    with pytest.raises(DataKeyError):
        records(engine, Cipher(old)).get_case(number)


def test_rows_written_before_encryption_are_read_and_then_encrypted_by_rekey(db):
    engine, _ = db
    cipher = Cipher(new_key())
    number = records(engine, cipher).submit_case(petition()).number
    with engine.begin() as conn:  # as an older version stored it
        conn.execute(
            text("UPDATE cases SET villager_name = :n, villager_phone = :p"),
            {"n": NAME, "p": PHONE},
        )
    assert records(engine, cipher).get_case(number).villager.name == NAME
    rekey(engine, cipher)
    [(name, phone, _)] = raw_cases(engine)
    assert name.startswith(PREFIX) and phone.startswith(PREFIX)
    assert records(engine, cipher).get_case(number).villager.phone == PHONE


def test_no_key_no_start():
    with pytest.raises(DataKeyError):
        Cipher("")
    with pytest.raises(DataKeyError):
        Cipher("not-a-key")
