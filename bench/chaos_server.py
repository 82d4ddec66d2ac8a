"""The chaos run's network: Mastodon contract servers that misbehave on purpose.

On `POST /api/v1/statuses` a share of requests (30 % by default) meets a fault, in equal
parts: a 500, 502 or 503 before anything is created; a 429 with an ISO 8601
`X-RateLimit-Reset` one to three seconds ahead; a timeout before the post is accepted
(nothing created, the answer comes too late); and a timeout *after* it was accepted (the
status exists, the client never hears of it).

The server keeps its own books: statuses per account and text (a second status for the
same text is a duplicate), and requests that arrive for an account while a rate-limit
window it announced is still open (each is a violation).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime

from tests.servers.base import Fault, Request, Response
from tests.servers.mastodon import MastodonServer

KINDS = ("error", "rate_limit", "timeout_before", "timeout_after")
GRACE = 0.05
"""Seconds of clock granularity allowed at the end of a rate-limit window."""


class ChaosMastodon(MastodonServer):
    def __init__(self, tokens: dict[str, str], *, fault_rate: float, timeout: float, seed: int) -> None:
        super().__init__(tokens, rate_limit=1_000_000)
        self.fault_rate = fault_rate
        self.client_timeout = timeout
        self.rng = random.Random(seed)
        self.faults_on = True
        self.injected: Counter[str] = Counter()
        self.windows: dict[str, list[tuple[float, float]]] = {}
        self.violations: list[dict[str, object]] = []

    def _take_fault(self, request: Request) -> Fault | None:
        scripted = super()._take_fault(request)
        if scripted is not None or request.method != "POST" or request.path != "/api/v1/statuses":
            return scripted
        token = (request.header("Authorization") or "").removeprefix("Bearer ").strip()
        now = time.time()
        with self.lock:
            for start, end in self.windows.get(token, []):
                if start < now < end - GRACE:
                    self.violations.append(
                        {
                            "token": token,
                            "after_start": round(now - start, 3),
                            "before_end": round(end - now, 3),
                            "key": request.header("Idempotency-Key"),
                            "replay": self.key_requests.get(request.header("Idempotency-Key") or "", 0),
                            "body": request.body[:60].decode("utf-8", "replace"),
                        }
                    )
                    break
            if not self.faults_on or self.rng.random() >= self.fault_rate:
                return None
            kind = self.rng.choice(KINDS)
            self.injected[kind] += 1
            if kind == "rate_limit":
                reset = now + self.rng.uniform(1.0, 3.0)
                self.windows.setdefault(token, []).append((now, reset))
                stamp = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                return Fault(
                    response=Response(429, {"error": "Too many requests"}, {"X-RateLimit-Reset": stamp})
                )
        if kind == "error":
            status = self.rng.choice((500, 502, 503))
            self.injected[f"http_{status}"] += 1
            return Fault(response=Response(status, {"error": "Something went wrong"}))
        late = self.client_timeout + 1.0
        if kind == "timeout_before":
            return Fault(delay=late, response=Response(503, {"error": "too late"}))
        release = threading.Event()
        threading.Timer(late, release.set).start()
        return Fault(after_processing=True, hold=release)

    def statuses_per_text(self) -> Counter[tuple[str, str]]:
        with self.lock:
            return Counter((c["token"], c["text"]) for c in self.created)
