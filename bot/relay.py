"""Relaying a villager's words to Rasa and Rasa's replies back to the chat.

Used by the handlers (a message just arrived) and by the backlog loop (a message kept while
Rasa was down).  Rules:

* the typing indicator shows while we wait for Rasa;
* if Rasa cannot be reached after the client's retries, the message goes into the relay
  backlog (database) and the villager is told it is kept — it is relayed, in order, as soon
  as Rasa answers again; while a person has a backlog, their new messages queue behind it;
  the backlog loop relays only what it claimed, and a message that keeps failing backs off
  without holding up other people's;
* replies are rendered by bot/render.py (long text split, buttons as inline keyboards).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, MutableMapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from telegram import Bot
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.rasa_client import RasaError, RasaUnavailable, Reply
from bot.render import keyboard, render_replies
from bot.runtime import worker_id
from knowledge.frontend import say

if TYPE_CHECKING:  # pragma: no cover
    from telegram.ext import Application

    from bot.runtime import BotData

__all__ = ["flush_backlog", "relay_to_rasa", "send_replies", "typing"]

log = logging.getLogger(__name__)

#: "typing…" only when the answer is not there at once: most answers come sooner, and every
#: chat action counts against Telegram's 30-requests-a-second ceiling.
TYPING_DELAY_S = 0.5
#: Telegram shows "typing…" for 5 s; renew a little before it fades.
TYPING_RENEW_S = 4.0
#: How long the reply waits for a "typing…" request still in flight.
TYPING_GRACE_S = 1.0
#: Backlog failures in a row after which a pass ends (Rasa is down, not one message).
GIVE_UP_AFTER = 3


@contextlib.asynccontextmanager
async def typing(bot: Bot, chat_id: int) -> AsyncIterator[None]:
    """Show "typing…" in the chat from TYPING_DELAY_S until the block ends (best effort)."""
    done = asyncio.Event()

    async def keep_typing() -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(done.wait(), TYPING_DELAY_S)
        while not done.is_set():
            try:
                await bot.send_chat_action(chat_id, ChatAction.TYPING)
            except TelegramError as exc:  # a 429 here must not hold up the reply
                log.debug("typing indicator failed: %s", type(exc).__name__)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(done.wait(), TYPING_RENEW_S)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        # Not cancelled at once: a chat action in flight would lose its connection half-way.
        # It has normally long finished (Rasa takes longer); a slow one is cut after 1 s.
        done.set()
        _, pending = await asyncio.wait({task}, timeout=TYPING_GRACE_S)
        for late in pending:
            late.cancel()


async def send_replies(
    bot: Bot, chat_id: int, replies: list[Reply], chat_data: MutableMapping[str, Any]
) -> int:
    """Send Rasa's replies to the chat; returns how many messages were sent."""
    outgoing = render_replies(replies, say("choose_button"))
    if not outgoing:
        await bot.send_message(chat_id, say("no_reply"))
        return 1
    for message in outgoing:
        await bot.send_message(
            chat_id, message.text, reply_markup=keyboard(message.buttons, chat_data)
        )
    return len(outgoing)


async def relay_to_rasa(
    app: Application,
    chat_id: int,
    sender: str,
    text: str,
    metadata: Mapping[str, Any],
) -> None:
    """Send one message to Rasa as ``sender`` and the replies to ``chat_id``."""
    data: BotData = app.bot_data
    parts = data.require()
    state, rasa = parts.state, parts.rasa
    chat_data = app.chat_data[chat_id]
    if await state.backlog_has(sender):
        # Earlier messages are still waiting: queue behind them to keep the order.
        await state.backlog_add(sender, chat_id, text, metadata)
        if data.backlog_kick is not None:
            data.backlog_kick.set()
        return

    async def tell_retrying() -> None:
        await app.bot.send_message(chat_id, say("server_down"))

    async with typing(app.bot, chat_id):
        try:
            replies = await rasa.send(sender, text, metadata, on_first_failure=tell_retrying)
        except (RasaUnavailable, RasaError) as exc:
            log.warning("Rasa unreachable (%s): message kept for later", type(exc).__name__)
            await state.backlog_add(sender, chat_id, text, metadata)
            await app.bot.send_message(chat_id, say("saved_for_later"))
            return
    await send_replies(app.bot, chat_id, replies, chat_data)


async def flush_backlog(app: Application, data: BotData, worker: str | None = None) -> int:
    """Relay kept messages, oldest first, as ``worker`` (default: this process); returns how
    many were relayed.

    The pass relays only what it has claimed (another bot process never relays the same
    message).  A message that fails waits, backing off, and the pass goes on to other
    people's — but not to the same person's later messages, which keep their order.  After
    GIVE_UP_AFTER failures in a row Rasa is down, not one message: the pass ends.
    """
    parts = data.require()
    state, rasa = parts.state, parts.rasa
    worker = worker or worker_id()
    # Rasa gets two time-outs per message; the lease is renewed before each one.
    lease = timedelta(seconds=rasa.timeout * 2 + 30)
    relayed = failures = 0
    blocked: set[str] = set()
    try:
        for item in await state.backlog_claim(worker, lease):
            if item.sender_id in blocked:
                continue
            await state.backlog_renew(worker, lease)
            try:
                # One attempt each pass: the loop itself is the retry.
                replies = await asyncio.wait_for(
                    rasa.send(item.sender_id, item.text, item.metadata), timeout=rasa.timeout * 2
                )
            except (RasaUnavailable, RasaError, asyncio.TimeoutError) as exc:
                log.warning("backlog item %d failed (%s): kept", item.id, type(exc).__name__)
                await state.backlog_mark_failed(item.id, worker)
                blocked.add(item.sender_id)  # their later messages wait behind this one
                failures += 1
                if failures >= GIVE_UP_AFTER:
                    break
                continue
            failures = 0
            if not await state.backlog_mark_delivered(item.id, worker):
                log.warning("backlog item %d: lease lost while relaying", item.id)
            relayed += 1
            try:
                await send_replies(app.bot, item.chat_id, replies, app.chat_data[item.chat_id])
                # Outside an update PTB does not know the chat's data changed (button payloads).
                app.mark_data_for_update_persistence(chat_ids=item.chat_id)
            except TelegramError:
                # Rasa has the message; the replies were lost on Telegram's side.  Block this
                # person for the pass so their next message is not answered out of order.
                log.exception("backlog replies to a chat failed")
                blocked.add(item.sender_id)
    finally:
        await state.backlog_release(worker)
    return relayed
