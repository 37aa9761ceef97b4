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
    """Deployment settings read from the environment."""

    rasa_url: str
    action_port: int
    rasa_port: int
    knowledge_dir: Path
    telegram_token: str | None
    #: The case records (and the bot's state): DATABASE_URL, default the SQLite file
    #: var/xiangyin.db.
    database_url: str
    #: Fernet keys for personal data at rest (XIANGYIN_DATA_KEY, comma-separated, the first
    #: encrypting): see records/adapters/crypto.py and README "Security and privacy".
    data_key: str = ""
    #: Shared secret of the local servers (XIANGYIN_SECRET): the REST channel's header
    #: X-Xiangyin-Secret, the action server's, and the token of Rasa's HTTP API.
    secret: str = ""
    #: Telegram webhook mode when set (public HTTPS URL Telegram posts updates to);
    #: long polling otherwise.  See bot/__main__.py.
    #: Another Bot API server (a self-hosted telegram-bot-api, or a local fake in tests),
    #: e.g. http://127.0.0.1:8081/bot — the token is appended.  Default: Telegram's.
    telegram_api_base_url: str | None = None
    telegram_api_base_file_url: str | None = None
    telegram_webhook_url: str | None = None
    #: Secret Telegram echoes in X-Telegram-Bot-Api-Secret-Token; required for webhook mode.
    telegram_webhook_secret: str | None = None
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = 8443
    #: Days before a deadline on which reminders go out (XIANGYIN_REMINDER_DAYS="3,1").
    reminder_days: tuple[int, ...] = (3, 1)
    #: How often the reminder loop looks at the deadlines, in seconds.
    reminder_interval_s: float = 3600.0
    #: Outbox dispatcher: idle poll and the first retry delay (doubling, capped at 1 h).
    outbox_idle_s: float = 1.0
    outbox_retry_base_s: float = 10.0
    #: Seconds to wait for Rasa's answer to one message.
    rasa_timeout_s: float = 30.0
    #: Where files villagers send as evidence are stored (under the case number).
    evidence_dir: Path = PROJECT_ROOT / "var" / "evidence"
    #: Evidence limits (XIANGYIN_EVIDENCE_MAX_MB, _DAILY_FILES, _DAILY_MB, _CASE_MB): a bigger
    #: file is refused before it is fetched; files and MB one person may send within 24 hours;
    #: MB one case may hold.
    evidence_max_mb: float = 20
    evidence_daily_files: int = 30
    evidence_daily_mb: float = 100
    evidence_case_mb: float = 200
    #: Speech recognition hook (bot/asr.py): an HTTP endpoint that takes a voice note's bytes
    #: and answers {"text": ...}.  None (the default): staff listen to every voice note.
    asr_url: str | None = None
    #: Local hour (county time) from which each staff member's daily digest goes out.
    digest_hour: int = 8
    #: A shared location farther than this from every known village is not guessed at.
    location_max_km: float = 15.0
    #: Messages one person may send the bot a minute (more are answered once, not relayed).
    inbound_per_minute: int = 20
    #: Bring the schema to head when a process starts (XIANGYIN_AUTO_MIGRATE=0 turns it off,
    #: for deployments that run `xiangyin cases migrate` before starting several replicas).
    auto_migrate: bool = True
    #: Days after a case is closed before ``xiangyin cases purge`` removes its personal data
    #: (XIANGYIN_PURGE_AFTER_DAYS).  None, the default: purge is off — the county decides,
    #: after its archive has kept what the archive rules require (README "Security and privacy").
    purge_after_days: int | None = None

    @property
    def bot(self) -> BotConfig:
        """What the Telegram front end needs of these settings."""
        return BotConfig(
            rasa_url=self.rasa_url,
            secret=self.secret,
            telegram_token=self.telegram_token,
            telegram_api_base_url=self.telegram_api_base_url,
            telegram_api_base_file_url=self.telegram_api_base_file_url,
            telegram_webhook_url=self.telegram_webhook_url,
            telegram_webhook_secret=self.telegram_webhook_secret,
            telegram_webhook_listen=self.telegram_webhook_listen,
            telegram_webhook_port=self.telegram_webhook_port,
            reminder_days=self.reminder_days,
            reminder_interval_s=self.reminder_interval_s,
            outbox_idle_s=self.outbox_idle_s,
            outbox_retry_base_s=self.outbox_retry_base_s,
            rasa_timeout_s=self.rasa_timeout_s,
            evidence_dir=self.evidence_dir,
            evidence_max_file_bytes=int(self.evidence_max_mb * _MB),
            evidence_daily_files=self.evidence_daily_files,
            evidence_daily_bytes=int(self.evidence_daily_mb * _MB),
            evidence_case_bytes=int(self.evidence_case_mb * _MB),
            asr_url=self.asr_url,
            digest_hour=self.digest_hour,
            location_max_km=self.location_max_km,
            inbound_per_minute=self.inbound_per_minute,
        )


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
        database_url=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
        secret=os.environ.get("XIANGYIN_SECRET", ""),
        data_key=os.environ.get("XIANGYIN_DATA_KEY", ""),
        telegram_api_base_url=os.environ.get("TELEGRAM_API_BASE_URL") or None,
        telegram_api_base_file_url=os.environ.get("TELEGRAM_API_BASE_FILE_URL") or None,
        telegram_webhook_url=os.environ.get("TELEGRAM_WEBHOOK_URL") or None,
        telegram_webhook_secret=os.environ.get("TELEGRAM_WEBHOOK_SECRET") or None,
        telegram_webhook_listen=os.environ.get("TELEGRAM_WEBHOOK_LISTEN", "127.0.0.1"),
        telegram_webhook_port=int(os.environ.get("TELEGRAM_WEBHOOK_PORT", "8443")),
        reminder_days=tuple(
            int(d) for d in os.environ.get("XIANGYIN_REMINDER_DAYS", "3,1").split(",") if d.strip()
        ),
        reminder_interval_s=float(os.environ.get("XIANGYIN_REMINDER_INTERVAL", "3600")),
        outbox_idle_s=float(os.environ.get("XIANGYIN_OUTBOX_IDLE", "1")),
        outbox_retry_base_s=float(os.environ.get("XIANGYIN_OUTBOX_RETRY_BASE", "10")),
        rasa_timeout_s=float(os.environ.get("XIANGYIN_RASA_TIMEOUT", "30")),
        evidence_dir=Path(
            os.environ.get("XIANGYIN_EVIDENCE_DIR", PROJECT_ROOT / "var" / "evidence")
        ),
        evidence_max_mb=float(os.environ.get("XIANGYIN_EVIDENCE_MAX_MB", "20")),
        evidence_daily_files=int(os.environ.get("XIANGYIN_EVIDENCE_DAILY_FILES", "30")),
        evidence_daily_mb=float(os.environ.get("XIANGYIN_EVIDENCE_DAILY_MB", "100")),
        evidence_case_mb=float(os.environ.get("XIANGYIN_EVIDENCE_CASE_MB", "200")),
        asr_url=os.environ.get("XIANGYIN_ASR_URL") or None,
        digest_hour=int(os.environ.get("XIANGYIN_DIGEST_HOUR", "8")),
        location_max_km=float(os.environ.get("XIANGYIN_LOCATION_MAX_KM", "15")),
        inbound_per_minute=int(os.environ.get("XIANGYIN_INBOUND_PER_MINUTE", "20")),
        auto_migrate=os.environ.get("XIANGYIN_AUTO_MIGRATE", "1") != "0",
        purge_after_days=int(os.environ["XIANGYIN_PURGE_AFTER_DAYS"])
        if os.environ.get("XIANGYIN_PURGE_AFTER_DAYS", "").strip()
        else None,
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
