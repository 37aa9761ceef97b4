"""`make bench`: NLU accuracy and speed, written to results/bench-nlu.json.

- route macro-F1 and dispute-type accuracy on tests/nlu_heldout (never trained on);
- model load time: `rasa run` start until it answers (TensorFlow import included);
- parse latency p50/p95 over 1,000 messages through the server's /model/parse;
- peak memory (VmHWM) of that Rasa server process;
- training time: a full `rasa train` into a temporary folder (BENCH_TRAIN=0 skips
  it and reports the last `make train` instead).
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

import requests

from xiangyin.config import PROJECT_ROOT, ensure_secret
from xiangyin.evaluate import load_labelled, score

HELDOUT = sorted((PROJECT_ROOT / "tests" / "nlu_heldout").glob("*.yml"))
RESULTS = PROJECT_ROOT / "results"
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


def accuracy(model: str) -> dict:
    """Held-out metrics, parsing in-process with a loaded Agent."""
    from rasa.core.agent import Agent

    from xiangyin.evaluate import parse_all

    examples = load_labelled(HELDOUT)
    agent = Agent.load(model)
    parses = asyncio.run(parse_all(agent, [e.text for e in examples]))
    return score(examples, parses)


def server_figures(model: str, texts: list[str]) -> dict:
    """Start `rasa run --enable-api`, time its start, parse 1,000 messages over HTTP."""
    log = (RESULTS / "bench-rasa.log").open("wb")
    started = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, "-m", "xiangyin.rasa_server", "run", "--enable-api", "--model", model,
         "--port", str(BENCH_PORT), "--endpoints", "endpoints.yml"],
        cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{BENCH_PORT}"
    try:
        while True:
            if server.poll() is not None:
                raise RuntimeError("rasa server exited; see results/bench-rasa.log")
            try:
                if requests.get(f"{url}/status", timeout=2,
                                params={"token": os.environ["XIANGYIN_SECRET"]}).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        load_seconds = time.monotonic() - started
        session = requests.Session()
        session.params = {"token": os.environ["XIANGYIN_SECRET"]}  # the API's --auth-token
        for text in texts[:20]:  # warm up (jieba dictionary, TF graph)
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
    """A full training run timed now, or the last `make train` when BENCH_TRAIN=0."""
    if os.environ.get("BENCH_TRAIN", "1") == "0":
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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="models/xiangyin.tar.gz")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    ensure_secret()  # the server's API token and channel secret, inherited by it

    metrics = accuracy(args.model)
    texts = [e.text for e in load_labelled(HELDOUT)]
    speed = server_figures(args.model, texts)
    train_s, train_how = training_seconds()
    report = {
        "heldout_files": [str(p.relative_to(PROJECT_ROOT)) for p in HELDOUT],
        "route_macro_f1": metrics["route_macro_f1"],
        "route_f1": metrics["route_f1"],
        "route_accuracy": metrics["route_accuracy"],
        "route_accuracy_top": metrics["route_accuracy_top"],
        "fallback_rate": metrics["fallback_rate"],
        "dispute_type_accuracy": metrics["dispute_type_accuracy"],
        "heldout_examples": metrics["examples"],
        **speed,
        "training_seconds": train_s,
        "training_measured_by": train_how,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (RESULTS / "bench-nlu.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
