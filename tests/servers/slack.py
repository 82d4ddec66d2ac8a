"""A Slack contract server: incoming webhooks and the Web API methods postmast uses.

Slack publishes no machine-readable spec of incoming webhooks (NETWORKS.md §13), so this
server follows the official documentation, page by page:
- incoming webhooks: api.slack.com/messaging/webhooks and
  api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks (200 `ok`;
  400 `invalid_payload`, `no_text`; 403 `invalid_token`, `action_prohibited`; 404
  `no_service`, `channel_not_found`; 410 `channel_is_archived`; 500 `rollup_error`);
- docs.slack.dev/reference/methods/chat.postMessage (arguments, `{"ok", "channel", "ts",
  "message"}`, errors `not_in_channel`, `channel_not_found`, `is_archived`, `no_text`,
  `thread_not_found`, `invalid_metadata_format`), /chat.getPermalink (the
  `https://WORKSPACE.slack.com/archives/CHANNEL/pTS` form, `?thread_ts=…&cid=…` for replies),
  /conversations.history and /conversations.replies (`oldest`, `inclusive`, `limit`,
  `has_more`, `include_all_metadata`, scope `channels:history`), /auth.test;
- the common errors of every method (`invalid_auth`, `not_authed`, `token_revoked`,
  `missing_scope`), api.slack.com/docs/rate-limits (HTTP 429 with `Retry-After`),
  api.slack.com/changelog/2018-04-truncating-really-long-messages (over 40,000 characters the
  text is truncated, with a `message_truncated` warning), and
  api.slack.com/reference/surfaces/formatting (`&`, `<`, `>` are control characters;
  `<!channel>`, `<@U…>`, `<url|label>` are control sequences; `&amp;`, `&lt;`, `&gt;` show
  as the characters).

Stateful: one workspace with channels (the bot a member or not, archived or not), their
messages and threads; webhooks by path; bot tokens (revoked by `revoke`, scopes in `scopes`).
`ts` values come from the server's `clock` (a test's fake clock, so `oldest=` works on any
date). Each message is stored as sent and also as a reader sees it (`shown`), with the
people a control sequence would notify (`notified`). Unknown arguments are refused
(`invalid_arguments`), stricter than Slack, so a misspelt one fails a test.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import regex

from tests.servers.base import ContractServer, Request, Response
from tests.servers.forms import read_body

TEAM_URL = "https://harbour.slack.com/"
CHANNEL = "C0HARBOUR1"
PRIVATE = "C0PRIVATE9"
OUTSIDE = "C0OUTSIDE7"
BOT_USER, BOT_ID = "U0POSTMAST", "B0POSTMAST"
BOT_TOKEN = "xoxb-1111111111-2222222222-PostmastBotTokenSecret0"
WEBHOOK_PATH = "/services/T0HARBOUR/B0WEBHOOK/wEbHoOkSeCrEt0123456789"
POST_ARGUMENTS = {
    "channel", "text", "blocks", "attachments", "as_user", "icon_emoji", "icon_url", "link_names",
    "metadata", "mrkdwn", "parse", "reply_broadcast", "thread_ts", "unfurl_links", "unfurl_media", "username",
}  # fmt: skip
WEBHOOK_ARGUMENTS = {"text", "blocks", "attachments", "unfurl_links", "unfurl_media", "mrkdwn", "thread_ts"}
_SEQUENCE = regex.compile(r"<([^<>]*)>")


def shown(text: str) -> tuple[str, list[str]]:
    """What a reader sees of a message's text, and whom its control sequences notify."""
    notified: list[str] = []

    def sequence(found: regex.Match[str]) -> str:
        inner = found[1]
        target, _, label = inner.partition("|")
        if target.startswith("!"):
            notified.append(target[1:])
            return label or f"@{target[1:]}"
        if target.startswith("@"):
            notified.append(target[1:])
            return label or target
        if target.startswith("#"):
            return label or target
        return label or target

    seen = _SEQUENCE.sub(sequence, text)
    return seen.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"), notified


def ok(**fields: Any) -> Response:
    return Response(200, {"ok": True, **fields})


def fail(code: str, status: int = 200, **fields: Any) -> Response:
    return Response(status, {"ok": False, "error": code, **fields})


