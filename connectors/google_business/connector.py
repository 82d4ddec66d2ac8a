"""Google Business Profile: posts on a business location ("updates", events and offers) through
the v4 `localPosts` API.

- a post: `POST https://mybusiness.googleapis.com/v4/accounts/{account}/locations/{location}/localPosts`
  JSON LocalPost `{"languageCode", "summary", "topicType", "callToAction"?, "event"?, "offer"?,
  "media"?}` -> 200 LocalPost with its `name` (`accounts/…/localPosts/ID`), `state` and
  `searchUrl` (the post on Google Search) [posts]; the delivery keeps `name` and `searchUrl`;
- the text is the `summary`: at most 1,500 characters [posts] [help], counted in graphemes
  (Google does not document how it counts; see docs/networks/google_business.md);
- `topic`: `standard` (an update, the default), `event` (`event_title`, `event_start`,
  `event_end`: an `event` with a `schedule`, dates and times in the location's own time zone)
  or `offer` (the same event fields, plus `coupon_code`, `redeem_url`, `terms` as `offer`) [posts];
- `action` (`book`, `order`, `shop`, `learn_more`, `sign_up`, `call`) with `action_url` (not
  for `call`, which dials the location's number): `callToAction` [posts]; an offer takes none;
- `image_url`: one photo Google fetches (`media: [{"mediaFormat": "PHOTO", "sourceUrl"}]`).

Reconciliation (`lookup`): after an ambiguous create, the location's posts are listed
(`GET …/localPosts?pageSize=100`, up to three pages, newest first [posts] list) for one with
the same summary and topic created since the attempt: Found (its `name`, `searchUrl`); a list
read to its end, or past the attempt, without it: Absent; otherwise Undecidable.

Account: settings `account_id`, `location_id` (numeric, from the Account Management and
Business Information APIs), `language` (default `en`); secrets `client_id`, `client_secret`,
`refresh_token` (an OAuth client of a Google Cloud project with the Business Profile APIs
enabled, consented for the `https://www.googleapis.com/auth/business.manage` scope) [auth].
Errors: `connectors/google_business/api.py`.

Sign-in (`postmast account connect google_business NAME --set oauth_client_id=ID`): Google's OAuth 2.0
for web server and installed apps [oauth]: `https://accounts.google.com/o/oauth2/v2/auth` with
PKCE (S256) and a loopback redirect (`http://127.0.0.1:PORT/callback`, which Google allows for
desktop clients [native]); `access_type=offline` is what makes Google return a refresh token, and
`prompt=consent` asks again so that a second sign-in gets one too [oauth]. The code is redeemed
at `https://oauth2.googleapis.com/token` with the client id and secret in the form. Kept: the
secrets the posting path reads (`client_id`, `client_secret`, `refresh_token`), not the one-hour
access token: posting asks for one from the refresh token as before. Google's refresh tokens
have no stated end (they stop working when revoked, unused for six months, or after 7 days for
an app in "Testing" publishing status [oauth] "Refresh token expiration"), so the account has no
`expires_at` and the renewal job leaves it alone; `refresh` (the refresh-token grant) and
`whoami` (`account check`: one post of the location, which proves the client, the refresh token
and the access to the location) say whether it still works. Not confirmed in the docs found:
whether Google ever rotates the refresh token on the refresh grant (a new one is kept if given).

Sources: [posts] https://developers.google.com/my-business/reference/rest/v4/accounts.locations.localPosts
(LocalPost, LocalPostEvent, LocalPostOffer, CallToAction, ActionType, TimeInterval, MediaItem);
[auth] https://developers.google.com/my-business/content/basic-setup; [oauth]
https://developers.google.com/identity/protocols/oauth2/web-server (`access_type`, `prompt`,
PKCE, the token exchange, refresh-token expiration); [native]
https://developers.google.com/identity/protocols/oauth2/native-app (loopback redirects); [help]
https://support.google.com/business/answer/7662907 (posts: up to 1,500 characters; event titles
up to 58 characters).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import regex

from postmast.connectors import oauth2
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
    Renewal,
    Undecidable,
)
from postmast.connectors.errors import OutcomeUnknown
from postmast.connectors.google_business.api import TOKEN_KEY, GoogleApi
from postmast.connectors.oauth2 import OAuth2Endpoints, TokenCache

API_BASE = "https://mybusiness.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 (an endpoint, not a secret)
AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
SCOPE = "https://www.googleapis.com/auth/business.manage"
TOPICS = ("standard", "event", "offer")
ACTIONS = ("book", "order", "shop", "learn_more", "sign_up", "call")
EVENT_FIELDS = ("event_title", "event_start", "event_end")
OFFER_FIELDS = ("coupon_code", "redeem_url", "terms")
ID = regex.compile(r"[0-9]{1,30}")
LANGUAGE = regex.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
WHEN = regex.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[ T]([0-9]{2}):([0-9]{2}))?")
PAGE, PAGES = 100, 3
SKEW = timedelta(minutes=5)


def moment(value: str) -> tuple[date, tuple[int, int] | None] | None:
    """`2026-12-05` or `2026-12-05 18:00` (the location's local time) as a date and an optional time."""
    found = WHEN.fullmatch(value.strip())
    if not found:
        return None
    try:
        day = date(int(found[1]), int(found[2]), int(found[3]))
    except ValueError:
        return None
    if found[4] is None:
        return day, None
    hours, minutes = int(found[4]), int(found[5])
    return (day, (hours, minutes)) if hours < 24 and minutes < 60 else None


def _date(day: date) -> dict[str, int]:
    return {"year": day.year, "month": day.month, "day": day.day}


class GoogleBusiness(Connector):
    name: ClassVar[str] = "google_business"
    title: ClassVar[str] = "Google Business Profile"
    max_length: ClassVar[int] = 1500
    settings_fields: ClassVar[tuple[Field, ...]] = (
        Field("account_id", "the Business Profile account's number (accounts/NUMBER)"),
        Field("location_id", "the location's number (locations/NUMBER)"),
        Field("language", "the posts' language code (default en)", required=False),
        Field("api_base", f"API base URL (default {API_BASE})", required=False),
        Field("token_url", f"OAuth token endpoint (default {TOKEN_URL})", required=False),
        Field(
            "oauth_client_id",
            "the OAuth client's id, for account connect (kept with the secrets too)",
            required=False,
        ),
        Field("authorize_url", f"OAuth sign-in address (default {AUTHORIZE_URL})", required=False),
    )
    secret_fields: ClassVar[tuple[Field, ...]] = (
        Field("client_id", "the OAuth client's id (Google Cloud console, Credentials)", secret=True),
        Field("client_secret", "the OAuth client's secret", secret=True),
        Field("refresh_token", "a refresh token consented for the business.manage scope", secret=True),
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option("topic", "standard (an update, the default), event or offer", kind="choice", choices=TOPICS),
        Option("event_title", "an event's or offer's title (required for both)", max_length=58),
        Option("event_start", "when it starts: YYYY-MM-DD or YYYY-MM-DD HH:MM, the location's time"),
        Option("event_end", "when it ends: YYYY-MM-DD or YYYY-MM-DD HH:MM, the location's time"),
        Option("coupon_code", "an offer's coupon code"),
        Option("redeem_url", "where an offer is redeemed online (http(s))"),
        Option("terms", "an offer's terms and conditions"),
        Option(
            "action",
            "a button: book, order, shop, learn_more, sign_up or call",
            kind="choice",
            choices=ACTIONS,
        ),
        Option("action_url", "where the button leads (http(s); not for call)"),
        Option("image_url", "a photo for the post, fetched by Google from this http(s) URL"),
    )
    setup: ClassVar[str] = (
        "In a Google Cloud project with the Business Profile APIs enabled, create an OAuth client, consent "
        "with the https://www.googleapis.com/auth/business.manage scope for offline access (a refresh "
        "token), and find your account and location numbers. Then sign in from the terminal: postmast "
        "account connect google_business NAME --set account_id=N --set location_id=N "
        "--set oauth_client_id=ID "
        "(it asks for the client secret); or: postmast account add google_business NAME --set "
        "account_id=N --set location_id=N and paste client_id, client_secret and refresh_token."
    )

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        problems = super().check_settings(settings)
        for name in ("account_id", "location_id"):
            if settings.get(name) and not ID.fullmatch(settings[name]):
                problems.append(
                    Problem(f"{name} must be a number (the digits after accounts/ or locations/)")
                )
        if settings.get("language") and not LANGUAGE.fullmatch(settings["language"]):
            problems.append(Problem("language must be a language code such as en or de-CH"))
        for name in ("api_base", "token_url", "authorize_url"):
            if settings.get(name):
                problems += check_http_url(settings[name], name)
        return problems

    @classmethod
    def check_options(cls, values: Mapping[str, Any]) -> list[Problem]:
        problems = super().check_options(values)

        def problem(message: str) -> None:
            problems.append(Problem(message, "option"))

        topic = str(values.get("topic") or "standard")
        for name in ("redeem_url", "action_url", "image_url"):
            value = values.get(name)
            if isinstance(value, str) and value and check_http_url(value, name):
                problem(f"{name} must be an absolute http(s) URL")
        if topic == "standard":
            stray = [n for n in EVENT_FIELDS + OFFER_FIELDS if values.get(n)]
            if stray:
                problem(f"{', '.join(stray)} apply to topic=event or topic=offer")
        else:
            missing = [n for n in EVENT_FIELDS if not values.get(n)]
            if missing:
                problem(f"a {topic} post needs {', '.join(missing)}")
            start, end = (moment(str(values.get(n) or "")) for n in ("event_start", "event_end"))
            for name, parsed in (("event_start", start), ("event_end", end)):
                if values.get(name) and parsed is None:
                    problem(f"{name} must be YYYY-MM-DD or YYYY-MM-DD HH:MM")
            if start and end and (end[0], end[1] or (23, 59)) < (start[0], start[1] or (0, 0)):
                problem("event_end is before event_start")
            if topic == "event" and any(values.get(n) for n in OFFER_FIELDS):
                problem("coupon_code, redeem_url and terms apply to topic=offer")
        action = values.get("action")
        if action and topic == "offer":
            problem("an offer takes no action button (its redeem_url is the offer's link)")
        elif action == "call" and values.get("action_url"):
            problem("action=call dials the location's phone number: it takes no action_url")
        elif action and action != "call" and not values.get("action_url"):
            problem(f"action={action} needs action_url")
        elif values.get("action_url") and not action:
            problem("action_url needs an action (book, order, shop, learn_more, sign_up)")
        return problems

    # -- signing in -------------------------------------------------------------------------------

    def endpoints(self, client_id: str) -> OAuth2Endpoints:
        """Google's web-server flow for this client [oauth]: a confidential client, its secret in the
        form (as the posting path sends it), offline access; the access token is not kept."""
        return OAuth2Endpoints(
            authorize_url=self.settings.get("authorize_url") or AUTHORIZE_URL,
            token_url=self.settings.get("token_url") or TOKEN_URL,
            scopes=(SCOPE,),
            client_id=client_id,
            token_field=None,
            client_secret_field="client_secret",  # noqa: S106 (secrets' names, not secrets)
            client_id_field="client_id",
            secret_in_body=True,
            authorize_params=(("access_type", "offline"), ("prompt", "consent")),
        )

    def oauth2(self) -> OAuth2Endpoints | None:
        client_id = self.settings.get("oauth_client_id")
        return self.endpoints(client_id) if client_id else None

    def can_refresh(self, credentials: Mapping[str, str]) -> bool:
        return all(credentials.get(k) for k in ("client_id", "client_secret", "refresh_token"))

    def refresh(self, credentials: Mapping[str, str]) -> Renewal | None:
        """The refresh-token grant, whichever way the account was added: the secrets (a new refresh
        token if Google gives one), no end. `AuthExpired` when Google refuses (`invalid_grant`)."""
        if not self.can_refresh(credentials):
            return None
        return oauth2.refresh(self.http, self.endpoints(credentials["client_id"]), credentials, self.clock())

    # -- the network ------------------------------------------------------------------------------

    @property
    def location(self) -> str:
        return f"accounts/{self.settings['account_id']}/locations/{self.settings['location_id']}"

    def payload(self, content: Content) -> dict[str, Any]:
        """The LocalPost `publish` creates."""
        options = content.options
        topic = str(options.get("topic") or "standard")
        body: dict[str, Any] = {
            "languageCode": self.settings.get("language") or "en",
            "summary": content.text,
            "topicType": topic.upper(),
        }
        if topic != "standard":
            body["event"] = {
                "title": str(options.get("event_title") or ""),
                "schedule": self._schedule(options),
            }
        if topic == "offer":
            offer = {
                "couponCode": options.get("coupon_code"),
                "redeemOnlineUrl": options.get("redeem_url"),
                "termsConditions": options.get("terms"),
            }
            body["offer"] = {k: str(v) for k, v in offer.items() if v}
        if options.get("action"):
            action: dict[str, str] = {"actionType": str(options["action"]).upper()}
            if options.get("action_url"):
                action["url"] = str(options["action_url"])
            body["callToAction"] = action
        if options.get("image_url"):
            body["media"] = [{"mediaFormat": "PHOTO", "sourceUrl": str(options["image_url"])}]
        return body

    @staticmethod
    def _schedule(options: Mapping[str, Any]) -> dict[str, Any]:
        schedule: dict[str, Any] = {}
        for side in ("start", "end"):
            parsed = moment(str(options.get(f"event_{side}") or ""))
            if parsed is None:
                continue
            day, time = parsed
            schedule[f"{side}Date"] = _date(day)
            if time is not None:
                schedule[f"{side}Time"] = {"hours": time[0], "minutes": time[1], "seconds": 0, "nanos": 0}
        return schedule

    def api(self, credentials: Mapping[str, str]) -> GoogleApi:
        return GoogleApi(
            self.http,
            self.settings.get("api_base") or API_BASE,
            self.settings.get("token_url") or TOKEN_URL,
            credentials,
            TokenCache(self.state, TOKEN_KEY),
            self.clock(),
        )

    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        post = self.api(credentials).call(
            "POST", f"/v4/{self.location}/localPosts", json=self.payload(content), posting=True
        )
        name = post.get("name")
        if not isinstance(name, str) or not name:
            raise OutcomeUnknown("Google answered without the post's name")
        url = post.get("searchUrl")
        notes = (
            (f"Google holds the post for review (state {post['state']})",)
            if post.get("state") == "PROCESSING"
            else ()
        )
        return PublishResult(name, url if isinstance(url, str) else None, 200, notes=notes)

    def lookup(
        self,
        content: Content,
        credentials: Mapping[str, str],
        idempotency_key: str,
        *,
        sent_at: datetime,
        replay_allowed: bool,
    ) -> Lookup:
        api = self.api(credentials)
        wanted = self.payload(content)
        since, token = sent_at - SKEW, ""
        for _ in range(PAGES):
            params = {"pageSize": str(PAGE), **({"pageToken": token} if token else {})}
            page = api.call("GET", f"/v4/{self.location}/localPosts", params=params)
            older = False
            for post in page.get("localPosts") or []:
                if not isinstance(post, dict):
                    continue
                created = _instant(post.get("createTime"))
                if created is None or created < since:
                    older = True
                    continue
                if post.get("summary") == wanted["summary"] and post.get("topicType") == wanted["topicType"]:
                    url = post.get("searchUrl")
                    return Found(PublishResult(str(post["name"]), url if isinstance(url, str) else None, 200))
            token = str(page.get("nextPageToken") or "")
            if older or not token:
                return Absent("not among the location's posts since the attempt")
        return Undecidable(f"the location has more than {PAGE * PAGES} posts since the attempt")

    def discover(self, credentials: Mapping[str, str]) -> dict[str, Any]:
        """Reads one post of the location: proves the client, the refresh token and the access."""
        self.api(credentials).call("GET", f"/v4/{self.location}/localPosts", params={"pageSize": "1"})
        return {}


def _instant(value: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
