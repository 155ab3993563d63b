"""Live push end to end: a customer's message posted to a conversation reaches the handling
employee's SSE stream (GET /push/stream) as a `suggestions` event, and the team's webhook as a
signed delivery. A real uvicorn server on 127.0.0.1 (TestClient does not stream SSE), the sample
corpus ingested with the real model, a real HTTP receiver, a real Redis for two app instances."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.routes import conversations
from api.webhooks import verify_signature
from ingest.records import LoadError
from tests.api.conftest import AUTH, api_settings

pytestmark = [pytest.mark.model, pytest.mark.slow]

TEAM = "service-east"
PEOPLE = {"employee": "Emma Chen", "customer": "Olivia Brown", "customer_id": "crm-olivia"}
QUESTIONS = [
    "My refund still hasn't arrived. How long do card refunds take?",
    "The jacket is too tight. Can I exchange it for a bigger size?",
    "The parcel is late, when will my order be delivered?",
]


class Server:
    """The app under uvicorn in a thread, on a port the OS picked."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        settings.setdefault("push_keepalive_s", 0.3)
        settings.setdefault("rate_limit_per_minute", 0)
        self.app = create_app(api_settings(data_dir, **settings))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()

    def key(self, role: str, employee: str = "", team: str = "") -> dict[str, str]:
        accounts = self.app.state.runtime.accounts
        account = accounts.create("test", f"test {role} {employee}", role, team, employee)
        key, _ = accounts.issue_key("test", account.id)
        return {"Authorization": f"Bearer {key}"}

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.post(self.url + path, json=body, headers=headers or AUTH, timeout=60)


class Stream:
    """An open SSE stream, read frame by frame."""

    def __init__(self, server: Server, headers: dict[str, str], **params: str) -> None:
        self.client = httpx.Client(timeout=httpx.Timeout(30, read=30))
        request = self.client.build_request(
            "GET", server.url + "/push/stream", headers=headers, params=params
        )
        self.response = self.client.send(request, stream=True)
        self.chunks = self.response.iter_text()
        self.buffer = ""

    def close(self) -> None:
        self.response.close()
        self.client.close()

    def frames(self) -> Iterator[dict[str, str]]:
        """Frames as dicts (comments as {"comment": ...}), as they come."""
        for chunk in self.chunks:
            self.buffer += chunk
            while "\n\n" in self.buffer:
                raw, self.buffer = self.buffer.split("\n\n", 1)
                frame: dict[str, str] = {}
                for line in raw.splitlines():
                    name, _, value = line.partition(":")
                    frame[name or "comment"] = value.removeprefix(" ")
                yield frame

    def read(
        self, want: int, quiet_s: float = 0.0, timeout_s: float = 120.0
    ) -> list[dict[str, Any]]:
        """Events (not comments) until `want` `suggestions` events came, then `quiet_s` more
        seconds of whatever else comes (keep-alives tick the clock)."""
        events: list[dict[str, Any]] = []
        deadline, until = time.monotonic() + timeout_s, None
        for frame in self.frames():
            if "event" in frame:
                events.append({**frame, "data": json.loads(frame.get("data") or "{}")})
            if until is None and sum(e["event"] == "suggestions" for e in events) >= want:
                until = time.monotonic() + quiet_s
            if until is not None and time.monotonic() >= until:
                return events
            assert time.monotonic() < deadline, f"timed out with {events}"
        raise AssertionError(f"stream ended with {events}")


