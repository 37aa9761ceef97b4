"""Personal data at rest (trust, item 7): encrypted in the database file, key rotation with
``rekey``, rows written before encryption, and ``xiangyin cases purge`` after the retention period."""

from __future__ import annotations

from datetime import timedelta
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


# ---------------------------------------------------------------------------
# Retention: xiangyin cases purge
# ---------------------------------------------------------------------------


def close(engine: Engine, cipher: Cipher, number: str) -> None:
    r = records(engine, cipher)
    r.transition(number, "closed", "cli:test", "村民撤回")


def test_purge_removes_a_closed_cases_personal_data_and_keeps_the_archive(db, tmp_path):
    from records.adapters.retention import purge_closed
    from records.domain.clock import FixedClock as Clock

    engine, path = db
    cipher = Cipher(new_key())
    closed = records(engine, cipher).submit_case(petition()).number
    still_open = records(engine, cipher).submit_case(petition(key="k2", sender="tg:2")).number
    close(engine, cipher, closed)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"jpeg")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO evidence (case_number, sender_id, channel, file_id, file_unique_id,"
                " kind, received_at, stored_path) VALUES (:n, 'tg:1001', 'tg', 'f', 'u', 'photo',"
                " :at, :p)"
            ),
            {"n": closed, "at": AT.replace(tzinfo=None), "p": str(photo)},
        )

    too_soon = purge_closed(engine, cipher, Clock(AT), after_days=365, actor="cli:test")
    assert too_soon.numbers == []  # closed today: kept
    a_year_on = Clock(AT + timedelta(days=367))
    report = purge_closed(engine, cipher, a_year_on, after_days=365, actor="cli:test")
    assert report.numbers == [closed] and report.files_deleted == 1 and not photo.exists()

    kept = records(engine, cipher).get_case(closed)  # the archive of the matter stays
    assert (kept.number, kept.route, kept.status.value) == (closed, "petition", "closed")
    assert kept.agency is not None and kept.deadlines
    assert kept.villager.name is None and kept.villager.phone is None
    assert WORDS not in str(kept.facts)
    assert records(engine, cipher).cases_for_villager("tg:1001") == []
    assert records(engine, cipher).get_case(still_open).villager.phone == PHONE  # open: untouched
    assert [e.action for e in records(engine, cipher).audit_trail(number=closed)][-1] == "purge"

    engine.dispose()
    on_disk = b"".join(p.read_bytes() for p in path.parent.glob("cases.db*"))
    assert on_disk.count(PHONE.encode()) == 0
    again = purge_closed(engine, cipher, a_year_on, after_days=365, actor="cli:test")
    assert again.numbers == []  # done once


def test_purge_is_off_unless_the_county_sets_a_period(monkeypatch, capsys):
    from xiangyin.cli import main
    from xiangyin.settings import settings

    monkeypatch.delenv("XIANGYIN_PURGE_AFTER_DAYS", raising=False)
    settings.cache_clear()
    try:
        assert main(["cases", "purge"]) == 0
        assert "purge is off" in capsys.readouterr().err
        monkeypatch.setenv("XIANGYIN_PURGE_AFTER_DAYS", "7")
        settings.cache_clear()
        assert main(["cases", "purge"]) == 2  # a typo must not wipe last week's cases
    finally:
        settings.cache_clear()
