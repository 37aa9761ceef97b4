"""The audit trail (权力运行可追溯, trust issue): every staff read of personal data and every
staff action is on an append-only record that `xiangyin audit --case N` shows."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from records.adapters.database import make_engine
from records.domain.identity import ChannelIdentity
from records.domain.staff import StaffMember
from records.services.cases import CaseRefused
from records.services.staff import Action
from tests.case_commands import mediation
from tests.fakes import FakeStore, FakeUnitOfWork, fake_records
from records.domain.clock import FixedClock

AT = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)
VILLAGE = "gonghe.tiantai.village_mediation"


def join(store: FakeStore, user: int, agency: str, role: str = "mediator") -> StaffMember:
    member = StaffMember(ChannelIdentity("tg", str(user)), f"员工{user}", agency, role)
    with FakeUnitOfWork(store, FixedClock(AT)) as uow:
        uow.staff.save(member, AT)
        uow.commit()
    return member


def test_what_a_mediator_sees_and_does_is_on_the_record_and_refusals_leave_no_trace():
    records, store = fake_records()
    mediator = join(store, 1, VILLAGE)
    stranger = join(store, 2, "gonghe.lawan.village_mediation")
    number = records.submit_case(mediation()).number

    records.view_case(mediator, number)
    records.act_on_case(mediator, number, Action.ACCEPT)
    records.add_note(mediator, number, "双方约好周五见面")
    records.work_list(mediator)
    with pytest.raises(CaseRefused):
        records.view_case(stranger, number)

    trail = records.audit_trail(number=number)
    assert [(e.actor, e.action) for e in trail] == [
        ("tg:1", "read_personal"),
        ("tg:1", "accept"),
        ("tg:1", "note"),
    ]
    assert trail[1].details == {"to": "accepted"}
    assert "双方" not in str(trail)  # the note's words are not copied into the trail
    assert [e.action for e in records.audit_trail(actor="tg:1")][-1] == "list"
    assert records.audit_trail(actor="tg:2") == []


def test_the_audit_log_refuses_to_be_rewritten(tmp_path):
    from xiangyin.commands.database import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO audit_log (at, actor, action) VALUES ('2026-11-20', 'tg:1', 'read')")
        )
    for statement in ("UPDATE audit_log SET actor = 'tg:2'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT actor FROM audit_log")).scalars().all() == ["tg:1"]


@pytest.mark.postgres
def test_the_audit_log_refuses_to_be_rewritten_on_postgresql(pg_engine):
    with pg_engine.begin() as conn:
        conn.execute(
            text("INSERT INTO audit_log (at, actor, action) VALUES (now(), 'tg:1', 'read')")
        )
    for statement in ("UPDATE audit_log SET actor = 'tg:2'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            with pg_engine.begin() as conn:
                conn.execute(text(statement))


def test_an_operator_reading_a_phone_on_the_command_line_is_on_the_record(tmp_path, capsys):
    from bot_support import store
    from xiangyin.cli import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["migrate", "--db", url]) == 0
    number = store(make_engine(url)).submit_case(mediation()).number
    assert main(["cases", "--db", url, "show", number, "--show-phone"]) == 0
    capsys.readouterr()
    assert main(["audit", "--case", number.lower(), "--db", url]) == 0
    shown = capsys.readouterr().out
    assert "read_personal" in shown and "cli:" in shown and "1 entry" in shown
