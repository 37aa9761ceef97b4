"""What the Telegram front end is told where it starts (the command line reads it from the
environment: xiangyin/settings.py, README "Configuration")."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SECRET_HEADER", "BotConfig"]

#: The header that carries XIANGYIN_SECRET to the Rasa server's REST channel (its name is
#: also in credentials.yml and endpoints.yml, which configure the two servers).
SECRET_HEADER = "X-Xiangyin-Secret"


@dataclass(frozen=True)
class BotConfig:
    """The bot's settings; every field has the README's default."""

    #: The Rasa server's REST channel, and the shared secret it asks for.
    rasa_url: str = "http://127.0.0.1:5005"
    secret: str = ""
    telegram_token: str | None = None
    #: Another Bot API server (a self-hosted telegram-bot-api, or a local fake in tests),
    #: e.g. http://127.0.0.1:8081/bot — the token is appended.  Default: Telegram's.
    telegram_api_base_url: str | None = None
    telegram_api_base_file_url: str | None = None
    #: Webhook mode when set (public HTTPS URL Telegram posts updates to); long polling
    #: otherwise.  The secret Telegram echoes in X-Telegram-Bot-Api-Secret-Token is required.
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = 8443
    #: Days before a deadline on which reminders go out.
    reminder_days: tuple[int, ...] = (3, 1)
    #: How often the reminder loop looks at the deadlines, in seconds.
    reminder_interval_s: float = 3600.0
    #: Outbox dispatcher: idle poll and the first retry delay (doubling, capped at 1 h).
    outbox_idle_s: float = 1.0
    outbox_retry_base_s: float = 10.0
    #: Seconds to wait for Rasa's answer to one message.
    rasa_timeout_s: float = 30.0
    #: Where files villagers send as evidence are stored (under the case number).
    evidence_dir: Path = field(default_factory=lambda: Path("var") / "evidence")
    #: Evidence limits: a bigger file is refused before it is fetched; each person may send
    #: so many files and bytes within 24 hours, and one case holds so many bytes.
    evidence_max_file_bytes: int = 20 * 1024 * 1024
    evidence_daily_files: int = 30
    evidence_daily_bytes: int = 100 * 1024 * 1024
    evidence_case_bytes: int = 200 * 1024 * 1024
    #: Speech recognition hook (bot/asr.py); None: staff listen to every voice note.
    asr_url: str | None = None
    #: County hour from which each staff member's daily digest goes out.
    digest_hour: int = 8
    #: A shared location farther than this from every known village is not guessed at.
    location_max_km: float = 15.0
    #: Messages one person may send a minute; beyond it they are told once, kindly, and the
    #: extra messages are not relayed (a flood must not crowd out everyone else).
    inbound_per_minute: int = 20
