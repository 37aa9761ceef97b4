"""Proxy petition agents (信访代办员): file for a villager, then stop.

After ``/file 姓名`` the agent's messages speak for that villager in a conversation of its
own (``agent:<agent id>:<random key>``; the name goes with each message as metadata, never in
the conversation id), and the case records both the villager and the agent who filed.
The agent's role is checked again at every message of the filing — words, buttons and files
(bot/handlers/common.py ``filing_allowed``): an agent deactivated mid-filing files nothing more.
"""

from __future__ import annotations

import re

from telegram import Update

from bot.handlers.common import FILING, FILING_ROLES, Context, reply, staff_member
from bot.identity import new_filing_key
from knowledge.frontend import say

__all__ = ["FILING_ROLES", "MAX_VILLAGER_NAME", "done_command", "file_command"]

MAX_VILLAGER_NAME = 20


async def file_command(update: Update, context: Context) -> None:
    """/file 姓名: an agent starts filing for a villager; later messages speak for them."""
    if context.user_data is None:
        return
    member = await staff_member(context, update.effective_user)
    if member is None or member.role not in FILING_ROLES:
        await reply(update, say("not_staff"))
        return
    name = re.sub(r"\s+", "", " ".join(context.args or []))[:MAX_VILLAGER_NAME]
    if not name:
        await reply(update, say("file_usage"))
        return
    context.user_data[FILING] = {"name": name, "key": new_filing_key()}
    await reply(update, say("file_started", villager=name))


async def done_command(update: Update, context: Context) -> None:
    """/done: the agent stops speaking for the villager."""
    if context.user_data is None:
        return
    filing = context.user_data.pop(FILING, None)
    name = filing.get("name") if isinstance(filing, dict) else None
    await reply(update, say("file_done", villager=name) if name else say("file_nothing"))
