"""The chaos run's networks: contract servers that misbehave on purpose and keep their own books.

On a post (`POST /api/v1/statuses` on Mastodon, any `POST` on the webhook) a share of requests
(30 % by default) meets a fault, in equal parts: a 500, 502 or 503 before anything is created;
a 429 with a reset one to three seconds ahead (Mastodon's ISO 8601 `X-RateLimit-Reset`, the
webhook's `Retry-After`); a timeout before the post is accepted (nothing created, the answer
comes too late); and a timeout *after* it was accepted (the post exists, the client never
hears of it). During the store and broker outages the servers also answer slowly
(`latency`), so that publishes are in flight when the outage starts.

The books: posts per account and text (a second one is a duplicate), requests that arrive for
an account inside a rate-limit window it announced (each is a violation), and the idempotency
keys whose request got no definitive answer (`withheld`: a timeout or a 502): for those, and
only those, "the outcome is unknown" is a true reason.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler

from tests.servers.base import Fault, Request, Response
from tests.servers.mastodon import MastodonServer
from tests.servers.webhook import WebhookServer

KINDS = ("error", "rate_limit", "timeout_before", "timeout_after")
GRACE = 0.05
"""Seconds of clock granularity allowed at the end of a rate-limit window."""


class Faulty:
    """Fault injection and books, mixed into a contract server (which provides `lock`, `faults`
    and `_dispatch`)."""

    lock: threading.RLock

    def setup_faults(self, *, fault_rate: float, timeout: float, seed: int) -> None:
        self.fault_rate = fault_rate
        self.client_timeout = timeout
        self.rng = random.Random(seed)
        self.faults_on = True
        self.latency = 0.0
        """Seconds every accepted post waits before its answer (below the client's timeout)."""
        self.injected: Counter[str] = Counter()
        self.windows: dict[str, list[tuple[float, float]]] = {}
        self.violations: list[dict[str, object]] = []
        self.withheld: set[str] = set()
        self.processed: Counter[str] = Counter()
        """Requests per idempotency key that reached processing (a post was or would be created)."""
        self.in_flight = 0

    # what each server is: which requests are posts, whose they are, how it says "too many"
    def is_post(self, request: Request) -> bool:
        raise NotImplementedError

    def who(self, request: Request) -> str:
        raise NotImplementedError

    def too_many(self, reset: float) -> Response:
        raise NotImplementedError

    def chaos_fault(self, request: Request) -> Fault | None:
        key = request.header("Idempotency-Key") or ""
        who = self.who(request)
        now = time.time()
        with self.lock:
            for start, end in self.windows.get(who, []):
                if start < now < end - GRACE:
                    self.violations.append(
                        {"who": who, "after_start": round(now - start, 3), "before_end": round(end - now, 3)}
                    )
                    break
            if not self.faults_on or self.rng.random() >= self.fault_rate:
                self.processed[key] += 1
                if self.latency:
                    release = threading.Event()
                    threading.Timer(self.latency, release.set).start()
                    return Fault(hold=release)
                return None
            kind = self.rng.choice(KINDS)
            self.injected[kind] += 1
            if kind == "rate_limit":
                reset = now + self.rng.uniform(1.0, 3.0)
                self.windows.setdefault(who, []).append((now, reset))
                return Fault(response=self.too_many(reset))
            if kind == "error":
                status = self.rng.choice((500, 502, 503))
                self.injected[f"http_{status}"] += 1
                if status == 502:  # a gateway's answer: the post may or may not have gone through
                    self.withheld.add(key)
                return Fault(response=Response(status, {"error": "Something went wrong"}))
            self.withheld.add(key)
        late = self.client_timeout + 1.0
        if kind == "timeout_before":
            return Fault(delay=late, response=Response(503, {"error": "too late"}))
        with self.lock:
            self.processed[key] += 1
        release = threading.Event()
        threading.Timer(late, release.set).start()
        return Fault(after_processing=True, hold=release)

    def count_in_flight(self, change: int) -> None:
        with self.lock:
            self.in_flight += change


class ChaosMastodon(Faulty, MastodonServer):
    def __init__(self, tokens: dict[str, str], *, fault_rate: float, timeout: float, seed: int) -> None:
        MastodonServer.__init__(self, tokens, rate_limit=1_000_000)
        self.setup_faults(fault_rate=fault_rate, timeout=timeout, seed=seed)

    def is_post(self, request: Request) -> bool:
        return request.method == "POST" and request.path == "/api/v1/statuses"

    def who(self, request: Request) -> str:
        return (request.header("Authorization") or "").removeprefix("Bearer ").strip()

    def too_many(self, reset: float) -> Response:
        stamp = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return Response(429, {"error": "Too many requests"}, {"X-RateLimit-Reset": stamp})

    def _take_fault(self, request: Request) -> Fault | None:
        scripted = super()._take_fault(request)
        if scripted is not None or not self.is_post(request):
            return scripted
        return self.chaos_fault(request)

    def _dispatch(self, handler: BaseHTTPRequestHandler, request: Request) -> None:
        self.count_in_flight(1)
        try:
            super()._dispatch(handler, request)
        finally:
            self.count_in_flight(-1)

    def posts_per_text(self) -> Counter[tuple[str, str]]:
        with self.lock:
            return Counter((c["token"], c["text"]) for c in self.created)

    def remote(self, remote_id: str) -> tuple[str, str] | None:
        """(who, text) of the post with `remote_id`."""
        with self.lock:
            for created in self.created:
                if created["id"] == remote_id:
                    return str(created["token"]), str(created["text"])
        return None


class ChaosWebhook(Faulty, WebhookServer):
    """A receiver that does not de-duplicate: every request that reaches processing is a post (a
    second one for the same key is a blind re-send, a duplicate), as for Slack's or a chat's
    incoming webhooks. It cannot be asked afterwards whether a post arrived."""

    def __init__(self, *, fault_rate: float, timeout: float, seed: int) -> None:
        WebhookServer.__init__(self)
        self.setup_faults(fault_rate=fault_rate, timeout=timeout, seed=seed)
        self.paths: dict[str, str] = {}
        """The path (the account) each key was posted to."""

    def is_post(self, request: Request) -> bool:
        return request.method == "POST"

    def who(self, request: Request) -> str:
        return request.path

    def too_many(self, reset: float) -> Response:
        stamp = format_datetime(datetime.fromtimestamp(reset + 1, UTC), usegmt=True)  # whole seconds
        return Response(429, {"error": "Too many requests"}, {"Retry-After": stamp})

    def _take_fault(self, request: Request) -> Fault | None:
        scripted = super()._take_fault(request)
        if scripted is not None or not self.is_post(request):
            return scripted
        return self.chaos_fault(request)

    def _dispatch(self, handler: BaseHTTPRequestHandler, request: Request) -> None:
        self.count_in_flight(1)
        try:
            super()._dispatch(handler, request)
        finally:
            self.count_in_flight(-1)

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.paths.setdefault(request.header("Idempotency-Key") or "", request.path)
        return super().handle(request)

    def posts_per_text(self) -> Counter[tuple[str, str]]:
        """Posts per (path, text): each key's first post, plus every re-send that reached processing."""
        with self.lock:
            return Counter(
                {
                    (self.paths.get(item["idempotency_key"], ""), item["text"]): self.processed[
                        item["idempotency_key"]
                    ]
                    for item in self.created
                }
            )

    def remote(self, remote_id: str) -> tuple[str, str] | None:
        with self.lock:
            for item in self.created:
                if item["id"] == remote_id:
                    return self.paths.get(item["idempotency_key"], ""), str(item["text"])
        return None
