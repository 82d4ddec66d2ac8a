"""A Discord contract server (API v10), built from Discord's own OpenAPI spec and its docs.

Sources: tests/conformance/discord-api-spec/specs/openapi.json (`execute_webhook`,
`get_webhook_by_token`, `create_message`, `list_messages`, `get_channel`, `get_my_user`,
`RatelimitedResponse`, `ErrorResponse`, the `X-RateLimit-*` headers); discord-api-docs
resources/webhook.md (`wait`), resources/message.md (`nonce`, `enforce_nonce`, uploading
files with `payload_json` and `files[n]`, `allowed_mentions`), topics/rate-limits.md and
topics/opcodes-and-status-codes.md (JSON error codes); discord-api-docs PR #6647 (a nonce
enforced for "the past few minutes"; a deleted message's nonce answers 10008).

Every JSON body (or `payload_json`) is checked against `IncomingWebhookRequestPartial` or
`MessageCreateRequest` (`discord_spec.py`, which also refuses undeclared fields: a `nonce`
sent to a webhook fails loudly here, where Discord would silently ignore it).

Stateful: a guild with channels, each with its messages; a webhook on a channel (deleted by
`delete_webhook`); a bot (its token revoked by `revoke_bot`, its permissions in `perms`);
message ids are snowflakes of the server's `clock` (a test's fake clock, so `after=` works
on any date); enforced nonces are remembered `nonce_window` seconds of that clock. Every
answer carries `X-RateLimit-*` headers of its route's bucket (`limit` per `window` seconds);
over it, a 429 `RatelimitedResponse` with `Retry-After` and `X-RateLimit-Scope: user`.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import regex

from tests.servers.base import ContractServer, Request, Response
from tests.servers.discord_spec import DiscordSpec
from tests.servers.forms import read_body

GUILD = "1000000000000000001"
CHANNEL = "1100000000000000001"
WEBHOOK_ID = "1200000000000000001"
WEBHOOK_TOKEN = "wHk-T0ken_9fA3xQ2LmN8pRt5VyZ1bC4dE7gH0jK3nP6sU"
BOT_ID = "1300000000000000001"
BOT_TOKEN = "MTMwMDAwMDAwMDAwMDAwMDAwMQ.GhJkLm.bot-token-secret-0123456789abcdef"
EPOCH_MS = 1_420_070_400_000
UPLOAD_LIMIT = 10 * 1024 * 1024
_ROUTES = [
    ("webhook", regex.compile(r"/api/v10/webhooks/(?P<id>[0-9]+)/(?P<token>[^/]+)")),
    ("messages", regex.compile(r"/api/v10/channels/(?P<channel>[0-9]+)/messages")),
    ("channel", regex.compile(r"/api/v10/channels/(?P<channel>[0-9]+)")),
    ("me", regex.compile(r"/api/v10/users/@me")),
]


def error(status: int, message: str, code: int, errors: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return Response(status, body)


def rate_limited(retry_after: float, *, scope: str = "user", is_global: bool = False) -> Response:
    """A 429 as Discord sends it: the body's `retry_after` and the headers."""
    return Response(
        429,
        {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global},
        {
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": "abcd1234",
            "X-RateLimit-Scope": scope,
            **({"X-RateLimit-Global": "true"} if is_global else {}),
        },
    )


@dataclass
class Channel:
    id: str
    name: str
    messages: list[dict[str, Any]] = field(default_factory=list)


