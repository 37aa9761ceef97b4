"""Rasa's own command line, with two costs of Rasa 3.6 paid once.

    python -m nlu_components.server run --model models/xiangyin.tar.gz …   (= `rasa run …`)

Profiling the Rasa server (py-spy) under the Telegram benchmark (30 villagers) and at start:

* 77% of its CPU per message was ``RemoteAction._validate_action_result``
  (rasa/core/actions/action.py): ``jsonschema.validate(answer, schema)`` re-checks the *schema
  itself* against the JSON Schema meta-schema on every custom action's answer.  The schema is a
  constant of Rasa's code, so it is checked once here and the validator is kept; each answer
  is still validated the same way (``best_match`` of the same validator's errors, the same
  error message).
* then 13% was ``Event.resolve_by_type`` (rasa/shared/core/events.py), which walks every Event
  subclass for every event each time a tracker is read back from the tracker store.  Here a
  name, once found, is remembered; an unknown name still takes the original path.

It also binds Rasa to the loopback unless told otherwise, and never serves the HTTP API
(``--enable-api``) without a token (README "Security and privacy").

Every process that serves conversations starts Rasa through this module: `make run`, the tests
and the benchmarks (not `rasa train`).  tests/test_rasa_server.py pins rasa==3.6.21 and checks
that each replacement answers exactly as Rasa's own code: the same validation errors, the same
event classes.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Mapping

from records.domain.redaction import install_log_redaction

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
    """Install the replacements (idempotent)."""
    global _ORIGINAL_RESOLVE
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.events import Event

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    if _ORIGINAL_RESOLVE is None:
        _ORIGINAL_RESOLVE = Event.resolve_by_type
        Event.resolve_by_type = staticmethod(_resolve_by_type)  # type: ignore[method-assign]


def _serve_with_auth(serve: Any) -> Any:
    """``rasa.core.run.serve_application`` that never serves the HTTP API without a token.

    With ``--enable-api`` and neither ``--auth-token`` nor ``--jwt-secret``, the token is the
    shared secret ``XIANGYIN_SECRET`` (not put on the command line, where ``ps`` shows it);
    without that variable the server does not start.  Callers add ``?token=…``.
    """

    @functools.wraps(serve)
    def serve_application(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("enable_api") and not (kwargs.get("auth_token") or kwargs.get("jwt_secret")):
            secret = os.environ.get("XIANGYIN_SECRET", "")
            if not secret:
                raise SystemExit("--enable-api needs a token: set XIANGYIN_SECRET")
            kwargs["auth_token"] = secret
        return serve(*args, **kwargs)

    return serve_application


def secure_arguments(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """`rasa run …` arguments bound to the loopback (``XIANGYIN_RASA_HOST``, default
    127.0.0.1) unless an interface is given: Rasa's default is every interface."""
    if not argv or argv[0] != "run" or (len(argv) > 1 and argv[1] == "actions"):
        return argv
    if any(a in ("-i", "--interface") or a.startswith("--interface=") for a in argv):
        return argv
    return [*argv, "--interface", env.get("XIANGYIN_RASA_HOST", "127.0.0.1")]


def main() -> None:
    """`rasa` with the faster validation installed, on the loopback, its API behind a token."""
    install()
    install_log_redaction()  # phone and ID numbers never reach Rasa's log
    import rasa.core.run
    from rasa.__main__ import main as rasa_main

    if not getattr(rasa.core.run.serve_application, "__wrapped__", None):
        rasa.core.run.serve_application = _serve_with_auth(rasa.core.run.serve_application)
    sys.argv = [sys.argv[0], *secure_arguments(sys.argv[1:], os.environ)]
    rasa_main()


if __name__ == "__main__":
    main()
