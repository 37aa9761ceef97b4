"""Rasa's own command line with two per-message costs of Rasa 3.6 paid once instead.

    python -m xiangyin.rasa_server run --model models/xiangyin.tar.gz …   (= `rasa run …`)

Profiling the Rasa server under the Telegram benchmark (py-spy, 30 villagers) found:

* 77% of its CPU in ``RemoteAction._validate_action_result`` (rasa/core/actions/action.py):
  ``jsonschema.validate(answer, schema)`` re-checks the *schema itself* against the JSON Schema
  meta-schema on every custom action's answer.  The schema is a constant of Rasa's code, so it
  is checked once here and the validator is kept; each answer is still validated the same way
  (``best_match`` of the same validator's errors, the same error message).
* then 13% in ``Event.resolve_by_type`` (rasa/shared/core/events.py), which walks every Event
  subclass for every event each time a tracker is read back from the tracker store.  Here a
  name, once found, is remembered; an unknown name still takes the original path.

Every process that serves conversations starts Rasa through this module: `make run`, the tests
and the benchmarks.  Both replacements are pinned to rasa==3.6.21 (tests/test_rasa_server.py).
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["install", "main"]


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)  # once, instead of once per answer
    return cls(schema)


def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import DOCS_BASE_URL

    error = best_match(_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        f". Failed to validate Action server response from API, "
        f"make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


_EVENT_TYPES: dict[str, Any] = {}


def _resolve_by_type(type_name: str, default: Any = None) -> Any:
    """``Event.resolve_by_type`` with found names remembered (the class list is fixed once
    Rasa is imported)."""
    found = _EVENT_TYPES.get(type_name)
    if found is not None:
        return found
    try:
        found = _ORIGINAL_RESOLVE(type_name, None)
    except ValueError:  # unknown: the original decides (a default, or the same error)
        return _ORIGINAL_RESOLVE(type_name, default)
    if found is not None:
        _EVENT_TYPES[type_name] = found
    return found if found is not None else _ORIGINAL_RESOLVE(type_name, default)


_ORIGINAL_RESOLVE: Any = None


def install() -> None:
    """Install both replacements (idempotent)."""
    global _ORIGINAL_RESOLVE
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.events import Event

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    if _ORIGINAL_RESOLVE is None:
        _ORIGINAL_RESOLVE = Event.resolve_by_type
        Event.resolve_by_type = staticmethod(_resolve_by_type)  # type: ignore[method-assign]


def main() -> None:
    """`rasa` with the faster validation installed."""
    install()
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
