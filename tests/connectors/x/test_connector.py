"""The X connector: weighted length by twitter-text's conformance suite, account settings and
secrets, validation, the request body against X's OpenAPI spec, publishing posts, replies and
threads against the contract server, and replay of a real recorded `POST /2/tweets`.

Sources: NETWORKS.md §1, conformance/twitter-text (config v2/v3, validate.yml),
conformance/x-openapi/openapi.json (2.167), conformance/tweepy-cassettes, tests/servers/x.py.
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from postmast.connectors import Content, MediaFile, PublishResult, RemoteRef
from postmast.connectors.errors import AuthExpired
from postmast.connectors.http import HttpClient
from postmast.connectors.registry import get_connector
from postmast.connectors.x.api import RateLimits
from postmast.connectors.x.connector import WEIGHTING, X, parse_text, post_id, weighted_length
from postmast.connectors.x.weighting import Config, ParsedTweet
from tests.servers.replay import ReplayServer, load_cassette
from tests.servers.x import BEARER, OAUTH1, XServer
from tests.servers.x import weighted_length as server_weighted_length
from tests.servers.x_openapi import XSpec

SECTIONS = {
    "WeightedTweetsCounterTest": ("v2.json", 20),
    "WeightedTweetsWithDiscountedEmojiCounterTest": ("v3.json", 22),
    "UnicodeDirectionalMarkerCounterTest": ("v3.json", 2),  # the default config is v3
}
CJK = "\u65e5"  # weight 2
EMOJI = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one emoji: weight 2


def offline(**settings: str) -> X:
    return X({"username": "alice", **settings})


def connector(server: XServer | ReplayServer, **settings: str) -> X:
    return X({"api_base": server.url, "username": "alice", **settings}, HttpClient(read_timeout=5))


@pytest.fixture
def x_server(conformance: Path) -> Iterator[XServer]:
    server = XServer(conformance / "x-openapi" / "openapi.json", check_after_secs=0).start()
    yield server
    server.stop()


# == weighted length: every case of twitter-text's validate.yml ======================================


def twitter_text_options(path: Path) -> Config:
    return Config.from_json(json.loads(path.read_text()))


def camel(parsed: ParsedTweet) -> dict[str, Any]:
    """A parse as twitter-text's conformance suite names its fields."""
    return {
        "weightedLength": parsed.weighted_length,
        "valid": parsed.valid,
        "permillage": parsed.permillage,
        "validRangeStart": parsed.valid_range_start,
        "validRangeEnd": parsed.valid_range_end,
        "displayRangeStart": parsed.display_range_start,
        "displayRangeEnd": parsed.display_range_end,
    }


@pytest.fixture(scope="module")
def validate_cases(conformance: Path) -> dict[str, list[dict[str, Any]]]:
    data = yaml.safe_load((conformance / "twitter-text" / "conformance" / "validate.yml").read_text("utf-8"))
    return {name: data["tests"][name] for name in SECTIONS}


def test_every_weighted_length_case_of_validate_yml(
    conformance: Path, validate_cases: dict[str, list[dict[str, Any]]]
) -> None:
    checked: dict[str, int] = {}
    for section, (config, count) in SECTIONS.items():
        options = twitter_text_options(conformance / "twitter-text" / "config" / config)
        cases = validate_cases[section]
        assert len(cases) == count, section  # the suite cannot pass on zero cases
        for case in cases:
            expected = case["expected"]
            parsed = camel(parse_text(case["text"], options))
            assert {k: parsed[k] for k in expected} == expected, f"{section}: {case['description']}"
            assert weighted_length(case["text"], options) == expected["weightedLength"]
            checked[section] = checked.get(section, 0) + 1
    assert checked == {"WeightedTweetsCounterTest": 20, "WeightedTweetsWithDiscountedEmojiCounterTest": 22,
                       "UnicodeDirectionalMarkerCounterTest": 2}  # fmt: skip


def test_the_connector_counts_by_config_v3(conformance: Path, validate_cases: dict[str, Any]) -> None:
    assert twitter_text_options(conformance / "twitter-text" / "config" / "v3.json") == WEIGHTING
    account = offline()
    for section in ("WeightedTweetsWithDiscountedEmojiCounterTest", "UnicodeDirectionalMarkerCounterTest"):
        for case in validate_cases[section]:
            expected = case["expected"]
            assert account.count(case["text"]) == expected["weightedLength"], case["description"]
            assert account.measure(Content(case["text"])).length == expected["weightedLength"]
            assert (account.validate(Content(case["text"])) == []) is expected["valid"], case["description"]


