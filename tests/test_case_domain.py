"""Behaviour of case records without a database: lifecycle, case numbers, deadlines,
legal-aid screening and routing (records/domain, case_number, deadlines, legal_aid, routing)."""

from __future__ import annotations

import itertools
import random
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from records.domain.case_number import (
    ALPHABET,
    PREFIXES,
    find_case_number,
    is_valid,
    new_case_number,
    normalize,
)
from knowledge.case_rules import load_case_rules
from records.domain.deadlines import (
    case_deadline,
    deadlines_on,
    due_at,
    due_date,
    plain_date,
)
from records.domain.clock import county_date
from records.domain.model import (
    ALLOWED_TRANSITIONS,
    AgencyRef,
    Case,
    CaseError,
    IllegalTransition,
    Jurisdiction,
    NumberAlreadyFixed,
    Status,
    Villager,
)
from records.domain.events import CaseRouted, EmergencyReported, StatusChanged
from records.domain.legal_aid import parse_time_limit, screen
from records.domain.routing import route_case
from knowledge.schema import KnowledgeError
from knowledge.loader import load_knowledge
from tests.fakes import shipped_knowledge

REPO = Path(__file__).resolve().parent.parent
AT = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)  # Fri 20 Nov 2026, 10:00 in Mouding


@pytest.fixture(scope="module")
def knowledge():
    return shipped_knowledge()


@pytest.fixture(scope="module")
def rules():
    return shipped_knowledge().rules


VILLAGE = AgencyRef("gonghe.tiantai.village_mediation", "天台村人民调解委员会")
TOWNSHIP = AgencyRef("gonghe.township_mediation", "共和镇人民调解委员会")
JUSTICE = AgencyRef("gonghe.township_justice_office", "共和镇司法所")


def new_case(**changes) -> Case:
    fields = dict(
        number="MD-2611-7K4Q",
        route="mediation",
        dispute_type="neighbour",
        facts={"facts": "隔壁家的牛吃了我家苞谷"},
        villager=Villager("tg:1001", "李四", "13987654321"),
        jurisdiction=Jurisdiction("mouding", "gonghe", "共和镇", "tiantai", "天台村"),
        at=AT,
    )
    fields.update(changes)
    return Case.submit(**fields)


def case_in(status: Status) -> Case:
    """A case that has got to ``status`` the ordinary way."""
    case = new_case()
    paths = {
        Status.SUBMITTED: [],
        Status.ROUTED: [Status.ROUTED],
        Status.ACCEPTED: [Status.ROUTED, Status.ACCEPTED],
        Status.IN_PROGRESS: [Status.ROUTED, Status.ACCEPTED, Status.IN_PROGRESS],
        Status.RESOLVED: [Status.ROUTED, Status.ACCEPTED, Status.RESOLVED],
        Status.CLOSED: [Status.CLOSED],
        Status.RETURNED: [Status.ROUTED, Status.RETURNED],
        Status.ESCALATED: [Status.ROUTED, Status.ESCALATED],
    }
    for step in paths[status]:
        move(case, step)
    case.events.clear()
    return case


def move(case: Case, to: Status, actor: str = "staff:wang", reason: str = "because") -> None:
    """Move a case with the domain method for ``to``."""
    at = AT + timedelta(hours=len(case.history))
    if to is Status.ROUTED:
        target = case.next_agency() or VILLAGE
        chain = case.chain if case.agency else (TOWNSHIP, JUSTICE)
        case.route_to(target, chain, actor=actor, reason=reason, at=at)
    elif to is Status.ACCEPTED:
        case.accept(actor=actor, reason=reason, at=at)
    elif to is Status.IN_PROGRESS:
        case.start(actor=actor, reason=reason, at=at)
    elif to is Status.RESOLVED:
        case.resolve(outcome="agreement", actor=actor, reason=reason, at=at)
    elif to is Status.CLOSED:
        case.close(actor=actor, reason=reason, at=at)
    elif to is Status.RETURNED:
        case.hand_back(actor=actor, reason=reason, at=at)
    elif to is Status.ESCALATED:
        case.escalate(actor=actor, reason=reason, at=at)
    else:
        case._move(to, actor=actor, reason=reason, at=at)


