"""Reddit: self and link posts to a subreddit by a script app, through `POST /api/submit`.

- a post: `POST https://oauth.reddit.com/api/submit?raw_json=1`, form `api_type=json`,
  `kind=self|link`, `sr`, `title`, `text` (self text, Markdown; also allowed beside a link),
  `url` (link posts), `flair_id`, `flair_text`, `nsfw`, `spoiler`, `resubmit`,
  `sendreplies`, `validate_on_submit` [api] [rec] -> `json.data` `{"id", "name": "t3_…",
  "url"}`; the delivery keeps `name` as its remote id and `url` as its link;
- the post's text is the self text (at most 40,000 characters, counted in code points as
  Reddit's Python counts them [limits]); the title is the `title` option, required, at
  most 300 characters [api] [limits]; a link post is `--option url=https://…`;
- the subreddit is the account's `subreddit` setting or the `subreddit` option;
- no media and no threads through postmast: an image post answers without an id
  (`test_submit_image__flair` [rec]), so it could never be reconciled.

Reconciliation (`lookup`): after an ambiguous submit, the account's own recent submissions,
`GET /user/{username}/submitted?sort=new&limit=25` [api], are read for a post in the same
subreddit with the same title (and the same link, for a link post) created since the
attempt: Found (its `name` and permalink); not there while the listing reaches back past
the attempt: Absent (sending is safe); a listing that does not reach back: Undecidable.
Reddit's listings are cached for a short while; the worker's settle delay comes first.

Account: settings `username` (the Reddit account the script app belongs to), `user_agent`
(`<platform>:<app ID>:<version> (by /u/<username>)`, required: Reddit blocks generic
agents [rules]), `subreddit` (default target); secrets `client_id`, `client_secret`,
`password` (a script app: https://www.reddit.com/prefs/apps, "script"). The access token
is cached in the account's session (`connectors/oauth2.py`). Errors: `connectors/reddit/api.py`.

Sign-in (`postmast account connect reddit NAME --set username=… --set user_agent=… --set
client_id=ID`), for a "web app" [oauth]: `https://www.reddit.com/api/v1/authorize` with
`response_type=code`, `state`, the app's registered `redirect_uri` (a loopback
`http://127.0.0.1:PORT/callback`), `duration=permanent` (without it Reddit gives no refresh
token) and `scope=identity submit read` (space-separated, as PRAW sends it); the code is redeemed
at `POST https://www.reddit.com/api/v1/access_token`, HTTP Basic `client_id:client_secret`,
with the account's User-Agent [oauth] [rules]. Kept: `client_id`, `client_secret` and
`refresh_token`, which the posting path turns into one-hour access tokens (the refresh-token
grant instead of the password grant), so the account has no end: Reddit's permanent refresh
tokens last until revoked [oauth]. `refresh` runs that grant; `whoami` (`account check`) is
`GET /api/v1/me`. Not confirmed or not supported: Reddit's pages say nothing of PKCE (postmast
sends a challenge, which Reddit is not known to check); an "installed app" has no secret and
Reddit wants Basic auth with an empty password, which the sign-in does not send, so connect
needs a web app; whether Reddit rotates refresh tokens (a new one is kept if given).

Sources: [api] https://www.reddit.com/dev/api/ (POST /api/submit, GET /user/{username}/submitted,
GET /api/v1/me); [rules] https://github.com/reddit-archive/reddit/wiki/API; [limits]
https://support.reddithelp.com/hc/en-us/articles/360043033892 (title 300 characters, text posts
40,000); [rec] tests/conformance/praw-cassettes (PRAW's recordings of real submissions).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

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
from postmast.connectors.oauth2 import OAuth2Endpoints, TokenCache
from postmast.connectors.reddit.api import TOKEN_KEY, USER_AGENT, RedditApi
from postmast.connectors.text import blank_problem, text_problems

API_BASE = "https://oauth.reddit.com"
AUTH_BASE = "https://www.reddit.com"
SITE = "https://www.reddit.com"
SCOPES = ("identity", "submit", "read")
TITLE_LIMIT = 300
FLAIR_TEXT_LIMIT = 64
SUBREDDIT = regex.compile(r"[A-Za-z0-9][A-Za-z0-9_]{1,20}")
USERNAME = regex.compile(r"[A-Za-z0-9_-]{3,20}")
LISTING = 25
SKEW = timedelta(minutes=5)


def _flag(value: Any) -> str:
    return "true" if value else "false"


class Reddit(Connector):
    name: ClassVar[str] = "reddit"
    title: ClassVar[str] = "Reddit"
    max_length: ClassVar[int] = 40_000
    settings_fields: ClassVar[tuple[Field, ...]] = (
        Field("username", "the Reddit account that owns the script app (without u/)"),
        Field(
            "user_agent",
            "<platform>:<app ID>:<version> (by /u/<username>), e.g. "
            "'linux:postmast-harbour:1.0 (by /u/harbour_news)'",
        ),
        Field(
            "subreddit", "the subreddit posts go to unless a post names another (without r/)", required=False
        ),
        Field("api_base", f"OAuth API base URL (default {API_BASE})", required=False),
        Field("auth_base", f"where tokens are asked for (default {AUTH_BASE})", required=False),
        Field(
            "oauth_client_id",
            "a web app's id, for account connect (kept with the secrets too)",
            required=False,
        ),
    )
    secret_fields: ClassVar[tuple[Field, ...]] = (
        Field("client_id", "the script app's id (under its name at reddit.com/prefs/apps)", secret=True),
        Field("client_secret", "the script app's secret", secret=True),
        Field(
            "password",
            "the Reddit account's password (script apps use the password grant)",
            required=False,
            secret=True,
        ),
        Field(
            "refresh_token",
            "a permanent refresh token (a web app signed in with account connect)",
            required=False,
            secret=True,
        ),
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option("title", f"the post's title (required, at most {TITLE_LIMIT} characters)"),
        Option("subreddit", "post to this subreddit instead of the account's (without r/)"),
        Option("url", "make it a link post to this http(s) URL (the text, if any, goes beside it)"),
        Option("flair_id", "a post flair template id of the subreddit"),
        Option("flair_text", f"the flair's text (at most {FLAIR_TEXT_LIMIT} characters)"),
        Option("nsfw", "mark the post NSFW", kind="bool"),
        Option("spoiler", "mark the post as a spoiler", kind="bool"),
        Option("resubmit", "post a link even if it was already submitted to the subreddit", kind="bool"),
    )
    setup: ClassVar[str] = (
        "At reddit.com/prefs/apps create an app of type 'script' (redirect uri http://localhost:8080); "
        "its id is under its name. Then: postmast account add reddit NAME --set username=YOU --set "
        "'user_agent=linux:yourapp:1.0 (by /u/YOU)' --set subreddit=SUB and paste client_id, client_secret "
        "and password at the prompts. Or sign in with a 'web app' (redirect uri "
        "http://127.0.0.1:8765/callback): postmast account connect reddit NAME with the same settings and "
        "--set oauth_client_id=ID --port 8765 (it asks for the app's secret)."
    )

    # -- manifest rules ---------------------------------------------------------------------------

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        problems = super().check_settings(settings)
        username, agent = settings.get("username"), settings.get("user_agent")
        if username and not USERNAME.fullmatch(username):
            problems.append(
                Problem("username must be a Reddit username (3-20 letters, digits, _ or -), without u/")
            )
        if agent and not USER_AGENT.fullmatch(agent):
            problems.append(
                Problem(
                    "user_agent must be '<platform>:<app ID>:<version> (by /u/<username>)', "
                    "as Reddit requires"
                )
            )
        elif agent and username and not agent.lower().endswith(f"(by /u/{username.lower()})"):
            problems.append(Problem(f"user_agent must end with (by /u/{username})"))
        if settings.get("subreddit") and not SUBREDDIT.fullmatch(settings["subreddit"]):
            problems.append(Problem("subreddit must be a subreddit's name (letters, digits, _), without r/"))
        for name in ("api_base", "auth_base"):
            if settings.get(name):
                problems += check_http_url(settings[name], name)
        return problems

    @classmethod
    def check_secrets(cls, secrets: Mapping[str, str]) -> list[Problem]:
        problems = super().check_secrets(secrets)
        if not secrets.get("password") and not secrets.get("refresh_token"):
            problems.append(
                Problem(
                    "give password (a script app), or sign in with postmast account connect "
                    "(a web app: refresh_token)"
                )
            )
        return problems

    @classmethod
    def check_options(cls, values: Mapping[str, Any]) -> list[Problem]:
        problems = super().check_options(values)
        title, subreddit, url = values.get("title"), values.get("subreddit"), values.get("url")
        if isinstance(title, str) and len(title) > TITLE_LIMIT:
            problems.append(
                Problem(f"title is {len(title)} characters, over Reddit's limit of {TITLE_LIMIT}", "option")
            )
        if isinstance(title, str) and title and blank_problem(title):
            problems.append(Problem("title must have visible characters", "option"))
        if isinstance(subreddit, str) and subreddit and not SUBREDDIT.fullmatch(subreddit):
            problems.append(
                Problem("subreddit must be a subreddit's name (letters, digits, _), without r/", "option")
            )
        if isinstance(url, str) and url and check_http_url(url, "url"):
            problems.append(Problem("url must be an absolute http(s) URL", "option"))
        flair = values.get("flair_text")
        if isinstance(flair, str) and len(flair) > FLAIR_TEXT_LIMIT:
            problems.append(
                Problem(f"flair_text is over Reddit's limit of {FLAIR_TEXT_LIMIT} characters", "option")
            )
        return problems

    def count(self, text: str) -> int:
        """Code points: Reddit measures `text` with Python's `len` (r2 `VMarkdownLength`)."""
        return len(text)

    def validate(self, content: Content) -> list[Problem]:
        """A title is required; the text may be empty (a title-only post, or a link)."""
        given = {k: v for k, v in content.options.items() if v is not None and v != ""}
        if blank_problem(content.text) is None or text_problems(content.text):
            problems = super().validate(content)
        else:
            problems = self.check_options(given) + self.validate_media(content.media)
        if not given.get("title"):
            problems.append(Problem("a Reddit post needs a title: --option title=…", "option"))
        if not (given.get("subreddit") or self.settings.get("subreddit")):
            problems.append(
                Problem("no subreddit: --option subreddit=NAME, or set the account's subreddit", "option")
            )
        return problems

    # -- the network ------------------------------------------------------------------------------

    def subreddit(self, content: Content) -> str:
        return str(content.options.get("subreddit") or self.settings.get("subreddit") or "")

    def payload(self, content: Content) -> dict[str, Any]:
        """The `POST /api/submit` form, field by field, as sent."""
        options = content.options
        link = str(options.get("url") or "")
        form: dict[str, Any] = {
            "api_type": "json",
            "kind": "link" if link else "self",
            "sr": self.subreddit(content),
            "title": str(options.get("title") or ""),
        }
        if link:
            form["url"] = link
        if content.text.strip() or not link:
            form["text"] = content.text
        for name in ("flair_id", "flair_text"):
            if options.get(name):
                form[name] = str(options[name])
        form |= {
            "nsfw": _flag(options.get("nsfw")),
            "spoiler": _flag(options.get("spoiler")),
            "resubmit": _flag(options.get("resubmit")),
            "sendreplies": "true",
            "validate_on_submit": "true",
        }
        return form

    # -- signing in -------------------------------------------------------------------------------

    def endpoints(self, client_id: str) -> OAuth2Endpoints:
        """Reddit's code flow for a web app [oauth]: permanent, Basic client auth, the account's own
        User-Agent on the token request [rules]; the one-hour access token is not kept."""
        base = (self.settings.get("auth_base") or AUTH_BASE).rstrip("/")
        agent = self.settings.get("user_agent")
        return OAuth2Endpoints(
            authorize_url=f"{base}/api/v1/authorize",
            token_url=f"{base}/api/v1/access_token",
            scopes=SCOPES,
            client_id=client_id,
            token_field=None,
            client_secret_field="client_secret",  # noqa: S106 (secrets' names, not secrets)
            client_id_field="client_id",
            authorize_params=(("duration", "permanent"),),
            token_headers=(("User-Agent", agent),) if agent else (),
        )

    def oauth2(self) -> OAuth2Endpoints | None:
        client_id = self.settings.get("oauth_client_id")
        return self.endpoints(client_id) if client_id else None

    def can_refresh(self, credentials: Mapping[str, str]) -> bool:
        return all(credentials.get(k) for k in ("client_id", "client_secret", "refresh_token"))

    def refresh(self, credentials: Mapping[str, str]) -> Renewal | None:
        """The refresh-token grant (a signed-in account; a script app's password has none): the
        secrets, a new refresh token if Reddit gives one, no end. `AuthExpired` when refused."""
        if not self.can_refresh(credentials):
            return None
        return oauth2.refresh(self.http, self.endpoints(credentials["client_id"]), credentials, self.clock())

    def api(self, credentials: Mapping[str, str]) -> RedditApi:
        return RedditApi(
            self.http,
            self.settings,
            credentials,
            TokenCache(self.state, TOKEN_KEY),
            self.clock(),
            api_base=self.settings.get("api_base") or API_BASE,
            auth_base=self.settings.get("auth_base") or AUTH_BASE,
        )

    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        answer = self.api(credentials).call(
            "POST", "/api/submit", params={"raw_json": "1"}, data=self.payload(content), posting=True
        )
        envelope = answer.get("json")
        data = envelope.get("data") if isinstance(envelope, dict) else None
        data = data if isinstance(data, dict) else {}
        name, url = data.get("name"), data.get("url")
        if not isinstance(name, str) or not name:
            raise OutcomeUnknown("Reddit accepted the submission without naming the post")
        return PublishResult(name, url if isinstance(url, str) else None, 200)

    def lookup(
        self,
        content: Content,
        credentials: Mapping[str, str],
        idempotency_key: str,
        *,
        sent_at: datetime,
        replay_allowed: bool,
    ) -> Lookup:
        username = self.settings["username"]
        answer = self.api(credentials).call(
            "GET",
            f"/user/{quote(username, safe='')}/submitted",
            params={"sort": "new", "limit": str(LISTING), "raw_json": "1"},
        )
        listing = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        children = [c.get("data") for c in (listing or {}).get("children") or [] if isinstance(c, dict)]
        posts = [p for p in children if isinstance(p, dict)]
        since, older = sent_at - SKEW, False
        wanted = self.payload(content)
        for post in posts:
            created = post.get("created_utc")
            if isinstance(created, int | float) and datetime.fromtimestamp(created, UTC) < since:
                older = True
                continue
            if self._same(post, wanted) and isinstance(post.get("name"), str):
                link = f"{SITE}{post['permalink']}" if isinstance(post.get("permalink"), str) else None
                return Found(PublishResult(str(post["name"]), link, 200))
        if older or len(posts) < LISTING:
            return Absent(f"not among u/{username}'s submissions since the attempt")
        return Undecidable(f"u/{username}'s recent submissions do not reach back to the attempt")

    @staticmethod
    def _same(post: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
        if post.get("title") != wanted["title"]:
            return False
        if str(post.get("subreddit", "")).lower() != str(wanted["sr"]).lower():
            return False
        if wanted["kind"] == "link":
            return not post.get("is_self") and _same_url(str(post.get("url", "")), str(wanted["url"]))
        return bool(post.get("is_self", True))

    def discover(self, credentials: Mapping[str, str]) -> dict[str, Any]:
        """The account's own name (`GET /api/v1/me`): proves the app, password and agent work."""
        me = self.api(credentials).call("GET", "/api/v1/me", params={"raw_json": "1"})
        return {"username": me["name"]} if isinstance(me.get("name"), str) else {}


def _same_url(seen: str, sent: str) -> bool:
    """Reddit keeps a submitted URL as given, but may add a trailing slash to a bare host."""
    a, b = urlsplit(seen), urlsplit(sent)
    return (a.scheme, a.netloc.lower(), a.path.rstrip("/"), a.query) == (
        b.scheme,
        b.netloc.lower(),
        b.path.rstrip("/"),
        b.query,
    )
