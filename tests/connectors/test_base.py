"""The connector interface's shared parts: manifest checks, limits, validation, URL settings, errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from postmast.connectors import (
    Connector,
    Content,
    Field,
    Measure,
    MediaFile,
    Option,
    Problem,
    PublishResult,
)
from postmast.connectors.base import ALLOW_INSECURE, check_http_url, insecure_endpoints
from postmast.connectors.errors import (
    AuthExpired,
    ConnectorError,
    DuplicateContent,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import HttpClient
from postmast.connectors.registry import get_connector


class Minimal(Connector):
    """The smallest concrete connector: only what the base class asks for."""

    name: ClassVar[str] = "minimal"
    title: ClassVar[str] = "Minimal"
    max_length: ClassVar[int] = 10
    settings_fields: ClassVar[tuple[Field, ...]] = (
        Field("endpoint", "where to send"),
        Field("max_length", "limit", required=False),
    )
    secret_fields: ClassVar[tuple[Field, ...]] = (Field("token", "the token", secret=True),)

    def payload(self, content: Content) -> dict[str, Any]:
        return {"text": content.text}

    def publish(self, content: Content, credentials: Any, idempotency_key: str) -> PublishResult:
        return PublishResult(idempotency_key, None)


def test_connector_without_payload_and_publish_cannot_be_made() -> None:
    class Incomplete(Connector):
        name = "incomplete"

    with pytest.raises(TypeError):
        Incomplete({})


def test_settings_are_copied_and_a_default_client_is_made() -> None:
    settings = {"endpoint": "x"}
    connector = Minimal(settings)
    settings["endpoint"] = "changed"
    assert connector.settings == {"endpoint": "x"}
    assert isinstance(connector.http, HttpClient)
    client = HttpClient(read_timeout=1)
    assert Minimal({}, client).http is client


def test_check_settings_reports_unknown_and_missing() -> None:
    assert Minimal.check_settings({"endpoint": "x"}) == []
    assert Minimal.check_settings({"endpoint": "x", "max_length": "5"}) == []
    problems = Minimal.check_settings({"colour": "red"})
    assert [p.message for p in problems] == [
        "unknown setting 'colour' for minimal (known: endpoint, max_length)",
        "missing setting 'endpoint': where to send",
    ]
    assert all(p.code == "invalid" for p in problems)


def test_check_secrets_reports_unknown_and_missing_without_values() -> None:
    assert Minimal.check_secrets({"token": "s3cret"}) == []
    problems = Minimal.check_secrets({"password": "hunter2"})
    assert [p.message for p in problems] == [
        "an unknown secret name was given for minimal (known: token)",
        "missing secret 'token': the token",
    ]
    assert not any("hunter2" in p.message for p in problems)


def test_limit_and_measure() -> None:
    assert Minimal({}).limit == 10
    assert Minimal({"max_length": "3"}).limit == 3
    assert Minimal({}).measure(Content("👍🏽👍🏽")) == Measure(2, 10)
    assert Measure(10, 10).ok and not Measure(11, 10).ok


def test_validate_order_text_sanity_then_emptiness_then_length() -> None:
    connector = Minimal({"max_length": "3"})
    assert connector.validate(Content("abc")) == []
    [broken] = connector.validate(Content("\x00" * 20))  # a broken text is not also "too long"
    assert "control characters" in broken.message
    assert connector.validate(Content("   ")) == [Problem("text is empty", "empty")]
    assert connector.validate(Content("abcd")) == [
        Problem("text is 4 characters, over Minimal's limit of 3", "too_long")
    ]


# -- options: declared by the connector, parsed and checked generically -------------------------------

WARNING = Option("warning", "a content warning", max_length=5, per_item=True)
AUDIENCE = Option("audience", "who sees it", kind="choice", choices=("all", "friends"))
SILENT = Option("silent", "no notification", kind="bool")
DELAY = Option("delay", "seconds to wait", kind="int")


class WithOptions(Minimal):
    options: ClassVar[tuple[Option, ...]] = (WARNING, AUDIENCE, SILENT, DELAY)


def test_options_parse_raw_values_by_kind() -> None:
    assert WARNING.parse(" cw ") == " cw "  # text as given
    family, thumb = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466", "\U0001f44d\U0001f3fd"
    assert WARNING.parse(family * 3 + thumb * 2) == family * 3 + thumb * 2  # 5 characters as people see them
    assert AUDIENCE.parse(" friends\n") == "friends"
    yes, no = ("true", "Yes", "on", "1"), ("false", "NO", "off", "0")
    assert [SILENT.parse(v) for v in yes + no] == [True] * 4 + [False] * 4
    assert [DELAY.parse(v) for v in ("0", " 90 ", "-5", "+7")] == [0, 90, -5, 7]


@pytest.mark.parametrize(
    ("option", "raw", "message"),
    [
        (WARNING, "spoilers", "warning is 8 characters, over the limit of 5"),
        (WARNING, "a\x07b", "warning contains control characters (U+0007)"),
        (AUDIENCE, "everyone", "audience must be one of all, friends (got 'everyone')"),
        (AUDIENCE, "", "audience must be one of all, friends (got '')"),
        (SILENT, "maybe", "silent must be true or false (got 'maybe')"),
        (DELAY, "1.5", "delay must be a whole number (got '1.5')"),
        (DELAY, "١٢", "delay must be a whole number (got '١٢')"),
        (DELAY, "9" * 50, "delay must be a whole number (got '9999999999999999999999999999999999999...')"),
    ],
)
def test_a_bad_raw_value_is_one_line_naming_the_option_and_what_it_takes(
    option: Option, raw: str, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        option.parse(raw)
    assert str(caught.value) == message and "\n" not in str(caught.value)


def test_a_declaration_that_cannot_work_fails_at_once() -> None:
    for wrong in (
        {"name": "two words", "help": "h"},
        {"name": "x", "help": "h", "kind": "date"},
        {"name": "x", "help": "h", "kind": "choice"},
        {"name": "x", "help": "h", "choices": ("a",)},
        {"name": "x", "help": "h", "kind": "int", "max_length": 3},
        {"name": "x", "help": "h", "max_length": 0},
    ):
        with pytest.raises(ValueError):
            Option(**wrong)  # type: ignore[arg-type]


def test_options_as_dict_for_json_listings() -> None:
    assert AUDIENCE.as_dict() == {
        "name": "audience",
        "help": "who sees it",
        "kind": "choice",
        "choices": ["all", "friends"],
        "per_item": False,
        "max_length": None,
    }
    assert WARNING.as_dict()["per_item"] is True and WARNING.as_dict()["max_length"] == 5
    assert json.loads(json.dumps([o.as_dict() for o in WithOptions.options]))[3]["kind"] == "int"
    assert [o.accepts for o in WithOptions.options] == [
        "text of at most 5 characters",
        "one of all, friends",
        "true or false",
        "a whole number",
    ]


def test_check_options_reports_unknown_names_and_wrong_values() -> None:
    assert Minimal.options == () and Minimal.check_options({}) == []
    assert WithOptions.check_options({"warning": "cw", "audience": "all", "silent": False, "delay": 3}) == []
    problems = WithOptions.check_options(
        {"colour": "red", "warning": "far too long", "audience": "everyone", "silent": "yes", "delay": True}
    )
    assert problems == [
        Problem("unknown option 'colour' for minimal (known: warning, audience, silent, delay)", "option"),
        Problem("warning is 12 characters, over the limit of 5", "option"),
        Problem("audience must be one of all, friends (got 'everyone')", "option"),
        Problem("silent must be true or false", "option"),  # values arrive parsed: "yes" was not
        Problem("delay must be a whole number", "option"),
    ]
    assert Minimal.check_options({"visibility": "public"}) == [
        Problem("unknown option 'visibility' for minimal (known: none)", "option")
    ]
    assert WithOptions({}).check_options({"warning": 5}) == [
        Problem("warning must be text of at most 5 characters", "option")
    ]


# -- limits: class attributes are the defaults, instance properties what validation reads -------------


class Pictures(Minimal):
    """A network that takes two small PNGs with short alt text."""

    title: ClassVar[str] = "Pictures"
    max_media: ClassVar[int] = 2
    media_limits: ClassVar[Mapping[str, int]] = {"image/png": 100}
    max_alt_text: ClassVar[int | None] = 5


class PerAccount(Pictures):
    """Limits the account's own server sets (as Mastodon's): properties read from the cache."""

    @property
    def length_limit(self) -> int:
        return int(self.cache.get("length", self.max_length))

    @property
    def media_count_limit(self) -> int:
        return int(self.cache.get("media", self.max_media))

    @property
    def accepted_media(self) -> Mapping[str, int]:
        return dict(self.cache.get("types", self.media_limits))

    @property
    def alt_text_limit(self) -> int | None:
        return self.cache.get("alt", self.max_alt_text)

    @property
    def limits_source(self) -> str:
        return "this server"


def png(size: int = 10, alt: str = "") -> MediaFile:
    return MediaFile(b"p" * size, "image/png", "a.png", alt)


def test_the_limit_properties_default_to_the_manifest() -> None:
    account = Pictures({})
    assert (account.length_limit, account.media_count_limit, account.alt_text_limit) == (10, 2, 5)
    assert account.accepted_media == {"image/png": 100} and account.limits_source == "Pictures"
    assert account.alt_text_length("👍🏽 ok") == 4  # graphemes by default
    assert Minimal({}).validate(Content("x", (png(),))) == [
        Problem("Minimal posts made by postmast cannot carry media", "media")
    ]
    messages = [p.message for p in account.validate(Content("x", (png(101, "abcdef"), png(), png())))]
    assert messages == [
        "3 attachments, Pictures takes at most 2",
        "a.png is 101 bytes, over Pictures's limit of 100 bytes for image/png",
        "alt text of a.png is over 5 characters",
    ]


def test_a_connector_overrides_its_limits_and_keeps_the_shared_checks() -> None:
    cache = {"length": 20, "media": 3, "types": {"image/png": 200, "image/gif": 50}, "alt": 8}
    account = PerAccount({}, cache=cache)
    assert account.limit == 20 and PerAccount({"max_length": "4"}, cache=cache).limit == 4
    assert account.validate(Content("x" * 20, (png(150, "abcdefgh"), png(), png()))) == []
    gif = MediaFile(b"g" * 60, "image/gif", "a.gif")
    jpeg = MediaFile(b"j", "image/jpeg", "a.jpg", "bell \x07")
    messages = [p.message for p in account.validate(Content("x", (png(alt="abcdefghi"), gif, jpeg, png())))]
    assert messages == [
        "4 attachments, Pictures takes at most 3",
        "alt text of a.png is over 8 characters",
        "a.gif is 60 bytes, over this server's limit of 50 bytes for image/gif",
        "a.jpg: image/jpeg is not accepted by this server (accepted: image/gif, image/png)",
        "alt text of a.jpg: contains control characters (U+0007)",
    ]
    assert PerAccount.max_media == 2  # the manifest still says the network's default


@pytest.mark.parametrize(
    "url", ["https://example.org", "http://127.0.0.1:8080/x?y=1", "HTTPS://EXAMPLE.ORG/"]
)
def test_http_urls_are_accepted(url: str) -> None:
    assert check_http_url(url, "instance") == []


@pytest.mark.parametrize(
    "url",
    [
        "",
        "example.org",
        "ftp://example.org",
        "https://",
        "mailto:a@b.c",
        "http:example.org",
        "/relative/path",
    ],
)
def test_other_urls_are_refused_with_the_setting_name(url: str) -> None:
    assert check_http_url(url, "instance") == [Problem("instance must be an absolute http(s) URL")]


def test_errors_carry_status_message_and_kind() -> None:
    error = PermanentError("rejected", http_status=422)
    assert (str(error), error.message, error.http_status, error.kind) == (
        "rejected",
        "rejected",
        422,
        "PermanentError",
    )
    limited = RateLimited("slow", retry_after=5.0)
    assert (limited.http_status, limited.retry_after, limited.kind) == (429, 5.0, "RateLimited")
    assert TransientError("x").http_status is None
    for cls in (AuthExpired, RateLimited, TransientError, PermanentError, OutcomeUnknown):
        assert issubclass(cls, ConnectorError)


def test_a_duplicate_is_an_unknown_outcome_not_a_failure() -> None:
    """The network says it already has this post: the worker must reconcile, not fail or resend."""
    assert issubclass(DuplicateContent, OutcomeUnknown)
    assert DuplicateContent("dup").kind == "DuplicateContent"


@pytest.mark.parametrize(
    ("network", "setting"),
    [("mastodon", "instance"), ("x", "api_base"), ("bluesky", "service"), ("webhook", "url")],
)
def test_a_token_bearing_endpoint_in_clear_text_is_refused_unless_local_or_allowed(network, setting) -> None:
    cls = get_connector(network)
    required = {f.name: "x" for f in cls.settings_fields if f.required and f.name != setting}
    far = {**required, setting: "http://social.example.org"}
    problems = [p.message for p in cls.check_settings(far)]
    assert (
        f"{setting} is http://social.example.org: credentials would cross the network in clear text; "
        "use https://, or pass --allow-insecure if that is what you want" in problems
    )
    for near in (
        "http://127.0.0.1:3000",
        "http://localhost:8080",
        "http://[::1]:9",
        "https://social.example.org",
    ):
        assert not [p for p in cls.check_settings({**required, setting: near}) if p.code == "insecure"]
    assert not [p for p in cls.check_settings({**far, ALLOW_INSECURE: "true"}) if p.code == "insecure"]
    assert "allow_insecure must be true (or empty to remove it)" in [
        p.message for p in cls.check_settings({**far, ALLOW_INSECURE: "yes"})
    ]


def test_a_future_network_inherits_the_clear_text_rule() -> None:
    assert [p.code for p in Minimal.check_settings({"endpoint": "http://10.0.0.7/api"})] == ["insecure"]
    assert insecure_endpoints({"endpoint": "http://127.0.0.2/api"}) == []
