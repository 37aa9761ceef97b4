"""The action server: rasa_sdk's app on the loopback, behind the shared secret.

rasa_sdk's own ``python -m rasa_sdk`` listens on every interface and runs any action for anyone
who POSTs a made-up tracker to ``/webhook`` (``action_submit_case`` included).  This is the same
Sanic app (``rasa_sdk.endpoint.create_app``) with no CORS that refuses every request but
``/health`` lacking the secret header (Rasa sends it: endpoints.yml).  ``xiangyin actions``
starts it, bound to XIANGYIN_ACTION_HOST (default 127.0.0.1), after handing the actions their
dependencies (actions/common.py).
"""

from __future__ import annotations

import hmac
from typing import Any, Optional

__all__ = ["OPEN_PATHS", "create_app"]

OPEN_PATHS = frozenset({"/health"})


def create_app(secret: str, header: str, package: str = "actions") -> Any:
    """The rasa_sdk app for ``package``, every route but /health behind the secret, which
    callers send in the ``header`` header."""
    from rasa_sdk.endpoint import create_app as create_sdk_app
    from sanic import response

    if not secret:
        raise ValueError("the action server needs a secret: set XIANGYIN_SECRET")
    expected = secret.encode()
    app = create_sdk_app(package, cors_origins=None)

    @app.middleware("request")
    async def require_secret(request: Any) -> Optional[Any]:
        if request.path in OPEN_PATHS:
            return None
        given = (request.headers.get(header) or "").encode()
        if not hmac.compare_digest(given, expected):
            return response.json({"error": "forbidden"}, status=403)
        return None

    return app
