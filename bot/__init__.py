"""乡音 on Telegram: where a villager's message enters.

bot/handlers.py (one function per handler) → bot/relay.py → Rasa's REST channel
(bot/rasa_client.py) → replies rendered by bot/render.py.  Case messages written by
records/ (outbox) are delivered by bot/delivery.py; staff work on cases through inline
buttons and commands (bot/staff_ui.py, records/services/staff.py).  bot/app.py builds the
Application; ``python -m bot`` runs it.
"""
