"""Completed forms the case tests file: a petition and a mediation from Gonghe, Tiantai."""

from __future__ import annotations

from datetime import datetime, timezone

from records.services.cases import SubmitCase

AT = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)  # Fri 20 Nov 2026, 10:00 in Mouding


def petition(key: str = "conv-1:1763604000.1", sender: str = "tg:1001", **changes) -> SubmitCase:
    fields = dict(
        submission_key=key,
        route="petition",
        sender_id=sender,
        dispute_type="other",
        facts={
            "facts": "村主任把低保名额给了他亲戚，我们真正困难的莫得",
            "petition_request": "重新评定，公开名单",
        },
        name="李四",
        phone="13987654321",
        township_id="gonghe",
        village_id="tiantai",
        submitted_at=AT,
    )
    fields.update(changes)
    return SubmitCase(**fields)


def mediation(key: str = "conv-2:1763604000.2", sender: str = "tg:2002", **changes) -> SubmitCase:
    fields = dict(
        submission_key=key,
        route="mediation",
        sender_id=sender,
        dispute_type="neighbour",
        facts={"facts": "隔壁家的牛又跑到我地头，把苞谷吃了一大片", "other_party": "隔壁王老三"},
        phone="13912345678",
        township_id="gonghe",
        village_id="tiantai",
        submitted_at=AT,
    )
    fields.update(changes)
    return SubmitCase(**fields)
