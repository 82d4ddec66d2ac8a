"""`postmast demo`: the whole path of a post on this machine, with nothing to set up.

It starts a local webhook receiver, adds two webhook accounts pointing at it and one
account on the fake network (scripted to fail once, transiently, so a retry shows),
queues posts (some due now, some a few seconds later), runs a real worker and scheduler
on the embedded default (SQLite store, SQLite broker) in a fresh data directory, waits
until every delivery is done, then prints the delivery report and what arrived (webhook
requests, distinct idempotency keys, signatures checked; the fake network's outbox).
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from postmast import clock
from postmast.connectors.fake import read_outbox
from postmast.connectors.webhook import signature
from postmast.context import Context
from postmast.scheduler.accounts import Accounts
from postmast.scheduler.config import Settings
from postmast.scheduler.deliveries import Deliveries, Filters
from postmast.scheduler.files import private_file
from postmast.scheduler.posts import PostRequest, Posts
from postmast.scheduler.states import TERMINAL, Status
from postmast.supervisor import Supervisor, postmast_command

TOLERANCE = 300
"""Seconds a `webhook-timestamp` may be off: older requests are refused as replays."""


@dataclass
class Received:
    path: str
    body: dict[str, Any]
    idempotency_key: str
    signature_ok: bool


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 that verifies Standard Webhooks signatures (refusing old
    timestamps: a replayed capture), de-duplicates on `webhook-id`, and keeps what it got."""

    secrets_by_path: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    """Item number by `webhook-id`: a message delivered again is answered, not kept twice."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def verified(self, path: str, headers: Any, raw: bytes) -> bool:
        secret = self.secrets_by_path.get(path, "")
        message_id = headers.get("webhook-id", "")
        stamp = headers.get("webhook-timestamp", "")
        if not (secret and message_id and stamp.isdecimal()):
            return False
        if abs(clock.system().timestamp() - int(stamp)) > TOLERANCE:
            return False
        expected = signature(secret, message_id, int(stamp), raw)
        given = headers.get("webhook-signature", "").split(" ")
        return any(hmac.compare_digest(expected, candidate) for candidate in given)

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                ok = receiver.verified(self.path, self.headers, raw)
                if not ok:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with receiver.lock:
                    message_id = self.headers.get("webhook-id", "")
                    number = receiver.seen.get(message_id, 0)
                    if not number:  # a message seen before is answered again, not kept twice
                        receiver.received.append(
                            Received(self.path, json.loads(raw), self.headers.get("Idempotency-Key", ""), ok)
                        )
                        number = receiver.seen[message_id] = len(receiver.received)
                body = json.dumps({"id": str(number), "url": f"{receiver.url}/posts/{number}"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                number = self.path.rsplit("/", 1)[-1]
                with receiver.lock:
                    items = receiver.received
                    found = (
                        items[int(number) - 1].body
                        if number.isdecimal() and 0 < int(number) <= len(items)
                        else None
                    )
                body = json.dumps(found, ensure_ascii=False).encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


DEMO_POSTS = [
    (
        "Hello from postmast 👋 One schedule, every network, exactly once.",
        ["webhook:team-chat", "webhook:newsroom", "fake:social"],
        0,
    ),
    ("Doors open in five minutes: grab a seat!", ["webhook:team-chat", "fake:social"], 3),
    (
        "Press release: postmast 0.1 is out. Read more at https://example.org/postmast",
        ["webhook:newsroom"],
        5,
    ),
    ("Thanks for coming! Slides will follow tomorrow.", ["webhook:team-chat", "webhook:newsroom"], 8),
]
FAKE_SCRIPT = "ok,transient,ok"
"""The fake network's second answer is an outage: that post is retried after a short backoff."""


@dataclass
class DemoResult:
    data_dir: Path
    settings: Settings
    deliveries: int
    received: list[Received]
    outbox: list[dict[str, Any]]
    finished: bool
    statuses: dict[str, int]

    @property
    def webhook_deliveries(self) -> int:
        return sum(t.startswith("webhook:") for _, targets, _ in DEMO_POSTS for t in targets)

    @property
    def fake_deliveries(self) -> int:
        return self.deliveries - self.webhook_deliveries


def demo_environment(data_dir: Path) -> dict[str, str]:
    """This process's environment pointed at `data_dir`, on the embedded default."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTMAST_")}
    level = os.environ.get("POSTMAST_LOG_LEVEL") or "INFO"  # the services' log, in services.log
    env.update({"POSTMAST_DATA_DIR": str(data_dir), "POSTMAST_LOG_LEVEL": level, "POSTMAST_RETRY_BASE": "2"})
    return env


def run_demo(data_dir: Path, *, progress: Callable[[int, int], None], timeout: float = 120.0) -> DemoResult:
    env = demo_environment(data_dir)
    settings = Settings.from_env(env)
    ctx = Context(settings)
    receiver = Receiver()
    base = receiver.start()
    try:
        accounts = Accounts(ctx.store, ctx.vault)
        for name in ("team-chat", "newsroom"):
            secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")
            receiver.secrets_by_path[f"/hooks/{name}"] = secret
            accounts.add("webhook", name, {"url": f"{base}/hooks/{name}"}, {"signing_secret": secret})
        outbox = data_dir / "fake-outbox.jsonl"
        accounts.add("fake", "social", {"outbox": str(outbox), "script": FAKE_SCRIPT}, {})
        posts = Posts(ctx.store, default_max_lateness=settings.timings.max_lateness)
        now = ctx.store.now()
        queued = posts.queue_many(
            [
                PostRequest(text, targets, now + timedelta(seconds=delay), "UTC")
                for text, targets, delay in DEMO_POSTS
            ]
        )
        total = sum(len(q.deliveries) for q in queued)
        with open(private_file(data_dir / "services.log"), "ab") as log_file:
            supervisor = Supervisor(
                {"scheduler": postmast_command("scheduler"), "worker": postmast_command("worker", "-c", "2")},
                env=env,
                grace=30,
                output=log_file,
            )
            supervisor.start()
            try:
                deliveries = Deliveries(ctx.store)
                deadline = time.monotonic() + timeout
                done = 0
                while time.monotonic() < deadline:
                    rows = deliveries.search(Filters())
                    done = sum(r.status in TERMINAL for r in rows)
                    progress(done, total)
                    if done == total or any(c.poll() is not None for c in supervisor.children.values()):
                        break
                    time.sleep(0.3)
            finally:
                supervisor.stop()
        rows = Deliveries(ctx.store).search(Filters())
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.status.value] = counts.get(row.status.value, 0) + 1
        return DemoResult(
            data_dir,
            settings,
            total,
            list(receiver.received),
            read_outbox(outbox),
            counts.get(Status.PUBLISHED.value, 0) == total,
            counts,
        )
    finally:
        receiver.stop()
