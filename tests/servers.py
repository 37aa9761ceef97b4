"""Start the project's real servers for tests: the action server and Rasa."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import requests

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "xiangyin.tar.gz"
ACTION_PORT = 5055  # endpoints.yml points Rasa here
LOGS = ROOT / "results" / "test-logs"


def secret_headers() -> dict[str, str]:
    """The header the REST channel and the action server ask for."""
    from bot.config import SECRET_HEADER

    return {SECRET_HEADER: os.environ["XIANGYIN_SECRET"]}


def api_token() -> dict[str, str]:
    """Query parameters for Rasa's HTTP API (its --auth-token is the shared secret)."""
    return {"token": os.environ["XIANGYIN_SECRET"]}


def wait_for(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    """Poll `url` until it answers 200; fail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {process.returncode}; see {LOGS}")
        try:
            if requests.get(url, timeout=2, params=api_token()).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group; SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def spawn(name: str, args: list[str], env: dict | None = None) -> subprocess.Popen:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = (LOGS / f"{name}.log").open("ab")
    return subprocess.Popen(
        args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, **(env or {})},
    )


@contextmanager
def action_server(env: dict | None = None, port: int = ACTION_PORT) -> Iterator[subprocess.Popen]:
    """The real action server (rasa_sdk) on `port`."""
    process = spawn("actions", [sys.executable, "-m", "xiangyin", "actions", "--port", str(port)], env)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process)
        yield process
    finally:
        stop(process)


@contextmanager
def rasa_server(port: int, env: dict | None = None, endpoints: str = "endpoints.yml") -> Iterator[str]:
    """The real Rasa server with the trained model and the REST channel; yields its URL."""
    process = spawn("rasa", [sys.executable, "-m", "nlu_components.server", "run", "--enable-api", "--model", str(MODEL),
                             "--port", str(port), "--credentials", "credentials.yml",
                             "--endpoints", endpoints], env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/status", process)
        yield url
    finally:
        stop(process)
