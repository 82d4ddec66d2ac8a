"""Generic webhook: POSTs a JSON document to a URL you configure.

It lets anyone run postmast end to end without an account anywhere (the demo uses
it), and it is a clean way to feed chat tools or your own automation.

Request: `POST {url}` with `Content-Type: application/json`, an `Idempotency-Key`
header that is stable across retries of one delivery, and, when a signing secret is
set, `X-Postmast-Signature: sha256=<hex HMAC-SHA256 of the body>`. Body:
`{"text": ..., "idempotency_key": ..., "reply_to": ...}`.

Response: any 2xx is success. If the body is JSON with `id` (and optionally `url`),
those are recorded; otherwise the idempotency key stands in as the remote id.

| response                   | error class        |
|----------------------------|--------------------|
| 401, 403                   | AuthExpired        |
| 429                        | RateLimited (`Retry-After`, seconds or HTTP date) |
| 408, 500, 503              | TransientError     |
| 502, 504                   | OutcomeUnknown (a proxy may have forwarded it) |
| other 4xx                  | PermanentError     |
| other 5xx                  | TransientError     |
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from postmast.connectors.base import Connector, check_http_url
from postmast.connectors.content import Content, Field, Problem, PublishResult
from postmast.connectors.errors import (
    AuthExpired,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import json_or_none, short_body
from postmast.connectors.ratelimit import retry_after


class Webhook(Connector):
    name: ClassVar[str] = "webhook"
    title: ClassVar[str] = "Webhook"
    max_length: ClassVar[int] = 65_536
    settings_fields: ClassVar[tuple[Field, ...]] = (
        Field("url", "the http(s) URL that receives each post as JSON"),
        Field("max_length", "text limit in characters (default 65536)", required=False),
    )
    secret_fields: ClassVar[tuple[Field, ...]] = (
        Field(
            "signing_secret",
            "key for the X-Postmast-Signature HMAC (empty: unsigned)",
            required=False,
            secret=True,
        ),
    )
    setup: ClassVar[str] = (
        "postmast account add webhook NAME --set url=https://example.org/hook; "
        "the receiver gets JSON {text, idempotency_key, reply_to}."
    )

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        problems = super().check_settings(settings)
        if settings.get("url"):
            problems += check_http_url(settings["url"], "url")
        return problems

    def payload(self, content: Content, idempotency_key: str = "(assigned when queued)") -> dict[str, Any]:
        return {
            "text": content.text,
            "idempotency_key": idempotency_key,
            "reply_to": content.reply_to.id if content.reply_to else None,
        }

    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        body = json.dumps(self.payload(content, idempotency_key), ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        secret = credentials.get("signing_secret")
        if secret:
            digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
            headers["X-Postmast-Signature"] = f"sha256={digest}"
        response = self.http.post(self.settings["url"], data=body, headers=headers)
        status = response.status_code
        if 200 <= status < 300:
            data = json_or_none(response)
            if isinstance(data, dict) and data.get("id") is not None:
                url = data.get("url")
                return PublishResult(str(data["id"]), str(url) if url else None, status)
            return PublishResult(idempotency_key, None, status)
        reason = f"webhook answered {status}: {short_body(response)}"
        if status in (401, 403):
            raise AuthExpired(reason, http_status=status)
        if status == 429:
            wait = retry_after(response.headers.get("Retry-After", ""), self.clock())
            raise RateLimited(reason, retry_after=wait, http_status=status)
        if status in (502, 504):
            raise OutcomeUnknown(reason, http_status=status)
        if status == 408 or status >= 500:
            raise TransientError(reason, http_status=status)
        raise PermanentError(reason, http_status=status)
