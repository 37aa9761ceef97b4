"""Simulated villagers talk to the assistant → results/bench-conversations.json.

Each villager in benchmarks/data/villagers.jsonl (240, from two writers who never saw the NLU
data or the dialogue) has a goal, a first message and their own words for every question a
form may ask, and often a detour: a question in the middle, a correction at the read-back, a
change of mind, "刚才说了嘛".  The simulator answers what the assistant asks (it reads the
form's requested slot from the tracker, as a person reads the question), taps the button of
its goal when offered one, and says it wants another route when the assistant started the
wrong one.  Measured:

- turns to a case number (the villager's messages, the first one included);
- dead ends: the same question three times in a row, or no case after 20 messages;
- misfiled: a case under another route than the one the villager ended up asking for
  (an emergency must be an emergency case for the police);
- cases without a phone and a place (an emergency whose villager would not say excepted);
- service questions answered from the catalogue, or not.

    python -m benchmarks.conversations [--limit N]
"""

from __future__ import annotations

import functools

import argparse
import json
import re
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import requests

from actions.facts import find_phone
from benchmarks.servers import MODEL, RESULTS, start, stop
from knowledge.dialogue import dialogue_words
from bot.config import SECRET_HEADER
from xiangyin.settings import settings

VILLAGERS = Path(__file__).parent / "data" / "villagers.jsonl"
CASE_NUMBER = re.compile(r"(?:MD|XF|FY|BS)-\d{4}-[0-9A-Z]{4}")
MAX_TURNS = 20
ROUTE_BUTTONS = {"/petition": "petition", "/mediation": "mediation", "/legal_aid": "legal_aid", "/service": "service"}


