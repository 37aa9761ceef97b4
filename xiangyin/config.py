"""One place for configuration: environment variables with defaults (see README)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Deployment settings read from the environment."""

    rasa_url: str
    action_port: int
    rasa_port: int
    knowledge_dir: Path
    telegram_token: str | None
    database_url: str | None


@functools.lru_cache(maxsize=1)
def settings() -> Settings:
    """The settings of this process (read once)."""
    rasa_port = int(os.environ.get("XIANGYIN_RASA_PORT", "5005"))
    return Settings(
        rasa_url=os.environ.get("XIANGYIN_RASA_URL", f"http://127.0.0.1:{rasa_port}"),
        action_port=int(os.environ.get("XIANGYIN_ACTION_PORT", "5055")),
        rasa_port=rasa_port,
        knowledge_dir=Path(os.environ.get("XIANGYIN_KNOWLEDGE_DIR", PROJECT_ROOT / "knowledge")),
        telegram_token=os.environ.get("TELEGRAM_BOT_TOKEN") or None,
        database_url=os.environ.get("DATABASE_URL") or None,
    )
