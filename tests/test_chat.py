"""The terminal chat relays to Rasa's REST channel and never loses a message."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from knowledge.text import MAX_MESSAGE_CHARS
from playground.chat import RestClient, prepare, render, run_chat
from knowledge.frontend import say

SECRET = "chat-test-secret"


class FakeRasa(BaseHTTPRequestHandler):
    """Answers like Rasa's REST channel; fails the first `fail_first` requests with 503."""

    received: list[dict] = []
    fail_first = 0

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if FakeRasa.fail_first > 0:
            FakeRasa.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        FakeRasa.received.append(body)
        replies = [
            {"recipient_id": body["sender"], "text": f"收到：{body['message']}"},
            {
                "recipient_id": body["sender"],
                "text": "您是想：",
                "buttons": [
                    {"title": "调解纠纷", "payload": "/mediation"},
                    {"title": "办事咨询", "payload": "/service"},
                ],
            },
        ]
        data = json.dumps(replies, ensure_ascii=False).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_rasa():
    FakeRasa.received = []
    FakeRasa.fail_first = 0
    server = HTTPServer(("127.0.0.1", 0), FakeRasa)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def scripted(lines):
    it = iter(lines)

    def _input(prompt=""):
        try:
            return next(it)
        except StopIteration:
            raise EOFError

    return _input


def test_a_typed_number_sends_the_payload_of_that_button(fake_rasa):
    printed: list[str] = []
    run_chat(fake_rasa, SECRET, sender="v1", input_fn=scripted(["你好", "1"]), print_fn=printed.append)
    assert [m["message"] for m in FakeRasa.received] == ["你好", "/mediation"]
    assert "    [1] 调解纠纷" in printed


def test_an_empty_message_is_answered_kindly_and_never_sent(fake_rasa):
    printed: list[str] = []
    run_chat(fake_rasa, SECRET, sender="v1", input_fn=scripted(["   ", ""]), print_fn=printed.append)
    assert FakeRasa.received == []
    assert printed.count(say("empty_message")) == 2


def test_a_very_long_message_is_cut_with_a_notice():
    text, notice = prepare("邻" * (MAX_MESSAGE_CHARS + 500))
    assert len(text) == MAX_MESSAGE_CHARS
    assert str(MAX_MESSAGE_CHARS) in notice


def test_emoji_and_traditional_text_are_sent_as_they_are():
    assert prepare("😂😂")[0] == "😂😂"
    assert prepare("鄰居佔了我家的地")[0] == "鄰居佔了我家的地"


def test_a_server_error_is_retried_and_the_message_arrives(fake_rasa):
    FakeRasa.fail_first = 2
    notices: list[str] = []
    client = RestClient(fake_rasa, SECRET, sender="v2", sleep=lambda s: None)
    replies = client.send("低保咋个申请", notify=notices.append)
    assert replies and replies[0]["text"] == "收到：低保咋个申请"
    assert [m["message"] for m in FakeRasa.received] == ["低保咋个申请"]
    assert notices == [say("server_down")]


def test_a_server_that_is_down_gets_a_polite_message_not_a_crash():
    printed: list[str] = []
    # Nothing listens on port 9 of the loopback.
    code = run_chat(
        "http://127.0.0.1:9", SECRET, sender="v3", input_fn=scripted(["你好"]), print_fn=printed.append,
        sleep=lambda s: None,
    )
    assert code == 0
    assert say("server_gave_up") in printed


def test_buttons_are_numbered_in_order():
    lines, buttons = render([{"text": "选一个", "buttons": [{"title": "甲", "payload": "/a"}, {"title": "乙", "payload": "/b"}]}])
    assert lines == ["乡音：选一个", "    [1] 甲", "    [2] 乙"]
    assert [b["payload"] for b in buttons] == ["/a", "/b"]
