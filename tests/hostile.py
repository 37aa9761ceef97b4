"""Hostile inputs, as hypothesis strategies: what a careless, unlucky or malicious sender can
put in front of the bot, the Rasa channel and the actions.

Shared by tests/test_fuzz.py (a few hundred examples, inside `make test`) and
benchmarks/fuzz.py (thousands, `make bench`).  Also the properties' helpers: what a polite
reply looks like, and the hypothesis profiles ("ci" derandomized and database-less, so a run
is the same on every machine; "bench" for the big run).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

__all__ = [
    "EXAMPLES_RUN",
    "HUGE_CHARS",
    "count_example",
    "fuzz_settings",
    "hostile_bodies",
    "hostile_headers",
    "hostile_names",
    "hostile_text",
    "looks_polite",
    "malformed_updates",
    "plausible_updates",
    "private_text_update",
    "wrong_slot_values",
]

#: A "100 KB message": far over Telegram's 4096 and the bot's 2000 characters.
HUGE_CHARS = 100_000

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "bench",
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)

#: Which profile (XIANGYIN_FUZZ_PROFILE) and how many times the tests' own example counts
#: (XIANGYIN_FUZZ_SCALE): benchmarks/fuzz.py sets both.
PROFILE = os.environ.get("XIANGYIN_FUZZ_PROFILE", "ci")
SCALE = max(1, int(os.environ.get("XIANGYIN_FUZZ_SCALE", "1")))
#: Examples run per target in this process (benchmarks/fuzz.py reports them).
EXAMPLES_RUN: Counter[str] = Counter()


def fuzz_settings(max_examples: int) -> settings:
    """The profile's settings with ``max_examples`` (times the scale)."""
    return settings(settings.get_profile(PROFILE), max_examples=max_examples * SCALE)


def count_example(target: str) -> None:
    """Count one example run against ``target``."""
    EXAMPLES_RUN[target] += 1


# --- pieces -----------------------------------------------------------------------------

#: Controls, format characters (zero-width joiners, BOM, RTL/LTR marks and overrides),
#: separators other than the space.
CONTROL = st.characters(categories=("Cc", "Cf", "Zl", "Zp"))
RTL = st.sampled_from(
    ["\u202e", "\u202d", "\u200f", "\u200e", "\u2066", "\u2067", "\u2069", "\u061c",
     "مرحبا بكم", "שלום", "\u202e\u6211\u5bb6\u7684\u5730"]
)
EMOJI = st.sampled_from(
    ["👍", "😂", "🙏", "❤️", "👨‍👩‍👧‍👦", "🇨🇳", "🏳️‍🌈", "\U0001F600", "\u2764\ufe0f",
     "🧑🏽‍🌾", "\U0001FAE0", "*\ufe0f\u20e3"]
)
INJECTION = st.sampled_from(
    [
        "'; DROP TABLE cases; --",
        "\" OR 1=1 --",
        "王'); DELETE FROM relay_backlog; --",
        "<script>alert(1)</script>",
        "<b>王老三</b>",
        "</p><img src=x onerror=alert(1)>",
        "&lt;&amp;&#x4e00;",
        "${jndi:ldap://x/a}",
        "{{7*7}}{% raw %}",
        "%s%s%n%x",
        "{name}{0}{}",
        "\\x00\\u0000",
        "None",
        "null",
        "NaN",
        "[]",
        "{}",
        "Traceback (most recent call last):",
        "/start",
        "/inform{\"phone\": [1, 2]}",
        "/cases@someone_else_bot",
        "r:/affirm",
        "k:0123456789abcdef",
        "13987654321",
        "５３０１０２１９９００１０１１２３４",
    ]
)
CHINESE = st.text(
    alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=30
)
PLAIN_WORDS = st.sampled_from(
    ["隔壁家的牛吃了我家苞谷", "我要调解", "老板欠我工钱", "算了", "对", "不是", "找人工", "拜拜",
     "天台村", "共和镇", "我叫王小明", "电话13987654321", "刚才说了嘛"]
)