def text_answer(status: int, word: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, raw=word.encode(), headers={"Content-Type": "text/html", **(headers or {})})


@dataclass
class Channel:
    id: str
    name: str
    member: bool = True
    private: bool = False
    archived: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)


class SlackServer(ContractServer):
    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        per_channel: int = 100,
        window: float = 1.0,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.per_channel, self.window = per_channel, window
        self.channels = {
            CHANNEL: Channel(CHANNEL, "harbour"),
            PRIVATE: Channel(PRIVATE, "crew", member=False, private=True),
            OUTSIDE: Channel(OUTSIDE, "random", member=False),
        }
        self.webhooks = {WEBHOOK_PATH: CHANNEL}
        self.tokens = {BOT_TOKEN: {"user_id": BOT_USER, "bot_id": BOT_ID}}
        self.scopes = {"chat:write", "channels:history", "groups:history"}
        self.created: list[dict[str, Any]] = []
        """Every message posted, in order (also what `python -m tests.servers` prints)."""
        self._sent: dict[str, list[float]] = defaultdict(list)
        self._sequence = itertools.count(1)

    # -- the world --------------------------------------------------------------------------------

    def revoke(self, token: str = BOT_TOKEN) -> None:
        with self.lock:
            self.tokens.pop(token, None)

    def remove_webhook(self, path: str = WEBHOOK_PATH) -> None:
        with self.lock:
            self.webhooks.pop(path, None)

    def posts(self) -> list[Request]:
        return [
            r for r in self.requests if r.path == "/api/chat.postMessage" or r.path.startswith("/services/")
        ]

    def _ts(self) -> str:
        return f"{self.clock().timestamp():.0f}.{next(self._sequence):06d}"

    def _spend(self, channel: str) -> bool:
        now = time.monotonic()
        used = [t for t in self._sent[channel] if t > now - self.window]
        self._sent[channel] = used
        if len(used) >= self.per_channel:
            return False
        used.append(now)
        return True

    # -- serving ----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        with self.lock:
            if request.path.startswith("/services/"):
                return self._webhook(request)
            if not request.path.startswith("/api/"):
                return text_answer(404, "not_found")
            return self._method(request.path.removeprefix("/api/"), request)

    def _webhook(self, request: Request) -> Response:
        channel_id = self.webhooks.get(request.path)
        if channel_id is None:
            return text_answer(404, "no_service")
        body = read_body(request)
        if body.media != "application/json" or set(body.fields) - WEBHOOK_ARGUMENTS:
            return text_answer(400, "invalid_payload")
        if not body.fields.get("text"):
            return text_answer(400, "no_text")
        channel = self.channels[channel_id]
        if channel.archived:
            return text_answer(410, "channel_is_archived")
        if not self._spend(channel.id):
            return text_answer(429, "rate_limited", {"Retry-After": "1"})
        self._store(channel, body.fields, {"bot_id": "B0WEBHOOK", "subtype": "bot_message"}, via="webhook")
        return text_answer(200, "ok")

    def _method(self, method: str, request: Request) -> Response:
        body = read_body(request)
        arguments = {k: v[-1] for k, v in request.query.items()} | body.fields
        header = request.header("Authorization") or ""
        token = (
            header.removeprefix("Bearer ") if header.startswith("Bearer ") else arguments.pop("token", None)
        )
        if not token:
            return fail("not_authed")
        bot = self.tokens.get(token)
        if bot is None:
            return fail("invalid_auth")
        if method == "auth.test":
            return ok(url=TEAM_URL, team="Harbour", user="postmast", team_id="T0HARBOUR", **bot)
        channel = self.channels.get(str(arguments.get("channel", "")))
        if method not in (
            "chat.postMessage",
            "chat.getPermalink",
            "conversations.history",
            "conversations.replies",
        ):
            return fail("unknown_method")
        if channel is None or (channel.private and not channel.member):
            return fail("channel_not_found")  # a private channel the app is not in does not exist for it
        if not channel.member and method != "chat.getPermalink":
            return fail("not_in_channel")
        if method == "chat.postMessage":
            return self._post(channel, arguments, bot, body.media)
        if method == "chat.getPermalink":
            return self._permalink(channel, str(arguments.get("message_ts", "")))
        if not {"channels:history", "groups:history"} & self.scopes:
            return fail("missing_scope", needed="channels:history", provided=",".join(sorted(self.scopes)))
        return self._history(channel, arguments, method)

    def _post(self, channel: Channel, arguments: dict[str, Any], bot: dict[str, str], media: str) -> Response:
        if "chat:write" not in self.scopes:
            return fail("missing_scope", needed="chat:write")
        if media != "application/json" or set(arguments) - POST_ARGUMENTS:
            return fail("invalid_arguments")
        if channel.archived:
            return fail("is_archived")
        if not arguments.get("text") and not arguments.get("blocks"):
            return fail("no_text")
        metadata = arguments.get("metadata")
        if metadata is not None and not (
            isinstance(metadata, dict)
            and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload"), dict)
        ):
            return fail("invalid_metadata_format")
        thread = arguments.get("thread_ts")
        if thread and not any(m["ts"] == thread for m in channel.messages):
            return fail("thread_not_found")
        if not self._spend(channel.id):
            return Response(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
        warnings = []
        if len(str(arguments.get("text", ""))) > 40_000:
            arguments = {**arguments, "text": str(arguments["text"])[:40_000]}
            warnings.append("message_truncated")
        message = self._store(
            channel, arguments, {"user": bot["user_id"], "bot_id": bot["bot_id"]}, via="api"
        )
        answer = {k: v for k, v in message.items() if k not in ("shown", "notified", "metadata")}
        extra = {"response_metadata": {"warnings": warnings}} if warnings else {}
        return ok(channel=channel.id, ts=message["ts"], message=answer, **extra)

    def _store(
        self, channel: Channel, arguments: dict[str, Any], author: dict[str, str], via: str
    ) -> dict[str, Any]:
        text = str(arguments.get("text", ""))
        seen, notified = shown(text)
        message: dict[str, Any] = {"type": "message", "ts": self._ts(), "text": text, **author}
        if arguments.get("thread_ts"):
            message["thread_ts"] = arguments["thread_ts"]
        if arguments.get("metadata"):
            message["metadata"] = arguments["metadata"]
        message.update(shown=seen, notified=notified)
        channel.messages.append(message)
        self.created.append(
            {
                "id": message["ts"],
                "channel": channel.id,
                "text": seen,
                "raw": text,
                "notified": notified,
                "via": via,
                "thread_ts": message.get("thread_ts"),
                "unfurl_links": arguments.get("unfurl_links"),
            }
        )
        return message

    def _permalink(self, channel: Channel, ts: str) -> Response:
        message = next((m for m in channel.messages if m["ts"] == ts), None)
        if message is None:
            return fail("message_not_found")
        link = f"{TEAM_URL}archives/{channel.id}/p{ts.replace('.', '')}"
        if message.get("thread_ts"):
            link += f"?thread_ts={message['thread_ts']}&cid={channel.id}"
        return ok(channel=channel.id, permalink=link)

    def _history(self, channel: Channel, arguments: dict[str, Any], method: str) -> Response:
        oldest = float(arguments.get("oldest") or 0)
        inclusive = str(arguments.get("inclusive", "")).lower() in ("true", "1")
        limit = min(int(arguments.get("limit") or 100), 999)
        if method == "conversations.replies":
            parent = str(arguments.get("ts", ""))
            if not any(m["ts"] == parent for m in channel.messages):
                return fail("thread_not_found")
            chosen = [m for m in channel.messages if parent in (m["ts"], m.get("thread_ts"))]
        else:
            chosen = [m for m in channel.messages if not m.get("thread_ts") or m["thread_ts"] == m["ts"]]
        chosen = [m for m in chosen if float(m["ts"]) > oldest or (inclusive and float(m["ts"]) == oldest)]
        if method == "conversations.history":
            chosen = sorted(chosen, key=lambda m: float(m["ts"]), reverse=True)
        with_metadata = str(arguments.get("include_all_metadata", "")).lower() in ("true", "1")
        hidden = {"shown", "notified"} | (set() if with_metadata else {"metadata"})
        page = [{k: v for k, v in m.items() if k not in hidden} for m in chosen[:limit]]
        return ok(messages=page, has_more=len(chosen) > limit)
