"""A Telegram Bot API contract server, built from the Bot API's own description.

Sources: core.telegram.org/bots/api (Making requests, Sending files, sendMessage, sendPhoto,
sendMediaGroup, getMe, getChat, MarkdownV2 style, ResponseParameters) as scraped into
tests/conformance/telegram-bot-api-spec/api.json (Bot API 10.1), against which every
request's fields are checked (`telegram_spec.py`); error descriptions as NETWORKS.md §8
quotes real ones; tdlib's length rule (code points after entity parsing).

Stateful: bots (by token), chats (channels with a username or private, the bot a member
and administrator or not), each chat's messages numbered from 1, media groups, replies.
Routes: `POST|GET /bot{token}/{method}` for getMe, getChat, sendMessage, sendPhoto,
sendMediaGroup, with a JSON, form or multipart body. Answers
`{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description",
"parameters"?}`:

- 401 `Unauthorized` for an unknown or revoked token, 404 `Not Found` for a malformed one;
- 400 `Bad Request: chat not found` for a chat the bot is not in; 403 `Forbidden: bot is
  not a member of the channel chat` once it was removed (`remove_bot`);
- 400 `can't parse entities: Character 'X' is reserved and must be escaped with the
  preceding '\\'` for MarkdownV2 that is not fully escaped (this server knows no markup:
  postmast sends none), `message is too long` over 4,096, `message caption is too long`
  over 1,024, `message text is empty`;
- 429 `Too Many Requests: retry after N` with `parameters.retry_after` once a chat's
  budget (`per_chat` sends per `window` seconds) is spent.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

from tests.servers.base import ContractServer, Request, Response
from tests.servers.forms import Body, read_body
from tests.servers.telegram_spec import BotApiSpec

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
RESERVED = set("_*[]()~`>#+-=|{}.!")
_PATH = regex.compile(r"/bot(?P<token>[^/]*)/(?P<method>[A-Za-z]+)")
_IMAGES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG": "image/png"}


def failure(code: int, description: str, **parameters: Any) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Response(code, body)


def parse_markdown_v2(text: str) -> str:
    """The text a fully escaped MarkdownV2 string shows; `ValueError` with Telegram's words if any
    reserved character is unescaped (a separate reading of the rules from the connector's)."""
    shown = []
    characters = iter(text)
    for char in characters:
        if char == "\\":
            following = next(characters, None)
            if following is None or not 1 <= ord(following) <= 126:
                raise ValueError("can't parse entities: unexpected end of escape sequence")
            shown.append(following)
        elif char in RESERVED:
            raise ValueError(
                f"can't parse entities: Character '{char}' is reserved and must be escaped with "
                "the preceding '\\'"
            )
        else:
            shown.append(char)
    return "".join(shown)


@dataclass
class Chat:
    id: int
    type: str
    title: str
    username: str | None = None
    bot_member: bool = True
    removed: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"id": self.id, "type": self.type, "title": self.title}
        if self.username:
            info["username"] = self.username
        return info