def test_the_contract_servers_own_count_agrees_on_plain_cases(validate_cases: dict[str, Any]) -> None:
    """The server counts with a separate, simpler implementation; it must agree where it can."""
    plain = [
        c
        for c in validate_cases["WeightedTweetsWithDiscountedEmojiCounterTest"]
        if "http" not in c["text"] and "." not in c["text"]
    ]
    assert len(plain) >= 10
    for case in plain:
        assert server_weighted_length(case["text"]) == case["expected"]["weightedLength"], case["description"]


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("a" * 280, 280),
        (CJK * 140, 280),
        (EMOJI * 140, 280),
        ("https://example.com/" + "p" * 300, 23),
        ("see example.com", 4 + 23),  # bare domains are links on X too
        ("e\u0301", 1),  # NFC first
    ],
)
def test_weighted_lengths(text: str, length: int) -> None:
    assert offline().count(text) == length
    assert offline().validate(Content(text)) == []


@pytest.mark.parametrize("text", ["a" * 281, CJK * 141, EMOJI * 141, "a" * 258 + " https://example.com/x"])
def test_over_280_is_refused_with_the_weighted_length(text: str) -> None:
    [problem] = offline().validate(Content(text))
    assert problem.code == "too_long"
    assert f"{offline().count(text)} characters" in problem.message and "280" in problem.message


def test_long_post_accounts_take_25000() -> None:
    long = offline(max_length="25000")
    assert long.validate(Content(CJK * 12500)) == []
    [problem] = long.validate(Content(CJK * 12501))
    assert "25002" in problem.message and "25000" in problem.message


# == account settings and secrets ===================================================================


def test_registered_as_x_with_a_manifest() -> None:
    assert get_connector("x") is X
    assert (X.max_length, X.max_media, X.max_alt_text, X.threads) == (280, 4, 1000, True)
    assert X.media_limits["image/png"] == 5_000_000 and X.media_limits["image/gif"] == 15_000_000
    assert X.media_limits["video/mp4"] == 512_000_000


def test_x_declares_only_the_first_comment() -> None:
    """The connector sends only text, reply and media (the request schema allows nothing else); the
    first comment is a self-reply, which the post body turns into one more item of the thread."""
    assert [o.name for o in X.options] == ["first_comment"] and X.check_options({}) == []
    [problem] = X.check_options({"language": "de"})
    assert (
        problem.message == "unknown option 'language' for x (known: first_comment)"
        and problem.code == "option"
    )
    assert X.refuses_repeats


@pytest.mark.parametrize("secrets", [OAUTH1, BEARER, {**OAUTH1, "bearer_token": ""}])
def test_either_complete_set_of_secrets_is_accepted(secrets: dict[str, str]) -> None:
    assert X.check_secrets(secrets) == []


@pytest.mark.parametrize(
    ("secrets", "says"),
    [
        ({}, "no credentials"),
        ({"consumer_key": "a", "consumer_secret": "b"}, "missing: access_token, access_token_secret"),
        ({**OAUTH1, **BEARER}, "not both"),
        ({"access_token": "a", **BEARER}, "not both"),
        ({"consumer_key": "", "bearer_token": ""}, "no credentials"),
    ],
)
def test_partial_or_mixed_secrets_are_refused(secrets: dict[str, str], says: str) -> None:
    problems = X.check_secrets(secrets)
    assert len(problems) == 1 and says in problems[0].message


def test_unknown_secret_is_refused() -> None:
    assert [p.message for p in X.check_secrets({**BEARER, "password": "x"})] == [
        "an unknown secret name was given for x "
        "(known: access_token, access_token_secret, bearer_token, client_secret, consumer_key, "
        "consumer_secret, refresh_token)"
    ]


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"username": "alice"}, None),
        ({"username": "@alice_01"}, None),
        ({"username": "not a handle"}, "username"),
        ({"username": "a" * 16}, "username"),
        ({"max_length": "25000"}, None),
        ({"max_length": "0"}, "max_length"),
        ({"max_length": "lots"}, "max_length"),
        ({"api_base": "http://127.0.0.1:4010"}, None),
        ({"api_base": "api.x.com"}, "api_base"),
        ({"colour": "blue"}, "unknown setting"),
    ],
)
def test_settings(settings: dict[str, str], problem: str | None) -> None:
    problems = X.check_settings(settings)
    assert [p for p in problems if problem and problem in p.message] == problems
    assert bool(problems) is (problem is not None)


def test_public_urls() -> None:
    assert offline().post_url("123") == "https://x.com/alice/status/123"
    assert offline(username="@bob").post_url("123") == "https://x.com/bob/status/123"
    assert X({}).post_url("123") == "https://x.com/i/web/status/123"
    assert X({}, cache={"username": "carol"}).post_url("9") == "https://x.com/carol/status/9"
    assert X({}).api_base == "https://api.x.com"