class Receiver:
    """A webhook receiver on 127.0.0.1 that keeps what it is sent."""

    def __init__(self) -> None:
        received: list[tuple[dict[str, str], bytes]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout_s: float = 120.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count:
            assert time.monotonic() < deadline, "no delivery came"
            time.sleep(0.05)
        return self.received

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def store_copy(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("push-store") / "data"
    shutil.copytree(corpus_dir, target)
    return target


@pytest.fixture(scope="module")
def server(store_copy: Path) -> Iterator[Server]:
    with Server(store_copy) as running:
        yield running


def _customer_says(
    server: Server, conversation: str, msg_id: str, text: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    body = {"id": msg_id, "role": "customer", "text": text, "speaker": "Olivia Brown", **PEOPLE}
    answer = server.post(f"/conversations/{conversation}/messages", body, headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["appended"] == [msg_id]
    return answer.json()  # type: ignore[no-any-return]


def _check_suggestions(event: dict[str, Any], conversation: str, msg_id: str) -> None:
    data = event["data"]
    assert event["event"] == "suggestions" and event["id"]
    assert data["conversation_id"] == conversation and data["message_id"] == msg_id
    suggestions = data["suggestions"]
    assert len(suggestions) >= 3
    assert all(s["text"] and s["id"] and s["why"] for s in suggestions)
    assert all(s["sources"][0]["uri"] for s in suggestions if not s["opening"])


def test_suggestions_reach_the_handling_employee_and_the_team_webhook(server: Server) -> None:
    emma = server.key("employee", "Emma Chen", TEAM)
    jason = server.key("employee", "Jason Liu", TEAM)
    receiver = Receiver()
    try:
        hook = server.post("/webhooks", {"team": TEAM, "url": receiver.url})
        assert hook.status_code == 201, hook.text
        secret = hook.json()["secret"]
        # Jason may not watch Emma's stream, and his own gets nothing of her conversation.
        refused = httpx.get(
            server.url + "/push/stream", params={"employee": "Emma Chen"}, headers=jason
        )
        assert refused.status_code == 403
        assert httpx.get(server.url + "/push/stream").status_code == 401
        mine, theirs = Stream(server, emma), Stream(server, jason)
        try:
            assert mine.response.status_code == 200
            assert mine.response.headers["content-type"].startswith("text/event-stream")
            assert mine.response.headers["cache-control"] == "no-cache"
            assert mine.response.headers["x-accel-buffering"] == "no"
            answer = _customer_says(server, "push-a", "a1", QUESTIONS[0])
            [event] = mine.read(1)
            _check_suggestions(event, "push-a", "a1")
            assert event["data"]["message"] == answer["nodes"][0]
            assert not [e for e in theirs.read(0, quiet_s=1.5) if e["event"] == "suggestions"]
        finally:
            mine.close()
            theirs.close()
        [(headers, body)] = receiver.wait(1)
        headers = {k.lower(): v for k, v in headers.items()}
        assert headers["x-spiral-event"] == "suggestions"
        ts, signature = headers["x-spiral-timestamp"], headers["x-spiral-signature"]
        assert verify_signature(secret, ts, body, signature)
        assert not verify_signature("whsec_wrong", ts, body, signature)
        delivered = json.loads(body)
        assert delivered["message_id"] == "a1" and len(delivered["suggestions"]) >= 3
        assert delivered["suggestions"] == event["data"]["suggestions"]
        listed = httpx.get(server.url + "/webhooks", params={"team": TEAM}, headers=AUTH)
        assert [h["url"] for h in listed.json()] == [receiver.url]
        assert "secret" not in listed.json()[0]
        gone = httpx.delete(f"{server.url}/webhooks/{hook.json()['id']}", headers=AUTH)
        assert gone.status_code == 200
    finally:
        receiver.close()


def test_reconnecting_with_last_event_id_gets_exactly_the_missed_events(server: Server) -> None:
    emma = server.key("employee", "Emma Chen")
    stream = Stream(server, emma)
    try:
        _customer_says(server, "push-b", "b1", QUESTIONS[0])
        [first] = stream.read(1)
        _check_suggestions(first, "push-b", "b1")
    finally:
        stream.close()
    _customer_says(server, "push-b", "b2", QUESTIONS[1])
    reply = {"role": "employee", "text": "Sure, which size?", "speaker": "Emma Chen"}
    assert server.post("/conversations/push-b/messages", reply).status_code == 200
    _customer_says(server, "push-b", "b3", QUESTIONS[2])
    again = Stream(server, {**emma, "Last-Event-ID": first["id"]})
    try:
        events = again.read(2, quiet_s=2.0)
    finally:
        again.close()
    assert [e["event"] for e in events] == ["suggestions", "suggestions"]
    assert [e["data"]["message_id"] for e in events] == ["b2", "b3"]
    for event, msg_id in zip(events, ["b2", "b3"], strict=True):
        _check_suggestions(event, "push-b", msg_id)
    # The query parameter works the same; an id the hub never gave means a resync first.
    by_query = Stream(server, emma, last_event_id=events[0]["id"])
    try:
        assert [e["data"]["message_id"] for e in by_query.read(1, quiet_s=1.0)] == ["b3"]
    finally:
        by_query.close()
    unknown = Stream(server, {**emma, "Last-Event-ID": "1-1"})
    try:
        events = unknown.read(3)
    finally:
        unknown.close()
    assert events[0]["event"] == "resync"


def test_a_message_that_could_not_be_stored_gets_no_suggestions(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ask starts before the append is written (the customer is waiting); when the write
    fails, what it found is dropped: only stored messages get suggestions."""
    emma = server.key("employee", "Emma Chen")
    stream = Stream(server, emma)
    try:

        def disk_full(*args: object, **kwargs: object) -> None:
            raise LoadError("live/push-c", "the disk is full")

        monkeypatch.setattr(conversations, "append_messages", disk_full)
        body = {"id": "c1", "role": "customer", "text": QUESTIONS[0], **PEOPLE}
        refused = server.post("/conversations/push-c/messages", body)
        assert refused.status_code == 422 and "disk is full" in refused.json()["detail"]
        monkeypatch.undo()
        _customer_says(server, "push-c", "c2", QUESTIONS[1])
        events = stream.read(1, quiet_s=1.5)
    finally:
        stream.close()
    assert [e["data"]["message_id"] for e in events if e["event"] == "suggestions"] == ["c2"]


@pytest.mark.redis
def test_two_instances_sharing_redis_push_across(store_copy: Path, redis_url: str) -> None:
    with (
        Server(store_copy, redis_url=redis_url) as one,
        Server(store_copy, redis_url=redis_url) as two,
    ):
        emma = two.key("employee", "Emma Chen")
        stream = Stream(two, emma)
        try:
            _customer_says(one, "push-redis", "r1", QUESTIONS[0])
            [event] = stream.read(1)
        finally:
            stream.close()
        _check_suggestions(event, "push-redis", "r1")
        # The message ids are shared too: the same id posted to the other one is a duplicate.
        body = {"id": "r1", "role": "customer", "text": QUESTIONS[0], **PEOPLE}
        again = two.post("/conversations/push-redis/messages", body)
        assert again.json()["duplicates"] == ["r1"] and again.json()["appended"] == []
