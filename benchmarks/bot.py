"""``python -m benchmarks.bot``: 30 villagers chatting at once through Telegram → results/bench-bot.json.

Everything real except Telegram itself: the bot (bot/app.py, in this process) polls
FakeBotApi (bot/localapi, a loopback Bot API server), relays to
a real Rasa server with the trained model and a real action server (both started here, on
free ports, with a database of their own).  Each simulated villager goes through the
neighbour's-cow mediation of CONVERSATIONS.md (tapping the buttons a villager would tap),
gets a case number, then asks ``/cases`` — ``--rounds`` times.  A mediator is registered, so
the outbox delivers every new case to Telegram during the run too.

Reported:

* latency from the update entering the Bot API server to the bot's first reply in that chat
  (p50 / p95 / max), and to the end of the turn (the expected next question);
* errors: turns that timed out or got an unexpected answer, error-handler messages;
* sustained messages per second over the whole run;
* CPU seconds and share of one core for this process (bot + fake server + villagers), the
  Rasa server and the action server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from benchmarks import servers
from benchmarks.servers import MODEL
from xiangyin.settings import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "results"
CASE_NUMBER = re.compile(r"\b[A-Z]{2}-\d{4}-[0-9A-Z]{4}\b")
MEDIATOR = 999_000_001
TURN_TIMEOUT_S = 120.0

#: (what the villager does, a fragment of the reply that ends the turn)
SCRIPT: list[tuple[str, str]] = [
    ("text:隔壁家的牛又跑到我地头，把苞谷吃了一大片，找他赔他不认账", "愿意请调解员"),
    ("tap:愿意", "对方是哪个"),
    ("text:隔壁王老三", "哪个乡镇哪个村"),
    ("text:共和镇天台村", "留个电话"),
    ("text:13987654321", "对吗"),
    ("tap:对", "编号"),
    ("text:/cases", "您提交过的事"),
]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), children that exited included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0–100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


@dataclass
class Tally:
    """What the villagers measured."""

    first_reply_ms: list[float] = field(default_factory=list)
    rasa_ms: list[float] = field(default_factory=list)
    turn_ms: list[float] = field(default_factory=list)
    messages: int = 0
    cases: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


async def villager(
    server: Any, user_id: int, rounds: int, tally: Tally, think_s: float = 0.0
) -> None:
    """One villager going through the script ``rounds`` times, waiting for each answer and
    then, with ``think_s``, reading and typing for 0.5–1.5 × that long before the next."""
    rng = random.Random(user_id)

    def chat() -> list[Any]:
        return [c for c in server.sent if c.chat_id == user_id and c.method == "sendMessage"]

    if think_s:
        await asyncio.sleep(rng.uniform(0, think_s))  # villagers do not start in step
    for _ in range(rounds):
        for action, expect in SCRIPT:
            if think_s and tally.messages:
                await asyncio.sleep(rng.uniform(0.5 * think_s, 1.5 * think_s))
            before = len(chat())
            kind, _, value = action.partition(":")
            if kind == "tap":
                with_buttons = [c for c in chat() if c.reply_markup]
                if not with_buttons:
                    tally.errors.append(f"no buttons to tap {value!r}")
                    return
                last = with_buttons[-1]
                data = {
                    b["text"]: b["callback_data"]
                    for row in last.reply_markup["inline_keyboard"]
                    for b in row
                }
                if value not in data:
                    tally.errors.append(f"no button {value!r}")
                    return
                server.user_taps_button(user_id, last, data[value])
            else:
                server.user_sends_text(user_id, value)
            sent_at = time.monotonic()
            tally.messages += 1

            def turn_done() -> bool:
                return any(expect in (c.text or "") for c in chat()[before:])

            try:
                await server.wait_for(turn_done, TURN_TIMEOUT_S)
            except TimeoutError:
                got = [c.text for c in chat()[before:]]
                tally.errors.append(f"{action!r}: expected {expect!r}, got {got!r}"[:300])
                return
            replies = chat()[before:]
            tally.first_reply_ms.append((replies[0].time - sent_at) * 1000)
            done = next(c for c in replies if expect in (c.text or ""))
            tally.turn_ms.append((done.time - sent_at) * 1000)
            for reply in replies:
                if "出了点问题" in (reply.text or "") or "连不上" in (reply.text or ""):
                    tally.errors.append(f"error reply: {reply.text}")
                found = CASE_NUMBER.search(reply.text or "")
                if found and kind == "tap" and value == "对":
                    tally.cases.add(found.group(0))


@dataclass(frozen=True)
class Scenario:
    """How many villagers, how many rounds of the script, how long they think between turns."""

    name: str
    villagers: int
    rounds: int
    think_s: float


def _figures(
    tally: Tally, elapsed: float, sends: int, cpu: dict[str, float], scenario: Scenario
) -> dict[str, Any]:
    def ms(values: list[float], *, with_max: bool = False) -> dict[str, int]:
        out = {"p50": round(percentile(values, 50)), "p95": round(percentile(values, 95))}
        if with_max:
            out["max"] = round(max(values, default=float("nan")))
        return out

    return {
        "villagers": scenario.villagers,
        "rounds": scenario.rounds,
        "think_s": scenario.think_s,
        "messages": tally.messages,
        "cases_filed": len(tally.cases),
        "duration_s": round(elapsed, 1),
        "villager_msgs_per_s": round(tally.messages / elapsed, 2) if elapsed else None,
        "bot_sends_per_s": round(sends / elapsed, 2) if elapsed else None,
        "first_reply_ms": ms(tally.first_reply_ms, with_max=True),
        "rasa_round_trip_ms": ms(tally.rasa_ms),
        "turn_ms": ms(tally.turn_ms, with_max=True),
        "errors": len(tally.errors),
        "error_samples": tally.errors[:5],
        "cpu_pct_of_one_core": {
            name: round(100 * seconds / elapsed, 1) for name, seconds in cpu.items()
        },
    }


async def run(
    scenarios: list[Scenario], rasa_url: str, database_url: str, pids: dict[str, int]
) -> dict[str, Any]:
    """Start the bot against FakeBotApi and play each scenario in turn; returns the figures."""
    import dataclasses

    from bot.app import build_local_application, serving
    from bot.state_store import BotStateStore
    from playground.localapi import FakeBotApi
    from records.adapters.crypto import Cipher
    from records.adapters.database import make_engine
    from records.adapters.outbox import dispatchers, outbox_counts
    from records.api import AsyncRecords
    from xiangyin.commands.database import open_records, upgrade
    from xiangyin.settings import settings

    engine = make_engine(database_url)
    upgrade(engine)
    config = dataclasses.replace(
        settings().bot, rasa_url=rasa_url, outbox_idle_s=0.2, outbox_retry_base_s=1.0
    )
    records = open_records(settings(), engine)
    results: dict[str, Any] = {}
    async with FakeBotApi() as server:
        app = build_local_application(
            config,
            AsyncRecords(records),
            BotStateStore(engine, records.clock, Cipher(settings().data_key)),
            dispatchers(
                engine,
                records.clock,
                Cipher(settings().data_key),
                retry_base_s=config.outbox_retry_base_s,
                on_unreachable=records.recipient_unreachable,
            ),
            server,
        )
        rasa = app.bot_data.rasa
        plain_send = rasa.send
        tally = Tally()

        async def timed_send(*args: Any, **kwargs: Any) -> Any:
            # Rasa's share of the latency: the REST round trip as the bot sees it.
            start = time.monotonic()
            try:
                return await plain_send(*args, **kwargs)
            finally:
                tally.rasa_ms.append((time.monotonic() - start) * 1000)

        rasa.send = timed_send  # type: ignore[method-assign]
        async with serving(app):
            code = records.create_invite(
                "gonghe.tiantai.village_mediation", "mediator", created_by="bench"
            )
            server.user_sends_text(MEDIATOR, f"/join {code}")
            await server.wait_for_messages(MEDIATOR, 1)
            for number, scenario in enumerate(scenarios):
                tally = Tally()
                sent_before, actions_before = len(server.sent), len(server.chat_actions)
                cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                bot_cpu_before = time.process_time()
                started = time.monotonic()
                first_id = 200_000_000 + 1_000 * number
                await asyncio.gather(
                    *(
                        villager(server, first_id + i, scenario.rounds, tally, scenario.think_s)
                        for i in range(scenario.villagers)
                    )
                )
                elapsed = time.monotonic() - started
                cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
                cpu["bot"] = time.process_time() - bot_cpu_before
                # What counts against Telegram's 30-a-second ceiling: requests into a chat.
                sends = sum(1 for c in server.sent[sent_before:] if c.chat_id is not None)
                sends += len(server.chat_actions) - actions_before
                results[scenario.name] = _figures(tally, elapsed, sends, cpu, scenario)
            # Let the outbox catch up (every case goes to the mediator).
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and outbox_counts(engine)["pending"]:
                await asyncio.sleep(0.2)
            results["outbox"] = outbox_counts(engine)
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios once and write results/bench-bot.json."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bot", description=__doc__)
    parser.add_argument("--villagers", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--think", type=float, default=2.0, help="seconds a villager reads and types (paced run)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "bench-bot.json")
    parser.add_argument("--model", type=Path, default=MODEL)
    args = parser.parse_args(argv)
    if not args.model.exists():
        print("no trained model: run `make train`", file=sys.stderr)
        return 1
    scenarios = [
        Scenario("paced", args.villagers, args.rounds, args.think),
        Scenario("flat_out", args.villagers, args.rounds, 0.0),
    ]
    workdir = Path(tempfile.mkdtemp(prefix="xiangyin-bench-"))
    database_url = f"sqlite:///{workdir}/bench.db"
    os.environ["DATABASE_URL"] = database_url  # this process (the bot) uses the same file
    (actions, rasa), rasa_url = servers.start(workdir, database_url, args.model)
    try:
        pids = {"rasa": rasa.pid, "actions": actions.pid}
        result = asyncio.run(run(scenarios, rasa_url, database_url, pids))
    finally:
        servers.stop([rasa, actions])
    report = {
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "cores": os.cpu_count(),
        **result,
        "note": "bot = bot + FakeBotApi + simulated villagers, one process and event loop; "
        "bot_sends_per_s counts every request into a chat (messages, edits, chat actions): "
        "Telegram allows one bot about 30 a second",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(report, ensure_ascii=False, indent=2))
    errors = sum(result[s.name]["errors"] for s in scenarios)
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