# == validation and the request body =================================================================


def media(kind: str = "png", size: int = 100, alt: str = "") -> MediaFile:
    mime = {"png": "image/png", "gif": "image/gif", "mp4": "video/mp4", "bmp": "image/bmp"}[kind]
    return MediaFile(b"\x00" * size, mime, f"file.{kind}", alt=alt)


@pytest.mark.parametrize(
    ("items", "says"),
    [
        ((media(),) * 4, None),
        ((media("gif"),), None),
        ((media("mp4"),), None),
        ((media(),) * 5, "at most 4"),
        ((media("mp4"), media()), "a single video or GIF"),
        ((media("gif"), media("gif")), "a single video or GIF"),
        ((media("bmp"),), "not accepted"),
        ((media(size=5_000_001),), "over X's limit"),
        ((media("gif", size=15_000_001),), "over X's limit"),
        ((media(alt="a" * 1000),), None),
        ((media(alt="a" * 1001),), "alt text"),
        ((media(alt="e\u0301" * 501),), "alt text"),  # 501 graphemes, 1002 code points
    ],
)
def test_media_rules(items: tuple[MediaFile, ...], says: str | None) -> None:
    problems = offline().validate(Content("hi", items))
    assert [p.message for p in problems if says and says in p.message] == [p.message for p in problems]
    assert len(problems) == (0 if says is None else 1)


def test_a_video_over_512_mb_is_refused() -> None:
    class Huge(bytes):
        def __len__(self) -> int:
            return 512_000_001

    [problem] = offline().validate(Content("hi", (MediaFile(Huge(b"\x00"), "video/mp4", "big.mp4"),)))
    assert "big.mp4" in problem.message and "512.0 MB" in problem.message


def test_text_rules() -> None:
    assert [p.code for p in offline().validate(Content(" "))] == ["empty"]
    assert offline().validate(Content("", (media(),))) == []  # media alone is a post
    [problem] = offline().validate(Content("bad \ufffe"))
    assert "U+FFFE" in problem.message
    [problem] = offline().validate(Content("hi", reply_to=RemoteRef("not-an-id")))
    assert problem.code == "reply"
    assert offline().validate(Content("hi", reply_to=RemoteRef("https://x.com/jack/status/20"))) == []


def test_payload_fits_the_spec(conformance: Path) -> None:
    spec = XSpec.load(conformance / "x-openapi" / "openapi.json")
    account = offline()
    item = Content("hi", (media(), media()), reply_to=RemoteRef("https://twitter.com/jack/status/20?s=1"))
    body = account.payload(item, ["1146654567674912769", "1146654567674912770"])
    assert body == {
        "text": "hi",
        "reply": {"in_reply_to_tweet_id": "20"},
        "media": {"media_ids": ["1146654567674912769", "1146654567674912770"]},
    }
    assert spec.check("POST", "/2/tweets", {}, body, "application/json") == []
    assert spec.check("POST", "/2/tweets", {}, account.payload(Content("plain")), "application/json") == []
    # the dry-run body names the files that will be uploaded
    assert account.payload(item)["media"] == {"media_ids": ["<file.png>", "<file.png>"]}
    # options X has no field for are not sent (the schema would refuse them)
    assert account.payload(Content("hi", options={"language": "de", "spoiler_text": "cw"})) == {"text": "hi"}


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("20", "20"),
        (" 20 ", "20"),
        ("https://x.com/jack/status/20", "20"),
        ("https://mobile.twitter.com/jack/status/1456012973835788293/photo/1", "1456012973835788293"),
        ("https://x.com/i/web/status/42", "42"),
        ("https://example.com/status/42", "https://example.com/status/42"),
    ],
)
def test_post_id(reference: str, expected: str) -> None:
    assert post_id(reference) == expected


# == publishing against the contract server ===========================================================


@pytest.mark.parametrize("credentials", [OAUTH1, BEARER], ids=["oauth1", "bearer"])
def test_publish_returns_the_id_and_public_url(x_server: XServer, credentials: dict[str, str]) -> None:
    result = connector(x_server).publish(Content("Hello X"), credentials, "key")
    [post] = x_server.created
    assert result == PublishResult(post["id"], f"https://x.com/alice/status/{post['id']}", 201)
    assert post["text"] == "Hello X" and post["author"] == "1401"
    [request] = x_server.requests
    assert request.json() == {"text": "Hello X"}
    assert (request.header("Authorization") or "").startswith(
        "OAuth " if "consumer_key" in credentials else "Bearer "
    )