class Villager:
    """One simulated person: answers what is asked, from their own words."""

    def __init__(self, persona: dict, url: str) -> None:
        self.p = persona
        self.url = url
        self.sender = f"sim-{uuid.uuid4().hex[:10]}"
        self.goal = persona["goal"]
        self.detour = persona.get("detour") or None
        self.detour_done = False
        self.turns = 0
        self.transcript: list[str] = []
        self.asked: list[str] = []
        self.phone = find_phone(persona.get("phone") or "")
        self.said_story = False
        self.last_question = ""

    # --- talking ------------------------------------------------------------------
    def say(self, text: str) -> list[dict]:
        self.turns += 1
        response = requests.post(f"{self.url}/webhooks/rest/webhook",
                                 json={"sender": self.sender, "message": text},
                                 headers={SECRET_HEADER: settings().secret}, timeout=60)
        response.raise_for_status()
        replies = response.json()
        self.transcript.append(f"村民：{text}")
        self.transcript += [f"乡音：{r.get('text') or ''} {[b['title'] for b in r.get('buttons') or []]}"
                            for r in replies]
        return replies

    def state(self) -> dict:
        tracker = requests.get(f"{self.url}/conversations/{self.sender}/tracker",
                               params={"token": settings().secret}, timeout=30).json()
        return {"slots": tracker.get("slots") or {}, "loop": (tracker.get("active_loop") or {}).get("name")}

    # --- choosing what to say -----------------------------------------------------
    def route_phrase(self, route: str) -> str:
        if self.detour and self.detour.get("kind") == "change_mind" and self.detour.get("to") == route:
            return self.detour["text"]
        return f"我是想{dialogue_words().routes[route].label}"

    def answer(self, replies: list[dict], state: dict) -> str | None:
        buttons = {b.get("payload"): b.get("title") for r in replies for b in r.get("buttons") or []}
        slots, loop = state["slots"], state["loop"]
        requested = slots.get("requested_slot")
        goal = "mediation" if self.goal == "emergency" else self.goal
        # A detour, once, in the middle of the form.
        if loop == "case_form" and self.detour and not self.detour_done and requested not in (None, "confirmed"):
            kind = self.detour.get("kind")
            if kind == "question" or (kind == "already_said" and requested in ("village", "facts", "phone")):
                self.detour_done = True
                return self.detour["text"]
            if kind == "change_mind" and self.detour.get("to") in ("petition", "mediation", "legal_aid"):
                self.detour_done = True
                self.goal = self.detour["to"]
                return self.detour["text"]
        if loop == "case_form" and slots.get("route") and slots.get("route") != goal and requested not in (
                "route_change", "next_route"):
            # The assistant started another route than the one wanted: say so.
            if requested == "mediation_consent" and f"/{goal}" in buttons:
                return f"/{goal}"
            return self.route_phrase(goal)
        if loop == "emergency_form":
            if requested == "danger_confirmed":  # "现在有危险吗？" with two buttons
                return "/affirm" if self.p["goal"] == "emergency" else "/deny"
            return self.p.get("place") if requested == "village" else (self.p.get("phone") or "不说")
        if loop == "case_form" and requested == "village":
            places = [p for p in buttons if p.startswith("/inform") and "village" in p]
            if places:  # "哪个乡镇的？" with the candidates as buttons: tap the one that fits
                home = self.p.get("place") or ""
                return next((p for p in places if buttons[p][:2] in home), places[0])
        if loop == "case_form":
            return self.form_answer(requested, slots, buttons, goal)
        choices = [p for p in buttons if p in ROUTE_BUTTONS]
        if choices:
            return f"/{goal}" if f"/{goal}" in choices else choices[0]
        if not self.said_story:
            self.said_story = True
            return self.p.get("story") or self.p["opening"]
        return None

    def form_answer(self, requested: str | None, slots: dict, buttons: dict, goal: str) -> str | None:
        p = self.p
        if requested == "facts":
            return p.get("story") or p["opening"]
        if requested == "petition_request":
            return p.get("demand") or "请尽快处理"
        if requested == "other_party":
            return p.get("other_party") or "对方"
        if requested == "mediation_consent":
            return p.get("yes") or "愿意"
        asks_phone_too = "电话" in self.last_question and not slots.get("phone")
        if requested == "name":
            name = p.get("name") or "不想说名字"
            return f"{name} {p.get('phone')}" if asks_phone_too else name
        if requested == "phone":
            return p.get("phone")
        if requested == "village":
            # "您家在哪个乡镇哪个村？再留个电话": the question asks for both.
            return f"{p.get('place')} {p.get('phone')}" if asks_phone_too else p.get("place")
        if requested == "time_limit":
            return p.get("time_limit") or "没有"
        if requested == "economic_status":
            return p.get("economic") or "还过得去"
        if requested == "route_change":
            return "/affirm" if slots.get("pending_route") == goal else "/deny"
        if requested == "next_route":
            return f"/{goal}" if goal in ("legal_aid", "petition") else "/cancel"
        if requested == "cancel_confirm":
            return "/deny"
        if requested == "edit_field":
            return "/affirm"
        if requested == "confirmed":
            if self.detour and self.detour.get("kind") == "correction" and not self.detour_done:
                self.detour_done = True
                corrected = find_phone(self.detour["text"])
                if corrected:
                    self.phone = corrected
                return self.detour["text"]
            return p.get("yes") or "对"
        return None

    # --- one whole conversation ----------------------------------------------------
    def run(self) -> dict:
        replies = self.say(self.p["opening"])
        number = None
        dead_end = False
        answered_service = None
        while self.turns <= MAX_TURNS:
            text = "\n".join(r.get("text") or "" for r in replies)
            found = CASE_NUMBER.findall(text)
            if found:
                number = found[0]
                break
            question = next((r.get("text") for r in reversed(replies) if r.get("text")), "")
            self.last_question = question
            self.asked.append(question)
            if len(self.asked) >= 3 and len(set(self.asked[-3:])) == 1:
                dead_end = True
                break
            state = self.state()
            if self.goal == "service" and not state["loop"]:
                answered_service = "我还没学会" not in text and "没太听明白" not in text
                if answered_service or self.turns >= 3:
                    break
            nxt = self.answer(replies, state)
            if nxt is None:
                break
            replies = self.say(str(nxt))
        if number is None and self.goal != "service" and not dead_end:
            dead_end = True  # never got to a case
        return {"number": number, "dead_end": dead_end, "turns": self.turns,
                "answered_service": answered_service}


