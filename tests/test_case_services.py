"""The case use cases — file, read, move — on the in-memory unit of work (tests/fakes.py):
no database here; tests/test_case_store.py runs the same store on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest

from records.domain.case_number import is_valid
from records.domain.clock import FixedClock
from records.domain.model import IllegalTransition, Status
from records.services.cases import (
    NoAgencyAvailable,
    SubmitCase,
    cases_for_villager,
    find_case_for_villager,
    get_case,
    submit_case,
    transition,
)
from tests.case_commands import AT, mediation, petition
from tests.fakes import FakeStore, FakeUnitOfWork, shipped_knowledge

CLOCK = FixedClock(AT)


@pytest.fixture
def store() -> FakeStore:
    CLOCK.at = AT
    return FakeStore()


@pytest.fixture(autouse=True)
def _bind(store: FakeStore) -> None:
    global _STORE
    _STORE = store


_STORE: FakeStore | None = None


def uow() -> FakeUnitOfWork:
    assert _STORE is not None
    return FakeUnitOfWork(_STORE, CLOCK)


def submit(cmd: SubmitCase, **kwargs):
    return submit_case(uow(), cmd, knowledge=shipped_knowledge(), **kwargs)


def move(number: str, to: str, actor: str, reason: str, *, now: datetime | None = None, **details):
    if now is not None:
        CLOCK.at = now
    return transition(uow(), number, to, actor, reason, knowledge=shipped_knowledge(), **details)


# ---------------------------------------------------------------------------
# Submission
# ---------------------------------------------------------------------------


def test_submitting_a_petition_writes_case_history_deadlines_and_outbox_together(store):
    result = submit(petition())
    assert result.created and is_valid(result.number) and result.number.startswith("XF-2611-")
    [stored_case] = store.cases.values()
    assert (len(store.cases), len(stored_case.history), len(stored_case.deadlines)) == (1, 2, 2)
    [message] = store.outbox
    assert (message.recipient_kind, message.recipient_id, message.kind) == (
        "agency",
        "mouding.county_petition_bureau",
        "case_assigned",
    )
    assert message.payload["number"] == result.number
    assert "13987654321" not in str(message.payload)

    stored = get_case(uow(), result.number)
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


def test_submitting_the_same_confirmation_again_returns_the_existing_case(store):
    first = submit(petition())
    again = submit(petition())
    assert (again.number, again.created) == (first.number, False)
    assert again.case.status is Status.ROUTED
    assert (len(store.cases), len(store.outbox)) == (1, 1)


def test_a_case_number_already_taken_is_replaced_by_a_fresh_one(store):
    first = submit(petition(key="a"), rng=random.Random(42))
    second = submit(petition(key="b"), rng=random.Random(42))
    assert second.number != first.number and is_valid(second.number)
    assert len(store.cases) == 2


def test_a_villager_never_sees_someone_elses_case(store):
    mine = submit(petition(sender="tg:1001"))
    assert find_case_for_villager(uow(), "tg:9999", mine.number) is None
    assert (
        find_case_for_villager(uow(), "tg:1001", mine.number.lower().replace("-", "")).number
        == mine.number
    )
    assert find_case_for_villager(uow(), "tg:1001", "XF-2611-OOOO") is None
    assert cases_for_villager(uow(), "tg:9999") == []


def test_a_villagers_cases_are_listed_newest_first(store):
    older = submit(petition(key="k1"))
    newer = submit(
        mediation(key="k2", sender="tg:1001", submitted_at=AT + timedelta(days=1)),
    )
    submit(mediation(key="k3", sender="tg:7777"))
    assert [c.number for c in cases_for_villager(uow(), "tg:1001")] == [
        newer.number,
        older.number,
    ]


def test_a_redirected_petition_is_recorded_closed_with_its_legal_route(store):
    result = submit(
        petition(facts={"facts": "法院判决不服，法院判得不公", "petition_request": "让信访局管"}),
    )
    stored = get_case(uow(), result.number)
    assert stored.status is Status.CLOSED and stored.redirected and stored.agency is None
    assert stored.redirect.legal_route == "litigation" and stored.redirect.article == "31(1)"
    assert "legal_aid" in stored.also_offer and stored.screening is not None
    assert stored.deadlines == [] and len(store.outbox) == 0


def test_an_emergency_is_recorded_and_the_police_and_the_village_are_told(store):
    result = submit(
        mediation(facts={"facts": "他拿着刀在我家门口吼，说要砍人", "other_party": "王老三"}),
    )
    assert result.case.emergency and result.case.urgent
    assert result.case.agency.id == "gonghe.police_station"
    sent = {(m.recipient_id, m.kind, m.payload["priority"]) for m in store.outbox}
    assert sent == {
        ("gonghe.police_station", "case_assigned", "emergency"),
        ("gonghe.tiantai.village_mediation", "emergency_notice", "emergency"),
    }


def test_a_legal_aid_application_stores_its_screening_and_art_44_urgency(store):
    result = submit(
        SubmitCase(
            submission_key="la-1",
            route="legal_aid",
            sender_id="tg:3003",
            dispute_type="labour",
            facts={
                "facts": "在工地打工，包工头欠我三个月工资",
                "time_limit": "还有5天",
                "economic_status": "外出打工讨薪",
            },
            township_id="xinqiao",
            submitted_at=AT,
        ),
    )
    stored = get_case(uow(), result.number)
    assert result.number.startswith("FY-") and stored.urgent
    s = stored.screening
    assert (s.article, s.exempt_group, s.hardship_test_needed, s.urgent, s.days_left) == (
        "31(5)",
        "42(3)",
        False,
        True,
        5,
    )
    assert stored.intake.id == "xinqiao.township_justice_office"
    due = {d.deadline_id: d.due for d in stored.deadlines}
    assert due["legal_aid_urgent_threshold"] == date(2026, 11, 25)  # the villager's own limit
    assert due["legal_aid_decision"] == date(2026, 11, 27)
    assert due["labour_arbitration_limit"] is None  # start unknown: an undated note


# ---------------------------------------------------------------------------
# Transitions
# ---------------------------------------------------------------------------


def test_transitions_are_saved_with_history_deadlines_and_messages_to_the_villager(store):
    number = submit(petition()).number
    later = AT + timedelta(days=3)
    move(number, "accepted", "staff:wang", "属于本局职责", now=later)
    move(number, "in_progress", "staff:wang", "正在调查", now=later)
    move(
        number,
        "resolved",
        "staff:wang",
        "已书面答复",
        outcome="reply",
        event_date=date(2026, 12, 1),
        now=later + timedelta(days=8),
    )

    stored = get_case(uow(), number)
    assert stored.status is Status.RESOLVED and stored.outcome == "reply"
    assert [e.to_status.value for e in stored.history] == [
        "submitted",
        "routed",
        "accepted",
        "in_progress",
        "resolved",
    ]
    assert stored.history[-1].actor == "staff:wang" and stored.history[-1].reason == "已书面答复"
    due = {d.deadline_id: d.due for d in stored.deadlines}
    # Accepted Mon 23 Nov: 60 日 → Fri 22 Jan 2027.  Reply 1 Dec: 复查 within 30 日 → 31 Dec.
    assert due["petition_handling"] == date(2027, 1, 22)
    assert due["petition_review_request"] == date(2026, 12, 31)
    villager = [m for m in store.outbox if m.recipient_kind == "villager"]
    assert [m.message_key for m in villager] == [
        "villager.status.accepted",
        "villager.status.in_progress",
        "villager.status.resolved",
    ]
    assert {m.recipient_id for m in villager} == {"tg:1001"}
    assert villager[-1].payload["next_deadline"]["id"] == "petition_review_request"


def test_a_returned_case_is_rerouted_to_the_next_agency_and_both_agencies_are_told(store):
    number = submit(mediation()).number
    case = move(number, "returned", "mediator:zhang", "对方不在本村")
    assert case.status is Status.ROUTED and case.agency.id == "gonghe.township_mediation"
    assert [e.to_status.value for e in case.history[-2:]] == ["returned", "routed"]
    agency_messages = {
        (m.recipient_id, m.kind) for m in store.outbox if m.recipient_kind == "agency"
    }
    assert ("gonghe.township_mediation", "case_assigned") in agency_messages
    assert ("gonghe.tiantai.village_mediation", "case_transferred") in agency_messages


def test_an_escalated_case_goes_to_the_next_agency_in_its_chain(store):
    number = submit(mediation()).number
    move(number, "accepted", "mediator:zhang", "受理")
    case = move(number, "escalated", "mediator:zhang", "村里调不下来")
    assert case.agency.id == "gonghe.township_mediation" and case.status is Status.ROUTED
    case = move(number, "escalated", "staff:li", "镇上也调不下来")
    assert case.agency.id == "gonghe.township_justice_office"


def test_a_case_with_nowhere_left_to_go_waits_for_staff_to_name_an_agency(store):
    number = submit(petition()).number  # the bureau has no chain
    case = move(number, "escalated", "staff:wang", "涉及多个部门")
    assert case.status is Status.ESCALATED and case.agency.id == "mouding.county_petition_bureau"
    with pytest.raises(NoAgencyAvailable):
        move(number, "routed", "staff:wang", "再转")
    case = move(
        number,
        "routed",
        "staff:wang",
        "交综治中心",
        to_agency="mouding.county_comprehensive_center",
    )
    assert case.status is Status.ROUTED and case.agency.name.startswith("牟定县综治中心")


def test_an_illegal_transition_is_refused_and_changes_nothing(store):
    number = submit(mediation()).number
    move(number, "closed", "mediator:zhang", "村民撤回")
    before = (len(get_case(uow(), number).history), len(store.outbox))
    with pytest.raises(IllegalTransition, match="closed is final"):
        move(number, "accepted", "mediator:zhang", "重新受理")
    assert (len(get_case(uow(), number).history), len(store.outbox)) == before
    assert get_case(uow(), number).status is Status.CLOSED




# ---------------------------------------------------------------------------
# Invites: keyed hashes, and no guessing
# ---------------------------------------------------------------------------


def _invite(pepper: bytes = b"server-pepper") -> str:
    from records.services.staff import create_invite

    return create_invite(
        uow(),
        "gonghe.tiantai.village_mediation",
        "mediator",
        created_by="test",
        knowledge=shipped_knowledge(),
        pepper=pepper,
    )


def _redeem(code: str, who: str = "111", pepper: bytes = b"server-pepper"):
    from records.domain.identity import ChannelIdentity
    from records.services.staff import redeem_invite

    return redeem_invite(uow(), code, ChannelIdentity("tg", who), "李调解", pepper=pepper)


def test_an_invite_code_is_stored_only_as_a_hash_keyed_with_the_servers_pepper(store):
    import hashlib

    from records.domain.staff import InviteRefused

    code = _invite()
    [stored] = store.state.invites
    assert code not in stored
    assert stored != hashlib.sha256(code.encode()).hexdigest()  # a dump alone tests no guess
    assert stored != hashlib.sha256(code.upper().encode()).hexdigest()
    with pytest.raises(InviteRefused):  # another server's pepper: the code means nothing
        _redeem(code, pepper=b"another-pepper")
    assert _redeem(code).role == "mediator"


def test_after_five_wrong_invite_codes_within_the_hour_the_next_are_not_even_checked(store):
    from records.domain.staff import InviteRefused, TooManyInviteAttempts

    code = _invite()
    for guess in range(5):
        with pytest.raises(InviteRefused) as refused:
            _redeem(f"WRONG{guess:05d}")
        assert not isinstance(refused.value, TooManyInviteAttempts)
    with pytest.raises(TooManyInviteAttempts):
        _redeem(code)  # even the right code: not looked at
    assert store.state.invites[next(iter(store.state.invites))].used_by is None
    assert _redeem(code, who="222").role == "mediator"  # someone else is not held up
    assert [e.action for e in store.audit if e.actor == "tg:111"] == ["join_refused"] * 5
    other = _invite()
    CLOCK.advance(timedelta(hours=1, minutes=1))
    assert _redeem(other).role == "mediator"  # an hour later they may try again


# ---------------------------------------------------------------------------
# Evidence allowance
# ---------------------------------------------------------------------------


def test_a_persons_files_count_across_their_filings_for_a_day_and_a_case_holds_so_much(store):
    from records.domain.staff import Evidence
    from records.services.evidence import (
        CASE_FULL,
        DAILY_BYTES,
        DAILY_FILES,
        EvidenceLimits,
        FileDestination,
        file_allowance,
        keep_file,
    )

    limits = EvidenceLimits(daily_files=3, daily_bytes=10_000, case_bytes=5_000)
    agent = ("tg:7", "agent:7")  # their own chat, and every filing they do for villagers
    pending = FileDestination(None, None)

    def keep(sender: str, size: int, n: int, number: str | None = None) -> None:
        keep_file(uow(), Evidence(sender, "tg", f"F{n}", f"U{n}", "photo", size, CLOCK.now(), number))

    def allowance(sender: str, size: int, where: FileDestination = pending) -> str | None:
        return file_allowance(uow(), agent, where, sender, size, limits)

    keep("agent:7:aaaa", 1000, 1)
    keep("agent:7:bbbb", 1000, 2)  # another filing: the same person
    keep("agent:70:cccc", 1000, 3)  # someone else whose id starts alike
    assert allowance("agent:7:bbbb", 4000) is None
    assert allowance("agent:7:bbbb", 8001) == DAILY_BYTES
    assert allowance("agent:7:bbbb", 4001) == CASE_FULL  # her pending files count
    keep("tg:7", 1000, 4)
    assert allowance("agent:7:cccc", 10) == DAILY_FILES
    CLOCK.advance(timedelta(hours=24, seconds=1))
    assert allowance("agent:7:cccc", 10) is None  # a new day
    number = submit(mediation()).number
    keep("tg:9", 4990, 5, number)
    assert allowance("tg:7", 20, FileDestination(number, None)) == CASE_FULL
