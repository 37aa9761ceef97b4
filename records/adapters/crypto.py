"""Personal data encrypted at rest: names, phone numbers, the villager's own words (where ID
numbers and addresses are), notes and appointment places.

Fernet (AES-128-CBC with HMAC-SHA256, from the ``cryptography`` package) under the keys in
XIANGYIN_DATA_KEY: a comma-separated list of Fernet keys, the first encrypting, all of them
decrypting — so a key is rotated by putting the new one first, running ``xiangyin cases
rekey`` (which rewrites every row under the first key), then dropping the old one.

A stored value is ``enc1:<token>``.  A value without the prefix is plaintext written before
encryption was switched on: it is read as it is, and ``rekey`` encrypts it.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["ENCRYPTED", "PREFIX", "Cipher", "DataKeyError", "new_key", "rekey"]

PREFIX = "enc1:"


class DataKeyError(ValueError):
    """XIANGYIN_DATA_KEY is missing or not a list of Fernet keys, or a value was encrypted
    under a key that is no longer in the list."""


def new_key() -> str:
    """A fresh Fernet key (``xiangyin cases new-key`` prints one)."""
    return Fernet.generate_key().decode()


class Cipher:
    """Encrypts and decrypts the personal fields of the case records."""

    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in (keys or "").split(",") if k.strip()]
        if not parts:
            raise DataKeyError(
                "XIANGYIN_DATA_KEY is not set: personal data is never stored in clear "
                "(make one with `xiangyin cases new-key`)"
            )
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])
        except ValueError as exc:
            raise DataKeyError(f"XIANGYIN_DATA_KEY: not a Fernet key ({exc})") from None

    def encrypt(self, value: str | None) -> str | None:
        if value is None:
            return None
        return PREFIX + self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, stored: str | None) -> str | None:
        if stored is None or not stored.startswith(PREFIX):
            return stored  # plaintext from before encryption (``rekey`` encrypts it)
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise DataKeyError(
                "a stored value was encrypted under a key not in XIANGYIN_DATA_KEY"
            ) from None

    def encrypt_json(self, value: Any) -> str | None:
        return None if value is None else self.encrypt(json.dumps(value, ensure_ascii=False))

    def decrypt_json(self, stored: Any) -> Any:
        if stored is None or isinstance(stored, (dict, list)):
            return stored  # a JSON column read before the type changed (tests, old rows)
        text = self.decrypt(str(stored))
        return json.loads(text) if text else None

    def rotate(self, stored: str | None) -> str | None:
        """The value under the first key (plaintext is encrypted)."""
        if stored is None:
            return None
        if not stored.startswith(PREFIX):
            return self.encrypt(stored)
        return PREFIX + self._fernet.rotate(stored[len(PREFIX) :].encode("ascii")).decode("ascii")


#: The encrypted columns: (table, primary key, columns).
ENCRYPTED = (
    ("cases", "id", ("villager_name", "villager_phone", "facts")),
    ("case_events", "id", ("details",)),
    ("case_notes", "id", ("text",)),
    ("case_sessions", "id", ("details",)),
    ("outbox", "id", ("payload",)),
)


def rekey(engine: Any, cipher: Cipher, batch: int = 500) -> int:
    """Rewrite every encrypted value under the cipher's first key (plaintext written before
    encryption is encrypted on the way); how many rows changed.  Safe to run again."""
    from sqlalchemy import text

    changed = 0
    for table, key, columns in ENCRYPTED:
        last = 0
        while True:
            with engine.begin() as conn:
                rows = conn.execute(
                    text(
                        f"SELECT {key}, {', '.join(columns)} FROM {table} "
                        f"WHERE {key} > :last ORDER BY {key} LIMIT :n"
                    ),
                    {"last": last, "n": batch},
                ).all()
                for row in rows:
                    values = {c: cipher.rotate(getattr(row, c)) for c in columns}
                    conn.execute(
                        text(
                            f"UPDATE {table} SET "
                            + ", ".join(f"{c} = :{c}" for c in columns)
                            + f" WHERE {key} = :key"
                        ),
                        {**values, "key": getattr(row, key)},
                    )
                    changed += 1
            if len(rows) < batch:
                break
            last = getattr(rows[-1], key)
    return changed
