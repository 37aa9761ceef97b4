"""Masking of what must never reach a log or a stranger: phone numbers and ID numbers.

Used wherever a villager's details are shown or logged — read-backs, staff cards,
the bot's logs and the case record's own ``Villager.phone_masked``.
"""

from __future__ import annotations

import re

__all__ = ["install_log_redaction", "mask_id_number", "mask_phone", "redact"]


def mask_phone(phone: str | None) -> str:
    """139****4321: what is read back to the villager and written to logs."""
    if not phone:
        return ""
    if len(phone) <= 7:
        return "*" * len(phone)
    return f"{phone[:3]}****{phone[-4:]}"


def mask_id_number(value: str | None) -> str:
    """5323**********0017: ID numbers are never shown or logged in full."""
    if not value:
        return ""
    return f"{value[:4]}{'*' * max(len(value) - 8, 0)}{value[-4:]}"


_ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?![0-9A-Za-z])")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d){8}(?!\d)")


def redact(text: str) -> str:
    """Text safe for logs: ID numbers and phone numbers masked."""
    if not text:
        return text
    text = _ID_NUMBER.sub(lambda m: mask_id_number(m.group(0)), text)
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(re.sub(r"\D", "", m.group(0))[-11:]), text)


def install_log_redaction() -> None:
    """Mask phone and ID numbers in every log record this process makes, whoever logs it
    (our code, Rasa, rasa_sdk, Sanic, PTB) and whatever handler writes it: the record
    factory redacts the formatted message as the record is made.  Idempotent."""
    import logging

    make = logging.getLogRecordFactory()
    if getattr(make, "redacting", False):
        return

    def redacting_record(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: leave it to logging to report
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return record

    redacting_record.redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting_record)
