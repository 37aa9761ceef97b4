"""`make bench`: how well and how fast messages are understood → results/bench-nlu.json.

Reported from data the model never saw, per register (tests/nlu_eval/test/, written by writers
who wrote no training data, never used for a choice), beside the DEV sets that guided the
choices and the older held-out set (tests/nlu_heldout/):

- route accuracy (the parse's top intent is the labelled route; a fallback counts as wrong)
  and macro-F1; dispute-type accuracy;
- the clarifying-question rate: route messages whose ranking makes the dialogue ask "您是想…，
  还是想…？" (knowledge/dialogue.yml ``clarify_margin``), and how often the labelled route is
  one of the two offered;
- short answers (acts.yml): the top intent is the labelled dialogue act;
- emergencies (emergency.yml): recall, and false alarms over the look-alikes and over all
  messages that are not emergencies;
- speed: model load (`rasa run` start → answering), parse p50/p95 over 1,000 messages through
  /model/parse, peak memory; the training time of the last `make train` (BENCH_TRAIN=1 times a
  fresh one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import requests
import yaml

from knowledge.dialogue import dialogue_words
from xiangyin.settings import PROJECT_ROOT, ensure_secret
from nlu_components.evaluate import Labelled, load_labelled, score

EVAL = PROJECT_ROOT / "tests" / "nlu_eval"
HELDOUT = sorted((PROJECT_ROOT / "tests" / "nlu_heldout").glob("*.yml"))
RESULTS = PROJECT_ROOT / "results"
REGISTERS = ("board", "legal", "voice", "dialect")
BENCH_PORT = 5095
PARSES = 1000


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by nearest rank."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a process and its children, in MiB (Linux /proc)."""
    total = 0.0
    pids = [pid] + [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except FileNotFoundError:
            pass
    return round(total, 1)


def route_figures(examples: Sequence[Labelled], parses: Sequence[dict]) -> dict:
    """score() plus the clarifying-question rate and what it would fix."""
    report = score(examples, parses)
    words = dialogue_words()
    routed = [(e, p) for e, p in zip(examples, parses) if e.intent in ("petition", "mediation", "legal_aid", "service")]
    asked = [(e, p, words.close_routes(p.get("intent_ranking") or [])) for e, p in routed]
    asked = [(e, p, c) for e, p, c in asked if c]
    wrong = [(e, p) for e, p in routed if (p.get("intent") or {}).get("name") != e.intent]
    report["clarify_rate"] = round(len(asked) / max(len(routed), 1), 4)
    report["clarify_offers_the_right_route"] = round(
        sum(e.intent in c for e, _, c in asked) / max(len(asked), 1), 4)
    # Right after the question: the top route when sure, the villager's pick when asked.
    report["route_accuracy_after_question"] = round(
        (sum((p.get("intent") or {}).get("name") == e.intent for e, p in routed
             if not words.close_routes(p.get("intent_ranking") or []))
         + sum(e.intent in c for e, _, c in asked)) / max(len(routed), 1), 4)
    report["wrong_routes_asked_about"] = sum(
        1 for e, p in wrong if words.close_routes(p.get("intent_ranking") or []))
    report["route_misses"] = report["route_misses"][:15]
    report["dispute_misses"] = report["dispute_misses"][:15]
    return report


def act_figures(examples: Sequence[Labelled], parses: Sequence[dict]) -> dict:
    hits = [(p.get("intent") or {}).get("name") == e.intent for e, p in zip(examples, parses)]
    return {"examples": len(examples), "accuracy": round(sum(hits) / max(len(hits), 1), 4)}


def emergency_rows(path: Path) -> list[dict]:
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("emergency_examples") or []


def emergency_figures(rows: Sequence[dict], parses: Sequence[dict]) -> dict:
    flagged = [any(e.get("entity") == "emergency" for e in p.get("entities") or []) for p in parses]
    danger = [f for r, f in zip(rows, flagged) if r["emergency"]]
    safe = [(r, f) for r, f in zip(rows, flagged) if not r["emergency"]]
    lookalikes = [f for r, f in safe if r.get("kind") != "ordinary"]
    return {
        "emergencies": len(danger),
        "not_emergencies": len(safe),
        "look_alikes": len(lookalikes),
        "recall": round(sum(danger) / max(len(danger), 1), 4),
        "false_alarm_rate": round(sum(f for _, f in safe) / max(len(safe), 1), 4),
        "false_alarm_rate_look_alikes": round(sum(lookalikes) / max(len(lookalikes), 1), 4),
        "missed": [r["text"][:60] for r, f in zip(rows, flagged) if r["emergency"] and not f][:10],
        "false_alarms": [r["text"][:60] for r, f in safe if f][:10],
    }


def accuracy(model: str) -> dict:
    """Every evaluation set, parsed in-process with a loaded Agent."""
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # not one debug line per parsed message
    agent = Agent.load(model)

    async def parse_all(texts: Sequence[str]) -> list[dict]:
        return [await agent.parse_message(t) for t in texts]

    def parse(texts: Sequence[str]) -> list[dict]:
        return asyncio.run(parse_all(texts))

    report: dict[str, Any] = {}
    for split in ("test", "dev"):
        figures: dict[str, Any] = {}
        for register in REGISTERS:
            examples = load_labelled([EVAL / split / f"{register}.yml"])
            figures[register] = route_figures(examples, parse([e.text for e in examples]))
        acts = load_labelled([EVAL / split / "acts.yml"])
        figures["acts"] = act_figures(acts, parse([e.text for e in acts]))
        rows = emergency_rows(EVAL / split / "emergency.yml")
        figures["emergency"] = emergency_figures(rows, parse([r["text"] for r in rows]))
        report[split] = figures
    heldout = load_labelled(HELDOUT)
    report["heldout"] = route_figures(heldout, parse([e.text for e in heldout]))
    return report


def server_figures(model: str, texts: list[str]) -> dict:
    """Start `rasa run --enable-api`, time its start, parse 1,000 messages over HTTP."""
    log = (RESULTS / "bench-rasa.log").open("wb")
    token = {"token": os.environ["XIANGYIN_SECRET"]}  # the API's --auth-token
    started = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, "-m", "nlu_components.server", "run", "--enable-api", "--model", model,
         "--port", str(BENCH_PORT), "--endpoints", "endpoints.yml"],
        cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{BENCH_PORT}"
    try:
        while True:
            if server.poll() is not None:
                raise RuntimeError("rasa server exited; see results/bench-rasa.log")
            try:
                if requests.get(f"{url}/status", timeout=2, params=token).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        load_seconds = time.monotonic() - started
        session = requests.Session()
        session.params = token
        for text in texts[:20]:  # warm up (jieba dictionary)
            session.post(f"{url}/model/parse", json={"text": text}, timeout=30)
        latencies = []
        for i in range(PARSES):
            text = texts[i % len(texts)]
            t0 = time.perf_counter()
            response = session.post(f"{url}/model/parse", json={"text": text}, timeout=30)
            latencies.append((time.perf_counter() - t0) * 1000)
            response.raise_for_status()
        return {
            "model_load_seconds": round(load_seconds, 1),
            "parse_ms_p50": round(statistics.median(latencies), 1),
            "parse_ms_p95": round(percentile(latencies, 95), 1),
            "parses": PARSES,
            "rasa_server_peak_rss_mb": peak_rss_mb(server.pid),
        }
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def training_seconds() -> tuple[float | None, str]:
    """A full training run timed now (BENCH_TRAIN=1), or the last `make train`."""
    if os.environ.get("BENCH_TRAIN", "0") != "1":
        last = RESULTS / "train-time.json"
        value = json.loads(last.read_text())["training_seconds"] if last.exists() else None
        return value, "last make train"
    out = Path(tempfile.mkdtemp(prefix="xiangyin-train-"))
    try:
        t0 = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "rasa", "train", "--data", "nlu_data", "--config", "config.yml",
             "--domain", "domain.yml", "--out", str(out), "--force", "--quiet"],
            cwd=PROJECT_ROOT, check=True, stdout=subprocess.DEVNULL,
        )
        return round(time.monotonic() - t0, 1), "full rasa train --force, measured by make bench"
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/xiangyin.tar.gz")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    ensure_secret()  # the server's API token and channel secret, inherited by it

    figures = accuracy(args.model)
    texts = [e.text for r in REGISTERS for e in load_labelled([EVAL / "test" / f"{r}.yml"])]
    speed = server_figures(args.model, texts)
    train_s, train_how = training_seconds()
    report = {
        **figures,
        **speed,
        "training_seconds": train_s,
        "training_measured_by": train_how,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    (RESULTS / "bench-nlu.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    summary = {split: {k: (v.get("route_accuracy") or v.get("accuracy") or v.get("recall"))
                       for k, v in report[split].items()} for split in ("test", "dev")}
    print(json.dumps({**summary, **speed}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
