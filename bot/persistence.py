"""The bot's conversation state in the database: python-telegram-bot's user and chat data.

What the handlers keep between updates — the long button payloads of a chat (bot/render.py),
an agent's /file mode, the question the bot asked a staff member — lives in PTB's
``user_data`` / ``chat_data``.  :class:`DatabasePersistence` is a PTB ``BasePersistence`` that
stores both as JSON rows of ``bot_state`` (bot/state_store.py), so a restarted bot, or a second
replica behind a webhook, carries on where the last one stopped.

PTB loads everything once at start and writes what changed every ``update_interval`` seconds
and on shutdown; a crash loses at most that interval of *this* state (never a case: cases,
messages and reminders are written by records/ at once).  Values must be JSON: lists come
back for tuples.
"""

from __future__ import annotations

from collections import defaultdict
from copy import deepcopy
from typing import Any

from telegram.ext import BasePersistence, PersistenceInput

from bot.state_store import BotStateStore

__all__ = ["DatabasePersistence"]

USER, CHAT = "user", "chat"
#: Seconds between PTB's writes of changed state (its default is 60).
UPDATE_INTERVAL_S = 5.0


class DatabasePersistence(BasePersistence[dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """User and chat data in ``bot_state``; bot data, callback data and conversations are not
    kept (the bot uses none of them)."""

    def __init__(self, store: BotStateStore, update_interval: float = UPDATE_INTERVAL_S) -> None:
        super().__init__(
            store_data=PersistenceInput(
                bot_data=False, chat_data=True, user_data=True, callback_data=False
            ),
            update_interval=update_interval,
        )
        self.store = store

    # -- reading --------------------------------------------------------------------------

    async def get_user_data(self) -> dict[int, dict[Any, Any]]:
        return defaultdict(dict, await self.store.load_state(USER))

    async def get_chat_data(self) -> dict[int, dict[Any, Any]]:
        return defaultdict(dict, await self.store.load_state(CHAT))

    async def get_bot_data(self) -> dict[Any, Any]:
        return {}

    async def get_callback_data(self) -> None:
        return None

    async def get_conversations(self, name: str) -> dict[Any, Any]:
        return {}

    # -- writing --------------------------------------------------------------------------

    async def update_user_data(self, user_id: int, data: dict[Any, Any]) -> None:
        await self.store.save_state(USER, user_id, deepcopy(data))

    async def update_chat_data(self, chat_id: int, data: dict[Any, Any]) -> None:
        await self.store.save_state(CHAT, chat_id, deepcopy(data))

    async def drop_user_data(self, user_id: int) -> None:
        await self.store.drop_state(USER, user_id)

    async def drop_chat_data(self, chat_id: int) -> None:
        await self.store.drop_state(CHAT, chat_id)

    async def update_bot_data(self, data: dict[Any, Any]) -> None:
        return None

    async def update_callback_data(self, data: Any) -> None:
        return None

    async def update_conversation(self, name: str, key: Any, new_state: object | None) -> None:
        return None

    async def refresh_user_data(self, user_id: int, user_data: dict[Any, Any]) -> None:
        return None

    async def refresh_chat_data(self, chat_id: int, chat_data: dict[Any, Any]) -> None:
        return None

    async def refresh_bot_data(self, bot_data: dict[Any, Any]) -> None:
        return None

    async def flush(self) -> None:
        return None
