"""The connector interface: a manifest in class attributes, validation, publish, lookup.

One subclass per network, in its own module; `connectors.registry` finds it by
scanning the package, so adding a network edits nothing central.
"""

from __future__ import annotations

import ipaddress
from abc import ABC, abstractmethod
from collections.abc import Mapping, MutableMapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from postmast.clock import Clock, system
from postmast.connectors.content import (
    Content,
    Field,
    Lookup,
    Measure,
    MediaFile,
    Option,
    Problem,
    PublishResult,
    Renewal,
    SecretSet,
    Undecidable,
)
from postmast.connectors.text import blank_problem, graphemes, text_problems

if TYPE_CHECKING:  # the HTTP stack (requests, urllib3) loads when a connector is built, not before:
    # `postmast queue` and the validation of a post read the manifests only
    from postmast.connectors.http import HttpClient
    from postmast.connectors.oauth2 import OAuth2Endpoints


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size:,} bytes"


class Connector(ABC):
    """Base class of all connectors. Class attributes are the manifest.

    The manifest's limits are the network's defaults. Validation reads them through
    instance properties (`length_limit`, `media_count_limit`, `accepted_media`,
    `alt_text_limit`), so a connector whose limits depend on the account (a Mastodon
    server's own) overrides a property and keeps the shared checks.

    An instance is bound to one account's public `settings`, an HTTP client whose
    timeouts the worker chose, the account's `cache` (public facts the connector
    learnt, e.g. an instance's limits) and `state` (secrets that change, e.g. session
    tokens; the worker persists it encrypted when the connector changes it), and the
    caller's `clock`: a connector never reads the wall clock itself, so the worker's
    (the store's) "now" is the connector's. Credentials arrive only at publish time.
    """

    name: ClassVar[str]
    """Network id used in targets, e.g. `mastodon` in `mastodon:brand`."""
    title: ClassVar[str]
    """Human name of the network."""
    max_length: ClassVar[int]
    """Default text limit, by the network's own counting rule (see `length_limit`)."""
    settings_fields: ClassVar[tuple[Field, ...]] = ()
    secret_fields: ClassVar[tuple[Field, ...]] = ()
    token_lifetime: ClassVar[timedelta | None] = None
    """How long credentials last from when they are stored, where the network fixes it (LinkedIn:
    60 days) and tells no expiry itself; sets the account's `expires_at`."""
    refresh_margin: ClassVar[timedelta] = timedelta(days=7)
    """How long before their end credentials are renewed (`refresh`) or, if they cannot be, warned about."""
    sign_in_settings: ClassVar[tuple[str, ...]] = ()
    """Settings `account connect` asks for (echoed: they are public) when not given with --set;
    by default the required ones."""
    secret_sets: ClassVar[tuple[SecretSet, ...]] = ()
    """Alternative complete sets of secrets (sign-in methods); empty: `secret_fields` as they are."""
    setup: ClassVar[str] = ""
    """How to obtain the settings and secrets (shown by `postmast account networks`)."""
    options: ClassVar[tuple[Option, ...]] = ()
    """The post options the network takes (`--option KEY=VALUE`); `Content.options` holds only these."""
    max_media: ClassVar[int] = 0
    """Attachments per item; 0 means the network takes none through postmast (see `media_count_limit`)."""
    media_limits: ClassVar[Mapping[str, int]] = {}
    """Accepted MIME types and the largest size of each, in bytes (see `accepted_media`)."""
    max_alt_text: ClassVar[int | None] = None
    """Longest alt text, in characters (None: no limit known; see `alt_text_limit`)."""
    threads: ClassVar[bool] = False
    """Whether items can reply to each other (threads, replies)."""
    refuses_repeats: ClassVar[bool] = False
    """Whether the network refuses a text the account already posted (evergreen posts skip it)."""

    def __init__(
        self,
        settings: Mapping[str, str],
        http: HttpClient | None = None,
        *,
        cache: Mapping[str, Any] | None = None,
        state: MutableMapping[str, Any] | None = None,
        clock: Clock = system,
    ) -> None:
        if http is None:
            from postmast.connectors.http import HttpClient

            http = HttpClient()
        self.settings = dict(settings)
        self.http = http
        self.cache: dict[str, Any] = dict(cache or {})
        self.state: MutableMapping[str, Any] = state if state is not None else {}
        self.clock: Clock = clock

    # -- manifest helpers -------------------------------------------------------------------------

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        """Problems with an account's settings: unknown keys, missing required ones, and an
        endpoint in clear text (`insecure_endpoints`)."""
        known = {f.name for f in cls.settings_fields}
        problems = [
            Problem(f"unknown setting {key!r} for {cls.name} (known: {', '.join(sorted(known)) or 'none'})")
            for key in settings
            if key not in known and key != ALLOW_INSECURE
        ]
        problems += [
            Problem(f"missing setting {f.name!r}: {f.help}")
            for f in cls.settings_fields
            if f.required and not settings.get(f.name)
        ]
        limit = settings.get("max_length")
        if (
            limit
            and "max_length" in known
            and not (limit.isascii() and limit.isdecimal() and len(limit) <= 8 and int(limit) >= 1)
        ):
            problems.append(Problem("max_length must be a positive whole number (at most 99999999)"))
        return problems + insecure_endpoints(settings)

    @classmethod
    def sign_in_fields(cls) -> tuple[Field, ...]:
        """The settings `account connect` asks for: `sign_in_settings`, else the required ones."""
        if cls.sign_in_settings:
            return tuple(f for f in cls.settings_fields if f.name in cls.sign_in_settings)
        return tuple(f for f in cls.settings_fields if f.required)

    @classmethod
    def secret_methods(cls) -> tuple[SecretSet, ...]:
        """The ways to sign in: the declared `secret_sets`, else one made of the required secrets."""
        if cls.secret_sets:
            return cls.secret_sets
        needed = tuple(f.name for f in cls.secret_fields if f.required)
        return (SecretSet("secrets", f"{cls.title} secrets", needed),) if needed else ()

    @classmethod
    def check_secrets(cls, secrets: Mapping[str, str]) -> list[Problem]:
        """Problems with an account's secrets: unknown keys, missing required ones."""
        known = {f.name for f in cls.secret_fields}
        # An unknown name is not echoed: it may be a pasted secret that lacks its `NAME=`.
        unknown = [key for key in secrets if key not in known]
        names = ", ".join(sorted(known)) or "none"
        problems = (
            [Problem(f"an unknown secret name was given for {cls.name} (known: {names})")] if unknown else []
        )
        problems += [
            Problem(f"missing secret {f.name!r}: {f.help}")
            for f in cls.secret_fields
            if f.required and not secrets.get(f.name)
        ]
        return problems

    @classmethod
    def check_options(cls, values: Mapping[str, Any]) -> list[Problem]:
        """Problems with a post's options for this network: unknown names, values an option does not
        take (values as `Option.parse` returns them). Connectors add their network's own rules."""
        declared = {option.name: option for option in cls.options}
        problems = []
        for name, value in values.items():
            option = declared.get(name)
            if option is None:
                known = ", ".join(declared) or "none"
                problems.append(Problem(f"unknown option {name!r} for {cls.name} (known: {known})", "option"))
            elif (message := option.check(value)) is not None:
                problems.append(Problem(message, "option"))
        return problems

    # -- this account's limits (the manifest's defaults unless a connector knows better) -----------

    @property
    def length_limit(self) -> int:
        """The network's text limit for this account, before a `max_length` setting: `max_length`."""
        return self.max_length

    @property
    def media_count_limit(self) -> int:
        """Attachments per item for this account: `max_media`."""
        return self.max_media

    @property
    def accepted_media(self) -> Mapping[str, int]:
        """MIME types this account may attach, with the largest size of each: `media_limits`."""
        return self.media_limits

    @property
    def alt_text_limit(self) -> int | None:
        """Longest alt text for this account (None: no limit known): `max_alt_text`."""
        return self.max_alt_text

    @property
    def limits_source(self) -> str:
        """Whose media limits these are, as messages name it: the network, by default."""
        return self.title

    def alt_text_length(self, alt: str) -> int:
        """Length of an alt text by the network's rule: graphemes unless the network says otherwise."""
        return graphemes(alt)

    # -- text and media rules ----------------------------------------------------------------------

    @property
    def limit(self) -> int:
        """This account's text limit; a `max_length` setting overrides `length_limit`."""
        override = self.settings.get("max_length")
        return int(override) if override else self.length_limit

    def count(self, text: str) -> int:
        """Length of `text` by the network's rule; graphemes unless the network says otherwise."""
        return graphemes(text)

    def measure(self, content: Content) -> Measure:
        return Measure(self.count(content.text), self.limit)

    def validate(self, content: Content) -> list[Problem]:
        """Everything about one item that can be checked before storing it."""
        problems = [Problem(p) for p in text_problems(content.text)]
        if problems:
            return problems
        empty = blank_problem(content.text)
        if empty is not None and not content.media:
            return [Problem(empty, "empty")]
        measure = self.measure(content)
        if not measure.ok:
            problems.append(
                Problem(
                    f"text is {measure.length} characters, over {self.title}'s limit of {measure.limit}",
                    "too_long",
                )
            )
        given = {k: v for k, v in content.options.items() if v is not None and v != ""}
        return problems + self.check_options(given) + self.validate_media(content.media)

    def validate_media(self, media: Sequence[MediaFile]) -> list[Problem]:
        """Count, types, sizes and alt text of the attachments of one item, against this account's limits."""
        if not media:
            return []
        most = self.media_count_limit
        if most == 0:
            return [Problem(f"{self.title} posts made by postmast cannot carry media", "media")]
        problems = []
        if len(media) > most:
            problems.append(Problem(f"{len(media)} attachments, {self.title} takes at most {most}", "media"))
        accepted, alt_limit = self.accepted_media, self.alt_text_limit
        for item in media:
            messages = []
            limit = accepted.get(item.mime)
            if limit is None:
                names = ", ".join(sorted(accepted)) or "none"
                messages.append(
                    f"{item.filename}: {item.mime} is not accepted by {self.limits_source} "
                    f"(accepted: {names})"
                )
            elif item.size > limit:
                messages.append(
                    f"{item.filename} is {_megabytes(item.size)}, over {self.limits_source}'s limit "
                    f"of {_megabytes(limit)} for {item.mime}"
                )
            alt_problems = text_problems(item.alt)
            if alt_problems:
                messages.append(f"alt text of {item.filename}: {alt_problems[0].removeprefix('text ')}")
            elif alt_limit is not None and self.alt_text_length(item.alt) > alt_limit:
                messages.append(f"alt text of {item.filename} is over {alt_limit} characters")
            problems += [Problem(message, "media") for message in messages]
        return problems

    def validate_thread(self, items: Sequence[Content]) -> list[Problem]:
        """Problems with a thread as a whole, then with each item (numbered when there are several)."""
        problems = []
        if len(items) > 1 and not self.threads:
            problems.append(Problem(f"{self.title} does not take threads through postmast", "thread"))
        for number, item in enumerate(items, 1):
            prefix = f"item {number}: " if len(items) > 1 else ""
            problems += [Problem(prefix + p.message, p.code) for p in self.validate(item)]
        return problems

    def items(self, contents: Sequence[Content]) -> list[Content]:
        """The items the network receives for a post: the body's own, by default.

        A connector whose options stand for items of their own (a first comment) adds them
        here, so that each is validated, shown by `--dry-run`, sent, recorded and resumed
        like an item of a thread. Queueing, publishing and reconciliation all read the post
        through this, so positions agree everywhere.
        """
        return list(contents)

    # -- the network -------------------------------------------------------------------------------

    @abstractmethod
    def payload(self, content: Content) -> dict[str, Any]:
        """The exact request body `publish` sends for `content` (no credentials): for `--dry-run`."""

    def notes(self, content: Content) -> list[str]:
        """Warnings for `--dry-run`: what would be sent differently from what the text asks
        (e.g. a mention that does not resolve); none by default."""
        return []

    @abstractmethod
    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        """Send one item. Returns its remote id and URL or raises a `connectors.errors` error."""

    def lookup(
        self,
        content: Content,
        credentials: Mapping[str, str],
        idempotency_key: str,
        *,
        sent_at: datetime,
        replay_allowed: bool,
    ) -> Lookup:
        """After an unknown outcome: is this item on the network? Never posts blindly.

        `sent_at` is when the uncertain request went out. `replay_allowed` says the item
        may still be published now (its deadline has not passed), so a network whose
        idempotency key makes a replay return the original post may be asked that way.
        The default cannot tell; connectors whose network offers a way (an idempotency
        key, a client-chosen record key, a search of recent posts) override it.
        """
        return Undecidable(f"{self.title} offers no way to check whether a post exists")

    def discover(self, credentials: Mapping[str, str]) -> dict[str, Any]:
        """Public facts about the account worth caching (limits of its server); {} by default."""
        return {}

    def oauth2(self) -> OAuth2Endpoints | None:
        """Where this account signs in with OAuth 2.0 (authorization code + PKCE), from its settings;
        None when the network (or this account's settings) has no such sign-in."""
        return None

    def register_client(self, redirect_uri: str) -> tuple[dict[str, str], dict[str, str]] | None:
        """Register postmast as an OAuth app with the network, where anyone may (Mastodon's
        `POST /api/v1/apps`), before `oauth2` can sign in: the settings (the client id) and
        secrets (the client secret) to keep. None where the network has no such registration."""
        return None

    def complete_sign_in(self, token: Mapping[str, Any], client_secret: str) -> Renewal | None:
        """After `account connect` redeemed the code: the account's secrets and their end, where the
        network needs more steps than the token answer (Meta: the long-lived token exchange, then
        the Page's own token), replacing what the sign-in would store; None (the default): the
        token answer as `oauth2` declares it. `ConnectorError` when a step fails."""
        return None

    def can_refresh(self, credentials: Mapping[str, str]) -> bool:
        """Whether `refresh` can renew these credentials (so their end needs no warning)."""
        endpoints = self.oauth2()
        return bool(endpoints and endpoints.refresh_field and credentials.get(endpoints.refresh_field))

    def refresh(self, credentials: Mapping[str, str]) -> Renewal | None:
        """Renew credentials ahead of their end, where the network allows (a refresh token, a token
        exchange): the new set, or None when these credentials cannot be renewed (the account is
        warned about instead). `AuthExpired` when the network refuses: a person must sign in again.
        By default an OAuth 2.0 refresh-token grant, for a connector that declares `oauth2`.
        """
        endpoints = self.oauth2()
        if endpoints is None:
            return None
        from postmast.connectors import oauth2

        return oauth2.refresh(self.http, endpoints, credentials, self.clock())

    def whoami(self, credentials: Mapping[str, str]) -> dict[str, Any] | None:
        """Ask the network who these credentials are (`postmast account check`): public facts when
        it accepts them, `AuthExpired` when it refuses them, None when the network has no way to
        ask. By default the connector's `discover`, which checks the credentials where it is
        defined (Mastodon verify_credentials, X /2/users/me, Bluesky getSession, Meta /me,
        Telegram getMe, Slack auth.test, a Discord webhook's GET)."""
        if type(self).discover is Connector.discover:
            return None
        return self.discover(credentials)


