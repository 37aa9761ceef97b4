"""Killing the action server mid-submission leaves no half case; a retry files it once."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import requests
import yaml
from sqlalchemy import func, select

from bot_support import shared_engine as case_engine
from records.adapters.orm import cases, outbox
from tests.servers import ROOT, secret_headers, spawn, stop, wait_for

PORT = 5057


def submission_call(sender: str, confirmed_at: float) -> dict:
    """What the Rasa server posts to the action server for action_finish_case_form."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    slots = {
        "route": "mediation", "dispute_type": "debt", "facts": "借给他三千块，两年了不还",
        "other_party": "张老四", "village": "天台村", "township": "共和镇", "phone": "13987654321",
        "mediation_consent": True, "confirmed": True, "form_outcome": "file",
    }
    return {
        "next_action": "action_finish_case_form",
        "sender_id": sender,
        "version": "3.6.21",
        "domain": domain,
        "tracker": {
            "sender_id": sender,
            "slots": slots,
            "latest_message": {"text": "/affirm", "intent": {"name": "affirm", "confidence": 1.0}, "entities": []},
            "events": [{"event": "user", "timestamp": confirmed_at, "text": "/affirm",
                        "parse_data": {"intent": {"name": "affirm", "confidence": 1.0}}}],
            "paused": False, "followup_action": None, "active_loop": {},
            "latest_action_name": "case_form",
        },
    }


def count(table, sender: str | None = None, number: str | None = None) -> int:
    with case_engine().connect() as connection:
        query = select(func.count()).select_from(table)
        if sender:
            query = query.where(table.c.sender_id == sender)
        if number:
            query = query.where(table.c.case_number == number)
        return connection.execute(query).scalar_one()


def test_a_crash_before_commit_leaves_nothing_and_the_retry_files_exactly_once(tmp_path):
    case_engine()  # schema in place before the servers start
    sender = f"crash-{time.time_ns()}"
    call = submission_call(sender, confirmed_at=1790000000.25)
    url = f"http://127.0.0.1:{PORT}"
    marker = tmp_path / "about-to-commit"
    outbox_before = count(outbox)

    crashing = spawn("crashing-actions", [sys.executable, "tests/crashing_action_server.py", str(PORT)],
                     env={"CRASH_MARKER": str(marker)})
    try:
        wait_for(f"{url}/health", crashing)
        try:
            requests.post(f"{url}/webhook", json=call, headers=secret_headers(), timeout=2)
        except requests.RequestException:
            pass  # the server is hanging inside the transaction, as planned
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the submission never reached its commit"
        os.killpg(crashing.pid, signal.SIGKILL)
        crashing.wait(timeout=10)
    finally:
        stop(crashing)

    assert count(cases, sender=sender) == 0
    assert count(outbox) == outbox_before

    healthy = spawn("retry-actions", [sys.executable, "-m", "xiangyin", "actions", "--port", str(PORT)])
    try:
        wait_for(f"{url}/health", healthy)
        numbers = set()
        for _ in range(2):  # Rasa's retry, then a second retry after a lost response
            reply = requests.post(f"{url}/webhook", json=call, headers=secret_headers(), timeout=60).json()
            numbers |= {r["number"] for r in reply["responses"] if r.get("number")}
            assert any(r.get("response") == "utter_filed_mediation" for r in reply["responses"]), json.dumps(reply)[:500]
    finally:
        stop(healthy)

    assert len(numbers) == 1
    assert count(cases, sender=sender) == 1
    assert count(outbox, number=numbers.pop()) == 1
