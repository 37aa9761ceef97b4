"""One place for configuration: environment variables with defaults (see README)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from bot.config import BotConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Where the cases live when DATABASE_URL is not set (the folder is made on first use).
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'xiangyin.db'}"
_MB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Deployment settings read from the environment: the processes' own, and the Telegram
    front end's (``bot``, one BotConfig: every bot setting is declared there, once)."""

    action_port: int
    rasa_port: int
    knowledge_dir: Path
    #: The case records (and the bot's state): DATABASE_URL, default the SQLite file
    #: var/xiangyin.db.
    database_url: str
    #: What the Telegram front end is told (bot/config.py), the Rasa URL and the secret included.
    bot: BotConfig
    #: Fernet keys for personal data at rest (XIANGYIN_DATA_KEY, comma-separated, the first
    #: encrypting): see records/adapters/crypto.py and README "Security and privacy".
    data_key: str = ""
    #: Bring the schema to head when a process starts (XIANGYIN_AUTO_MIGRATE=0 turns it off,
    #: for deployments that run `xiangyin cases migrate` before starting several replicas).
    auto_migrate: bool = True
    #: Days after a case is closed before ``xiangyin cases purge`` removes its personal data
    #: (XIANGYIN_PURGE_AFTER_DAYS).  None, the default: purge is off — the county decides,
    #: after its archive has kept what the archive rules require (README "Security and privacy").
    purge_after_days: int | None = None

    @property
    def rasa_url(self) -> str:
        return self.bot.rasa_url

    @property
    def secret(self) -> str:
        """Shared secret of the local servers (XIANGYIN_SECRET): the REST channel's header
        X-Xiangyin-Secret, the action server's, and the token of Rasa's HTTP API."""
        return self.bot.secret

    @property
    def telegram_token(self) -> str | None:
        return self.bot.telegram_token


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _bot_config(rasa_port: int) -> BotConfig:
    """The bot's settings from the environment (README "Configuration")."""
    return BotConfig(
        rasa_url=_env("XIANGYIN_RASA_URL", f"http://127.0.0.1:{rasa_port}"),
        secret=_env("XIANGYIN_SECRET"),
        telegram_token=_env("TELEGRAM_BOT_TOKEN") or None,
        telegram_api_base_url=_env("TELEGRAM_API_BASE_URL") or None,
        telegram_api_base_file_url=_env("TELEGRAM_API_BASE_FILE_URL") or None,
        telegram_webhook_url=_env("TELEGRAM_WEBHOOK_URL") or None,
        telegram_webhook_secret=_env("TELEGRAM_WEBHOOK_SECRET") or None,
        telegram_webhook_listen=_env("TELEGRAM_WEBHOOK_LISTEN", "127.0.0.1"),
        telegram_webhook_port=int(_env("TELEGRAM_WEBHOOK_PORT", "8443")),
        reminder_days=tuple(
            int(d) for d in _env("XIANGYIN_REMINDER_DAYS", "3,1").split(",") if d.strip()
        ),
        reminder_interval_s=float(_env("XIANGYIN_REMINDER_INTERVAL", "3600")),
        outbox_idle_s=float(_env("XIANGYIN_OUTBOX_IDLE", "1")),
        outbox_retry_base_s=float(_env("XIANGYIN_OUTBOX_RETRY_BASE", "10")),
        rasa_timeout_s=float(_env("XIANGYIN_RASA_TIMEOUT", "30")),
        evidence_dir=Path(_env("XIANGYIN_EVIDENCE_DIR", str(PROJECT_ROOT / "var" / "evidence"))),
        evidence_max_file_bytes=int(float(_env("XIANGYIN_EVIDENCE_MAX_MB", "20")) * _MB),
        evidence_daily_files=int(_env("XIANGYIN_EVIDENCE_DAILY_FILES", "30")),
        evidence_daily_bytes=int(float(_env("XIANGYIN_EVIDENCE_DAILY_MB", "100")) * _MB),
        evidence_case_bytes=int(float(_env("XIANGYIN_EVIDENCE_CASE_MB", "200")) * _MB),
        asr_url=_env("XIANGYIN_ASR_URL") or None,
        digest_hour=int(_env("XIANGYIN_DIGEST_HOUR", "8")),
        location_max_km=float(_env("XIANGYIN_LOCATION_MAX_KM", "15")),
        inbound_per_minute=int(_env("XIANGYIN_INBOUND_PER_MINUTE", "20")),
    )


@functools.lru_cache(maxsize=1)
def settings() -> Settings:
    """The settings of this process (read once)."""
    rasa_port = int(_env("XIANGYIN_RASA_PORT", "5005"))
    purge = _env("XIANGYIN_PURGE_AFTER_DAYS").strip()
    return Settings(
        action_port=int(_env("XIANGYIN_ACTION_PORT", "5055")),
        rasa_port=rasa_port,
        knowledge_dir=Path(_env("XIANGYIN_KNOWLEDGE_DIR", str(PROJECT_ROOT / "knowledge"))),
        database_url=_env("DATABASE_URL") or DEFAULT_DATABASE_URL,
        bot=_bot_config(rasa_port),
        data_key=_env("XIANGYIN_DATA_KEY"),
        auto_migrate=_env("XIANGYIN_AUTO_MIGRATE", "1") != "0",
        purge_after_days=int(purge) if purge else None,
    )


def ensure_data_key() -> str:
    """XIANGYIN_DATA_KEY, made up for this run when it is not set — only for `make run`'s
    playground, whose database is thrown away with it; a deployment sets its own and keeps
    it (without it nothing stored can be read)."""
    from cryptography.fernet import Fernet

    if not os.environ.get("XIANGYIN_DATA_KEY"):
        os.environ["XIANGYIN_DATA_KEY"] = Fernet.generate_key().decode()
        settings.cache_clear()
    return os.environ["XIANGYIN_DATA_KEY"]


def ensure_secret() -> str:
    """XIANGYIN_SECRET, made up for this run (and its children) when it is not set.

    `make run` calls this before starting anything, so a newcomer needs no configuration;
    a deployment sets its own (README "Security and privacy").
    """
    import secrets

    if not os.environ.get("XIANGYIN_SECRET"):
        os.environ["XIANGYIN_SECRET"] = secrets.token_urlsafe(32)
        settings.cache_clear()
    return os.environ["XIANGYIN_SECRET"]