class DiscordServer(ContractServer):
    def __init__(
        self,
        spec: Path,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        limit: int = 50,
        window: float = 1.0,
        nonce_window: float = 300.0,
    ) -> None:
        super().__init__()
        self.spec = DiscordSpec.load(spec)
        self.clock = clock
        self.limit, self.window, self.nonce_window = limit, window, nonce_window
        self.channels = {CHANNEL: Channel(CHANNEL, "announcements")}
        self.webhooks: dict[str, dict[str, Any]] = {
            WEBHOOK_ID: {"token": WEBHOOK_TOKEN, "channel_id": CHANNEL, "name": "Harbour Bot"}
        }
        self.bots = {BOT_TOKEN: {"id": BOT_ID, "username": "postmast", "bot": True}}
        self.perms = {"send", "read_history"}
        self.created: list[dict[str, Any]] = []
        """Every message created, in order (also what `python -m tests.servers` prints)."""
        self.files: dict[str, bytes] = {}
        self._nonces: dict[tuple[str, str], tuple[dict[str, Any], datetime]] = {}
        self._buckets: dict[str, list[float]] = defaultdict(list)
        self._sequence = itertools.count()

    # -- the world --------------------------------------------------------------------------------

    def delete_webhook(self, webhook_id: str = WEBHOOK_ID) -> None:
        with self.lock:
            self.webhooks.pop(webhook_id, None)

    def revoke_bot(self, token: str = BOT_TOKEN) -> None:
        with self.lock:
            self.bots.pop(token, None)

    def delete_message(self, message_id: str) -> None:
        with self.lock:
            for channel in self.channels.values():
                channel.messages = [m for m in channel.messages if m["id"] != message_id]

    def posts(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST"]

    def _snowflake(self) -> str:
        ms = int(self.clock().timestamp() * 1000) - EPOCH_MS
        return str((ms << 22) | (next(self._sequence) % 4096))

    # -- serving ----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        routed = next(((n, m) for n, p in _ROUTES if (m := p.fullmatch(request.path))), None)
        if routed is None:
            return error(404, "404: Not Found", 0)
        name, found = routed
        bucket = (
            f"{request.method} {name} {found.groupdict().get('id') or found.groupdict().get('channel') or ''}"
        )
        with self.lock:
            limited = self._spend(bucket)
            if limited is not None:
                return limited
            response = self._route(name, request, found.groupdict())
            used = len(self._buckets[bucket])
            reset_after = self.window
        response.headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - used)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": f"{abs(hash(bucket)) % 16**8:08x}",
            **response.headers,
        }
        return response

    def _spend(self, bucket: str) -> Response | None:
        now = time.monotonic()
        used = [t for t in self._buckets[bucket] if t > now - self.window]
        self._buckets[bucket] = used
        if len(used) >= self.limit:
            return rate_limited(round(used[0] + self.window - now, 3))
        used.append(now)
        return None

    def _route(self, name: str, request: Request, params: dict[str, str]) -> Response:
        if name == "webhook":
            hook = self.webhooks.get(params["id"])
            if hook is None:
                return error(404, "Unknown Webhook", 10015)
            if hook["token"] != params["token"]:
                return error(401, "Invalid Webhook Token", 50027)
            if request.method == "GET":
                return Response(200, {"id": params["id"], "type": 1, "guild_id": GUILD, **_public(hook)})
            author = {"id": params["id"], "username": hook["name"], "bot": True}
            return self._create(
                request, self.channels[hook["channel_id"]], author, "IncomingWebhookRequestPartial"
            )
        bot = self.bots.get((request.header("Authorization") or "").removeprefix("Bot "))
        if bot is None:
            return error(401, "401: Unauthorized", 0)
        if name == "me":
            return Response(200, bot)
        channel = self.channels.get(params["channel"])
        if channel is None:
            return error(404, "Unknown Channel", 10003)
        if name == "channel":
            return Response(200, {"id": channel.id, "type": 0, "guild_id": GUILD, "name": channel.name})
        if request.method == "GET":
            return self._list(channel, request.query)
        if "send" not in self.perms:
            return error(403, "Missing Permissions", 50013)
        return self._create(request, channel, bot, "MessageCreateRequest")

    def _list(self, channel: Channel, query: dict[str, list[str]]) -> Response:
        if "read_history" not in self.perms:
            return error(403, "Missing Access", 50001)
        limit = int(query.get("limit", ["50"])[0])
        if not 1 <= limit <= 100:
            return error(
                400, "Invalid Form Body", 50035, {"limit": {"_errors": [{"code": "NUMBER_TYPE_MAX"}]}}
            )
        after = int(query.get("after", ["0"])[0])
        newer = [m for m in channel.messages if int(m["id"]) > after]
        newest_first = sorted(newer, key=lambda m: int(m["id"]), reverse=True)
        return Response(200, [{k: v for k, v in m.items() if k != "nonce"} for m in newest_first[:limit]])

    def _create(self, request: Request, channel: Channel, author: dict[str, Any], schema: str) -> Response:
        body = read_body(request)
        if body.media == "multipart/form-data":
            try:
                data = json.loads(body.fields.get("payload_json", "{}"))
            except ValueError:
                return error(
                    400, "Invalid Form Body", 50035, {"payload_json": {"_errors": [{"code": "JSON"}]}}
                )
        elif body.media == "application/json":
            data = body.fields
        else:
            return error(400, "Invalid Form Body", 50035, {"_errors": [{"code": "CONTENT_TYPE_INVALID"}]})
        problems = self.spec.check(schema, data)
        if problems:
            return error(400, "Invalid Form Body", 50035, problems)
        declared = {str(a["id"]): a for a in data.get("attachments") or []}
        files = {k.removeprefix("files[").removesuffix("]"): v for k, v in body.files.items()}
        if set(declared) != set(files):
            return error(
                400,
                "Invalid Form Body",
                50035,
                {"attachments": {"_errors": [{"code": "ATTACHMENT_NOT_FOUND"}]}},
            )
        if any(len(part.data) > UPLOAD_LIMIT for part in files.values()):
            return error(413, "Request entity too large", 40005)
        if not (data.get("content") or data.get("embeds") or files):
            return error(400, "Cannot send an empty message", 50006)
        nonce = data.get("nonce")
        remembered = (
            self._nonces.get((author["id"], str(nonce))) if data.get("enforce_nonce") and nonce else None
        )
        if remembered and (self.clock() - remembered[1]).total_seconds() < self.nonce_window:
            if not any(m["id"] == remembered[0]["id"] for m in channel.messages):
                return error(404, "Unknown Message", 10008)
            return Response(200, remembered[0])
        if schema == "IncomingWebhookRequestPartial":
            author = {**author, "username": data.get("username") or author["username"]}
        message = self._message(channel, author, data, declared, files)
        if schema == "IncomingWebhookRequestPartial":
            message["webhook_id"] = author["id"]
            if request.query.get("wait", ["false"])[0] != "true":
                return Response(204)
        if nonce is not None:
            message["nonce"] = nonce
            self._nonces[(author["id"], str(nonce))] = (message, self.clock())
        return Response(200, message)

    def _message(
        self,
        channel: Channel,
        author: dict[str, Any],
        data: dict[str, Any],
        declared: dict[str, Any],
        files: dict[str, Any],
    ) -> dict[str, Any]:
        content = data.get("content") or ""
        everyone = ("@everyone" in content or "@here" in content) and "everyone" in (
            (data.get("allowed_mentions") or {"parse": ["everyone"]}).get("parse") or []
        )
        attachments = []
        for key, part in sorted(files.items()):
            attachment_id = self._snowflake()
            self.files[attachment_id] = part.data
            attachments.append(
                {
                    "id": attachment_id,
                    "filename": declared[key].get("filename") or part.filename,
                    "description": declared[key].get("description"),
                    "content_type": part.content_type,
                    "size": len(part.data),
                }
            )
        message = {
            "id": self._snowflake(),
            "type": 0,
            "channel_id": channel.id,
            "content": content,
            "author": author,
            "attachments": attachments,
            "embeds": [{**e, "type": "rich"} for e in data.get("embeds") or []],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": everyone,
            "pinned": False,
            "tts": False,
            "timestamp": self.clock().isoformat(),
            "edited_timestamp": None,
            "flags": data.get("flags") or 0,
            "components": [],
        }
        if data.get("avatar_url"):
            message["author"] = {**author, "avatar_url": data["avatar_url"]}
        channel.messages.append(message)
        self.created.append({**message, "text": content, "media_ids": [a["id"] for a in attachments]})
        return message


def _public(hook: dict[str, Any]) -> dict[str, Any]:
    return {"channel_id": hook["channel_id"], "name": hook["name"], "avatar": None, "application_id": None}
