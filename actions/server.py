"""``python -m actions.server --port 5055``: the action server, on the loopback, behind a secret.

rasa_sdk's own ``python -m rasa_sdk`` listens on every interface and runs any action for anyone
who POSTs a made-up tracker to ``/webhook`` (``action_submit_case`` included).  This starts the
same Sanic app (``rasa_sdk.endpoint.create_app``) bound to ``XIANGYIN_ACTION_HOST`` (default
127.0.0.1), with no CORS, and refuses every request but ``/health`` that lacks the header
``X-Xiangyin-Secret`` with the value of ``XIANGYIN_SECRET``.  Rasa sends the header
(endpoints.yml).  Without the variable it does not start.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Optional

from xiangyin.settings import SECRET_HEADER, secret_matches

OPEN_PATHS = frozenset({"/health"})


def create_app(secret: str, package: str = "actions") -> Any:
    """The rasa_sdk app for `package`, every route but /health behind the secret."""
    from rasa_sdk.endpoint import create_app as create_sdk_app
    from sanic import response

    if not secret:
        raise ValueError("the action server needs a secret: set XIANGYIN_SECRET")
    app = create_sdk_app(package, cors_origins=None)

    @app.middleware("request")
    async def require_secret(request: Any) -> Optional[Any]:
        if request.path in OPEN_PATHS:
            return None
        if not secret_matches(request.headers.get(SECRET_HEADER), secret):
            return response.json({"error": "forbidden"}, status=403)
        return None

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("XIANGYIN_ACTION_PORT", "5055")))
    parser.add_argument("--host", default=os.environ.get("XIANGYIN_ACTION_HOST", "127.0.0.1"))
    parser.add_argument("--actions", default="actions")
    args = parser.parse_args(argv)
    secret = os.environ.get("XIANGYIN_SECRET", "")
    if not secret:
        print("XIANGYIN_SECRET is not set: the action server will not run without it.", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(secret, args.actions)
    app.run(args.host, args.port, workers=1, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