def _flood(piece: str, size: int) -> str:
    return (piece * (size // max(len(piece), 1) + 1))[:size]


#: Empty and whitespace-only messages.
EMPTY = st.one_of(st.just(""), st.text(alphabet=" \t\n\r\u3000\u00a0\u2028", max_size=20))
#: Huge messages (up to 100 KB), made by repeating a hostile piece (generating 100,000 random
#: characters one by one would take hypothesis longer than the bot takes to answer them).
HUGE = st.builds(
    _flood,
    st.one_of(CHINESE, EMOJI, INJECTION, RTL, st.text(min_size=1, max_size=8)),
    st.integers(min_value=4_000, max_value=HUGE_CHARS),
)
EMOJI_FLOOD = st.lists(EMOJI, min_size=1, max_size=400).map("".join)
MIXED = st.lists(
    st.one_of(CHINESE, PLAIN_WORDS, RTL, EMOJI, INJECTION, st.text(CONTROL, max_size=5),
              st.text(max_size=10)),
    min_size=1,
    max_size=8,
).map("".join)


def hostile_text() -> st.SearchStrategy[str]:
    """A message text: empty, huge, controls and RTL, emoji floods, SQL/HTML, or a mixture."""
    return st.one_of(
        EMPTY,
        st.text(CONTROL, min_size=1, max_size=30),
        RTL,
        EMOJI_FLOOD,
        INJECTION,
        MIXED,
        HUGE,
        st.text(max_size=200),
    )


def hostile_names() -> st.SearchStrategy[str]:
    """A person's name as typed into a profile or a form: SQL and HTML included."""
    return st.one_of(
        INJECTION, st.text(max_size=70), MIXED, RTL, EMOJI_FLOOD, st.builds(_flood, CHINESE,
                                                                         st.integers(65, 5_000))
    )


# --- slot values of the wrong type -------------------------------------------------------

_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def wrong_slot_values() -> st.SearchStrategy[Any]:
    """What a slot may hold after a hostile ``/inform{...}`` or a broken tracker store: any JSON
    value, hostile text, numbers where text is expected."""
    return st.one_of(JSON_VALUES, hostile_text(), hostile_names())


# --- Telegram updates ---------------------------------------------------------------------

#: Few users, so that one user's state (chat data, a backlog) meets many hostile updates.
USER_IDS = st.integers(min_value=7_000_001, max_value=7_000_012)
GROUP_IDS = st.sampled_from([-100_123_456, -4_000_001])


def _user(uid: int, first_name: str, username: str | None, language: str | None) -> dict[str, Any]:
    user: dict[str, Any] = {"id": uid, "is_bot": False, "first_name": first_name}
    if username is not None:
        user["username"] = username
    if language is not None:
        user["language_code"] = language
    return user


@st.composite
def _sender(draw: st.DrawFn) -> dict[str, Any]:
    return _user(
        draw(USER_IDS),
        draw(hostile_names()),
        draw(st.one_of(st.none(), st.text(max_size=40))),
        draw(st.sampled_from([None, "zh-hans", "ug", "ar", "", "x" * 40])),
    )


def private_text_update(uid: int, text: str, message_id: int = 1, **extra: Any) -> dict[str, Any]:
    """A well-formed update: ``text`` in ``uid``'s private chat (a leading /command gets its
    bot_command entity, as Telegram sends it)."""
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": 1_764_460_800,
        "chat": {"id": uid, "type": "private", "first_name": "测试"},
        "from": _user(uid, "测试", None, "zh-hans"),
        "text": text,
        **extra,
    }
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0] if text.split() else text
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}]
    return {"update_id": 1, "message": message}


@st.composite
def _entities(draw: st.DrawFn) -> list[dict[str, Any]]:
    kinds = st.sampled_from(["bot_command", "mention", "text_mention", "url", "bold", "unknown"])
    return draw(
        st.lists(
            st.fixed_dictionaries(
                {"type": kinds, "offset": st.integers(-5, 200_000), "length": st.integers(-5, 200_000)}
            ),
            max_size=4,
        )
    )


