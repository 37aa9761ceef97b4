"""The real action server and Rasa (with its HTTP API, behind the shared secret) on free ports
and a database of their own, for the benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from xiangyin.settings import PROJECT_ROOT, ensure_data_key, ensure_secret

RESULTS = PROJECT_ROOT / "results"
MODEL = PROJECT_ROOT / "models" / "xiangyin.tar.gz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, process: subprocess.Popen, params: dict | None = None, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited ({process.returncode}); see results/bench-logs")
        try:
            if requests.get(url, timeout=2, params=params).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise TimeoutError(url)


def start(workdir: Path, database_url: str, model: Path = MODEL) -> tuple[list[subprocess.Popen], str]:
    """Both servers on free ports; returns the processes and Rasa's URL."""
    secret = ensure_secret()
    ensure_data_key()  # the bench's own database, thrown away with its key (unless one is set)
    logs = RESULTS / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    action_port, rasa_port = free_port(), free_port()
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(
        f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n'
        "  headers:\n    X-Xiangyin-Secret: ${XIANGYIN_SECRET}\n"
    )
    env = {**os.environ, "DATABASE_URL": database_url, "TF_CPP_MIN_LOG_LEVEL": "2"}

    def spawn(name: str, args: list[str]) -> subprocess.Popen:
        return subprocess.Popen(args, cwd=PROJECT_ROOT, env=env, start_new_session=True,
                                stdout=(logs / f"{name}.log").open("ab"), stderr=subprocess.STDOUT)

    actions = spawn("actions", [sys.executable, "-m", "xiangyin", "actions", "--port", str(action_port)])
    rasa = spawn("rasa", [sys.executable, "-m", "nlu_components.server", "run", "--enable-api",
                          "--model", str(model), "--port", str(rasa_port),
                          "--credentials", "credentials.yml", "--endpoints", str(endpoints)])
    url = f"http://127.0.0.1:{rasa_port}"
    wait_up(f"http://127.0.0.1:{action_port}/health", actions)
    wait_up(f"{url}/status", rasa, params={"token": secret})
    return [actions, rasa], url


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
