"""One outbox row per person (trust, item 2), on the in-memory unit of work: an agency's
message reaches each of its reachable handlers once, and an agency nobody answers for sends
it up the chain and tells the county."""

from __future__ import annotations

from datetime import datetime, timezone

from records.domain.clock import FixedClock
from records.domain.identity import ChannelIdentity
from records.domain.staff import StaffMember
from records.services.messages import AGENCY, STAFF, OutboxMessage
from tests.case_commands import mediation, petition
from tests.fakes import FakeStore, FakeUnitOfWork, fake_records

AT = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)
VILLAGE = "gonghe.tiantai.village_mediation"
TOWNSHIP = "gonghe.township_mediation"
COUNTY_ADMIN_AGENCY = "mouding.county_comprehensive_center"


def join(store: FakeStore, user: int, agency: str, role: str = "mediator") -> StaffMember:
    member = StaffMember(ChannelIdentity("tg", str(user)), f"员工{user}", agency, role)
    with FakeUnitOfWork(store, FixedClock(AT)) as uow:
        uow.staff.save(member, AT)
        uow.commit()
    return member


def rows(store: FakeStore, kind: str) -> list[tuple[str, str]]:
    return [(m.recipient_kind, m.recipient_id) for m in store.outbox if m.kind == kind]


def claimed(store: FakeStore, kind: str, recipient: str) -> OutboxMessage:
    """The latest such row, as a dispatcher would have claimed it."""
    m = [m for m in store.outbox if m.kind == kind and m.recipient_id == recipient][-1]
    return OutboxMessage(1, m.case_number, m.recipient_kind, m.recipient_id, m.kind,
                         m.message_key, m.payload, 1, AT)


def test_a_new_case_is_one_row_for_each_mediator_of_the_agency_and_none_for_others():
    records, store = fake_records()
    join(store, 1, VILLAGE)
    join(store, 2, VILLAGE)
    join(store, 3, VILLAGE, "agency_staff")  # works on petitions, not on mediation
    join(store, 4, TOWNSHIP)
    records.submit_case(mediation())
    assert sorted(rows(store, "case_assigned")) == [(STAFF, "tg:1"), (STAFF, "tg:2")]


def test_an_agency_with_nobody_escalates_the_case_and_alerts_the_county():
    records, store = fake_records()
    join(store, 4, TOWNSHIP)
    join(store, 9, COUNTY_ADMIN_AGENCY, "admin")
    number = records.submit_case(mediation()).number
    assert rows(store, "case_assigned") == [(AGENCY, VILLAGE)]
    [alert] = [m for m in store.outbox if m.kind == "agency_unstaffed"]
    assert alert.recipient_id == "tg:9" and alert.payload["agency"]["id"] == VILLAGE
    assert alert.case_number == number
    # Delivering the row: the case goes up to the township, whose mediator can act on it.
    assert records.address_again(claimed(store, "case_assigned", VILLAGE)) == 1
    case = records.get_case(number)
    assert case.agency.id == TOWNSHIP and case.status.value == "routed"
    assert rows(store, "case_assigned")[-1] == (STAFF, "tg:4")


def test_with_nobody_anywhere_the_row_waits_for_the_agency_and_reaches_the_first_who_joins():
    records, store = fake_records()
    records.submit_case(petition())
    [(kind, agency)] = rows(store, "case_assigned")
    assert kind == AGENCY
    waiting = claimed(store, "case_assigned", agency)
    assert records.address_again(waiting) == 0  # still nobody
    join(store, 5, agency, "agency_staff")
    assert records.address_again(waiting) == 1
    assert (STAFF, "tg:5") in rows(store, "case_assigned")


def test_a_mediator_who_blocked_the_bot_leaves_the_message_to_colleagues_or_the_supervisor():
    records, store = fake_records()
    join(store, 1, VILLAGE)
    join(store, 2, VILLAGE)
    join(store, 4, TOWNSHIP)
    records.submit_case(mediation(key="a"))
    # One of two blocked the bot: the colleague has a row of their own, nothing new is sent.
    assert records.recipient_unreachable(claimed(store, "case_assigned", "tg:1")) == 0
    # The next case goes to the one who can still be reached.
    records.submit_case(mediation(key="b", sender="tg:3003"))
    assert rows(store, "case_assigned")[-1:] == [(STAFF, "tg:2")]
    # The last one blocks it too: the case goes up to the township.
    second = [m for m in store.outbox if m.kind == "case_assigned"][-1]
    assert records.recipient_unreachable(claimed(store, "case_assigned", "tg:2")) >= 1
    assert records.get_case(second.case_number).agency.id == TOWNSHIP
    assert [m.case_number for m in store.outbox if m.recipient_id == "tg:4"][-1] == second.case_number
    # A word from the first mediator: reachable again, they get the next case.
    assert records.staff_heard_from(ChannelIdentity("tg", "1"))
    records.submit_case(mediation(key="c", sender="tg:3004"))
    assert rows(store, "case_assigned")[-1:] == [(STAFF, "tg:1")]
