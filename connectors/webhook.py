"""Generic webhook: POSTs a JSON document to a URL you configure.

It lets anyone run postmast end to end without an account anywhere (the demo uses
it), and it is a clean way to feed chat tools or your own automation.

Request: `POST {url}` with `Content-Type: application/json`, an `Idempotency-Key`
header that is stable across retries of one delivery, and, when a signing secret is
set, the three headers of the Standard Webhooks convention
(https://www.standardwebhooks.com, spec/standard-webhooks.md in
github.com/standard-webhooks/standard-webhooks):

- `webhook-id`: the message id, the same as `Idempotency-Key` (stable across retries, so
  a receiver de-duplicates on it);
- `webhook-timestamp`: seconds since the epoch when this attempt was signed (a receiver
  rejects old ones, which stops a captured request from being replayed later);
- `webhook-signature`: `v1,` + base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`.

The key is the secret's bytes after base64-decoding when it has the convention's
`whsec_` prefix (what its libraries, e.g. PyPI's `standardwebhooks`, take as given),
else the secret's UTF-8 bytes. Body: `{"text": ..., "idempotency_key": ..., "reply_to": ...}`.

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

import base64
import binascii
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
            "key for the Standard Webhooks signature, e.g. whsec_ and base64 (empty: unsigned)",
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

    @classmethod
    def check_secrets(cls, secrets: Mapping[str, str]) -> list[Problem]:
        problems = super().check_secrets(secrets)
        secret = secrets.get("signing_secret") or ""
        if secret.startswith(SECRET_PREFIX):
            try:
                signing_key(secret)
            except ValueError as exc:
                problems.append(Problem(f"signing_secret: {exc}"))
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
            timestamp = int(self.clock().timestamp())
            try:
                signed = signature(secret, idempotency_key, timestamp, body)
            except ValueError as exc:  # caught when the account was added; nothing is sent
                raise PermanentError(f"signing_secret: {exc}") from None
            headers.update(
                {
                    "webhook-id": idempotency_key,
                    "webhook-timestamp": str(timestamp),
                    "webhook-signature": signed,
                }
            )
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


SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def signing_key(secret: str) -> bytes:
    """The HMAC key of a signing secret: base64-decoded after `whsec_`, else its UTF-8 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode("utf-8")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("after whsec_ it must be base64") from None
    if not key:
        raise ValueError("after whsec_ it must not be empty")
    return key


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))."""
    signed = message_id.encode("utf-8") + b"." + str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")
