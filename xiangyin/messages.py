"""Front-end texts from knowledge/frontend.yml (user-facing text is data, not code)."""

from __future__ import annotations

import functools

import yaml

from xiangyin.config import settings

REQUIRED = (
    "chat_banner",
    "chat_bye",
    "empty_message",
    "too_long",
    "server_down",
    "server_gave_up",
    "no_reply",
    "starting",
    "telegram_not_ready",
)


@functools.lru_cache(maxsize=1)
def messages() -> dict[str, str]:
    """The front-end messages; raises KeyError naming the file and a missing key."""
    path = settings().knowledge_dir / "frontend.yml"
    data = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("messages") or {}
    missing = [k for k in REQUIRED if not data.get(k)]
    if missing:
        raise KeyError(f"{path}: messages missing: {', '.join(missing)}")
    return data


@functools.lru_cache(maxsize=1)
def status_labels() -> dict[str, str]:
    """Plain words for each case status, from knowledge/frontend.yml."""
    path = settings().knowledge_dir / "frontend.yml"
    return dict((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("statuses") or {})


def status_label(status: object) -> str:
    """“已受理” for `accepted`; the code itself if the file lacks it."""
    return status_labels().get(str(status), str(status))


def say(key: str, **values: object) -> str:
    """One message, with its {placeholders} filled."""
    return messages()[key].format(**values)