class TelegramServer(ContractServer):
    def __init__(self, spec: Path, *, per_chat: int = 1000, window: float = 60.0) -> None:
        super().__init__()
        self.spec = BotApiSpec.load(spec)
        self.bots: dict[str, dict[str, Any]] = {
            TOKEN: {"id": 123456789, "is_bot": True, "first_name": "Postmast", "username": "postmast_bot"}
        }
        self.chats: dict[int, Chat] = {}
        self.per_chat = per_chat
        self.window = window
        self.created: list[dict[str, Any]] = []
        """Every message sent, in order (also what `python -m tests.servers` prints)."""
        self._sent_at: dict[int, list[float]] = defaultdict(list)
        self._groups = itertools.count(13_000_000_000_000_000)
        self._files = itertools.count(1)
        self.add_chat(-1001234567890, "channel", "Harbour News", "harbour_news")
        self.add_chat(-1009876543210, "channel", "Crew only")

    # -- the world --------------------------------------------------------------------------------

    def add_chat(self, chat_id: int, kind: str, title: str, username: str | None = None) -> Chat:
        chat = Chat(chat_id, kind, title, username)
        self.chats[chat_id] = chat
        return chat

    def revoke(self, token: str = TOKEN) -> None:
        with self.lock:
            self.bots.pop(token, None)

    def remove_bot(self, chat_id: int) -> None:
        """The bot was removed from the chat (kicked, or its rights taken)."""
        with self.lock:
            self.chats[chat_id].removed = True

    def sends(self, method: str | None = None) -> list[Request]:
        wanted = {method} if method else {"sendMessage", "sendPhoto", "sendMediaGroup"}
        return [r for r in self.requests if (m := _PATH.fullmatch(r.path)) and m["method"] in wanted]

    # -- serving ----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = _PATH.fullmatch(request.path)
        if path is None or not regex.fullmatch(r"[0-9]+:[A-Za-z0-9_-]+", path["token"]):
            return failure(404, "Not Found")
        with self.lock:
            bot = self.bots.get(path["token"])
        if bot is None:
            return failure(401, "Unauthorized")
        method = path["method"]
        if method not in ("getMe", "getChat", "sendMessage", "sendPhoto", "sendMediaGroup"):
            return failure(404, "Not Found: method not found")
        body = read_body(request)
        if body.media == "invalid":
            return failure(400, "Bad Request: can't parse request body")
        fields, problems = self.spec.check(
            method, body.fields, set(body.files), form=body.media != "application/json"
        )
        if problems:
            return failure(400, f"Bad Request: {problems[0]}")
        with self.lock:
            if method == "getMe":
                return Response(200, {"ok": True, "result": bot})
            chat = self._chat(fields["chat_id"])
            if chat is None or not chat.bot_member:
                return failure(400, "Bad Request: chat not found")
            if chat.removed:
                return failure(403, f"Forbidden: bot is not a member of the {chat.type} chat")
            if method == "getChat":
                return Response(200, {"ok": True, "result": {**chat.info(), "accent_color_id": 0}})
            return self._send(method, chat, fields, body)

    def _chat(self, chat_id: int | str) -> Chat | None:
        for chat in self.chats.values():
            if chat_id in (chat.id, f"@{chat.username}"):
                return chat
        return None

    def _send(self, method: str, chat: Chat, fields: dict[str, Any], body: Body) -> Response:
        used = [t for t in self._sent_at[chat.id] if t > time.time() - self.window]
        self._sent_at[chat.id] = used
        if len(used) >= self.per_chat:
            wait = max(1, math.ceil(used[0] + self.window - time.time()))
            return failure(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        reply = (fields.get("reply_parameters") or {}).get("message_id")
        if reply is not None and not any(m["message_id"] == reply for m in chat.messages):
            return failure(400, "Bad Request: message to be replied not found")
        try:
            if method == "sendMessage":
                items = [self._text(fields)]
            elif method == "sendPhoto":
                items = [self._photo(fields, fields.get("photo") or "attach://photo", body)]
            else:
                media = fields["media"]
                if not 2 <= len(media) <= 10:
                    return failure(400, "Bad Request: wrong number of media in the group (2-10)")
                items = [self._photo(item, item["media"], body) for item in media]
        except ValueError as exc:
            return failure(400, f"Bad Request: {exc}")
        group = str(next(self._groups)) if method == "sendMediaGroup" else None
        messages = [self._store(chat, item, fields, reply, group) for item in items]
        self._sent_at[chat.id].append(time.time())
        return Response(200, {"ok": True, "result": messages if method == "sendMediaGroup" else messages[0]})

    @staticmethod
    def _shown(raw: str, parse_mode: str | None) -> str:
        if parse_mode is None:
            return raw
        if parse_mode != "MarkdownV2":
            raise ValueError(f"unsupported parse_mode {parse_mode!r} (this server reads MarkdownV2)")
        return parse_markdown_v2(raw)

    def _text(self, fields: dict[str, Any]) -> dict[str, Any]:
        text = self._shown(fields["text"], fields.get("parse_mode")).strip()
        if not text:
            raise ValueError("message text is empty")
        if len(text) > 4096:
            raise ValueError("message is too long")
        preview = fields.get("link_preview_options") or {}
        return {"text": text, "link_preview_disabled": bool(preview.get("is_disabled"))}

    def _photo(self, fields: dict[str, Any], media: str, body: Body) -> dict[str, Any]:
        part = body.files.get(media.removeprefix("attach://")) if media.startswith("attach://") else None
        if part is None:
            raise ValueError("wrong file identifier/HTTP URL specified")
        if not any(part.data.startswith(magic) for magic in _IMAGES):
            raise ValueError("IMAGE_PROCESS_FAILED")
        if len(part.data) > 10_000_000:
            raise ValueError("file is too big")
        caption = self._shown(fields.get("caption") or "", fields.get("parse_mode")).strip()
        if len(caption) > 1024:
            raise ValueError("message caption is too long")
        photo = {"file_id": f"AgAC{next(self._files):06d}", "file_size": len(part.data)}
        return {"photo": [photo], "caption": caption, "bytes": part.data}

    def _store(
        self, chat: Chat, item: dict[str, Any], fields: dict[str, Any], reply: int | None, group: str | None
    ) -> dict[str, Any]:
        message_id = len(chat.messages) + 1
        message: dict[str, Any] = {"message_id": message_id, "date": int(time.time()), "chat": chat.info()}
        if chat.type == "channel":
            message["sender_chat"] = chat.info()
        if "text" in item:
            message["text"] = item["text"]
        else:
            message["photo"] = item["photo"]
            if item["caption"]:
                message["caption"] = item["caption"]
        if group:
            message["media_group_id"] = group
        if reply is not None:
            message["reply_to_message"] = next(m for m in chat.messages if m["message_id"] == reply)
        chat.messages.append(message)
        self.created.append(
            {
                "id": f"{chat.id}/{message_id}",
                "chat_id": chat.id,
                "message_id": message_id,
                "text": item.get("text") or item.get("caption") or "",
                "kind": "text" if "text" in item else "photo",
                "bytes": item.get("bytes"),
                "media_group_id": group,
                "reply_to": reply,
                "silent": bool(fields.get("disable_notification")),
                "link_preview_disabled": item.get("link_preview_disabled", False),
                "media_ids": [p["file_id"] for p in item.get("photo", [])],
            }
        )
        return message