# ---------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------

ALLOWED = [(f, t) for f, targets in ALLOWED_TRANSITIONS.items() for t in sorted(targets)]
FORBIDDEN = [
    (f, t) for f, t in itertools.product(Status, Status) if t not in ALLOWED_TRANSITIONS[f]
]


def test_a_new_case_is_submitted_with_its_first_history_entry():
    case = new_case(filed_by="agent:zhao")
    assert case.status is Status.SUBMITTED
    [entry] = case.history
    assert (entry.from_status, entry.to_status, entry.actor) == (
        None,
        Status.SUBMITTED,
        "agent:zhao",
    )
    assert entry.details == {"filed_by": "agent:zhao"}
    assert len(case.events) == 1


def test_the_lifecycle_table_covers_every_status_and_only_resolved_and_closed_are_final():
    assert set(ALLOWED_TRANSITIONS) == set(Status)
    finals = {s for s, targets in ALLOWED_TRANSITIONS.items() if not targets}
    assert finals == {Status.RESOLVED, Status.CLOSED}
    assert all(Status.SUBMITTED not in targets for targets in ALLOWED_TRANSITIONS.values())


@pytest.mark.parametrize(("from_status", "to_status"), ALLOWED, ids=lambda s: s.value)
def test_every_allowed_transition_is_made_and_recorded(from_status, to_status):
    case = case_in(from_status)
    before = len(case.history)
    move(case, to_status, actor="mediator:zhang", reason="双方同意")
    assert case.status is to_status
    entry = case.history[-1]
    assert entry.seq == before + 1
    assert (entry.from_status, entry.to_status) == (from_status, to_status)
    assert (entry.actor, entry.reason) == ("mediator:zhang", "双方同意")
    assert entry.at.tzinfo is not None
    changed = [e for e in case.events if isinstance(e, StatusChanged)]
    assert changed and (changed[-1].from_status, changed[-1].to_status) == (from_status, to_status)


@pytest.mark.parametrize(("from_status", "to_status"), FORBIDDEN, ids=lambda s: s.value)
def test_every_other_transition_raises_illegal_transition(from_status, to_status):
    case = case_in(from_status)
    history = list(case.history)
    with pytest.raises(IllegalTransition) as error:
        case._move(to_status, actor="staff:wang", reason="try", at=AT)
    message = str(error.value)
    assert case.number in message
    assert f"from {from_status.value} to {to_status.value}" in message
    assert case.status is from_status and case.history == history and case.events == []


def test_illegal_transition_message_lists_what_is_allowed():
    case = case_in(Status.SUBMITTED)
    with pytest.raises(IllegalTransition, match=r"allowed from submitted: closed, routed"):
        case.accept(actor="staff:wang", reason="x", at=AT)
    with pytest.raises(IllegalTransition, match="resolved is final"):
        case_in(Status.RESOLVED).close(actor="staff:wang", reason="x", at=AT)


def test_routing_records_the_agency_and_raises_a_case_routed_event():
    case = new_case()
    case.route_to(VILLAGE, (TOWNSHIP, JUSTICE), actor="system", reason="routing", at=AT)
    assert case.agency == VILLAGE and case.chain == (TOWNSHIP, JUSTICE)
    routed = [e for e in case.events if isinstance(e, CaseRouted)]
    assert routed[0].agency == VILLAGE and routed[0].previous_agency is None


def test_a_returned_case_goes_to_the_next_agency_that_has_not_had_it():
    case = case_in(Status.ROUTED)
    assert case.agency == VILLAGE
    case.hand_back(actor="mediator:zhang", reason="不属于本村", at=AT)
    assert case.next_agency() == TOWNSHIP
    case.route_to(TOWNSHIP, case.chain, actor="system", reason="re-route", at=AT)
    assert case.chain == (JUSTICE,) and [a.id for a in case.tried] == [VILLAGE.id, TOWNSHIP.id]


