"""Discord: a channel's webhook, or a bot posting with an idempotent nonce.

Auth (for `postmast account connect`, later): either a webhook URL (Server Settings ›
Integrations › Webhooks › Copy Webhook URL; the token in its path is the secret, it does
not expire, deleting the webhook revokes it), or a bot token (Developer Portal ›
Bot › Reset Token; sent as `Authorization: Bot TOKEN`, revoked by resetting it) with the
`channel_id` setting; bots are added to a server with an OAuth2 invite URL (scope `bot`,
permissions View Channel, Send Messages, Attach Files, Embed Links, Read Message History),
which postmast does not run.

Requests (checked by the contract server against tests/conformance/discord-api-spec,
API v10):
- webhook: `POST /api/v10/webhooks/{id}/{token}?wait=true` (`IncomingWebhookRequestPartial`);
  `wait=true` makes Discord answer with the message, hence its id and link;
- bot: `POST /api/v10/channels/{channel_id}/messages` (`MessageCreateRequest`) with a
  `nonce` derived from the delivery and `enforce_nonce: true`: "if another message was
  created by the same author with the same nonce, that message will be returned and no new
  message will be created" (in "the past few minutes"; discord-api-docs PR #6647). Webhooks
  take no nonce (same PR: "nothing imminently coming for those"; not in the spec's
  webhook schema), which is why the bot mode exists;
- `content` up to 2,000 characters, counted in code points ("Our API uses Python 3",
  discord-api-docs #1315); `allowed_mentions: {"parse": []}` so a scheduled text never
  pings @everyone, a role or a user; Discord's markdown in the text is the author's;
- images (and MP4) as `multipart/form-data`: `payload_json` plus `files[n]`, each described
  in `attachments` with its alt text as `description`; at most 10, 10 MiB each (the limit
  the API enforced in 2026, discord-api-docs #8572, though #8578 documents 20);
- options: `username` and `avatar_url` (webhooks only), `embed_title` with `embed_url`
  (one rich embed: a titled link), `suppress_embeds` (no link previews, flag 1<<2),
  `silent` (no push notification, flag 1<<12).

Link: `https://discord.com/channels/{guild_id}/{channel_id}/{message_id}`; the guild comes
from `discover` (the webhook object, or the channel), cached per account.

Reconciliation: a bot account replays the same request while the nonce is surely
remembered (2 minutes: a cautious reading of "the past few minutes") and Discord answers
with the message if it exists; later, it lists the channel's messages since the attempt
(`GET /channels/{id}/messages?after=<snowflake of the attempt>`) and looks for its own
message (same nonce or same text): found, or confirmed absent when the list reaches back
past the attempt. A webhook account cannot be asked (no nonce, and a webhook token cannot
list messages): Undecidable, the delivery stays `unknown` for a person.

| response                                             | error class        | source |
|------------------------------------------------------|--------------------|--------|
| 200 message (`wait=true`, or a bot's message)        | success            | [spec] |
| 204 (a webhook without `wait`)                       | success, no id     | [spec] |
| 400 `Invalid Form Body` (50035, `errors` tree), 413  | PermanentError     | [spec], [codes] |
| 401 `Invalid Webhook Token` (50027) / `Unauthorized` | AuthExpired        | [codes] |
| 403 `Missing Access` (50001), `Missing Permissions` (50013) | AuthExpired (attention) | [codes] |
| 404 `Unknown Webhook` (10015), `Unknown Channel` (10003) | AuthExpired (attention) | [codes] |
| other 404 (e.g. `Unknown Message` 10008)             | PermanentError     | [codes] |
| 429 `RatelimitedResponse` (see below)                | RateLimited        | [spec], [rl] |
| 5xx, or 2xx without a message, on a send             | OutcomeUnknown     | [rel] |
| 5xx on a read (webhook, channel, messages)           | TransientError     | a read posts nothing |

A 429 waits the body's `retry_after`, else `Retry-After`, else `X-RateLimit-Reset-After`,
else `X-RateLimit-Reset` (epoch seconds).

Sources: [spec] tests/conformance/discord-api-spec/specs/openapi.json (`execute_webhook`,
`create_message`, `RatelimitedResponse`, `ErrorResponse`); [codes] discord-api-docs
topics/opcodes-and-status-codes.md (JSON error codes); [rl] discord-api-docs
topics/rate-limits.md; [rel] RELIABILITY.md. "Attention": the account is flagged and its
deliveries wait for `postmast account update`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from postmast.connectors.base import Connector, check_http_url
from postmast.connectors.content import (
    Absent,
    Content,
    Field,
    Found,
    Lookup,
    Option,
    Problem,
    PublishResult,
    SecretSet,
    Undecidable,
)
from postmast.connectors.discord.api import checked, nonce, parse_webhook, snowflake_at
from postmast.connectors.errors import AuthExpired, OutcomeUnknown, PermanentError

API_BASE = "https://discord.com/api/v10"
UPLOAD_LIMIT = 10 * 1024 * 1024
NONCE_WINDOW = timedelta(minutes=2)
LISTED = 100
"""Messages one `GET /channels/{id}/messages` returns at most (`limit` 1-100)."""
SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12


class Discord(Connector):
    name: ClassVar[str] = "discord"
    title: ClassVar[str] = "Discord"
    max_length: ClassVar[int] = 2000
    max_media: ClassVar[int] = 10
    media_limits: ClassVar[Mapping[str, int]] = {
        mime: UPLOAD_LIMIT for mime in ("image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4")
    }
    max_alt_text: ClassVar[int | None] = 1024
    settings_fields: ClassVar[tuple[Field, ...]] = (
        Field(
            "channel_id",
            "post as a bot to this channel (needs bot_token); unset: use webhook_url",
            required=False,
        ),
        Field("api_base", f"API root for a bot (default {API_BASE})", required=False),
    )
    secret_fields: ClassVar[tuple[Field, ...]] = (
        Field(
            "webhook_url",
            "the channel's webhook URL (https://discord.com/api/webhooks/...)",
            required=False,
            secret=True,
        ),
        Field(
            "bot_token", "a bot's token, to post with channel_id (idempotent)", required=False, secret=True
        ),
    )
    secret_sets: ClassVar[tuple[SecretSet, ...]] = (
        SecretSet("webhook", "a channel's webhook URL", ("webhook_url",)),
        SecretSet("bot", "a bot's token (the account needs --set channel_id=ID)", ("bot_token",)),
    )
    setup: ClassVar[str] = (
        "Webhook: in the channel's settings, Integrations > Webhooks > New Webhook > Copy Webhook URL; then "
        "postmast account add discord NAME and paste it as webhook_url. Bot (safe retries): create an "
        "application and its bot in the Developer Portal, invite it to the server, then postmast account "
        "add discord NAME --set channel_id=ID and paste its token as bot_token."
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option("username", "the name shown for the post (webhooks only)", max_length=80),
        Option("avatar_url", "the http(s) URL of the picture shown for the post (webhooks only)"),
        Option("embed_title", "add a rich embed with this title, linking to embed_url", max_length=256),
        Option("embed_url", "the http(s) link of the embed's title"),
        Option("suppress_embeds", "show no previews of the links in the text", kind="bool"),
        Option("silent", "post without a push notification", kind="bool"),
    )

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        problems = super().check_settings(settings)
        channel = settings.get("channel_id")
        if channel and not (channel.isascii() and channel.isdigit() and len(channel) <= 20):
            problems.append(
                Problem("channel_id must be a channel's numeric id (Developer Mode > Copy Channel ID)")
            )
        if settings.get("api_base"):
            problems += check_http_url(settings["api_base"], "api_base")
        return problems

    @classmethod
    def check_secrets(cls, secrets: Mapping[str, str]) -> list[Problem]:
        problems = super().check_secrets(secrets)
        url = secrets.get("webhook_url")
        if url and parse_webhook(url) is None:
            problems.append(Problem("webhook_url is not a Discord webhook URL (…/api/webhooks/ID/TOKEN)"))
        if not url and not secrets.get("bot_token"):
            problems.append(Problem("give webhook_url, or bot_token (with --set channel_id=...)"))
        return problems

    @classmethod
    def check_options(cls, values: Mapping[str, Any]) -> list[Problem]:
        problems = super().check_options(values)
        for name in ("avatar_url", "embed_url"):
            value = values.get(name)
            if isinstance(value, str) and value:
                problems += [Problem(p.message, "option") for p in check_http_url(value, name)]
        if values.get("embed_url") and not values.get("embed_title"):
            problems.append(Problem("embed_url needs embed_title (the embed's linked title)", "option"))
        return problems

    @property
    def as_bot(self) -> bool:
        return bool(self.settings.get("channel_id"))

    def count(self, text: str) -> int:
        return len(text)

    def validate(self, content: Content) -> list[Problem]:
        problems = super().validate(content)
        if self.as_bot and any(content.options.get(o) for o in ("username", "avatar_url")):
            problems.append(Problem("username and avatar_url apply to webhooks, not to a bot", "option"))
        return problems

    # -- the request ------------------------------------------------------------------------------

    def _body(self, content: Content, idempotency_key: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"content": content.text, "allowed_mentions": {"parse": []}}
        options = content.options
        if not self.as_bot:
            body.update({o: options[o] for o in ("username", "avatar_url") if options.get(o)})
        if options.get("embed_title"):
            embed = {"title": options["embed_title"]}
            if options.get("embed_url"):
                embed["url"] = options["embed_url"]
            body["embeds"] = [embed]
        flags = (SUPPRESS_EMBEDS if options.get("suppress_embeds") else 0) | (
            SUPPRESS_NOTIFICATIONS if options.get("silent") else 0
        )
        if flags:
            body["flags"] = flags
        if content.media:
            body["attachments"] = [
                {"id": str(n), "filename": m.filename, **({"description": m.alt} if m.alt else {})}
                for n, m in enumerate(content.media)
            ]
        if self.as_bot:
            body["nonce"] = nonce(idempotency_key) if idempotency_key else "<derived from the delivery>"
            body["enforce_nonce"] = True
        return body

    def payload(self, content: Content) -> dict[str, Any]:
        """The JSON part of the request (files by name and size); `length` counted as Discord counts."""
        shown: dict[str, Any] = {"payload_json" if content.media else "json": self._body(content, None)}
        if content.media:
            shown["files"] = [
                f"files[{n}]: {m.filename}, {m.size:,} bytes" for n, m in enumerate(content.media)
            ]
        return {**shown, "length": len(content.text)}

    def _endpoint(self, credentials: Mapping[str, str]) -> tuple[str, dict[str, str], dict[str, str]]:
        """URL, query and headers of a post by this account."""
        if self.as_bot:
            token = credentials.get("bot_token")
            if not token:
                raise AuthExpired("this Discord account has channel_id set but no bot_token")
            base = (self.settings.get("api_base") or API_BASE).rstrip("/")
            return (
                f"{base}/channels/{self.settings['channel_id']}/messages",
                {},
                {"Authorization": f"Bot {token}"},
            )
        hook = parse_webhook(credentials.get("webhook_url", ""))
        if hook is None:
            raise AuthExpired("this Discord account has no webhook_url (or channel_id and bot_token)")
        return hook.url, {"wait": "true"}, {}

    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        url, query, headers = self._endpoint(credentials)
        body = self._body(content, idempotency_key)
        if content.media:
            files = {f"files[{n}]": (m.filename, m.data, m.mime) for n, m in enumerate(content.media)}
            payload = {"payload_json": json.dumps(body, ensure_ascii=False)}
            response = self.http.post(url, params=query, headers=headers, data=payload, files=files)
        else:
            response = self.http.post(url, params=query, headers=headers, json=body)
        message = checked(response, sends=True, now=self.clock())
        if message is None:  # 204: posted, but Discord did not say as what
            return PublishResult(nonce(idempotency_key), None, response.status_code)
        if not isinstance(message, dict) or not message.get("id"):
            raise OutcomeUnknown(f"Discord answered {response.status_code} without a message id")
        return PublishResult(str(message["id"]), self.link(message), response.status_code)

    def link(self, message: Mapping[str, Any]) -> str | None:
        guild = self.cache.get("guild_id")
        channel = message.get("channel_id") or self.settings.get("channel_id")
        return (
            f"https://discord.com/channels/{guild}/{channel}/{message['id']}" if guild and channel else None
        )

    # -- after an unknown outcome -----------------------------------------------------------------

    def lookup(
        self,
        content: Content,
        credentials: Mapping[str, str],
        idempotency_key: str,
        *,
        sent_at: datetime,
        replay_allowed: bool,
    ) -> Lookup:
        """A bot replays its nonce while Discord surely remembers it, else reads the channel since the
        attempt; a webhook cannot be asked."""
        if not self.as_bot:
            return Undecidable(
                "Discord webhooks take no nonce and cannot list a channel's messages; check the channel "
                "(a bot account with channel_id can be asked)"
            )
        if replay_allowed and self.clock() - sent_at < NONCE_WINDOW:
            try:
                return Found(self.publish(content, credentials, idempotency_key))
            except PermanentError as exc:
                if "10008" in exc.message:  # the nonce's message was created, then deleted
                    return Undecidable("the message was posted and then deleted on Discord")
        return self._search(content, credentials, idempotency_key, sent_at)

    def _search(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str, sent_at: datetime
    ) -> Lookup:
        url, _, headers = self._endpoint(credentials)
        me = self.cache.get("bot_id")
        if not me:
            user = self._get(url.rsplit("/channels/", 1)[0] + "/users/@me", headers)
            me = user.get("id") if isinstance(user, dict) else None
        if not me:
            return Undecidable("Discord did not say which user the bot token belongs to")
        since = snowflake_at(sent_at - timedelta(minutes=1))
        try:
            messages = self._get(url, headers, {"after": str(since), "limit": str(LISTED)})
        except AuthExpired as exc:
            if exc.http_status == 403:
                return Undecidable("the bot may not read the channel's history (Read Message History)")
            raise
        if not isinstance(messages, list):
            return Undecidable("Discord answered the message list with something else")
        ours = nonce(idempotency_key)
        for message in (m for m in messages if isinstance(m, dict) and m.get("id")):
            author = message.get("author")
            if not isinstance(author, dict) or str(author.get("id")) != str(me):
                continue
            if message.get("nonce") == ours or message.get("content") == content.text:
                return Found(PublishResult(str(message["id"]), self.link(message), 200))
        if len(messages) < LISTED:
            return Absent("not among the channel's messages since the attempt")
        return Undecidable("more than 100 messages were posted to the channel since the attempt")

    def _get(self, url: str, headers: Mapping[str, str], params: Mapping[str, str] | None = None) -> Any:
        return checked(
            self.http.get(url, headers=dict(headers), params=params), sends=False, now=self.clock()
        )

    def discover(self, credentials: Mapping[str, str]) -> dict[str, Any]:
        """The guild (for links): from the webhook object, or the bot's channel (and the bot's own id)."""
        url, _, headers = self._endpoint(credentials)
        if not self.as_bot:
            hook = self._get(url, headers)
            return {
                k: hook[k]
                for k in ("guild_id", "channel_id", "name")
                if isinstance(hook, dict) and hook.get(k)
            }
        base = url.rsplit("/channels/", 1)[0]
        me = self._get(f"{base}/users/@me", headers)
        channel = self._get(f"{base}/channels/{self.settings['channel_id']}", headers)
        facts = {"bot_id": me.get("id") if isinstance(me, dict) else None}
        if isinstance(channel, dict):
            facts["guild_id"] = channel.get("guild_id")
        return {k: v for k, v in facts.items() if v}
