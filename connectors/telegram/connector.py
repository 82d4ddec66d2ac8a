"""Telegram: a bot posts to a channel, group or chat through the Bot API.

Auth (for `postmast account connect`, later): a bot token from @BotFather
(`123456789:AA...`), passed in the request path; it does not expire, and is revoked by
@BotFather (`/revoke`) or replaced (`/token`). There is no OAuth. The bot must be a member
of the chat, and an administrator allowed to post in a channel. Settings: `chat_id`
(`@channelusername` of a public channel, or a numeric id such as `-1001234567890`),
`api_base` (a self-hosted telegram-bot-api server; default https://api.telegram.org).

Requests (core.telegram.org/bots/api; request shapes checked by the contract server
against tests/conformance/telegram-bot-api-spec/api.json, Bot API 10.1):
- text: `sendMessage` (`text` 1-4,096 characters after entity parsing);
- one image: `sendPhoto` (multipart, `caption` 0-1,024 characters); 2-10 images:
  `sendMediaGroup` (`InputMediaPhoto` items, the caption on the first);
- every text and caption with `parse_mode=MarkdownV2`, escaped whole
  (`connectors/telegram/markdown.py`), so it arrives literally;
- options: `disable_notification`; `disable_web_page_preview` (sent as
  `link_preview_options.is_disabled`, which replaced the old field in Bot API 7.0);
  `long_caption`: a text over 1,024 characters with images is refused at queue time
  (`refuse`, the default) or sent as the images, then the text as a message (`split`);
- threads: item N replies to item N-1 (`reply_parameters.message_id`).
Lengths count code points, as tdlib does (`markdown.py`). Telegram has no alt text.

Link: `https://t.me/{username}/{message_id}` for a chat with a public username (from
`chat_id`, or learnt by `getChat` in `discover`); a private chat has no public link, and
the report says "delivered, no link".

Reconciliation: none is possible. The Bot API has no idempotency key and gives a bot no
way to read a chat's history (bots get no updates for their own messages), so after an
ambiguous outcome `lookup` answers Undecidable and the delivery stays `unknown` for a
person to check. A split post remembers (in the account's session) which of its
requests went out, so a retry never re-sends the images.

| response                                                  | error class              | source |
|-----------------------------------------------------------|--------------------------|--------|
| 200 `{"ok": true, "result": Message}` (or [Message])      | success                  | [api] |
| 200 without `ok: true` on a send                          | OutcomeUnknown           | [rel] |
| 401 `Unauthorized` (revoked), 404 `Not Found` (malformed) | AuthExpired              | [obs] |
| 403 `Forbidden: bot was kicked…`, `…not a member…`        | AuthExpired (attention)  | [obs] |
| 400 `Bad Request: chat not found`                         | AuthExpired (attention)  | [obs] |
| 400 with `parameters.migrate_to_chat_id`                  | AuthExpired (new chat_id) | [spec] |
| 400 `message is too long`, `can't parse entities…`, other | PermanentError           | [obs] |
| 429 `Too Many Requests: retry after N`                    | RateLimited (N seconds)  | [spec], [faq] |
| 5xx on a send                                             | OutcomeUnknown           | [rel] |
| 5xx on `getMe` / `getChat`                                | TransientError (a read)  | |

"Attention": the account is flagged and its deliveries wait until `postmast account update`
(the bot added back, the chat id fixed); the worker treats it as refused credentials.

Sources: [api] core.telegram.org/bots/api (sendMessage, sendPhoto, sendMediaGroup,
Making requests, MarkdownV2 style); [spec] tests/conformance/telegram-bot-api-spec/api.json
(`ResponseParameters.retry_after`, `migrate_to_chat_id`); [faq] core.telegram.org/bots/faq
("My bot is hitting limits"); [obs] the error descriptions as NETWORKS.md §8 quotes them;
[rel] RELIABILITY.md (an answer lost after the request was taken).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import regex

from postmast.connectors.base import Connector, check_http_url
from postmast.connectors.content import (
    Content,
    Field,
    Lookup,
    Measure,
    Option,
    Problem,
    PublishResult,
    Undecidable,
)
from postmast.connectors.errors import OutcomeUnknown, TransientError
from postmast.connectors.telegram.api import BotApi, Call
from postmast.connectors.telegram.markdown import escape, length

API_BASE = "https://api.telegram.org"
CAPTION_LIMIT = 1024
"""Characters of a photo's caption, after entity parsing (api.json `sendPhoto.caption`)."""
PHOTO_LIMIT = 10_000_000
"""Largest photo upload (sendPhoto: "The photo must be at most 10 MB in size")."""
_CHAT_ID = regex.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}|-?[0-9]{1,20}")
_TOKEN = regex.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{20,}")
_MESSAGE_ID = regex.compile(r"[0-9]{1,12}")
_SESSION = "telegram_sent"
"""Session key: the requests of a split post that went out, by idempotency key."""