@st.composite
def plausible_updates(draw: st.DrawFn) -> dict[str, Any]:
    """Updates Telegram could send: private and group texts (hostile words, names, entities),
    captions, button taps with any data, edits, stickers, contacts, and kinds we never asked for."""
    sender = draw(_sender())
    uid = sender["id"]
    kind = draw(st.sampled_from(
        ["text", "text", "text", "group", "caption", "callback", "edited", "sticker", "contact",
         "location", "unknown"]
    ))
    private = {"id": uid, "type": "private", "first_name": sender["first_name"]}
    message: dict[str, Any] = {
        "message_id": draw(st.integers(1, 2**31 - 1)),
        "date": draw(st.integers(0, 2**31 - 1)),
        "chat": private,
        "from": sender,
    }
    text = draw(hostile_text())
    if kind in ("text", "edited"):
        message["text"] = text
        if draw(st.booleans()):
            message["entities"] = draw(_entities())
        elif text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0]) if text.split() else 1}]
        return {"update_id": 1, "edited_message" if kind == "edited" else "message": message}
    if kind == "group":
        message["chat"] = {"id": draw(GROUP_IDS), "type": draw(st.sampled_from(["group", "supergroup"])),
                           "title": draw(hostile_names())}
        message["text"] = text
        message["entities"] = draw(_entities())
        return {"update_id": 1, "message": message}
    if kind == "caption":
        message["document"] = {"file_id": "nope", "file_unique_id": "nope", "file_size": 10}
        message["caption"] = text
        return {"update_id": 1, "message": message}
    if kind == "callback":
        data = draw(st.one_of(
            st.sampled_from(["r:/affirm", "r:/deny", "k:0123456789abcdef", "k:", "r:", "l:no", "s:",
                             "s:take:XX-0000-0000", "s:x:y:z"]),
            st.builds(lambda p, t: p + t, st.sampled_from(["r:", "k:", "s:", "l:", ""]), hostile_text()),
        ))
        query: dict[str, Any] = {"id": str(draw(st.integers(1, 2**62))), "from": sender,
                                 "chat_instance": "ci", "data": data}
        if draw(st.booleans()):
            # The message under a button is the bot's own question (the bot edits it to mark
            # the choice), never the villager's words.
            query["message"] = {**message, "from": {"id": 1, "is_bot": True, "first_name": "乡音"},
                                "text": draw(st.sampled_from(["您是哪个村的？", "对吗？", ""]))}
        return {"update_id": 1, "callback_query": query}
    if kind == "sticker":
        message["sticker"] = {"file_id": "s", "file_unique_id": "s", "type": "regular",
                              "width": 512, "height": 512, "is_animated": False,
                              "is_video": False, "emoji": draw(EMOJI)}
        return {"update_id": 1, "message": message}
    if kind == "contact":
        message["contact"] = {"phone_number": draw(hostile_text()), "first_name": draw(hostile_names())}
        return {"update_id": 1, "message": message}
    if kind == "location":
        message["location"] = {
            "latitude": draw(st.floats(-90, 90, allow_nan=False)),
            "longitude": draw(st.floats(-180, 180, allow_nan=False)),
        }
        return {"update_id": 1, "message": message}
    return {"update_id": 1, draw(st.sampled_from(["business_message", "purchased_paid_media",
                                                  "message_reaction", "x" * 40, "message "])):
            draw(JSON_VALUES)}


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into nested dicts and lists (the root included)."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _parent(root: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        root = root[step]
    return root


@st.composite
def malformed_updates(draw: st.DrawFn) -> Any:
    """A plausible update with fields missing, of the wrong type, huge, or added; or not an
    update at all (a list, a number, a string, null)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON_VALUES.filter(lambda v: not isinstance(v, dict)))
    update = draw(plausible_updates())
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(update) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(update, path)
        action = draw(st.sampled_from(["drop", "retype", "retype", "huge", "add"]))
        if action == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "huge":
            parent[path[-1]] = draw(HUGE)
        elif action == "add" and isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.text(min_size=1, max_size=12))] = draw(JSON_VALUES)
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return update


# --- the Rasa channel -----------------------------------------------------------------------


def hostile_bodies() -> st.SearchStrategy[bytes]:
    """Request bodies: the expected shape with hostile values, any JSON, broken JSON, bytes."""
    shaped = st.fixed_dictionaries(
        {"sender": st.one_of(hostile_text(), JSON_VALUES), "message": st.one_of(hostile_text(), JSON_VALUES)},
        optional={"metadata": JSON_VALUES, "input_channel": JSON_VALUES},
    )
    as_json = st.one_of(shaped, JSON_VALUES).map(lambda v: json.dumps(v, ensure_ascii=False).encode())
    return st.one_of(
        as_json,
        as_json.map(lambda b: b[: len(b) // 2]),  # cut off
        st.binary(max_size=200),
        st.just(b""),
        st.sampled_from([b"{", b"null", b"[1,2", b"\xff\xfe{}", b'{"sender": "a", "message": NaN}']),
    )


def hostile_headers(secret: str, header: str) -> st.SearchStrategy[dict[str, str]]:
    """Headers: the right secret, a wrong one, none, a near miss; any content type."""
    latin = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
    given = st.one_of(st.just(secret), st.none(), latin, st.just(secret + " "), st.just(secret[:-1]),
                      st.just(secret.upper()))
    content_type = st.sampled_from(["application/json", "text/plain", "", "application/x-www-form-urlencoded"])

    def build(value: str | None, kind: str) -> dict[str, str]:
        headers = {"content-type": kind} if kind else {}
        if value is not None:
            headers[header] = value
        return headers

    return st.builds(build, given, content_type)


# --- what the person sees ---------------------------------------------------------------------

_CJK = re.compile(r"[\u4e00-\u9fff]")
#: What must never reach a person: Python's and the web's insides.
LEAKS = re.compile(
    r"Traceback|Error|Exception|File \"|object at 0x|NoneType|\bNone\b|\{'|'\}|<[a-z/!]"
)
MAX_REPLY_UNITS = 4096


def looks_polite(text: str | None, *, allowed: tuple[str, ...] = ()) -> bool:
    """A reply a villager can read: Chinese, within one Telegram message, no traceback or
    repr.  ``allowed`` are texts the test put there itself (an echo it asked for)."""
    if not text or not text.strip():
        return False
    if len(text.encode("utf-16-le")) // 2 > MAX_REPLY_UNITS or not _CJK.search(text):
        return False
    rest = text
    for piece in allowed:
        rest = rest.replace(piece, "")
    return LEAKS.search(rest) is None
