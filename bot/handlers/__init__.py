"""The Telegram handlers, by audience, registered in one place (:func:`register`).

* ``villager`` — words, buttons and locations go to the assistant; ``/cases``;
* ``staff`` — ``/join``, ``/mine``, ``/case``, ``/note`` and the buttons under a case;
* ``agent`` — ``/file 姓名`` … ``/done``: filing for a villager;
* ``talk`` — 与当事人对话 between a handler and a villager, ``/end``;
* ``media`` — photos, documents, voice notes and audio as evidence (within limits);
* ``common`` — duplicates, groups (only "talk to me privately"), errors, replying.

Each handler parses the update, calls one records use case (records/api.py, off the event
loop) and renders the result.  No status rule and no SQL lives here.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.handlers import agent, common, media, staff, talk, villager

__all__ = ["register"]


def register(app: Application) -> None:
    """Add every handler to ``app`` (order matters within a group: first match wins)."""
    private = filters.ChatType.PRIVATE
    new_message = filters.UpdateType.MESSAGE  # edits are not new words for Rasa
    app.add_handler(TypeHandler(Update, common.drop_duplicate_update), group=-1)

    app.add_handler(MessageHandler(filters.ChatType.GROUPS & new_message, common.group_message))
    commands = [
        ("start", villager.start),
        ("help", villager.help_command),
        ("cases", villager.cases_command),
        ("cancel", villager.cancel_command),
        ("join", staff.join),
        ("mine", staff.mine),
        ("case", staff.case_command),
        ("note", staff.note_command),
        ("file", agent.file_command),
        ("done", agent.done_command),
        ("end", talk.end_command),
    ]
    for name, callback in commands:
        app.add_handler(CommandHandler(name, callback, filters=private & new_message))
    app.add_handler(CallbackQueryHandler(villager.rasa_button, pattern=r"^[rk]:"))
    app.add_handler(CallbackQueryHandler(staff.staff_button, pattern=r"^s:"))
    app.add_handler(
        CallbackQueryHandler(villager.location_button, pattern=rf"^{villager.LOCATION_NO}$")
    )
    app.add_handler(
        MessageHandler(
            private & new_message & filters.TEXT & ~filters.COMMAND, villager.text_message
        )
    )
    app.add_handler(
        MessageHandler(
            private & new_message & (filters.PHOTO | filters.Document.ALL | filters.VOICE | filters.AUDIO),
            media.media_message,
        )
    )
    app.add_handler(
        MessageHandler(private & new_message & filters.LOCATION, villager.location_message)
    )
    app.add_handler(
        MessageHandler(private & new_message & filters.Sticker.ALL, villager.sticker_message)
    )
    app.add_handler(MessageHandler(private & new_message, villager.unsupported_message))
    app.add_error_handler(common.on_error)