@functools.lru_cache(maxsize=1)
def _records():  # type: ignore[no-untyped-def]
    """The case records the action server writes (DATABASE_URL of this run)."""
    from xiangyin.commands.database import open_records
    from records.adapters.database import make_engine

    config = settings()
    return open_records(config, make_engine(config.database_url))


def check_case(sender: str, number: str | None, villager: Villager) -> dict:
    """What was stored: the route, the emergency flag, the contact details."""
    if number is None:
        return {}
    case = _records().find_case_for_villager(sender, number)
    if case is None:
        return {"missing": True}
    emergency_goal = villager.p["goal"] == "emergency"
    misfiled = (not case.emergency) if emergency_goal else (case.route != villager.goal or case.emergency)
    no_contact = not (case.villager.phone and case.jurisdiction.township_id)
    return {"route": case.route, "emergency": case.emergency, "misfiled": misfiled,
            "no_contact": no_contact and not emergency_goal,
            "emergency_no_contact": no_contact and emergency_goal,
            "phone_right": case.villager.phone == villager.phone if villager.phone else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "bench-conversations.json")
    args = parser.parse_args(argv)
    personas = [json.loads(line) for line in VILLAGERS.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.limit:
        personas = personas[: args.limit]
    workdir = Path(tempfile.mkdtemp(prefix="xiangyin-sim-"))
    database_url = f"sqlite:///{workdir}/cases.db"
    import os

    os.environ["DATABASE_URL"] = database_url  # this process reads the cases back
    settings.cache_clear()
    processes, url = start(workdir, database_url, MODEL)
    results = []
    started = time.monotonic()
    try:
        for persona in personas:
            villager = Villager(persona, url)
            outcome = villager.run()
            outcome.update(check_case(villager.sender, outcome["number"], villager))
            outcome.update(goal=persona["goal"], final_goal=villager.goal,
                           detour=(persona.get("detour") or {}).get("kind"), writer=persona.get("writer"),
                           transcript=villager.transcript)
            results.append(outcome)
    finally:
        stop(processes)
    cases = [r for r in results if r.get("number")]
    case_goals = [r for r in results if r["goal"] != "service"]
    turns = [r["turns"] for r in cases if r["goal"] != "emergency"]
    failures = [r for r in results if r["dead_end"] or r.get("misfiled") or r.get("no_contact")
                or (r["goal"] == "service" and not r.get("answered_service"))]
    report = {
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "conversations": len(results),
        "by_goal": dict(Counter(r["goal"] for r in results)),
        "by_detour": dict(Counter(r["detour"] or "none" for r in results)),
        "cases_filed": len(cases),
        "conversations_that_should_file": len(case_goals),
        "median_turns_to_case_number": statistics.median(turns) if turns else None,
        "turns_p90": sorted(turns)[int(0.9 * (len(turns) - 1))] if turns else None,
        "median_turns_by_goal": {
            goal: statistics.median([r["turns"] for r in cases if r["goal"] == goal])
            for goal in ("petition", "mediation", "legal_aid", "emergency")
            if any(r["goal"] == goal for r in cases)
        },
        "median_turns_without_detour": statistics.median(
            [r["turns"] for r in cases if r["goal"] != "emergency" and not r["detour"]] or [0]),
        "clarifying_questions": sum(any("还是想" in line for line in r["transcript"]) for r in results),
        "dead_ends": sum(r["dead_end"] for r in results),
        "misfiled": sum(bool(r.get("misfiled")) for r in results),
        "cases_without_contact": sum(bool(r.get("no_contact")) for r in results),
        "emergencies_without_contact": sum(bool(r.get("emergency_no_contact")) for r in results),
        "phone_stored_wrong": sum(r.get("phone_right") is False for r in results),
        "service_answered": sum(bool(r.get("answered_service")) for r in results if r["goal"] == "service"),
        "service_questions": sum(r["goal"] == "service" for r in results),
        "seconds": round(time.monotonic() - started, 1),
        "failures": [{k: v for k, v in r.items()} for r in failures[:25]],
        "examples": {goal: next((r["transcript"] for r in results if r["goal"] == goal and not r["detour"]
                                 and r.get("number")), None)
                     for goal in ("petition", "mediation", "legal_aid")},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k not in ("failures", "examples")},
                     ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
