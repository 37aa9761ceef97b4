"""Who may do what with a case: every cell of the access table, tried through the records API
(the one door the bot and the action server use) on the in-memory store.

The table below is the expected answer; README.md "Who may do what with a case" holds the
same table (a test keeps them equal).  Columns:

* **read** — the case's timeline (staff: ``/case``, a button; villager: ``/case``, "我的事");
* **personal data** — the full phone with it (a read of personal data, audited);
* **act** — move it (接收 / 退回 / 转上级 / an outcome) and set an appointment (约时间地点);
* **note** — add a note;
* **talk** — open 与当事人对话 with the villager;
* **export** — the case is in a list the person can pull (villager ``/cases``, staff
  ``/mine``); the bot has no other bulk read (tested below).

A refusal for a number that exists but is not theirs is the same as for a number that does
not exist: tested at the end, in records and in the bot's replies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from records.api import AsyncRecords, Records
from records.domain.case_number import check_character, normalize
from records.domain.clock import FixedClock
from records.domain.identity import ChannelIdentity
from records.domain.model import CaseError, Status
from records.domain.staff import StaffMember
from records.services.cases import CaseRefused, NoLongerStaff
from records.services.staff import Action, CaseNotInHand
from tests.case_commands import AT, mediation, petition
from tests.fakes import FakeStore, FakeUnitOfWork, fake_records

ROOT = Path(__file__).resolve().parent.parent

MATRIX = """
| role | the case | read | personal data | act | note | talk | export |
|---|---|---|---|---|---|---|---|
| villager | their own | ✓ | ✓ | ✗ | ✗ | ✗ | ✓ |
| villager | another villager's | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
| villager | a guessed number | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
| agent | one they filed | ✓ | ✗ | ✗ | ✓ | ✗ | ✓ |
| agent | one another agent filed | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
| agent | one the villager filed | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
| agent | one they filed, agent since removed | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
| mediator | their agency's | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| mediator | their agency's, resolved | ✓ | ✓ | ✗ | ✓ | ✗ | ✗ |
| mediator | one they returned (now at the next agency) | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
| mediator | another agency's | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
| mediator | a guessed number | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
| mediator | a malformed number | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
| mediator | their agency's, mediator since removed | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
| agency_staff | their agency's | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| agency_staff | their agency's, another role's route | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
| agency_staff | their agency's, resolved | ✓ | ✓ | ✗ | ✓ | ✗ | ✗ |
| agency_staff | returned by them, waiting to be routed | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
| agency_staff | escalated by them, waiting to be routed | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
| agency_staff | another agency's | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
| admin | their agency's | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| admin | another agency's | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
| county admin | any agency's | ✓ | ✓ | ✓ | ✓ | ✓ | ✗ |
| county admin | one waiting to be routed | ✓ | ✓ | ✗ | ✓ | ✗ | ✗ |
| county admin | resolved | ✓ | ✓ | ✗ | ✓ | ✗ | ✗ |
| county admin | a guessed number | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
"""

ACTIONS = ("read", "personal data", "act", "note", "talk", "export")


def _rows(table: str) -> list[list[str]]:
    lines = [line for line in table.strip().splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


CELLS = [
    pytest.param(role, relation, action, mark == "✓", id=f"{role}|{relation}|{action}")
    for role, relation, *marks in _rows(MATRIX)
    for action, mark in zip(ACTIONS, marks, strict=True)
]

# ---------------------------------------------------------------------------
# The world: three agencies' staff, an agent, villagers and their cases
# ---------------------------------------------------------------------------

TIANTAI = "gonghe.tiantai.village_mediation"  # a mediation from 天台村 goes here
FENGTUN = "fengtun.township_mediation"  # … and one from 凤屯镇 here
PETITIONS = "mouding.county_petition_bureau"  # petitions; nowhere above it to go
LEGAL_AID = "mouding.county_legal_aid_center"
COUNTY = "mouding.county_comprehensive_center"  # a county-level agency: its admin sees all
#: A well-formed number (its check character right) that nobody has.
NEVER_USED = f"MD-2611-ZZZ{check_character('MD', '2611', 'ZZZ')}"


@dataclass
class World:
    records: Records
    store: FakeStore
    staff: dict[str, StaffMember] = field(default_factory=dict)
    cases: dict[str, str] = field(default_factory=dict)  # name → number
    villager_of: dict[str, str] = field(default_factory=dict)  # number → sender id

    def join(self, name: str, user: int, agency: str, role: str) -> StaffMember:
        member = StaffMember(ChannelIdentity("tg", str(user)), name, agency, role)
        with FakeUnitOfWork(self.store, FixedClock(AT)) as uow:
            uow.staff.save(member, AT)
            uow.commit()
        self.staff[name] = member
        return member

    def file(self, name: str, cmd: Any) -> str:
        number = self.records.submit_case(cmd).number
        self.cases[name] = number
        self.villager_of[number] = cmd.sender_id
        return number


def legal_aid(key: str, sender: str):
    return mediation(
        key=key,
        sender=sender,
        route="legal_aid",
        dispute_type="labour",
        facts={"facts": "老板欠我三个月工资不给", "time_limit": "没有", "economic_status": "低保户"},
    )


def build_world() -> World:
    records, store = fake_records()
    w = World(records, store)
    w.join("mediator", 11, TIANTAI, "mediator")
    w.join("agency_staff", 12, PETITIONS, "agency_staff")
    w.join("agency_staff@tiantai", 13, TIANTAI, "agency_staff")
    w.join("admin", 14, TIANTAI, "admin")
    w.join("county admin", 15, COUNTY, "admin")
    w.join("agent", 16, "gonghe.township_justice_office", "agent")
    w.join("other agent", 17, "gonghe.township_justice_office", "agent")
    w.join("legal aid staff", 18, LEGAL_AID, "agency_staff")

    w.file("tiantai mediation", mediation(key="m1", sender="tg:2002"))
    w.file("fengtun mediation", mediation(key="m2", sender="tg:3003", township_id="fengtun", village_id=None))
    w.file("petition", petition(key="p1", sender="tg:1001"))
    w.file("legal aid", legal_aid("l1", "tg:4004"))
    w.file("filed by agent", petition(key="a1", sender="agent:tg:16:k1", filed_by="tg:16"))
    w.file("filed by other agent", petition(key="a2", sender="agent:tg:17:k2", filed_by="tg:17"))
    return w


def resolve(w: World, name: str, member: str, action: Action, text: str) -> None:
    w.records.act_on_case(w.staff[member], w.cases[name], Action.ACCEPT)
    w.records.act_on_case(w.staff[member], w.cases[name], action, text=text)


# Who asks about which case, for each row of the table: (staff member or None for a
# villager, the villager's sender id, the number asked about).
Setup = Callable[[World], tuple[StaffMember | None, str | None, str]]


def _staff(member: str, case: str, prepare: Callable[[World], None] | None = None) -> Setup:
    def setup(w: World) -> tuple[StaffMember | None, str | None, str]:
        if prepare is not None:
            prepare(w)
        return w.staff[member], None, w.cases.get(case, case)

    return setup


def _villager(sender: str, case: str) -> Setup:
    return lambda w: (None, sender, w.cases.get(case, case))


def _removed(member: str) -> Callable[[World], None]:
    # Removed after the bot looked them up: the stale object is what reaches records.
    return lambda w: w.records.deactivate(w.staff[member].identity)


SETUPS: dict[tuple[str, str], Setup] = {
    ("villager", "their own"): _villager("tg:2002", "tiantai mediation"),
    ("villager", "another villager's"): _villager("tg:2002", "petition"),
    ("villager", "a guessed number"): _villager("tg:2002", NEVER_USED),
    ("agent", "one they filed"): _staff("agent", "filed by agent"),
    ("agent", "one another agent filed"): _staff("agent", "filed by other agent"),
    ("agent", "one the villager filed"): _staff("agent", "petition"),
    ("agent", "one they filed, agent since removed"): _staff(
        "agent", "filed by agent", _removed("agent")
    ),
    ("mediator", "their agency's"): _staff("mediator", "tiantai mediation"),
    ("mediator", "their agency's, resolved"): _staff(
        "mediator",
        "tiantai mediation",
        lambda w: resolve(w, "tiantai mediation", "mediator", Action.AGREEMENT, "赔苞谷钱500元"),
    ),
    ("mediator", "one they returned (now at the next agency)"): _staff(
        "mediator",
        "tiantai mediation",
        lambda w: w.records.act_on_case(
            w.staff["mediator"], w.cases["tiantai mediation"], Action.RETURN, text="不归我们管"
        ),
    ),
    ("mediator", "another agency's"): _staff("mediator", "fengtun mediation"),
    ("mediator", "a guessed number"): _staff("mediator", NEVER_USED),
    ("mediator", "a malformed number"): _staff("mediator", "随便写的号"),
    ("mediator", "their agency's, mediator since removed"): _staff(
        "mediator", "tiantai mediation", _removed("mediator")
    ),
    ("agency_staff", "their agency's"): _staff("agency_staff", "petition"),
    ("agency_staff", "their agency's, another role's route"): _staff(
        "agency_staff@tiantai", "tiantai mediation"
    ),
    ("agency_staff", "their agency's, resolved"): _staff(
        "agency_staff",
        "petition",
        lambda w: resolve(w, "petition", "agency_staff", Action.REPLY, "已书面答复"),
    ),
    ("agency_staff", "returned by them, waiting to be routed"): _staff(
        "agency_staff",
        "petition",
        lambda w: w.records.act_on_case(
            w.staff["agency_staff"], w.cases["petition"], Action.RETURN, text="不归我们管"
        ),
    ),
    ("agency_staff", "escalated by them, waiting to be routed"): _staff(
        "agency_staff",
        "petition",
        lambda w: w.records.act_on_case(w.staff["agency_staff"], w.cases["petition"], Action.ESCALATE),
    ),
    ("agency_staff", "another agency's"): _staff("agency_staff", "legal aid"),
    ("admin", "their agency's"): _staff("admin", "tiantai mediation"),
    ("admin", "another agency's"): _staff("admin", "fengtun mediation"),
    ("county admin", "any agency's"): _staff("county admin", "fengtun mediation"),
    ("county admin", "one waiting to be routed"): _staff(
        "county admin",
        "petition",
        lambda w: w.records.act_on_case(
            w.staff["agency_staff"], w.cases["petition"], Action.RETURN, text="不归我们管"
        ),
    ),
    ("county admin", "resolved"): _staff(
        "county admin",
        "legal aid",
        lambda w: resolve(w, "legal aid", "legal aid staff", Action.DONE, "已指派律师"),
    ),
    ("county admin", "a guessed number"): _staff("county admin", NEVER_USED),
}

# ---------------------------------------------------------------------------
# Trying one cell: True when it was allowed, False when refused (with a clear exception)
# ---------------------------------------------------------------------------

#: Every refusal is a CaseError: CaseRefused (not theirs, or no such case), NoLongerStaff,
#: CaseNotInHand (no appointment or talk now), IllegalTransition (no such move now).
REFUSALS = CaseError


def _refused(attempt: Callable[[], object]) -> bool:
    try:
        attempt()
    except REFUSALS:
        return True
    return False


def try_cell(w: World, member: StaffMember | None, sender: str | None, number: str, action: str) -> bool:
    r = w.records
    if sender is not None:  # a villager: the bot passes no staff member to records
        if action == "read":
            return r.find_case_for_villager(sender, number) is not None
        if action == "personal data":
            own = r.find_case_for_villager(sender, number)
            return own is not None and own.villager.phone is not None
        if action == "export":
            return number in {c.number for c in r.cases_for_villager(sender)}
        member = None  # act / note / talk as the bot would: nobody staff
    if action == "read":
        return not _refused(lambda: r.view_case(member, number))
    if action == "personal data":
        try:
            return r.view_case(member, number).handles
        except REFUSALS:
            return False
    if action == "act":
        # An appointment and the move its status allows must agree.
        scheduled = not _refused(lambda: r.schedule_session(member, number, date(2026, 12, 3), "村委会"))
        moved = not _refused(lambda: r.act_on_case(member, number, Action.ACCEPT))
        assert scheduled == moved, f"appointment {scheduled}, move {moved}"
        return moved
    if action == "note":
        return not _refused(lambda: r.add_note(member, number, "打电话没人接"))
    if action == "talk":
        chat = (w.villager_of.get(number) or "tg:0").rsplit(":", 1)[-1]
        return not _refused(lambda: r.open_talk(member, number, chat))
    if action == "export":
        assert member is not None
        try:
            return number in {i.case.number for i in r.work_list(member)}
        except NoLongerStaff:
            return False
    raise AssertionError(action)


@pytest.mark.parametrize(("role", "relation", "action", "allowed"), CELLS)
def test_every_cell_of_the_access_table(role: str, relation: str, action: str, allowed: bool) -> None:
    w = build_world()
    member, sender, number = SETUPS[(role, relation)](w)
    assert NEVER_USED not in w.store.cases
    assert try_cell(w, member, sender, number, action) is allowed


def test_every_row_of_the_table_has_a_setup_and_every_setup_a_row() -> None:
    assert {(role, relation) for role, relation, *_ in _rows(MATRIX)} == set(SETUPS)


def test_the_readme_has_the_same_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Who may do what with a case", 1)[1].split("\n## ", 1)[0]
    assert _rows(section) == _rows(MATRIX)


# ---------------------------------------------------------------------------
# What the refusals say and leave behind
# ---------------------------------------------------------------------------


def test_a_member_removed_between_the_button_and_the_action_is_told_so_and_nothing_moves() -> None:
    w = build_world()
    stale = w.staff["mediator"]
    number = w.cases["tiantai mediation"]
    w.records.deactivate(stale.identity)
    for attempt in (
        lambda n: w.records.act_on_case(stale, n, Action.ACCEPT),
        lambda n: w.records.schedule_session(stale, n, date(2026, 12, 3), "村委会"),
        lambda n: w.records.open_talk(stale, n, "2002"),
        lambda n: w.records.add_note(stale, n, "备注"),
        lambda n: w.records.view_case(stale, n),
    ):
        # The same answer for their old case and a number nobody has.
        for asked in (number, NEVER_USED, "乱写"):
            with pytest.raises(NoLongerStaff):
                attempt(asked)
    with pytest.raises(NoLongerStaff):
        w.records.work_list(stale)
    case = w.records.get_case(number)
    assert case.status is Status.ROUTED and len(case.history) == 2
    assert [e.action for e in w.records.audit_trail(actor=stale.actor)] == []
    assert w.store.state.sessions == [] and w.store.state.notes == []


def test_a_member_moved_to_another_agency_acts_with_their_new_rights_only() -> None:
    w = build_world()
    stale = w.staff["mediator"]  # looked up while still at 天台村
    w.join("mediator", 11, FENGTUN, "mediator")  # re-joined at 凤屯镇
    with pytest.raises(CaseRefused):
        w.records.act_on_case(stale, w.cases["tiantai mediation"], Action.ACCEPT)
    moved = w.records.act_on_case(stale, w.cases["fengtun mediation"], Action.ACCEPT)
    assert moved.status is Status.ACCEPTED


def test_a_resolved_case_refuses_new_appointments_and_talks_and_says_where_it_is() -> None:
    w = build_world()
    resolve(w, "tiantai mediation", "mediator", Action.AGREEMENT, "赔苞谷钱500元")
    number, member = w.cases["tiantai mediation"], w.staff["mediator"]
    outbox_before = len(w.store.outbox)
    with pytest.raises(CaseNotInHand) as scheduled:
        w.records.schedule_session(member, number, date(2026, 12, 3), "村委会")
    with pytest.raises(CaseNotInHand) as talked:
        w.records.open_talk(member, number, "2002")
    assert scheduled.value.from_status is talked.value.from_status is Status.RESOLVED
    assert len(w.store.outbox) == outbox_before  # the villager is told of no appointment
    assert w.store.state.sessions == [] and w.records.talk_involving("2002", "tg:2002") is None


def test_handing_a_case_back_with_nowhere_to_go_ends_the_talk_on_it() -> None:
    w = build_world()
    member, number = w.staff["agency_staff"], w.cases["petition"]
    talk = w.records.open_talk(member, number, "1001")
    w.records.act_on_case(member, number, Action.RETURN, text="不归我们管")
    assert w.records.get_case(number).status is Status.RETURNED  # waiting for the county
    assert w.records.talk_involving("1001", "tg:1001") is None
    assert w.records.talk_rights(talk).member is None  # a late message is not relayed either


# ---------------------------------------------------------------------------
# Guessed numbers: no oracle
# ---------------------------------------------------------------------------


def _answer(attempt: Callable[[], object]) -> tuple[str, object]:
    try:
        result = attempt()
    except Exception as exc:  # noqa: BLE001 - the kind of answer is what is compared
        return type(exc).__name__, None
    return "answered", result


@pytest.mark.parametrize("who", ["villager", "agent", "mediator", "agency_staff", "admin"])
def test_someone_elses_number_gets_the_same_answer_as_a_number_nobody_has(who: str) -> None:
    w = build_world()
    not_theirs = w.cases["fengtun mediation"]
    assert NEVER_USED not in w.store.cases
    r = w.records
    if who == "villager":
        for number in (not_theirs, NEVER_USED):
            assert r.find_case_for_villager("tg:2002", number) is None
        return
    member = w.staff[who]
    tries: list[Callable[[str], object]] = [
        lambda n: r.view_case(member, n),
        lambda n: r.add_note(member, n, "备注"),
        lambda n: r.act_on_case(member, n, Action.ACCEPT),
        lambda n: r.act_on_case(member, n, Action.RETURN, text="理由"),
        lambda n: r.schedule_session(member, n, date(2026, 12, 3), "村委会"),
        lambda n: r.open_talk(member, n, "3003"),
    ]
    for attempt in tries:
        answers = {_answer(lambda: attempt(n)) for n in (not_theirs, NEVER_USED, "md2611zzz2", "乱写")}
        assert answers == {("CaseRefused", None)}
    # … and neither try is on the audit trail, nor did the case change.
    assert r.audit_trail(number=not_theirs) == []
    assert len(r.get_case(not_theirs).history) == 2


class _Chat:
    """A private chat and the bot that writes into it: what the bot said there."""

    id = 4242

    def __init__(self) -> None:
        self.said: list[str] = []

    def get_bot(self) -> _Chat:
        return self

    async def send_message(self, chat_id: int, text: str, **kwargs: Any) -> None:
        assert chat_id == self.id
        self.said.append(text)


def _update(user_id: int) -> tuple[Any, _Chat]:
    chat = _Chat()
    user = SimpleNamespace(id=user_id, full_name="某人")
    return SimpleNamespace(effective_user=user, effective_chat=chat, effective_message=None), chat


async def _bot_says(records: AsyncRecords, handler: Any, user_id: int, args: list[str]) -> list[str]:
    update, chat = _update(user_id)
    parts = SimpleNamespace(records=records)
    context = SimpleNamespace(args=args, bot_data=SimpleNamespace(require=lambda: parts), user_data={})
    await handler(update, context)
    return chat.said


@pytest.mark.parametrize(
    "user_id", [2002, 16, 11, 12, 14], ids=["villager", "agent", "mediator", "agency_staff", "admin"]
)
async def test_the_bot_answers_someone_elses_number_as_one_nobody_has(user_id: int) -> None:
    from bot.handlers.staff import case_command, note_command

    w = build_world()
    records = AsyncRecords(w.records, workers=1)
    try:
        for handler, extra in ((case_command, []), (note_command, ["备注"])):
            replies = [
                await _bot_says(records, handler, user_id, [number, *extra])
                for number in (w.cases["fengtun mediation"], NEVER_USED, "随便")
            ]
            assert replies[0] == replies[1] == replies[2] and len(replies[0]) == 1
    finally:
        records.close()


async def test_the_bot_tells_a_removed_member_their_rights_are_gone() -> None:
    from bot.handlers.staff import note_command
    from knowledge.frontend import say

    w = build_world()
    records = AsyncRecords(w.records, workers=1)
    stale = w.staff["mediator"]
    try:
        # /note reads who they are first; removed a moment later, records refuses.
        original = records.sync.get_staff

        def looked_up_then_removed(identity: ChannelIdentity) -> StaffMember | None:
            member = original(identity)
            w.records.deactivate(stale.identity)
            return member

        records.sync.get_staff = looked_up_then_removed  # type: ignore[method-assign]
        said = await _bot_says(records, note_command, 11, [w.cases["tiantai mediation"], "备注"])
    finally:
        records.close()
    assert said == [say("staff_rights_gone")]


# ---------------------------------------------------------------------------
# Export: the bot has none
# ---------------------------------------------------------------------------


def test_the_bot_offers_no_bulk_export_only_own_lists() -> None:
    from telegram.ext import Application, CommandHandler

    from bot.handlers import register

    app = Application.builder().token("123:TEST").build()
    register(app)
    commands = {
        command
        for handlers in app.handlers.values()
        for handler in handlers
        if isinstance(handler, CommandHandler)
        for command in handler.commands
    }
    # /cases: the villager's own; /mine: the staff member's own work list; /case: one case.
    assert commands == {
        "start", "help", "cases", "cancel", "join", "mine", "case", "note", "file", "done", "end",
    }


def test_the_guessed_number_is_well_formed() -> None:
    # Refused because nobody has it, not because it cannot be read.
    assert normalize(NEVER_USED) == NEVER_USED