ALLOW_INSECURE = "allow_insecure"
"""The account setting `--allow-insecure` stores: its endpoints may be plain http:// elsewhere
than on this machine."""


def insecure_endpoints(settings: Mapping[str, str]) -> list[Problem]:
    """Settings that send the account's credentials in clear text: an `http://` URL to a host that
    is not this machine (a loopback address), unless the account allows it. Every network's
    settings are checked, so a new network inherits the rule."""
    allowed = settings.get(ALLOW_INSECURE, "")
    if allowed.lower() == "true":
        return []
    problems = [Problem(f"{ALLOW_INSECURE} must be true (or empty to remove it)")] if allowed else []
    for name, value in settings.items():
        try:
            parts = urlsplit(value.strip())
            host = parts.hostname
        except ValueError:
            continue
        if parts.scheme.lower() == "http" and host and not loopback(host):
            problems.append(
                Problem(
                    f"{name} is http://{host}: credentials would cross the network in clear text; "
                    "use https://, or pass --allow-insecure if that is what you want",
                    "insecure",
                )
            )
    return problems


def loopback(host: str) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1): traffic that stays on this machine."""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_http_url(value: str, what: str) -> list[Problem]:
    """A setting that must be an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError when out of range)
    except ValueError:
        return [Problem(f"{what} must be an absolute http(s) URL")]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [Problem(f"{what} must be an absolute http(s) URL")]
    return []