class Telegram(Connector):
    name: ClassVar[str] = "telegram"
    title: ClassVar[str] = "Telegram"
    max_length: ClassVar[int] = 4096
    max_media: ClassVar[int] = 10
    media_limits: ClassVar[Mapping[str, int]] = {"image/jpeg": PHOTO_LIMIT, "image/png": PHOTO_LIMIT}
    threads: ClassVar[bool] = True
    settings_fields: ClassVar[tuple[Field, ...]] = (
        Field("chat_id", "@username of a public channel or group, or the numeric id of a chat"),
        Field("api_base", f"Bot API server (default {API_BASE})", required=False),
    )
    secret_fields: ClassVar[tuple[Field, ...]] = (
        Field("bot_token", "the token @BotFather gave the bot, like 123456789:AAE...", secret=True),
    )
    setup: ClassVar[str] = (
        "In Telegram, talk to @BotFather: /newbot gives the bot's token. Add the bot to your channel as an "
        "administrator allowed to post (or to your group). Then: postmast account add telegram NAME "
        "--set chat_id=@yourchannel and paste the token at the prompt."
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "disable_notification", "send silently: members get a notification without sound", kind="bool"
        ),
        Option("disable_web_page_preview", "show no preview of the first link in the text", kind="bool"),
        Option(
            "long_caption",
            "a text over 1,024 characters with images: refuse it (default), or split: the images, then "
            "the text as a message",
            kind="choice",
            choices=("refuse", "split"),
        ),
    )

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        problems = super().check_settings(settings)
        chat = settings.get("chat_id")
        if chat and not _CHAT_ID.fullmatch(chat):
            problems.append(
                Problem(
                    "chat_id must be @username (5-32 letters, digits, _) or a numeric id like -1001234567890"
                )
            )
        if settings.get("api_base"):
            problems += check_http_url(settings["api_base"], "api_base")
        return problems

    @classmethod
    def check_secrets(cls, secrets: Mapping[str, str]) -> list[Problem]:
        problems = super().check_secrets(secrets)
        token = secrets.get("bot_token")
        if token and not _TOKEN.fullmatch(token):
            problems.append(
                Problem("bot_token does not look like a bot token (digits, a colon, then letters)")
            )
        return problems

    # -- rules ------------------------------------------------------------------------------------

    def count(self, text: str) -> int:
        return length(text)

    @staticmethod
    def _splits(content: Content) -> bool:
        return content.options.get("long_caption") == "split"

    def measure(self, content: Content) -> Measure:
        """A text with images is a caption (1,024) unless the post may be split (4,096)."""
        captioned = bool(content.media) and not self._splits(content)
        return Measure(length(content.text), CAPTION_LIMIT if captioned else self.limit)

    def validate(self, content: Content) -> list[Problem]:
        problems = super().validate(content)
        measure = self.measure(content)
        if content.media and not self._splits(content) and not measure.ok:
            problems = [p for p in problems if p.code != "too_long"]
            problems.append(
                Problem(
                    f"text is {measure.length:,} characters, over Telegram's limit of {CAPTION_LIMIT:,} for "
                    "the caption of images (--option long_caption=split sends the images, then the text "
                    "as a message)",
                    "too_long",
                )
            )
        if content.reply_to and self._reply_id(content.reply_to.id) is None:
            problems.append(
                Problem(
                    f"{content.reply_to.id!r} is not a Telegram message id or a t.me link to one", "reply"
                )
            )
        return problems

    @staticmethod
    def _reply_id(given: str) -> int | None:
        """A message id, or the id at the end of a t.me message link."""
        if _MESSAGE_ID.fullmatch(given):
            return int(given)
        try:
            parts = urlsplit(given)
        except ValueError:
            return None
        last = parts.path.rstrip("/").rsplit("/", 1)[-1]
        if parts.hostname == "t.me" and _MESSAGE_ID.fullmatch(last):
            return int(last)
        return None

    # -- requests ---------------------------------------------------------------------------------

    @property
    def chat_id(self) -> int | str:
        chat = self.settings["chat_id"]
        return chat if chat.startswith("@") else int(chat)

    def _common(self, content: Content, first: bool) -> dict[str, Any]:
        fields: dict[str, Any] = {"chat_id": self.chat_id}
        if content.options.get("disable_notification"):
            fields["disable_notification"] = True
        if first and content.reply_to:
            reply = content.reply_to.extra.get("reply_id") or self._reply_id(content.reply_to.id)
            if reply is not None:
                fields["reply_parameters"] = {"message_id": int(reply)}
        return fields

    def _message(self, content: Content, first: bool) -> Call:
        fields = {**self._common(content, first), "text": escape(content.text), "parse_mode": "MarkdownV2"}
        if content.options.get("disable_web_page_preview"):
            fields["link_preview_options"] = {"is_disabled": True}
        return Call("sendMessage", fields)

    def _media(self, content: Content, caption: str) -> Call:
        fields = self._common(content, first=True)
        if len(content.media) == 1:  # the file itself in the `photo` field (Sending files)
            if caption:
                fields.update(caption=escape(caption), parse_mode="MarkdownV2")
            return Call("sendPhoto", fields, [("photo", content.media[0])])
        files = [(f"photo{n}", media) for n, media in enumerate(content.media)]  # InputMedia: attach://
        items: list[dict[str, Any]] = [{"type": "photo", "media": f"attach://{name}"} for name, _ in files]
        if caption:
            items[0].update(caption=escape(caption), parse_mode="MarkdownV2")
        fields["media"] = items
        return Call("sendMediaGroup", fields, files)

    def calls(self, content: Content) -> list[Call]:
        """The requests that publish `content`, in order."""
        if not content.media:
            return [self._message(content, first=True)]
        if length(content.text) <= CAPTION_LIMIT:
            return [self._media(content, content.text)]
        # long_caption=split (validation refused it otherwise): the images, then the text
        return [self._media(content, ""), self._message(content, first=False)]

    def payload(self, content: Content) -> dict[str, Any]:
        """The requests in order, images by name and size; `length` is the text as Telegram counts it."""
        return {"requests": [call.shown() for call in self.calls(content)], "length": length(content.text)}

    # -- publishing -------------------------------------------------------------------------------

    def _api(self, credentials: Mapping[str, str]) -> BotApi:
        return BotApi(self.http, self.settings.get("api_base") or API_BASE, credentials["bot_token"])

    def _sent(self) -> MutableMapping[str, Any]:
        sent = self.state.get(_SESSION)
        if not isinstance(sent, dict):
            sent = {}
            self.state[_SESSION] = sent
        return sent

    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        api = self._api(credentials)
        calls = self.calls(content)
        sent = self._sent()
        done: list[list[int]] = list(sent.get(idempotency_key) or [])
        for call in calls[len(done) :]:
            result = api.call(call, self.clock())
            messages = result if isinstance(result, list) else [result]
            ids = [int(m["message_id"]) for m in messages if isinstance(m, dict) and "message_id" in m]
            if not ids:
                raise OutcomeUnknown(f"Telegram answered {call.method} without a message id")
            done.append(ids)
            if len(calls) > 1:  # a split post: never send its images twice
                sent[idempotency_key] = done
                self.state[_SESSION] = sent
        sent.pop(idempotency_key, None)
        if not sent:
            self.state.pop(_SESSION, None)
        first, last = done[0][0], done[-1][-1]
        every = ",".join(str(i) for group in done for i in group)
        return PublishResult(str(first), self.link(first), 200, {"reply_id": str(last), "message_ids": every})

    def link(self, message_id: int) -> str | None:
        """The public link of a message in a chat with a username; None for a private chat."""
        chat = self.settings["chat_id"]
        username = chat[1:] if chat.startswith("@") else self.cache.get("username")
        return f"https://t.me/{username}/{message_id}" if username else None

    def lookup(
        self,
        content: Content,
        credentials: Mapping[str, str],
        idempotency_key: str,
        *,
        sent_at: datetime,
        replay_allowed: bool,
    ) -> Lookup:
        return Undecidable(
            "the Telegram Bot API has no idempotency key and no way for a bot to read a chat's messages; "
            "check the chat"
        )

    def discover(self, credentials: Mapping[str, str]) -> dict[str, Any]:
        """Check the token (`getMe`) and the chat (`getChat`): its username makes the public links."""
        api = self._api(credentials)
        me = api.call(Call("getMe", {}), self.clock())
        chat = api.call(Call("getChat", {"chat_id": self.chat_id}), self.clock())
        if not isinstance(me, dict) or not isinstance(chat, dict):
            raise TransientError("Telegram did not describe the bot or the chat")
        facts = {"bot": me.get("username"), "chat_type": chat.get("type"), "chat_title": chat.get("title")}
        if chat.get("username"):
            facts["username"] = chat["username"]
        return {k: v for k, v in facts.items() if v is not None}