def test_without_a_username_the_url_is_the_generic_one(x_server: XServer) -> None:
    account = X({"api_base": x_server.url}, HttpClient(read_timeout=5))
    result = account.publish(Content("no handle"), OAUTH1, "key")
    assert result.url == f"https://x.com/i/web/status/{result.remote_id}"


def test_a_thread_chains_replies_and_every_item_has_its_url(x_server: XServer) -> None:
    account = connector(x_server)
    results: list[PublishResult] = []
    for number, text in enumerate(["one", "two", "three"]):
        parent = results[-1].ref() if results else None
        root = results[0].ref() if results else None
        results.append(account.publish(Content(text, reply_to=parent, root=root), OAUTH1, f"k-{number}"))
    bodies = [r.json() for r in x_server.requests]
    assert bodies[0] == {"text": "one"}
    assert bodies[1] == {"text": "two", "reply": {"in_reply_to_tweet_id": results[0].remote_id}}
    assert bodies[2] == {"text": "three", "reply": {"in_reply_to_tweet_id": results[1].remote_id}}
    assert [r.url for r in results] == [f"https://x.com/alice/status/{r.remote_id}" for r in results]
    assert {x_server.posts[r.remote_id]["conversation_id"] for r in results} == {results[0].remote_id}


def test_a_reply_to_a_post_given_by_link(x_server: XServer) -> None:
    parent = x_server.add_post("1401", "someone's post")
    link = f"https://x.com/jack/status/{parent['id']}"
    result = connector(x_server).publish(Content("answer", reply_to=RemoteRef(link)), BEARER, "k")
    assert x_server.posts[result.remote_id]["reply_to"] == parent["id"]


def test_discover_asks_who_the_account_is(x_server: XServer) -> None:
    assert connector(x_server).discover(OAUTH1) == {"user_id": "1401", "username": "alice"}
    with pytest.raises(AuthExpired):
        connector(x_server).discover({"bearer_token": "wrong"})


# == replay of the real recorded answer (tweepy cassette) =============================================


@contextlib.contextmanager
def replaying(path: Path) -> Iterator[tuple[ReplayServer, Any]]:
    """The cassette's interactions with their gzip bodies decoded (the replay drops Content-Encoding;
    the sync cassette stores the gzip bytes, the async one the decoded text)."""
    interactions = [
        replace(i, body=gzip.decompress(i.body)) if i.body.startswith(b"\x1f\x8b") else i
        for i in load_cassette(path)
    ]
    server = ReplayServer(interactions)
    server.start()
    try:
        yield server, interactions
    finally:
        server.stop()


@pytest.mark.parametrize(
    "cassette", ["test_client_create_and_delete_tweet.yaml", "test_asyncclient_create_and_delete_tweet.yaml"]
)
def test_recorded_create_post_answer(conformance: Path, cassette: str) -> None:
    path = conformance / "tweepy-cassettes" / "cassettes" / cassette
    [recorded_request] = [i["request"] for i in yaml.safe_load(path.read_text())["interactions"][:1]]
    sent = recorded_request["body"]
    with replaying(path) as (server, interactions):
        [create] = [i for i in interactions if (i.method, i.path) == ("POST", "/2/tweets")]
        recorded = create.json()["data"]
        result = connector(server).publish(Content(recorded["text"]), BEARER, "key")
    assert server.unmatched == [] and server.served == [create]
    assert create.status == 201
    assert result == PublishResult(recorded["id"], f"https://x.com/alice/status/{recorded['id']}", 201)
    # what we sent is what tweepy sent when this was recorded
    assert create.request_header("Content-Type") == "application/json"
    assert server.requests[0].json() == (sent if isinstance(sent, dict) else json.loads(sent))
    assert create.header("location") == f"https://api.twitter.com/2/tweets/{recorded['id']}"


def test_recorded_rate_limit_headers_parse(conformance: Path) -> None:
    path = conformance / "tweepy-cassettes" / "cassettes" / "test_client_create_and_delete_tweet.yaml"
    [create] = [i for i in load_cassette(path) if i.method == "POST"]
    headers = {k.lower(): v for k, v in create.headers.items()}
    limits = RateLimits.from_headers(headers)
    assert (limits.window.limit, limits.window.remaining, limits.window.reset) == (200, 199, 1635976418)
    assert limits.user_day.reset is None and limits.app_day.reset is None  # not sent in 2021
    recorded_at = datetime(2021, 11, 3, 21, 38, 39, tzinfo=UTC)  # the `date` header
    assert headers["date"] == "Wed, 03 Nov 2021 21:38:39 UTC"
    assert limits.wait(recorded_at) == pytest.approx(1635976418 - recorded_at.timestamp()) == 899
    assert limits.wait(datetime(2021, 11, 3, 21, 55, tzinfo=UTC)) == 0.0  # a reset in the past: no wait
