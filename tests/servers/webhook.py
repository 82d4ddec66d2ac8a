"""A webhook receiver written from the contract in `connectors/webhook.py`'s docstring.

Behaviour: `POST` on any path with `Content-Type: application/json` and a body that
is exactly `{"text", "idempotency_key", "reply_to"}`; the `Idempotency-Key` header
must equal the body's key (400 otherwise). When a signing secret is configured the
`X-Postmast-Signature: sha256=<hex>` header must be the HMAC-SHA256 of the raw body
(401 otherwise). A replayed key answers the item created the first time. The answer
is JSON `{"id", "url"}` (`answer="json"`), a plain-text `ok` (`answer="text"`) or an
empty 204 (`answer="empty"`). Never echoes the request path (it may hold a secret).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from typing import Any

from tests.servers.base import ContractServer, Request, Response

FIELDS = {"text", "idempotency_key", "reply_to"}


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookServer(ContractServer):
    def __init__(self, secret: str | None = None, *, answer: str = "json") -> None:
        super().__init__()
        self.secret = secret
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
            given = request.header("X-Postmast-Signature") or ""
            if not hmac.compare_digest(given, sign(self.secret, request.body)):
                return Response(401, {"error": "bad signature"})
        try:
            data = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return Response(400, {"error": "body is not JSON"})
        if not isinstance(data, dict) or set(data) != FIELDS:
            return Response(400, {"error": f"body must have exactly {sorted(FIELDS)}"})
        key = request.header("Idempotency-Key")
        if not key or key != data["idempotency_key"]:
            return Response(400, {"error": "Idempotency-Key header must match the body"})
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
