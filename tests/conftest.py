"""Shared fixtures: trackers built the way RasaHQ/financial-demo builds them."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

ROOT = Path(__file__).resolve().parent.parent

# Actions write cases: give this test run its own SQLite file, before any
# settings are read (they are cached per process).
if not os.environ.get("XIANGYIN_TEST_KEEP_DATABASE_URL"):
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='xiangyin-test-')}/cases.db"
# The servers refuse callers without the shared secret; this run has its own.
os.environ.setdefault("XIANGYIN_SECRET", secrets.token_urlsafe(24))
# Personal data is encrypted at rest; the action server this run starts inherits the key.
os.environ.setdefault("XIANGYIN_DATA_KEY", Fernet.generate_key().decode())
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def domain() -> dict:
    """The real domain.yml, as the action server receives it."""
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture(autouse=True)
def action_records():
    """The actions' dependencies, as `xiangyin actions` gives them, on an in-memory store:
    the store, to look at what an action filed."""
    from actions.common import ActionContext, configure
    from knowledge.dialogue import dialogue_words
    from records.api import AsyncRecords
    from tests.fakes import fake_records

    records, store = fake_records()
    async_records = AsyncRecords(records, workers=2)
    configure(ActionContext(async_records, records.knowledge, dialogue_words()))
    yield store
    async_records.close()


def tracker_from_fixture(name: str, **changes: Any) -> Tracker:
    """A Tracker from tests/fixtures/<name>.json, with top-level fields replaced."""
    state = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    state = copy.deepcopy(state)
    for key, value in changes.items():
        if key == "slots":
            state["slots"].update(value)
        else:
            state[key] = value
    return Tracker.from_dict(state)


def message(text: str, intent: str, confidence: float = 0.95, entities: list | None = None) -> dict:
    """A latest_message as the Rasa server sends it to the action server."""
    return {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": intent, "confidence": confidence}],
        "entities": entities or [],
    }


def in_form(form: str, requested: str, text: str, intent: str = "inform", confidence: float = 0.9,
            entities: list | None = None, earlier: tuple[str, ...] = (), **slots: Any) -> Tracker:
    """A tracker inside `form`, which has just asked for `requested`; the villager has just
    answered `text` (after saying `earlier`)."""
    latest = message(text, intent, confidence, entities)
    events = []
    for said in (*earlier, text):
        events += [{"event": "action", "name": "action_listen"},
                   {"event": "user", "text": said, "parse_data": message(said, intent, confidence, entities)}]
    return tracker_from_fixture(
        "tracker_in_form",
        active_loop={"name": form},
        latest_message=latest,
        events=events,
        slots={"requested_slot": requested, **slots},
    )


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    """Names of the domain responses the action sent."""
    return [m.get("response") for m in dispatcher.messages]


def slot_events(events: list[dict]) -> dict:
    """The slots an action set: {name: value}."""
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


# --- the real servers, started once per test session -------------------------

RASA_TEST_PORT = 5096


@pytest.fixture(scope="session")
def running_actions():
    """The real action server on the port endpoints.yml names (5055)."""
    from tests.servers import MODEL, action_server

    if not MODEL.exists():
        pytest.skip("no trained model: run `make test`")
    with action_server() as process:
        yield process


@pytest.fixture(scope="session")
def rasa_url(running_actions):
    """Base URL of a real Rasa server (trained model, REST channel, --enable-api)."""
    from tests.servers import rasa_server

    with rasa_server(RASA_TEST_PORT) as url:
        yield url


# --- PostgreSQL: a schema of its own per test ----------------------------------------------

from sqlalchemy import create_engine  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402


def _reachable_postgres() -> str | None:
    configured = os.environ.get("XIANGYIN_TEST_POSTGRES_URL")
    candidates = (
        [configured]
        if configured
        else [f"postgresql+psycopg2://{user}@127.0.0.1:5432/test" for user in ("postgres", "root")]
    )
    for url in candidates:
        probe = create_engine(url, future=True)
        try:
            with probe.connect():
                return url
        except OperationalError:
            continue
        finally:
            probe.dispose()
    return None


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = _reachable_postgres()
    if url is None:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (database test)")
    return url


def postgres_schema(url: str) -> contextlib.AbstractContextManager[Engine]:
    """An engine whose search_path is a fresh schema, migrated; the schema is dropped after."""
    from records.adapters.database import scratch_schema
    from xiangyin.commands.database import upgrade

    return scratch_schema(url, "xiangyin_test", pool_size=25, max_overflow=10, prepare=upgrade)


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    """PostgreSQL only, for behaviour SQLite's single writer cannot show."""
    with postgres_schema(postgres_url) as pg:
        yield pg
