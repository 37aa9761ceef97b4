"""`make run`: start the action server and the Rasa server, then the chat.

Without TELEGRAM_BOT_TOKEN: the terminal playground (playground/terminal.py) — the real bot on
a local Bot API server, where one can be the villager, the mediator and the agent in turn.  With it: the Telegram bot
(``xiangyin bot``: long polling, or webhook mode with TELEGRAM_WEBHOOK_URL and
TELEGRAM_WEBHOOK_SECRET — see xiangyin/commands/serve.py), which also runs the outbox dispatcher and
the reminder loop; its log is logs/bot.log.

Ctrl-C (or leaving the chat) stops everything this started: each child runs in
its own process group and gets SIGTERM, then SIGKILL if it does not go.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from xiangyin.settings import PROJECT_ROOT, ensure_data_key, ensure_secret, settings
from knowledge.frontend import say

START_TIMEOUT_S = 180


def _spawn(args: list[str], log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("ab")
    return subprocess.Popen(
        args, cwd=PROJECT_ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def start_servers(model: str) -> list[subprocess.Popen]:
    """Start the action server and the Rasa server; return the processes."""
    python = sys.executable
    logs = PROJECT_ROOT / "logs"
    actions = _spawn(
        [python, "-m", "xiangyin", "actions", "--port", str(settings().action_port)],
        logs / "actions.log",
    )
    rasa = _spawn(
        [
            python, "-m", "nlu_components.server", "run",
            "--model", model,
            "--port", str(settings().rasa_port),
            "--credentials", "credentials.yml",
            "--endpoints", "endpoints.yml",
        ],
        logs / "rasa.log",
    )
    return [actions, rasa]


def wait_until_up(url: str, processes: list[subprocess.Popen], timeout: float = START_TIMEOUT_S) -> bool:
    """Poll `url` until it answers; False if a process died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            return False
        try:
            if requests.get(url, timeout=2).ok:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.5)
    return False


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each process group, then SIGKILL what is left after 10 s."""
    for process in processes:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 10
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def use_playground_database() -> str:
    """The terminal playground's own database, for every process `make run` starts: a new
    SQLite file under a temporary folder, so that its made-up staff and cases never mix with
    the real ones (and a new run does not meet the last run's update ids)."""
    import tempfile

    folder = tempfile.mkdtemp(prefix="xiangyin-playground-")
    os.environ["DATABASE_URL"] = f"sqlite:///{folder}/playground.db"
    os.environ["XIANGYIN_EVIDENCE_DIR"] = f"{folder}/evidence"
    settings.cache_clear()
    return os.environ["DATABASE_URL"]


def run_all(model: str) -> int:
    """Start everything, chat in the terminal, and stop everything on exit."""
    print(say("starting"))
    ensure_secret()  # before the children start: they inherit it
    if not settings().telegram_token:
        use_playground_database()
        ensure_data_key()  # the playground's own database, thrown away with its key
    processes = start_servers(model)
    try:
        base = settings().rasa_url
        action_health = f"http://127.0.0.1:{settings().action_port}/health"
        if not (wait_until_up(action_health, processes) and wait_until_up(base + "/", processes)):
            print("could not start the assistant; see logs/rasa.log and logs/actions.log", file=sys.stderr)
            return 1
        if settings().telegram_token:
            return run_telegram(processes)
        return run_playground(base)
    except KeyboardInterrupt:
        return 0
    finally:
        stop(processes)


def run_playground(rasa_url: str) -> int:
    """The terminal playground: the real bot on the local Bot API server (playground/terminal.py);
    its log goes to logs/playground.log so that the terminal shows only the conversation."""
    import asyncio
    import dataclasses
    import logging

    from playground.terminal import play
    from records.adapters.crypto import Cipher
    from xiangyin.commands.database import open_database, open_records

    log_file = PROJECT_ROOT / "logs" / "playground.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    from records.domain.redaction import install_log_redaction

    install_log_redaction()
    logging.basicConfig(
        filename=log_file, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    config = settings()
    engine = open_database(config)
    try:
        bot = dataclasses.replace(config.bot, rasa_url=rasa_url)
        records = open_records(config, engine)
        return asyncio.run(play(bot, records, engine, Cipher(config.data_key)))
    finally:
        engine.dispose()


def run_telegram(processes: list[subprocess.Popen]) -> int:
    """Start the Telegram bot beside the servers and wait until Ctrl-C or a child dies."""
    bot = _spawn([sys.executable, "-m", "xiangyin", "bot"], PROJECT_ROOT / "logs" / "bot.log")
    processes.append(bot)
    print(say("telegram_running"))
    while all(p.poll() is None for p in processes):
        time.sleep(1)
    print("a server stopped; see logs/bot.log, logs/rasa.log and logs/actions.log", file=sys.stderr)
    return 1
