"""Slack: an incoming webhook, or a bot token posting with `chat.postMessage`.

Auth (for `postmast account connect`, later): either an incoming webhook URL (an app's
Incoming Webhooks page, one URL per channel; the URL is the secret, it does not expire,
removing the app or the webhook revokes it), or a bot token (`xoxb-…`, from installing an
app with the `chat:write` scope, plus `channels:history`/`groups:history` for lookups) with
the `channel` setting; Slack's OAuth v2 install flow gives such a token, which postmast
does not run. Bot tokens do not expire unless token rotation is turned on.

Requests:
- webhook: `POST {webhook_url}` with `{"text", "unfurl_links"?, "unfurl_media"?}`, answered
  `200 ok` and nothing else: no id, no link (the report says "delivered, no link");
- bot: `POST {api_base}/chat.postMessage` with `channel`, `text`, `metadata` (event type
  `postmast_post` carrying the item's idempotency key, so a lookup can recognise it) and
  `thread_ts` for thread items (items 2.. go into item 1's thread); the answer's `ts` is the
  message id, and `chat.getPermalink` gives its link (a failure there leaves the post
  published without a link: it is out);
- the text is escaped for mrkdwn: exactly `&`, `<` and `>` as `&amp;`, `&lt;`, `&gt;`, so
  `<!channel>` or `<@U123>` in a text arrive as typed instead of notifying anyone; Slack's
  `*bold*`-style markup in the text is the author's;
- length: Slack truncates a `text` over 40,000 characters (with a `message_truncated`
  warning), so postmast refuses it at queue time, counting the escaped text in code points;
  Slack recommends keeping messages under 4,000 (`--set max_length=4000` to hold to that).
- options: `unfurl_links`, `unfurl_media` (previews of links and of media links).

Reconciliation: a webhook cannot be asked anything, so after an ambiguous outcome the
delivery stays `unknown` (Undecidable) for a person to check. A bot reads
`conversations.history` (`conversations.replies` for a thread item) from shortly before the
attempt, with `include_all_metadata`, and looks for its own message (its metadata key, or
its bot id and text): found; confirmed absent when the page holds everything since
(`has_more` false); otherwise undecidable. Without a history scope it cannot tell.

| response                                                          | error class        | source |
|-------------------------------------------------------------------|--------------------|--------|
| webhook 200 `ok`                                                  | success, no link   | [hooks] |
| webhook 400 `invalid_payload`, `no_text`, `user_not_found`…       | PermanentError     | [hooks] |
| webhook 403 `invalid_token`, `action_prohibited`               | AuthExpired (attention) | [hooks] |
| webhook 404 `no_service`, `channel_not_found`                   | AuthExpired (attention) | [hooks] |
| webhook 410 `channel_is_archived`                                 | AuthExpired (attention) | [hooks] |
| webhook 429 + `Retry-After`                                       | RateLimited        | [rl] |
| webhook 500 `rollup_error`, any 5xx, 200 not `ok`                 | OutcomeUnknown     | [hooks], [rel] |
| API `{"ok": true, "ts"}`                                          | success            | [post] |
| API `invalid_auth`, `not_authed`, `token_revoked`, `missing_scope`… | AuthExpired     | [common] |
| API `not_in_channel`, `channel_not_found`, `is_archived`          | AuthExpired (attention) | [post] |
| API 429 `ratelimited` + `Retry-After`                             | RateLimited        | [rl] |
| API `internal_error`, `fatal_error`, 5xx on a send              | OutcomeUnknown (may be out) | [common] |
| API `service_unavailable`, `request_timeout`                      | TransientError     | [common] |
| API `msg_too_long`, `no_text`, `invalid_metadata_format`, other   | PermanentError     | [post] |

Sources (official documentation): [hooks] api.slack.com/messaging/webhooks and
api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks; [post]
docs.slack.dev/reference/methods/chat.postMessage, /chat.getPermalink, /conversations.history,
/conversations.replies, /auth.test; [common] the common errors every method page lists (e.g.
api.slack.com/methods/calls.info); [rl] api.slack.com/docs/rate-limits (as archived in
slackhq/slack-api-docs page_rate_limits.md: "a HTTP 429 Too Many Requests error … and a
Retry-After header"); api.slack.com/changelog/2018-04-truncating-really-long-messages
(40,000); api.slack.com/reference/surfaces/formatting (escaping); [rel] RELIABILITY.md.
"Attention": the account is flagged and its deliveries wait for `postmast account update`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

import regex

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
    Undecidable,
)
from postmast.connectors.errors import AuthExpired, ConnectorError, OutcomeUnknown
from postmast.connectors.slack.api import checked, escape, webhook_checked

API_BASE = "https://slack.com/api"
EVENT_TYPE = "postmast_post"
_CHANNEL = regex.compile(r"[CGD][A-Z0-9]{8,}")
_TS = regex.compile(r"[0-9]{9,11}\.[0-9]{6}")
_PERMALINK_TS = regex.compile(r"/p(?P<s>[0-9]{9,11})(?P<us>[0-9]{6})(?:[?#].*)?$")
_WEBHOOK = regex.compile(r"https?://[^/\s]+/services/[A-Za-z0-9_/-]+")


class Slack(Connector):
    name: ClassVar[str] = "slack"
    title: ClassVar[str] = "Slack"
    max_length: ClassVar[int] = 40_000
    threads: ClassVar[bool] = True
    settings_fields: ClassVar[tuple[Field, ...]] = (
        Field(
            "channel",
            "post with a bot token to this channel id (C0123456789); unset: webhook_url",
            required=False,
        ),
        Field("api_base", f"Web API root (default {API_BASE})", required=False),
        Field("max_length", "text limit in characters (default 40000; Slack suggests 4000)", required=False),
    )
    secret_fields: ClassVar[tuple[Field, ...]] = (
        Field(
            "webhook_url",
            "an incoming webhook URL (https://hooks.slack.com/services/...)",
            required=False,
            secret=True,
        ),
        Field(
            "bot_token",
            "a bot token (xoxb-...) with chat:write, to post to channel",
            required=False,
            secret=True,
        ),
    )
    setup: ClassVar[str] = (
        "Webhook: create a Slack app, turn on Incoming Webhooks, add one for your channel and copy its URL; "
        "postmast account add slack NAME, paste it as webhook_url. Bot (ids, links, safe lookups): give the "
        "app the chat:write and channels:history scopes, install it, invite it to the channel (/invite), "
        "then postmast account add slack NAME --set channel=C0123456789 and paste the xoxb- token as "
        "bot_token."
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option("unfurl_links", "show previews of the links in the text", kind="bool"),
        Option("unfurl_media", "show previews of media links", kind="bool"),
    )

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        problems = super().check_settings(settings)
        channel = settings.get("channel")
        if channel and not _CHANNEL.fullmatch(channel):
            problems.append(
                Problem("channel must be a channel id like C0123456789 (channel details > bottom)")
            )
        if settings.get("api_base"):
            problems += check_http_url(settings["api_base"], "api_base")
        return problems

    @classmethod
    def check_secrets(cls, secrets: Mapping[str, str]) -> list[Problem]:
        problems = super().check_secrets(secrets)
        url = secrets.get("webhook_url")
        if url and not _WEBHOOK.fullmatch(url):
            problems.append(Problem("webhook_url is not an incoming webhook URL (…/services/T…/B…/…)"))
        token = secrets.get("bot_token")
        if token and not token.startswith("xoxb-"):
            problems.append(Problem("bot_token must be a bot token (it starts with xoxb-)"))
        if not url and not token:
            problems.append(Problem("give webhook_url, or bot_token (with --set channel=...)"))
        return problems

    @property
    def as_bot(self) -> bool:
        return bool(self.settings.get("channel"))

    def count(self, text: str) -> int:
        """Code points of the `text` field as sent: escaped, since that is what Slack truncates."""
        return len(escape(text))

    def validate(self, content: Content) -> list[Problem]:
        problems = super().validate(content)
        if content.reply_to and not self.as_bot:
            problems.append(Problem("a Slack webhook cannot reply to a message (a bot account can)", "reply"))
        elif content.reply_to and self._thread_ts(content.reply_to.id) is None:
            problems.append(Problem(f"{content.reply_to.id!r} is not a Slack message ts or link", "reply"))
        return problems

    def validate_thread(self, items: Sequence[Content]) -> list[Problem]:
        problems = super().validate_thread(items)
        if len(items) > 1 and not self.as_bot:
            problems.insert(0, Problem("a Slack webhook cannot post a thread (a bot account can)", "thread"))
        return problems

    @staticmethod
    def _thread_ts(given: str) -> str | None:
        """A message ts, or the ts in a message's permalink (`…/archives/C…/p1503435956000247`)."""
        if _TS.fullmatch(given):
            return given
        found = _PERMALINK_TS.search(given)
        return f"{found['s']}.{found['us']}" if found else None

    # -- the request ------------------------------------------------------------------------------

    def _body(self, content: Content, idempotency_key: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"text": escape(content.text)}
        for option in ("unfurl_links", "unfurl_media"):
            if option in content.options:
                body[option] = bool(content.options[option])
        if not self.as_bot:
            return body
        body = {"channel": self.settings["channel"], **body}
        thread = self._thread_of(content)
        if thread:
            body["thread_ts"] = thread
        key = idempotency_key or "<the delivery's key>"
        body["metadata"] = {"event_type": EVENT_TYPE, "event_payload": {"idempotency_key": key}}
        return body

    def _thread_of(self, content: Content) -> str | None:
        if content.root is not None:  # item 2.. of a thread: item 1's thread
            return content.root.extra.get("thread_ts") or content.root.id
        return self._thread_ts(content.reply_to.id) if content.reply_to else None

    def payload(self, content: Content) -> dict[str, Any]:
        """The JSON body; `length` is the escaped text's, as Slack counts it."""
        return {"json": self._body(content, None), "length": self.count(content.text)}

    def _bot(self, credentials: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        token = credentials.get("bot_token")
        if not token:
            raise AuthExpired("this Slack account has a channel set but no bot_token")
        base = (self.settings.get("api_base") or API_BASE).rstrip("/")
        return base, {"Authorization": f"Bearer {token}"}

    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        body = self._body(content, idempotency_key)
        if not self.as_bot:
            url = credentials.get("webhook_url")
            if not url:
                raise AuthExpired("this Slack account has no webhook_url (or channel and bot_token)")
            response = self.http.post(url, json=body)
            webhook_checked(response, self.clock())
            return PublishResult(idempotency_key, None, response.status_code)
        base, headers = self._bot(credentials)
        response = self.http.post(f"{base}/chat.postMessage", json=body, headers=headers)
        data = checked(response, sends=True, now=self.clock())
        if not data.get("ts"):
            raise OutcomeUnknown("Slack answered chat.postMessage without a ts")
        return self._result(str(data["ts"]), body.get("thread_ts"), credentials)

    def _result(self, ts: str, thread: str | None, credentials: Mapping[str, str]) -> PublishResult:
        return PublishResult(ts, self._permalink(ts, credentials), 200, {"thread_ts": thread or ts})

    def _permalink(self, ts: str, credentials: Mapping[str, str]) -> str | None:
        base, headers = self._bot(credentials)
        params = {"channel": self.settings["channel"], "message_ts": ts}
        try:
            data = checked(
                self.http.get(f"{base}/chat.getPermalink", params=params, headers=headers),
                sends=False,
                now=self.clock(),
            )
        except ConnectorError:  # the message is out; only its link is missing
            return None
        link = data.get("permalink")
        return str(link) if link else None

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
        if not self.as_bot:
            return Undecidable(
                "a Slack incoming webhook answers only 'ok' and cannot be asked what was posted; "
                "check the channel"
            )
        base, headers = self._bot(credentials)
        thread = self._thread_of(content)
        params = {
            "channel": self.settings["channel"],
            "oldest": f"{(sent_at - timedelta(minutes=1)).timestamp():.6f}",
            "inclusive": "true",
            "limit": "100",
            "include_all_metadata": "true",
        }
        method = "conversations.history"
        if thread:
            method, params["ts"] = "conversations.replies", thread
        try:
            data = checked(
                self.http.get(f"{base}/{method}", params=params, headers=headers),
                sends=False,
                now=self.clock(),
            )
        except AuthExpired as exc:
            return Undecidable(f"the token may not read the channel ({exc.message}; scope channels:history)")
        messages = data.get("messages")
        if not isinstance(messages, list):
            return Undecidable(f"Slack answered {method} without messages")
        for message in messages:
            if isinstance(message, dict) and self._is_ours(message, content, idempotency_key):
                return Found(self._result(str(message["ts"]), thread, credentials))
        if not data.get("has_more"):
            return Absent(f"not among the channel's messages since the attempt ({method})")
        return Undecidable("more messages were posted since the attempt than one page holds")

    def _is_ours(self, message: Mapping[str, Any], content: Content, key: str) -> bool:
        metadata = message.get("metadata")
        if isinstance(metadata, dict) and metadata.get("event_type") == EVENT_TYPE:
            payload = metadata.get("event_payload")
            return isinstance(payload, dict) and payload.get("idempotency_key") == key
        bot = self.cache.get("bot_id")
        return bool(bot) and message.get("bot_id") == bot and message.get("text") == escape(content.text)

    def whoami(self, credentials: Mapping[str, str]) -> dict[str, Any] | None:
        """A bot token is checked with `auth.test`; an incoming webhook cannot be asked (None)."""
        return self.discover(credentials) if self.as_bot else None

    def discover(self, credentials: Mapping[str, str]) -> dict[str, Any]:
        """A bot token's workspace and bot id (`auth.test`); a webhook cannot be asked anything."""
        if not self.as_bot:
            return {}
        base, headers = self._bot(credentials)
        data = checked(self.http.post(f"{base}/auth.test", headers=headers), sends=False, now=self.clock())
        facts = {"team_url": data.get("url"), "team": data.get("team"), "bot_id": data.get("bot_id")}
        return {k: v for k, v in facts.items() if v}