def test_a_return_needs_a_reason():
    with pytest.raises(CaseError, match="reason"):
        case_in(Status.ROUTED).hand_back(actor="mediator:zhang", reason=" ", at=AT)


def test_the_number_can_change_only_before_the_case_is_saved():
    case = new_case()
    case.renumber("MD-2611-2225")
    assert case.number == "MD-2611-2225"
    case.version = 1
    with pytest.raises(NumberAlreadyFixed):
        case.renumber("MD-2611-3336")


def test_the_phone_number_never_appears_in_a_logged_case_or_villager():
    case = new_case()
    assert "13987654321" not in repr(case) and "13987654321" not in repr(case.villager)
    assert case.villager.phone_masked == "139****4321"


def test_an_emergency_flags_the_case_urgent_and_raises_an_event():
    case = case_in(Status.ROUTED)
    case.report_emergency(handoff=JUSTICE, notify=[VILLAGE], keywords=["拿刀"], at=AT)
    assert case.emergency and case.urgent
    assert isinstance(case.events[-1], EmergencyReported)


# ---------------------------------------------------------------------------
# Case numbers
# ---------------------------------------------------------------------------

EVERY_CHARACTER = sorted(set(ALPHABET) | set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def sample_numbers(count: int = 300) -> list[str]:
    rng = random.Random(20261120)
    routes = list(PREFIXES)
    return [
        new_case_number(routes[i % 4], date(2020 + i % 12, 1 + i % 12, 1), rng)
        for i in range(count)
    ]


def test_a_case_number_reads_prefix_month_and_four_unambiguous_characters():
    number = new_case_number("mediation", date(2026, 11, 3), random.Random(1))
    assert number.startswith("MD-2611-") and len(number) == 12
    assert all(c in ALPHABET for c in number[-4:])
    assert is_valid(number)
    prefixes = {new_case_number(r, date(2026, 11, 3))[:2] for r in PREFIXES}
    assert prefixes == {"XF", "MD", "FY", "BS"}


def test_the_alphabet_leaves_out_characters_that_look_alike():
    assert len(ALPHABET) == 31 and not set("01ILO") & set(ALPHABET)


def test_the_check_character_catches_every_single_character_substitution():
    missed = []
    for number in sample_numbers():
        body = number.replace("-", "")
        for position, original in enumerate(body):
            for wrong in EVERY_CHARACTER:
                if wrong != original:
                    typo = body[:position] + wrong + body[position + 1 :]
                    if is_valid(typo):
                        missed.append((number, typo))
    assert missed == []


def test_the_check_character_catches_every_swap_of_neighbours():
    missed = []
    for number in sample_numbers():
        body = number.replace("-", "")
        for i in range(len(body) - 1):
            if body[i] != body[i + 1]:
                swapped = body[:i] + body[i + 1] + body[i] + body[i + 2 :]
                if is_valid(swapped):
                    missed.append((number, swapped))
    assert missed == []


def test_a_number_typed_in_lower_case_full_width_or_without_dashes_is_understood():
    number = new_case_number("legal_aid", date(2026, 11, 3), random.Random(7))
    full_width = "".join(chr(ord(c) + 0xFEE0) if c != "-" else "－" for c in number.lower())
    for typed in (
        number.lower(),
        number.replace("-", ""),
        f" {number[:7]} {number[8:]} ",
        full_width,
    ):
        assert normalize(typed) == number
    assert find_case_number(f"我的编号是{number.lower()}，帮我查一下") == number


def test_look_alike_characters_are_rejected_not_guessed():
    number = new_case_number("petition", date(2026, 11, 3), random.Random(3))
    for wrong in "O0I1L":
        assert normalize(number[:-1] + wrong) is None
    assert normalize("MD-2613-7K4Q") is None  # month 13
    assert normalize("XX-2611-7K4Q") is None  # unknown prefix
    assert normalize("") is None and find_case_number("没有编号") is None


def test_an_unknown_route_has_no_case_number():
    with pytest.raises(ValueError, match="unknown route"):
        new_case_number("complaint", date(2026, 11, 3))


# ---------------------------------------------------------------------------
# Deadlines (民法典 Art 201-203, holidays from knowledge/holidays.yml)
# ---------------------------------------------------------------------------


def deadline(knowledge, deadline_id: str):
    return knowledge.deadlines[deadline_id]


def test_a_petition_registered_on_friday_25_september_2026_must_be_answered_by_10_october(
    knowledge,
):
    # 15 日 from 登记: the start day is not counted (Art 201), so day 15 is Sat 10 Oct 2026 —
    # a 调休 working Saturday after 国庆, so it does not move (Art 203 moves only rest days).
    due = due_date(
        deadline(knowledge, "petition_intake_notice"), date(2026, 9, 25), knowledge.holidays
    )
    assert due == date(2026, 10, 10)


def test_five_working_days_for_an_objection_skip_the_national_day_holiday(knowledge):
    # Received Wed 30 Sep 2026: 1–7 Oct are holidays; 8 (Thu), 9 (Fri), 10 (调休 Sat),
    # 12 (Mon), 13 (Tue) are the five working days.
    due = due_date(deadline(knowledge, "petition_objection"), date(2026, 9, 30), knowledge.holidays)
    assert due == date(2026, 10, 13)


def test_a_period_in_days_that_ends_on_a_public_holiday_moves_to_the_next_working_day(knowledge):
    # 7 日 from Thu 24 Sep 2026 ends on 1 Oct (国庆) → Thu 8 Oct.
    due = due_date(deadline(knowledge, "legal_aid_decision"), date(2026, 9, 24), knowledge.holidays)
    assert due == date(2026, 10, 8)


def test_a_period_in_days_that_ends_on_a_weekend_moves_to_monday(knowledge):
    # 7 日 from Sun 1 Nov 2026 ends on Sun 8 Nov → Mon 9 Nov.
    due = due_date(deadline(knowledge, "legal_aid_decision"), date(2026, 11, 1), knowledge.holidays)
    assert due == date(2026, 11, 9)


def test_the_start_day_is_not_counted(knowledge):
    due = due_date(deadline(knowledge, "legal_aid_decision"), date(2026, 11, 2), knowledge.holidays)
    assert due == date(2026, 11, 9)  # Mon + 7 days = next Mon, not Sun


def test_a_period_in_months_without_a_corresponding_day_ends_at_month_end(knowledge, caplog):
    # 6 月 from 31 Aug 2026 → 28 Feb 2027 (no 31 Feb, Art 202), a Sunday → Mon 1 Mar 2027.
    due = due_date(
        deadline(knowledge, "administrative_litigation"), date(2026, 8, 31), knowledge.holidays
    )
    assert due == date(2027, 3, 1)


def test_a_period_in_years_from_29_february_ends_on_28_february(knowledge):
    due = due_date(
        deadline(knowledge, "labour_arbitration_limit"), date(2024, 2, 29), knowledge.holidays
    )
    assert due == date(2025, 2, 28)  # a Friday and a working day


def test_a_period_in_years_ending_on_national_day_moves_past_the_holiday(knowledge):
    due = due_date(
        deadline(knowledge, "labour_arbitration_limit"), date(2025, 10, 1), knowledge.holidays
    )
    assert due == date(2026, 10, 8)


def test_a_period_in_hours_runs_from_the_moment_and_ignores_holidays(knowledge):
    order = deadline(knowledge, "protection_order")  # 72 小时 from 受理
    start = datetime(2026, 10, 1, 10, 30, tzinfo=timezone.utc)
    assert due_at(order, start, knowledge.holidays) == start + timedelta(hours=72)
    assert due_date(order, date(2026, 10, 1), knowledge.holidays) == date(2026, 10, 4)


def test_a_counted_before_deadline_gives_the_first_day_of_the_urgent_window(knowledge):
    urgent = deadline(knowledge, "legal_aid_urgent_threshold")  # 7 日 before expiry
    assert due_date(urgent, date(2026, 12, 10), knowledge.holidays) == date(2026, 12, 3)


def test_dates_are_written_in_plain_words_with_the_year_only_when_it_differs(rules):
    assert plain_date(date(2026, 12, 12), date(2026, 11, 20), rules) == "12月12日"
    assert plain_date(date(2027, 3, 1), date(2026, 11, 20), rules) == "2027年3月1日"


def test_the_explain_text_comes_from_knowledge_with_the_date_filled_in(knowledge, rules):
    attached = case_deadline(
        deadline(knowledge, "petition_intake_notice"),
        date(2026, 9, 25),
        holidays=knowledge.holidays,
        rules=rules,
        set_on=Status.SUBMITTED,
        today=date(2026, 9, 25),
    )
    assert attached.due == date(2026, 10, 10)
    assert "10月10日前" in attached.explain and "{date}" not in attached.explain
    assert (attached.article, attached.start_event) == ("22、23", "登记")


def test_a_petition_gets_the_intake_notice_when_submitted_and_the_objection_when_routed(
    knowledge, rules
):
    submitted = deadlines_on(
        Status.SUBMITTED,
        route="petition",
        dispute_type="other",
        on=date(2026, 9, 25),
        knowledge=knowledge,
        rules=rules,
    )
    routed = deadlines_on(
        Status.ROUTED,
        route="petition",
        dispute_type="other",
        on=date(2026, 9, 30),
        knowledge=knowledge,
        rules=rules,
    )
    assert [(d.deadline_id, d.due) for d in submitted] == [
        ("petition_intake_notice", date(2026, 10, 10))
    ]
    assert [(d.deadline_id, d.due) for d in routed] == [("petition_objection", date(2026, 10, 13))]


def test_an_accepted_petition_gets_60_days_and_the_possible_extension_as_information(
    knowledge, rules
):
    # Accepted Mon 12 Oct 2026: 60 日 → Fri 11 Dec 2026; extension ≤30 日 from there →
    # Sun 10 Jan 2027 → Mon 11 Jan 2027.
    attached = deadlines_on(
        Status.ACCEPTED,
        route="petition",
        dispute_type="other",
        on=date(2026, 10, 12),
        knowledge=knowledge,
        rules=rules,
    )
    by_id = {d.deadline_id: d for d in attached}
    assert by_id["petition_handling"].due == date(2026, 12, 11)
    assert not by_id["petition_handling"].information
    assert by_id["petition_extension"].due == date(2027, 1, 11)
    assert by_id["petition_extension"].information
    assert "2027年1月11日" in by_id["petition_extension"].explain


def test_a_written_reply_opens_the_30_day_review_window(knowledge, rules):
    attached = deadlines_on(
        Status.RESOLVED,
        route="petition",
        dispute_type="other",
        on=date(2026, 12, 1),
        outcome="reply",
        knowledge=knowledge,
        rules=rules,
    )
    assert [(d.deadline_id, d.due) for d in attached] == [
        ("petition_review_request", date(2026, 12, 31))
    ]
    none = deadlines_on(
        Status.RESOLVED,
        route="petition",
        dispute_type="other",
        on=date(2026, 12, 1),
        outcome="done",
        knowledge=knowledge,
        rules=rules,
    )
    assert none == []


def test_a_mediation_agreement_opens_the_30_day_judicial_confirmation_window(knowledge, rules):
    attached = deadlines_on(
        Status.RESOLVED,
        route="mediation",
        dispute_type="neighbour",
        on=date(2026, 11, 28),
        outcome="agreement",
        knowledge=knowledge,
        rules=rules,
    )
    assert [(d.deadline_id, d.due) for d in attached] == [
        ("mediation_judicial_confirmation", date(2026, 12, 28))
    ]


def test_a_legal_aid_application_gets_the_7_day_decision(knowledge, rules):
    attached = deadlines_on(
        Status.SUBMITTED,
        route="legal_aid",
        dispute_type="other",
        on=date(2026, 11, 20),
        knowledge=knowledge,
        rules=rules,
    )
    assert [(d.deadline_id, d.due) for d in attached] == [
        ("legal_aid_decision", date(2026, 11, 27))
    ]


def test_a_labour_dispute_notes_the_one_year_arbitration_limit(knowledge, rules):
    known = deadlines_on(
        Status.SUBMITTED,
        route="mediation",
        dispute_type="labour",
        on=date(2026, 11, 20),
        knew_since=date(2026, 3, 15),
        knowledge=knowledge,
        rules=rules,
    )
    assert [(d.deadline_id, d.due) for d in known] == [
        ("labour_arbitration_limit", date(2027, 3, 15))
    ]
    unknown = deadlines_on(
        Status.SUBMITTED,
        route="mediation",
        dispute_type="labour",
        on=date(2026, 11, 20),
        knowledge=knowledge,
        rules=rules,
    )
    [note] = unknown
    assert note.due is None and note.explain == rules.undated_notes["labour_arbitration_limit"]


def test_deadlines_follow_the_knowledge_files_not_the_code(tmp_path, rules):
    root = tmp_path / "knowledge"
    shutil.copytree(REPO / "knowledge", root)
    path = root / "deadlines.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for entry in data["deadlines"]:
        if entry["id"] == "petition_intake_notice":
            entry["number"] = 20
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    edited = load_knowledge(root)
    due = due_date(edited.deadlines["petition_intake_notice"], date(2026, 11, 2), edited.holidays)
    assert due == date(2026, 11, 23)  # 20 日 from Mon 2 Nov 2026 → Sun 22 Nov → Mon 23 Nov


def test_a_case_rules_file_naming_an_unknown_deadline_is_reported_with_file_and_field(
    tmp_path, knowledge
):
    root = tmp_path / "knowledge"
    root.mkdir()
    text = (REPO / "knowledge" / "case_rules.yml").read_text(encoding="utf-8")
    (root / "case_rules.yml").write_text(
        text.replace("deadline: legal_aid_decision}", "deadline: legal_aid_decison}"),
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeError) as error:
        load_case_rules(root, knowledge)
    assert "case_rules.yml" in str(error.value) and "'deadline'" in str(error.value)
    assert "legal_aid_decison" in str(error.value)


def test_the_next_date_that_matters_is_the_earliest_upcoming_one(knowledge, rules):
    case = case_in(Status.ACCEPTED)
    case.route = "petition"
    case.set_deadlines(
        deadlines_on(
            Status.ACCEPTED,
            route="petition",
            dispute_type="other",
            on=date(2026, 10, 12),
            knowledge=knowledge,
            rules=rules,
        )
    )
    assert case.next_deadline(date(2026, 11, 1)).deadline_id == "petition_handling"
    assert case.next_deadline(date(2026, 12, 20)).deadline_id == "petition_extension"
    assert case.next_deadline(date(2027, 2, 1)) is None


def test_the_county_date_of_an_instant_is_in_china_standard_time():
    assert county_date(datetime(2026, 11, 19, 17, 0, tzinfo=timezone.utc)) == date(2026, 11, 20)


# ---------------------------------------------------------------------------
# Legal-aid screening (法律援助法)
# ---------------------------------------------------------------------------

FRIDAY = date(2026, 11, 20)


def test_a_migrant_worker_claiming_wages_needs_no_hardship_check(knowledge, rules):
    result = screen(
        "我在工地上打工，包工头欠我三个月工资不给",
        "外出打工讨薪",
        "没有",
        today=FRIDAY,
        knowledge=knowledge,
        rules=rules,
    )
    assert result.eligible_matter and result.article == "31(5)"
    assert result.exempt_group == "42(3)" and not result.hardship_test_needed
    assert any("工资条" in m for m in result.materials)  # the proof for migrant workers


def test_a_domestic_violence_victim_needs_no_hardship_test(knowledge, rules):
    result = screen(
        "男人喝了酒就打我，家暴好几年了",
        "家里还过得去",
        "",
        today=FRIDAY,
        knowledge=knowledge,
        rules=rules,
    )
    assert result.eligible_matter and result.article == "32(4)"
    assert not result.hardship_test_needed and result.exempt_group is None


def test_a_maintenance_claim_is_on_the_list_and_needs_the_hardship_test(knowledge, rules):
    result = screen(
        "儿子不给赡养费，老人不管",
        "家里还过得去",
        "",
        today=FRIDAY,
        knowledge=knowledge,
        rules=rules,
    )
    assert result.eligible_matter and result.article == "31(4)"
    assert result.hardship_test_needed and not result.urgent


def test_a_low_income_household_is_exempt_from_the_hardship_check(knowledge, rules):
    result = screen(
        "儿子不给赡养费", "我们家是低保户", "", today=FRIDAY, knowledge=knowledge, rules=rules
    )
    assert result.exempt_group == "42(2)" and not result.hardship_test_needed


def test_a_divorce_property_split_is_not_on_the_national_list(knowledge, rules):
    result = screen(
        "离婚了想分财产", "有工作", "没有", today=FRIDAY, knowledge=knowledge, rules=rules
    )
    assert not result.eligible_matter and result.article is None


def test_five_days_left_makes_legal_aid_urgent_under_article_44(knowledge, rules):
    result = screen(
        "老板欠工资不给", "打工的", "还有5天到期", today=FRIDAY, knowledge=knowledge, rules=rules
    )
    assert result.urgent and result.days_left == 5
    assert any(r.startswith("44") for r in result.reasons)


def test_seven_days_left_is_not_less_than_seven(knowledge, rules):
    result = screen("老板欠工资不给", "", "还有7天", today=FRIDAY, knowledge=knowledge, rules=rules)
    assert not result.urgent


def test_a_need_for_preservation_is_urgent_without_a_date(knowledge, rules):
    result = screen(
        "老板要跑了，欠我工资", "", "没有", today=FRIDAY, knowledge=knowledge, rules=rules
    )
    assert result.urgent and result.days_left is None


@pytest.mark.parametrize(
    ("answer", "days_left", "stated_none"),
    [
        ("还有5天", 5, False),
        ("还剩三天", 3, False),
        ("还有十五天", 15, False),
        ("下周就到期", 3, False),  # said on a Friday: next Monday at the earliest
        ("明天", 1, False),
        ("两个星期", 14, False),
        ("12月3号", 13, False),
        ("no", None, True),
        ("没有", None, True),
        ("没有或不清楚", None, True),
        ("/deny", None, True),
    ],
)
def test_time_limit_answers_are_read_as_days_left(answer, days_left, stated_none, rules):
    result = parse_time_limit(answer, FRIDAY, rules)
    assert (result.days_left, result.stated_none) == (days_left, stated_none)


def test_march_is_not_read_as_three_months(rules):
    assert parse_time_limit("3月份开始欠的", FRIDAY, rules).days_left is None


# ---------------------------------------------------------------------------
# Routing, 诉访分离 and emergencies
# ---------------------------------------------------------------------------


def test_wage_arrears_case_is_routed_to_labour_inspection(knowledge, rules):
    routing = route_case(
        "mediation",
        "labour",
        text="老板欠我三个月工资",
        township_id="gonghe",
        village_id="tiantai",
        knowledge=knowledge,
        rules=rules,
    )
    assert routing.agency.id == "mouding.county_labour_inspection"
    assert [a.id for a in routing.chain] == ["mouding.county_labour_arbitration"]
    assert "legal_aid" in routing.also_offer and not routing.redirected and not routing.emergency


def test_a_neighbour_dispute_goes_to_the_village_mediation_committee(knowledge, rules):
    routing = route_case(
        "mediation",
        "neighbour",
        text="牛吃了苞谷",
        township_id="gonghe",
        village_id="tiantai",
        knowledge=knowledge,
        rules=rules,
    )
    assert routing.agency.name == "天台村人民调解委员会"
    assert routing.chain[0].id == "gonghe.township_mediation"


def test_legal_aid_is_decided_by_the_county_and_taken_in_at_the_township(knowledge, rules):
    routing = route_case(
        "legal_aid",
        "family",
        text="儿子不给赡养费",
        township_id="xinqiao",
        knowledge=knowledge,
        rules=rules,
    )
    assert routing.agency.id == "mouding.county_legal_aid_center"
    assert routing.intake.id == "xinqiao.township_justice_office"


@pytest.mark.parametrize(
    ("text", "legal_route", "article"),
    [
        ("法院判决不服，想让政府管一管", "litigation", "31(1)"),
        ("法院判了，对方不给钱，强制执行也没用", "litigation", "31(1)"),
        ("劳动仲裁裁决下来了我不认", "arbitration", "31(2)"),
        ("对镇上的罚款不服，想申请行政复议", "administrative_review", "31(4)"),
    ],
)
def test_a_petition_that_is_really_a_legal_matter_is_redirected_not_filed(
    text, legal_route, article, knowledge, rules
):
    routing = route_case(
        "petition", "other", text=text, township_id="gonghe", knowledge=knowledge, rules=rules
    )
    assert routing.redirected and routing.agency is None
    assert (routing.redirect.legal_route, routing.redirect.article) == (legal_route, article)
    assert routing.also_offer[0] == "legal_aid"
    assert routing.redirect.legal_aid_agency.id == "gonghe.township_justice_office"


def test_a_complaint_about_cadres_not_carrying_out_policy_is_filed_as_a_petition(knowledge, rules):
    routing = route_case(
        "petition",
        "other",
        text="村干部不执行政策，低保名额给了亲戚",
        township_id="gonghe",
        knowledge=knowledge,
        rules=rules,
    )
    assert not routing.redirected and routing.agency.id == "mouding.county_petition_bureau"


def test_only_petitions_are_redirected(knowledge, rules):
    routing = route_case(
        "mediation",
        "debt",
        text="他欠钱不还，我想起诉",
        township_id="gonghe",
        village_id="tiantai",
        knowledge=knowledge,
        rules=rules,
    )
    assert not routing.redirected and routing.agency is not None


def test_a_threat_with_a_knife_goes_to_the_township_police_station_at_once(knowledge, rules):
    routing = route_case(
        "mediation",
        "neighbour",
        text="他拿着刀在我家门口吼，说要砍人",
        township_id="gonghe",
        village_id="tiantai",
        knowledge=knowledge,
        rules=rules,
    )
    assert routing.emergency and "拿着刀" in routing.emergency_keywords
    assert routing.agency.id == "gonghe.police_station" == routing.emergency_handoff.id
    assert routing.chain[0].id == "gonghe.tiantai.village_mediation"
    assert [a.id for a in routing.notify] == ["gonghe.tiantai.village_mediation"]


def test_self_harm_is_an_emergency(knowledge, rules):
    routing = route_case(
        "petition",
        "other",
        text="实在不想活了，想喝农药",
        township_id="fengtun",
        knowledge=knowledge,
        rules=rules,
    )
    assert routing.emergency and routing.agency.id == "fengtun.police_station"


def test_an_emergency_wins_over_a_redirect(knowledge, rules):
    routing = route_case(
        "petition",
        "other",
        text="法院判决不服，他们要打起来了",
        township_id="gonghe",
        knowledge=knowledge,
        rules=rules,
    )
    assert routing.emergency and not routing.redirected


def test_an_emergency_without_a_township_keeps_its_agency_and_is_flagged(knowledge, rules):
    routing = route_case(
        "mediation", "neighbour", text="要打起来了", knowledge=knowledge, rules=rules
    )
    assert routing.emergency and routing.emergency_handoff is None
    assert routing.agency.id == "mouding.county_comprehensive_center"
