"""A webhook receiver written from the contract in `connectors/webhook.py`'s docstring.

Behaviour: `POST` on any path with `Content-Type: application/json` and a body that
is exactly `{"text", "idempotency_key", "reply_to"}`; the `Idempotency-Key` header
must equal the body's key (400 otherwise). When a signing secret is configured the
request must carry Standard Webhooks headers that the `standardwebhooks` library (PyPI,
the convention's own) accepts: `webhook-id` (equal to the idempotency key),
`webhook-timestamp` within 5 minutes of the receiver's clock, and a `webhook-signature`
the library computes too (401 otherwise: a replayed capture is refused once it is old).
A replayed key answers the item created the first time. The answer
is JSON `{"id", "url"}` (`answer="json"`), a plain-text `ok` (`answer="text"`) or an
empty 204 (`answer="empty"`). Never echoes the request path (it may hold a secret).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks import Webhook as Verifier

from postmast.connectors.webhook import signing_key
from tests.servers.base import ContractServer, Request, Response

FIELDS = {"text", "idempotency_key", "reply_to"}
TOLERANCE = timedelta(minutes=5)
"""The library's own tolerance for `webhook-timestamp`."""


def verify(secret: str, request: Request, now: datetime) -> str | None:
    """Why the request's Standard Webhooks headers are wrong, or None: the signature as the
    `standardwebhooks` library computes it, the timestamp against the receiver's `now`."""
    message_id = request.header("webhook-id")
    stamp = request.header("webhook-timestamp") or ""
    given = request.header("webhook-signature") or ""
    if not message_id or not stamp.isdecimal() or not given:
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    sent = datetime.fromtimestamp(int(stamp), UTC)
    if abs(now - sent) > TOLERANCE:
        return "webhook-timestamp too old or too new"
    expected = Verifier(signing_key(secret)).sign(message_id, sent, request.body.decode("utf-8"))
    if expected not in given.split(" "):
        return "bad signature"
    return None


class WebhookServer(ContractServer):
    def __init__(
        self,
        secret: str | None = None,
        *,
        answer: str = "json",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__()
        self.secret = secret
        self.clock = clock
        self.answer = answer
        self.created: list[dict[str, Any]] = []
        self.by_key: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return Response(405, {"error": "method not allowed"})
        if "application/json" not in (request.header("Content-Type") or ""):
            return Response(415, {"error": "expected application/json"})
        if self.secret is not None:
            problem = verify(self.secret, request, self.clock())
            if problem is not None:
                return Response(401, {"error": problem})
        try:
            data = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return Response(400, {"error": "body is not JSON"})
        if not isinstance(data, dict) or set(data) != FIELDS:
            return Response(400, {"error": f"body must have exactly {sorted(FIELDS)}"})
        key = request.header("Idempotency-Key")
        if not key or key != data["idempotency_key"]:
            return Response(400, {"error": "Idempotency-Key header must match the body"})
        if self.secret is not None and request.header("webhook-id") != key:
            return Response(400, {"error": "webhook-id must be the idempotency key"})
        with self.lock:
            item = self.by_key.get(key)
            if item is None:
                item_id = str(next(self._ids))
                item = {"id": item_id, "url": f"{self.url}/items/{item_id}", **data}
                self.created.append(item)
                self.by_key[key] = item
        if self.answer == "text":
            return Response(200, headers={"Content-Type": "text/plain"}, raw=b"ok")
        if self.answer == "empty":
            return Response(204, raw=b"")
        return Response(200, {"id": item["id"], "url": item["url"]})
