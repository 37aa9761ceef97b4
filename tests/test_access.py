"""Nobody reaches a conversation or an action without the shared secret (issue: trust, item 1).

The REST channel, the action server and Rasa's HTTP API all refuse a caller without
XIANGYIN_SECRET, and both servers listen on the loopback only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests

from tests.servers import ACTION_PORT, api_token, secret_headers
from bot.config import SECRET_HEADER
from nlu_components.server import _serve_with_auth, secure_arguments

A_TRACKER_CALL = {
    "next_action": "action_finish_case_form",
    "sender_id": "tg:424242",
    "tracker": {"sender_id": "tg:424242", "slots": {"route": "petition", "form_outcome": "file",
                                                     "confirmed": True}, "latest_message": {},
                "events": [], "paused": False, "followup_action": None, "active_loop": {},
                "latest_action_name": None},
    "domain": {},
    "version": "3.6.2",
}


def test_the_channel_refuses_a_caller_without_the_secret(rasa_url):
    url = f"{rasa_url}/webhooks/rest/webhook"
    body = {"sender": "tg:123456", "message": "我的事办得咋样了"}
    assert requests.post(url, json=body, timeout=30).status_code == 403
    wrong = {SECRET_HEADER: "not-the-secret"}
    assert requests.post(url, json=body, headers=wrong, timeout=30).status_code == 403
    answer = requests.post(url, json=body, headers=secret_headers(), timeout=60)
    assert answer.status_code == 200 and answer.json(), answer.text


def test_rasa_http_api_needs_its_token(rasa_url):
    assert requests.post(f"{rasa_url}/model/parse", json={"text": "离婚"}, timeout=30).status_code == 401
    assert requests.get(f"{rasa_url}/conversations/tg:1/tracker", timeout=30).status_code == 401
    parsed = requests.post(f"{rasa_url}/model/parse", json={"text": "离婚"}, params=api_token(), timeout=30)
    assert parsed.status_code == 200 and parsed.json()["intent"]["name"]


def test_the_action_server_runs_no_action_for_a_stranger(running_actions):
    url = f"http://127.0.0.1:{ACTION_PORT}"
    assert requests.get(f"{url}/health", timeout=10).ok  # health stays open
    refused = requests.post(f"{url}/webhook", json=A_TRACKER_CALL, timeout=10)
    assert refused.status_code == 403
    assert requests.get(f"{url}/actions", timeout=10).status_code == 403
    listed = requests.get(f"{url}/actions", headers=secret_headers(), timeout=10)
    assert "action_finish_case_form" in json.dumps(listed.json())


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on `port` (from /proc/net/tcp{,6})."""
    found = set()
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net")
def test_both_servers_listen_on_the_loopback_only(rasa_url):
    rasa_port = int(rasa_url.rsplit(":", 1)[1])
    for port in (rasa_port, ACTION_PORT):
        addresses = _listening_addresses(port)
        assert addresses and addresses <= LOOPBACK, (port, addresses)


def test_rasa_is_bound_to_the_loopback_unless_told_otherwise():
    assert secure_arguments(["run", "--port", "5005"], {})[-2:] == ["--interface", "127.0.0.1"]
    assert secure_arguments(["run", "-i", "10.0.0.5"], {}) == ["run", "-i", "10.0.0.5"]
    assert secure_arguments(["train"], {}) == ["train"]


def test_the_http_api_never_runs_without_a_token(monkeypatch):
    served = {}
    serve = _serve_with_auth(lambda **kwargs: served.update(kwargs))
    monkeypatch.delenv("XIANGYIN_SECRET", raising=False)
    with pytest.raises(SystemExit):
        serve(enable_api=True, auth_token=None)
    serve(enable_api=False)  # no API: nothing to protect
    monkeypatch.setenv("XIANGYIN_SECRET", "s3cret")
    serve(enable_api=True, auth_token=None)
    assert served["auth_token"] == "s3cret"


def test_the_action_server_will_not_start_without_a_secret(monkeypatch):
    from xiangyin.cli import main
    from xiangyin.settings import settings

    monkeypatch.delenv("XIANGYIN_SECRET", raising=False)
    settings.cache_clear()
    try:
        assert main(["actions", "--port", "0"]) == 2
    finally:
        settings.cache_clear()


def test_make_run_makes_a_secret_for_its_children(monkeypatch):
    from xiangyin.settings import ensure_secret, settings

    monkeypatch.delenv("XIANGYIN_SECRET", raising=False)
    made = ensure_secret()
    assert len(made) >= 32 and os.environ["XIANGYIN_SECRET"] == made == settings().secret
    assert ensure_secret() == made  # kept, not replaced
    settings.cache_clear()


def test_the_secret_reaches_the_channel_and_the_action_endpoint(monkeypatch):
    from rasa.shared.utils.io import read_config_file
    from rasa.utils.endpoints import read_endpoint_config

    from tests.servers import ROOT

    monkeypatch.setenv("XIANGYIN_SECRET", "s3cret-for-this-test")
    channels = read_config_file(ROOT / "credentials.yml")
    assert list(channels) == ["nlu_components.channel.SecretRestInput"]  # no stock `rest:`
    assert channels["nlu_components.channel.SecretRestInput"]["secret"] == "s3cret-for-this-test"
    assert channels["nlu_components.channel.SecretRestInput"]["header"] == SECRET_HEADER
    endpoint = read_endpoint_config(str(ROOT / "endpoints.yml"), "action_endpoint")
    assert endpoint.headers[SECRET_HEADER] == "s3cret-for-this-test"
