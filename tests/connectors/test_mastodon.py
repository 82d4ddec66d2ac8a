"""The Mastodon connector: the length rule, publishing against the contract server, and
replay of real responses recorded by Mastodon.py against a real Mastodon server.

Sources: NETWORKS.md §3 (the `StatusLengthValidator` spec vectors, the error table),
`connectors/mastodon.py`'s docstring, `tests/servers/mastodon.py` (written from the
official documentation) and `conformance/mastodon-py-cassettes` (recorded traffic).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors import (
    Absent,
    Content,
    Found,
    Lookup,
    Measure,
    MediaFile,
    PublishResult,
    RemoteRef,
    Undecidable,
    mastodon_media,
)
from connectors.errors import (
    AuthExpired,
    ConnectorError,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from connectors.http import HttpClient
from connectors.mastodon import Mastodon, countable_length
from connectors.mastodon_rules import LANGUAGES, Limits, instance_facts
from connectors.ratelimit import reset_any, until_iso8601
from scheduler.accounts import Accounts
from scheduler.dispatcher import Dispatcher
from scheduler.posts import Item, PostRequest, Posts
from scheduler.states import Status, transition
from scheduler.store import Store
from tests.factories import add_account, delivery
from tests.servers.base import Fault, Request, Response
from tests.servers.mastodon import MastodonServer
from tests.servers.raw import refused_port
from tests.servers.replay import Interaction, ReplayServer, load_cassette, load_cassettes
from workers.publisher import Publisher
from workers.thread import item_key

CREDS = {"access_token": "token-a"}
KEY = "delivery-42-attempt-key"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"

# Mastodon's own spec vectors (StatusLengthValidator spec, NETWORKS.md §3)
URL_VECTOR = "a" * 476 + " http://" + "b" * 30 + ".com/example"
MENTION_VECTOR = "a" * 475 + " @alice@" + "b" * 30 + ".com"
JPEG = b"\xff\xd8\xff\xe0" + bytes(64)


def connector(server: MastodonServer | ReplayServer, **settings: str) -> Mastodon:
    return Mastodon({"instance": server.url, **settings}, HttpClient(connect_timeout=2, read_timeout=2))


def offline(**settings: str) -> Mastodon:
    return Mastodon({"instance": "https://mastodon.example", **settings})


# == the length rule ==================================================================================


def test_url_vector_is_exactly_at_the_limit() -> None:
    assert len(URL_VECTOR) > 500  # raw characters would be over
    assert countable_length(URL_VECTOR) == 476 + 1 + 23
    assert offline().validate(Content(URL_VECTOR)) == []


def test_mention_vector_counts_the_local_part_only() -> None:
    assert len(MENTION_VECTOR) > 500
    assert countable_length(MENTION_VECTOR) == 475 + 1 + len("@alice")
    assert offline().validate(Content(MENTION_VECTOR)) == []


def test_520_characters_are_too_long_and_the_problem_says_by_how_much() -> None:
    [problem] = offline().validate(Content("a" * 520))
    assert problem.code == "too_long"
    assert "520" in problem.message and "500" in problem.message
    assert "Mastodon" in problem.message


def test_boundary_at_500() -> None:
    assert offline().validate(Content("a" * 500)) == []
    [problem] = offline().validate(Content("a" * 501))
    assert problem.code == "too_long"


def test_content_warning_counts_with_the_text() -> None:
    """Spec vector: CW 250 + text 251 is invalid (only `countable_length` takes a CW)."""
    assert countable_length("a" * 251, "b" * 250) == 501
    assert countable_length("a" * 250, "b" * 250) == 500
    assert countable_length("hi", FAMILY * 3) == 5
    assert countable_length("", "http://example.com/not-a-link-in-a-cw") == 37  # CW text is not rewritten


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://example.com/" + "x" * 200, 23),
        ("http://a.co", 23),  # short URLs count 23 too
        ("HTTPS://EXAMPLE.COM/PATH", 23),
        ("see https://example.com/a and https://example.org/b", 4 + 23 + 5 + 23),
        ("read https://example.com/a.", 5 + 23 + 1),  # trailing punctuation is not part of the URL
        ("http://localhost:3000/x", 23),
    ],
)
def test_http_urls_count_23(text: str, expected: int) -> None:
    assert countable_length(text) == expected


def test_url_weight_is_configurable() -> None:
    assert countable_length("go https://example.com/long/path", url_weight=30) == 3 + 30


@pytest.mark.parametrize(
    "text",
    [
        "example.com/" + "p" * 40,
        "www.example.org/path/to/page",
        "ftp://files.example.net/archive.tar.gz",
    ],
)
def test_bare_domains_and_other_schemes_count_by_their_characters(text: str) -> None:
    assert countable_length(text) == len(text)


def test_a_bare_domain_can_make_a_status_too_long() -> None:
    text = "x" * 470 + " example.com/" + "p" * 20  # 503 as written; would be 494 if counted as a URL
    [problem] = offline().validate(Content(text))
    assert problem.code == "too_long" and "503" in problem.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@alice", 6),
        ("@alice@example.com", 6),
        ("@Alice@Sub.Example.COM hi", 9),
        ("hi @bob@example.com and @carol@example.org", 3 + 4 + 5 + 6),
        ("mail bob@example.com", 20),  # an e-mail address is not a mention
        ("https://example.com/@alice@example.org", 23),  # inside a URL: counted once, as the URL
        ("@alice@" + "b" * 300 + ".com", 6),
    ],
)
def test_mentions_count_as_the_local_part(text: str, expected: int) -> None:
    assert countable_length(text) == expected


def test_graphemes_not_code_points() -> None:
    assert countable_length(FAMILY) == 1
    assert countable_length("e\u0301" * 10) == 10
    assert offline().validate(Content(FAMILY * 500)) == []
    [problem] = offline().validate(Content(FAMILY * 501))
    assert problem.code == "too_long" and "501" in problem.message


def test_per_account_max_length_overrides_500() -> None:
    big = offline(max_length="1000")
    assert big.limit == 1000
    assert big.validate(Content("a" * 520)) == []
    [problem] = big.validate(Content("a" * 1001))
    assert "1001" in problem.message and "1000" in problem.message
    assert offline(max_length="").limit == 500
    small = offline(max_length="100")
    assert small.measure(Content(URL_VECTOR)).length == 500
    assert not small.measure(Content(URL_VECTOR)).ok


def test_empty_and_broken_text_is_refused_before_sending() -> None:
    assert [p.code for p in offline().validate(Content("  \n "))] == ["empty"]
    [problem] = offline().validate(Content("bad \ud800 surrogate"))
    assert "Unicode" in problem.message


# -- settings ------------------------------------------------------------------------------------------


def test_settings_checks() -> None:
    assert Mastodon.check_settings({"instance": "https://mastodon.social"}) == []
    assert (
        Mastodon.check_settings(
            {"instance": "https://m.example", "max_length": "5000", "visibility": "unlisted"}
        )
        == []
    )
    assert ["instance" in p.message for p in Mastodon.check_settings({})] == [True]
    assert len(Mastodon.check_settings({"instance": "mastodon.social"})) == 1
    assert len(Mastodon.check_settings({"instance": "https://m.example", "max_length": "0"})) == 1
    assert len(Mastodon.check_settings({"instance": "https://m.example", "max_length": "²"})) == 1
    [problem] = Mastodon.check_settings({"instance": "https://m.example", "visibility": "everyone"})
    assert "public, unlisted, private, direct" in problem.message
    [problem] = Mastodon.check_settings({"instance": "https://m.example", "token": "x"})
    assert "'token'" in problem.message
    assert Mastodon.check_secrets({"access_token": "t"}) == []
    assert ["access_token" in p.message for p in Mastodon.check_secrets({})] == [True]


# == publishing against the contract server ============================================================


def test_publish_returns_the_status_id_and_public_url(mastodon: MastodonServer) -> None:
    result = connector(mastodon).publish(Content("Hello, fediverse!"), CREDS, KEY)
    [created] = mastodon.created
    assert result == PublishResult(created["id"], f"{mastodon.url}/@alice/{created['id']}", 200)
    assert created["text"] == "Hello, fediverse!"
    assert created["token"] == "token-a" and created["key"] == KEY


def test_the_request_carries_bearer_idempotency_key_and_json(mastodon: MastodonServer) -> None:
    connector(mastodon).publish(Content("Toot!"), CREDS, KEY)
    [request] = mastodon.requests
    assert (request.method, request.path) == ("POST", "/api/v1/statuses")
    assert request.header("Authorization") == "Bearer token-a"
    assert request.header("Idempotency-Key") == KEY
    assert request.header("Content-Type") == "application/json"
    assert request.json() == {"status": "Toot!"}


def test_reply_and_visibility_are_sent(mastodon: MastodonServer) -> None:
    account = connector(mastodon, visibility="private")
    parent = account.publish(Content("first"), CREDS, KEY + "-1")
    reply = Content("second", reply_to=RemoteRef(parent.remote_id), options={"visibility": "unlisted"})
    child = account.publish(reply, CREDS, KEY + "-2")
    assert mastodon.requests[0].json() == {"status": "first", "visibility": "private"}
    assert mastodon.requests[1].json() == {
        "status": "second",
        "in_reply_to_id": parent.remote_id,
        "visibility": "unlisted",
    }
    assert mastodon.statuses[child.remote_id]["in_reply_to_id"] == parent.remote_id
    assert mastodon.statuses[child.remote_id]["visibility"] == "unlisted"


def test_payload_equals_what_was_sent(mastodon: MastodonServer) -> None:
    account = connector(mastodon, visibility="public")
    parent = account.publish(Content("parent"), CREDS, "k0")
    contents = [
        Content("plain"),
        Content("reply", reply_to=RemoteRef(parent.remote_id)),
        Content("direct note", options={"visibility": "direct"}),
        Content(URL_VECTOR),
        Content(f"{FAMILY} ünïcødé\nnew line"),
    ]
    for index, content in enumerate(contents, start=1):
        account.publish(content, CREDS, f"k{index}")
        assert mastodon.requests[-1].json() == account.payload(content)
    assert len(mastodon.created) == len(contents) + 1


def test_the_other_account_posts_as_itself(mastodon: MastodonServer) -> None:
    result = connector(mastodon).publish(Content("from bob"), {"access_token": "token-b"}, KEY)
    assert result.url == f"{mastodon.url}/@bob/{result.remote_id}"


def test_instance_with_trailing_slash(mastodon: MastodonServer) -> None:
    account = Mastodon({"instance": mastodon.url + "/"})
    account.publish(Content("slash"), CREDS, KEY)
    assert mastodon.requests[0].path == "/api/v1/statuses"


def test_replay_with_the_same_key_returns_the_same_status(mastodon: MastodonServer) -> None:
    account = connector(mastodon)
    first = account.publish(Content("exactly once"), CREDS, KEY)
    again = account.publish(Content("exactly once"), CREDS, KEY)
    assert again == first
    assert len(mastodon.created) == 1
    assert mastodon.key_requests[KEY] == 2
    other = account.publish(Content("exactly once"), CREDS, KEY + "-next")
    assert other.remote_id != first.remote_id  # identical text is allowed: no duplicate rejection
    assert mastodon.created_texts()["exactly once"] == 2


def test_spec_vectors_are_accepted_by_the_server(mastodon: MastodonServer) -> None:
    """What `validate` accepts at the limit, the server (a separate implementation) accepts too."""
    account = connector(mastodon)
    for index, text in enumerate([URL_VECTOR, MENTION_VECTOR, "a" * 500, FAMILY * 500]):
        assert account.validate(Content(text)) == []
        account.publish(Content(text), CREDS, f"vector-{index}")
    assert len(mastodon.created) == 4
    # and what it refuses, the server refuses too
    assert [p.code for p in account.validate(Content("a" * 520))] == ["too_long"]
    with pytest.raises(PermanentError) as caught:
        account.publish(Content("a" * 520), CREDS, "vector-too-long")
    assert caught.value.http_status == 422
    assert len(mastodon.created) == 4


# -- errors from the server -----------------------------------------------------------------------------


def test_unknown_token_is_auth_expired(mastodon: MastodonServer) -> None:
    with pytest.raises(AuthExpired) as caught:
        connector(mastodon).publish(Content("hi"), {"access_token": "revoked-t0ken"}, KEY)
    assert caught.value.http_status == 401
    assert "The access token is invalid" in str(caught.value)
    assert "revoked-t0ken" not in str(caught.value)
    assert mastodon.created == []


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_blank_status_is_permanent(mastodon: MastodonServer, text: str) -> None:
    with pytest.raises(PermanentError) as caught:
        connector(mastodon).publish(Content(text), CREDS, KEY)
    assert caught.value.http_status == 422
    assert "blank" in str(caught.value)
    assert mastodon.created == []


def test_over_long_as_the_server_counts_is_permanent() -> None:
    """The instance's real limit is lower than the account setting: only the server knows."""
    server = MastodonServer({"token-a": "alice"}, max_characters=100)
    server.start()
    try:
        account = connector(server, max_length="500")
        assert account.validate(Content("a" * 101)) == []
        with pytest.raises(PermanentError) as caught:
            account.publish(Content("a" * 101), CREDS, KEY)
        assert caught.value.http_status == 422
        assert "character limit of 100" in str(caught.value)
        account.publish(Content("a" * 100), CREDS, KEY + "-fits")
        assert len(server.created) == 1
    finally:
        server.stop()


def test_unknown_reply_target_is_permanent(mastodon: MastodonServer) -> None:
    with pytest.raises(PermanentError) as caught:
        connector(mastodon).publish(Content("reply", reply_to=RemoteRef("999999")), CREDS, KEY)
    assert caught.value.http_status == 404
    assert "Record not found" in str(caught.value)


def test_bad_visibility_is_permanent(mastodon: MastodonServer) -> None:
    with pytest.raises(PermanentError) as caught:
        connector(mastodon).publish(Content("hi", options={"visibility": "everyone"}), CREDS, KEY)
    assert caught.value.http_status == 422


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthExpired),
        (403, AuthExpired),
        (400, PermanentError),
        (404, PermanentError),
        (410, PermanentError),
        (413, PermanentError),
        (422, PermanentError),
        (408, TransientError),
        (500, TransientError),
        (503, TransientError),
        (507, TransientError),
        (502, OutcomeUnknown),
        (504, OutcomeUnknown),
    ],
)
def test_error_table(mastodon: MastodonServer, status: int, error: type[ConnectorError]) -> None:
    mastodon.inject(Fault(response=Response(status, {"error": f"scripted {status}"})))
    with pytest.raises(ConnectorError) as caught:
        connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert type(caught.value) is error
    assert caught.value.http_status == status
    assert f"Mastodon answered {status}: scripted {status}" == str(caught.value)


def test_error_without_json_shows_a_short_body(mastodon: MastodonServer) -> None:
    mastodon.inject(
        Fault(
            response=Response(
                503, raw=b"<html><body>\n  Maintenance  </body></html>", headers={"Content-Type": "text/html"}
            )
        )
    )
    with pytest.raises(TransientError) as caught:
        connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert str(caught.value) == "Mastodon answered 503: <html><body> Maintenance </body></html>"


def test_transient_5xx_then_retry_with_the_same_key_posts_once(mastodon: MastodonServer) -> None:
    mastodon.inject(Fault(response=Response(503, {"error": "Remote data could not be fetched"})))
    account = connector(mastodon)
    with pytest.raises(TransientError):
        account.publish(Content("retry me"), CREDS, KEY)
    assert mastodon.created == []
    result = account.publish(Content("retry me"), CREDS, KEY)
    assert [c["id"] for c in mastodon.created] == [result.remote_id]


# -- rate limits ------------------------------------------------------------------------------------------


def test_rate_limited_with_iso8601_reset(mastodon: MastodonServer) -> None:
    mastodon.inject(
        Fault(
            response=Response(
                429, {"error": "Too many requests"}, {"X-RateLimit-Reset": mastodon.reset_in(120)}
            )
        )
    )
    with pytest.raises(RateLimited) as caught:
        connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert caught.value.http_status == 429
    assert caught.value.retry_after == pytest.approx(120, abs=3)
    assert "Too many requests" in str(caught.value)


def test_rate_limited_with_epoch_reset(mastodon: MastodonServer) -> None:
    reset = str(int(time.time()) + 90)
    mastodon.inject(
        Fault(response=Response(429, {"error": "Too many requests"}, {"X-RateLimit-Reset": reset}))
    )
    with pytest.raises(RateLimited) as caught:
        connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert caught.value.retry_after == pytest.approx(90, abs=3)


def test_rate_limited_falls_back_to_retry_after(mastodon: MastodonServer) -> None:
    mastodon.inject(Fault(response=Response(429, {"error": "Too many requests"}, {"Retry-After": "42"})))
    with pytest.raises(RateLimited) as caught:
        connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert caught.value.retry_after == 42.0


def test_rate_limited_without_any_hint(mastodon: MastodonServer) -> None:
    mastodon.inject(Fault(response=Response(429, {"error": "Too many requests"})))
    with pytest.raises(RateLimited) as caught:
        connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert caught.value.retry_after is None


def test_rate_limited_by_the_servers_own_budget() -> None:
    server = MastodonServer({"token-a": "alice"}, rate_limit=1, window=300)
    server.start()
    try:
        account = connector(server)
        account.publish(Content("one"), CREDS, "k1")
        with pytest.raises(RateLimited) as caught:
            account.publish(Content("two"), CREDS, "k2")
    finally:
        server.stop()
    assert caught.value.retry_after == pytest.approx(300, abs=5)
    assert len(server.created) == 1


# -- transport failures -------------------------------------------------------------------------------------


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # never leave a server thread holding a response


def test_answer_held_past_the_read_timeout_is_outcome_unknown(
    mastodon: MastodonServer, release: threading.Event
) -> None:
    mastodon.inject(Fault(hold=release))
    slow = Mastodon({"instance": mastodon.url}, HttpClient(read_timeout=0.5))
    started = time.monotonic()
    with pytest.raises(OutcomeUnknown):
        slow.publish(Content("in flight"), CREDS, KEY)
    assert time.monotonic() - started < 3
    release.set()
    # the status was created: the same key finds it instead of posting again
    result = connector(mastodon).publish(Content("in flight"), CREDS, KEY)
    assert [c["id"] for c in mastodon.created] == [result.remote_id]


def test_connection_refused_is_transient() -> None:
    with refused_port() as port:
        account = Mastodon({"instance": f"http://127.0.0.1:{port}"}, HttpClient(connect_timeout=2))
        with pytest.raises(TransientError) as caught:
            account.publish(Content("hi"), CREDS, KEY)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "token-a" not in str(caught.value)


def test_connection_dropped_after_processing_is_outcome_unknown(mastodon: MastodonServer) -> None:
    mastodon.inject(Fault(after_processing=True, drop=True))
    account = connector(mastodon)
    with pytest.raises(OutcomeUnknown):
        account.publish(Content("dropped"), CREDS, KEY)
    assert len(mastodon.created) == 1  # it was posted, and nobody was told
    result = account.publish(Content("dropped"), CREDS, KEY)
    assert [c["id"] for c in mastodon.created] == [result.remote_id]


def test_connection_dropped_before_processing_is_outcome_unknown_too(mastodon: MastodonServer) -> None:
    """From the client's side the two drops look the same; it must not assume either."""
    mastodon.inject(Fault(drop=True))
    with pytest.raises(OutcomeUnknown):
        connector(mastodon).publish(Content("dropped"), CREDS, KEY)
    assert mastodon.created == []


@pytest.mark.parametrize(
    "response",
    [
        Response(200, {"url": "http://127.0.0.1/@alice/1"}),
        Response(200, {"id": "", "url": "http://127.0.0.1/@alice/1"}),
        Response(200, {"id": None}),
        Response(200, ["not", "a", "status"]),
        Response(200, raw=b"<html>welcome</html>", headers={"Content-Type": "text/html"}),
        Response(200, raw=b""),
    ],
    ids=["no-id", "empty-id", "null-id", "list", "html", "empty"],
)
def test_200_without_a_status_id_is_outcome_unknown(mastodon: MastodonServer, response: Response) -> None:
    mastodon.inject(Fault(response=response, after_processing=True))
    with pytest.raises(OutcomeUnknown) as caught:
        connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert caught.value.http_status == 200


def test_status_without_url_falls_back_to_uri(mastodon: MastodonServer) -> None:
    mastodon.inject(Fault(response=Response(200, {"id": 7, "url": None, "uri": "https://m.example/s/7"})))
    result = connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert (result.remote_id, result.url) == ("7", "https://m.example/s/7")


# == replay of real recorded responses (Mastodon.py cassettes) ==========================================

STATUSES = ("POST", "/api/v1/statuses")
ERROR_CLASSES: dict[int, type[ConnectorError]] = {
    401: AuthExpired,
    403: AuthExpired,
    404: PermanentError,
    410: PermanentError,
    422: PermanentError,
}


@pytest.fixture(scope="module")
def cassettes(conformance: Path) -> Path:
    path = conformance / "mastodon-py-cassettes" / "cassettes"
    assert path.is_dir(), path
    return path


@pytest.fixture(scope="module")
def recorded(cassettes: Path) -> list[Interaction]:
    found = load_cassettes(cassettes)
    assert len(found) >= 50
    return found


@contextlib.contextmanager
def replay(interactions: list[Interaction]) -> Iterator[ReplayServer]:
    server = ReplayServer(interactions)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def publish_replayed(
    interaction: Interaction, content: Content | None = None
) -> tuple[PublishResult | ConnectorError, ReplayServer]:
    """Serve one recorded answer at POST /api/v1/statuses and publish against it."""
    served = replace(interaction, method="POST", path="/api/v1/statuses")
    outcome: PublishResult | ConnectorError
    with replay([served]) as server:
        try:
            outcome = connector(server).publish(content or Content("replayed"), CREDS, KEY)
        except ConnectorError as exc:
            outcome = exc
    assert server.unmatched == []
    assert server.served == [served]
    return outcome, server


def test_recorded_toot_publishes_with_the_recorded_id_and_url(cassettes: Path) -> None:
    [toot] = [i for i in load_cassette(cassettes / "test_toot.yaml") if (i.method, i.path) == STATUSES]
    result, server = publish_replayed(toot, Content("Toot!"))
    assert result == PublishResult(
        "117020585846976096", "http://localhost:3000/@mastodonpy_test/117020585846976096", 200
    )
    assert toot.json()["url"] == "http://localhost:3000/@mastodonpy_test/117020585846976096"
    # what we sent (JSON) says what Mastodon.py sent (a form) when this was recorded
    assert server.requests[0].json() == toot.request_params() == {"status": "Toot!"}


def test_recorded_rate_limit_reset_is_iso8601(cassettes: Path, recorded: list[Interaction]) -> None:
    [toot] = [i for i in load_cassette(cassettes / "test_toot.yaml") if (i.method, i.path) == STATUSES]
    reset = toot.header("x-ratelimit-reset")
    assert reset == "2026-08-01T15:00:00.440063Z"
    assert datetime.fromisoformat(reset) == datetime(2026, 8, 1, 15, 0, 0, 440063, tzinfo=UTC)
    recorded_at = datetime(2026, 8, 1, 13, 53, 55, tzinfo=UTC)  # the status's created_at
    assert until_iso8601(reset, recorded_at) == pytest.approx(3965.440063)
    # every recorded response carries one, and the parser the connector uses reads them all as ISO 8601
    resets = [i.header("x-ratelimit-reset") for i in recorded]
    assert all(resets) and len(resets) == len(recorded)
    for value in resets:
        assert value is not None
        assert until_iso8601(value, recorded_at) is not None
        assert reset_any(value, recorded_at) == until_iso8601(value, recorded_at)


def test_every_recorded_status_creation_publishes(recorded: list[Interaction]) -> None:
    """Each recorded 200 answer to POST /api/v1/statuses gives the recorded id and URL."""
    successes = [
        i
        for i in recorded
        if (i.method, i.path) == STATUSES and i.status == 200 and "scheduled_at" not in i.request_params()
    ]  # a ScheduledStatus is not a post
    assert len(successes) >= 15
    for interaction in successes:
        body = interaction.json()
        result, _ = publish_replayed(interaction)
        assert isinstance(result, PublishResult), interaction.source
        assert result.remote_id == body["id"], interaction.source
        assert result.url == body["url"] and result.url.endswith("/" + body["id"]), interaction.source


def test_every_recorded_status_error_maps_by_status(recorded: list[Interaction]) -> None:
    """Found by scanning all cassettes; the texts are localized (ja, de), so only the status counts."""
    errors = [i for i in recorded if (i.method, i.path) == STATUSES and i.status in ERROR_CLASSES]
    assert len(errors) >= 4, [i.source for i in errors]
    assert {i.source.split("#")[0] for i in errors} >= {"test_status_empty.yaml", "test_lang_for_errors.yaml"}
    for interaction in errors:
        error, _ = publish_replayed(interaction)
        assert type(error) is ERROR_CLASSES[interaction.status], interaction.source
        assert isinstance(error, ConnectorError) and error.http_status == interaction.status
        assert interaction.json()["error"] in str(error), interaction.source  # the network's own words


def test_recorded_auth_and_not_found_answers_map_by_status(recorded: list[Interaction]) -> None:
    """The cassettes hold no 401 or 404 for POST /api/v1/statuses itself, but Mastodon answers an
    invalid token (Doorkeeper) and a missing record the same way on every endpoint: replay those
    recorded answers as the answer to a publish."""
    answers = [i for i in recorded if i.status in (401, 404)]
    assert sum(i.status == 401 for i in answers) >= 2
    assert sum(i.status == 404 for i in answers) >= 2
    for interaction in answers:
        error, _ = publish_replayed(interaction)
        assert type(error) is ERROR_CLASSES[interaction.status], interaction.source
    unauthorized = next(i for i in answers if i.status == 401)
    assert "invalid_token" in (unauthorized.header("www-authenticate") or "")


def test_validate_agrees_with_the_recorded_server(recorded: list[Interaction]) -> None:
    """Texts the real server accepted pass `validate`; the ones it refused as too long do not."""
    posts = [i for i in recorded if (i.method, i.path) == STATUSES]
    accepted = [i for i in posts if i.status == 200]
    too_long = []
    for interaction in posts:
        text = str(interaction.request_params().get("status", ""))
        problems = offline().validate(Content(text))
        if interaction.status == 200:
            assert problems == [], interaction.source
        if any(p.code == "too_long" for p in problems):
            assert interaction.status == 422, interaction.source
            too_long.append(interaction.source)
    assert len(accepted) >= 15
    assert len(too_long) >= 2  # test_lang_for_errors (ja and de)


def test_replay_serves_each_recording_once(cassettes: Path) -> None:
    with replay(load_cassette(cassettes / "test_toot.yaml")) as server:
        result = connector(server).publish(Content("Toot!"), CREDS, KEY)
        assert result.remote_id == "117020585846976096"
        with pytest.raises(TransientError):  # 501: nothing more was recorded for this route
            connector(server).publish(Content("Toot!"), CREDS, KEY)
    assert [r.path for r in server.unmatched] == ["/api/v1/statuses"]


# == options: content warning, language, visibility ==================================================


def test_content_warning_counts_in_measure_and_validate() -> None:
    """Spec vector through `validate`: CW 250 + text 250 fits, CW 250 + text 251 does not."""
    account = offline()
    fits = Content("a" * 250, options={"spoiler_text": "b" * 250})
    assert account.measure(fits) == Measure(500, 500) and account.validate(fits) == []
    [problem] = account.validate(Content("a" * 251, options={"spoiler_text": "b" * 250}))
    assert problem.code == "too_long" and "501" in problem.message


def test_content_warning_is_counted_by_the_server_as_well(mastodon: MastodonServer) -> None:
    account = connector(mastodon)
    fits = Content("a" * 250, options={"spoiler_text": "b" * 250})
    account.publish(fits, CREDS, "cw-fits")
    over = Content("a" * 251, options={"spoiler_text": "b" * 250})
    assert [p.code for p in account.validate(over)] == ["too_long"]
    with pytest.raises(PermanentError) as caught:
        account.publish(over, CREDS, "cw-over")
    assert caught.value.http_status == 422
    assert [c["text"] for c in mastodon.created] == ["a" * 250]


@pytest.mark.parametrize("language", ["EN", "eng", "english", "xx", "en-GB", "e", "zz"])
def test_language_must_be_an_iso_639_1_code(language: str) -> None:
    [problem] = offline().validate(Content("hi", options={"language": language}))
    assert problem.code == "option"
    assert repr(language) in problem.message and "ISO 639-1" in problem.message


def test_iso_639_1_codes_are_accepted() -> None:
    assert len(LANGUAGES) == 184
    for code in ("en", "de", "ja", "pt", "zh", "uk", "eo", "yi"):
        assert offline().validate(Content("hi", options={"language": code})) == [], code


def test_visibility_and_content_warning_options_are_checked() -> None:
    [problem] = offline().validate(Content("hi", options={"visibility": "everyone"}))
    assert problem.code == "option" and "public, unlisted, private, direct" in problem.message
    [problem] = offline().validate(Content("hi", options={"spoiler_text": "cw \x07 bell"}))
    assert problem.code == "option" and problem.message.startswith("content warning:")


def test_every_option_is_sent_and_payload_shows_it(mastodon: MastodonServer) -> None:
    account = connector(mastodon, visibility="private")
    parent = account.publish(Content("parent"), CREDS, "opt-0")
    content = Content(
        "reply with options",
        reply_to=RemoteRef(parent.remote_id),
        options={"spoiler_text": "spoilers", "language": "de", "visibility": "unlisted"},
    )
    expected = {
        "status": "reply with options",
        "in_reply_to_id": parent.remote_id,
        "visibility": "unlisted",
        "spoiler_text": "spoilers",
        "language": "de",
    }
    assert account.payload(content) == expected
    child = account.publish(content, CREDS, "opt-1")
    assert mastodon.requests[-1].json() == expected
    status = mastodon.statuses[child.remote_id]
    assert (status["spoiler_text"], status["language"], status["visibility"]) == (
        "spoilers",
        "de",
        "unlisted",
    )
    assert status["in_reply_to_id"] == parent.remote_id and status["sensitive"] is True
    # without the option, the account's visibility setting is what is sent
    assert account.payload(Content("plain")) == {"status": "plain", "visibility": "private"}


# == the instance's limits ===========================================================================


def test_defaults_are_the_documented_limits() -> None:
    assert (Mastodon.max_length, Mastodon.max_media, Mastodon.max_alt_text) == (500, 4, 1500)
    assert Mastodon.media_limits["image/jpeg"] == 16 * 2**20
    assert Mastodon.media_limits["video/mp4"] == 99 * 2**20
    assert Mastodon.threads is True
    account = offline()
    assert account.limit == 500 and account.limits == Limits()


def test_cached_instance_limits_drive_length_and_media() -> None:
    cache = {
        "max_characters": 1000,
        "characters_reserved_per_url": 30,
        "max_media_attachments": 2,
        "image_size_limit": 1000,
        "description_limit": 10,
        "supported_mime_types": ["image/png"],
    }
    account = Mastodon({"instance": "https://big.example"}, cache=cache)
    assert account.limit == 1000
    assert account.count("see https://example.com/x") == 4 + 30
    assert account.validate(Content("a" * 1000)) == []
    assert [p.code for p in account.validate(Content("a" * 1001))] == ["too_long"]
    png = MediaFile(b"p" * 1000, "image/png", "a.png", alt="0123456789")
    assert account.validate(Content("", (png, png))) == []
    messages = [p.message for p in account.validate(Content("x", (png, png, png)))]
    assert messages == ["3 attachments, Mastodon takes at most 2"]
    too_big = MediaFile(b"p" * 1001, "image/png", "big.png", alt="0123456789x")
    jpeg = MediaFile(JPEG, "image/jpeg", "a.jpg")
    messages = [p.message for p in account.validate(Content("x", (too_big, jpeg)))]
    assert messages == [
        "big.png is 1,001 bytes, over this Mastodon server's limit of 1,000 bytes for image/png",
        "alt text of big.png is over 10 characters",
        "a.jpg: image/jpeg is not accepted by this Mastodon server (accepted: image/png)",
    ]
    # the max_length setting still overrides what the instance says
    assert Mastodon({"instance": "https://big.example", "max_length": "600"}, cache=cache).limit == 600
    # values that are not positive whole numbers are ignored
    assert Mastodon({"instance": "https://x.example"}, cache={"max_characters": "lots"}).limit == 500


def test_media_rules_with_the_default_limits() -> None:
    account = offline()
    image = MediaFile(JPEG, "image/jpeg", "a.jpg", alt="a" * 1500)
    video = MediaFile(b"\0\0\0\x18ftypmp42", "video/mp4", "v.mp4")
    assert account.validate(Content("x", (image,) * 4)) == []
    assert account.validate(Content("x", (video,))) == []
    [problem] = account.validate(Content("x", (image, video)))
    assert problem.message == "a video must be the only attachment of a Mastodon post"
    [problem] = account.validate(Content("x", (replace(image, alt="a" * 1501),)))
    assert problem.message == "alt text of a.jpg is over 1500 characters"
    big = MediaFile(b"\xff\xd8\xff" + bytes(16 * 2**20), "image/jpeg", "big.jpg")
    [problem] = account.validate(Content("x", (big,)))
    assert "over this Mastodon server's limit of 16.8 MB for image/jpeg" in problem.message
    bmp = MediaFile(b"BM", "image/bmp", "a.bmp")
    [problem] = account.validate(Content("x", (bmp,)))
    assert "image/bmp is not accepted" in problem.message and "image/jpeg" in problem.message
    assert account.validate(Content("", (image,))) == []  # media without text is a status


def test_discover_reads_the_instance_configuration() -> None:
    server = MastodonServer(
        {"token-a": "alice"},
        max_characters=5000,
        configuration={
            "statuses": {"characters_reserved_per_url": 40, "max_media_attachments": 8},
            "media_attachments": {"description_limit": 3000, "image_size_limit": 2 * 2**20},
        },
    )
    server.start()
    try:
        facts = connector(server).discover(CREDS)
        paths = [r.path for r in server.discovery_requests]
    finally:
        server.stop()
    assert paths == ["/api/v1/accounts/verify_credentials", "/api/v2/instance"]
    assert server.requests == []  # discovery is logged apart from the publish path
    assert facts["max_characters"] == 5000 and facts["characters_reserved_per_url"] == 40
    assert facts["max_media_attachments"] == 8 and facts["description_limit"] == 3000
    limits = Mastodon({"instance": server.url}, cache=facts).limits
    assert (limits.max_characters, limits.url_weight, limits.max_media) == (5000, 40, 8)
    assert (limits.image_size, limits.video_size, limits.description) == (2 * 2**20, 99 * 2**20, 3000)


def test_discover_refuses_an_unknown_token(mastodon: MastodonServer) -> None:
    with pytest.raises(AuthExpired) as caught:
        connector(mastodon).discover({"access_token": "wrong"})
    assert caught.value.http_status == 401


def test_discover_accepts_a_token_without_read_scope(mastodon: MastodonServer) -> None:
    mastodon.inject(
        Fault(
            match=lambda r: r.path == "/api/v1/accounts/verify_credentials",
            response=Response(403, {"error": "This action is outside the authorized scopes"}),
        )
    )
    assert connector(mastodon).discover(CREDS)["max_characters"] == 500


def test_discover_replays_the_recorded_instance(cassettes: Path) -> None:
    recorded = load_cassette(cassettes / "test_verify_credentials.yaml") + [
        replace(i, path="/api/v2/instance") for i in load_cassette(cassettes / "test_instance.yaml")
    ]
    with replay(recorded) as server:
        facts = connector(server).discover(CREDS)
    assert server.unmatched == [] and len(server.served) == 2
    assert facts["version"] == "4.6.4" and facts["description_limit"] == 10000
    limits = Limits.from_cache(facts)
    assert (limits.max_characters, limits.url_weight, limits.max_media) == (500, 23, 4)
    assert (limits.image_size, limits.video_size) == (16777216, 103809024)  # 16 MB and 99 MB
    assert "image/avif" in limits.mime_types and "video/quicktime" in limits.accepted()
    assert "audio/mpeg" not in limits.accepted()  # postmast sends images and video only


def test_discover_falls_back_to_instance_v1(cassettes: Path) -> None:
    recorded = load_cassette(cassettes / "test_verify_credentials.yaml") + [
        replace(i, path="/api/v1/instance") for i in load_cassette(cassettes / "test_instance_v1.yaml")
    ]
    with replay(recorded) as server:
        server.inject(Fault(match=lambda r: r.path == "/api/v2/instance", response=Response(404, {})))
        facts = connector(server).discover(CREDS)
    assert server.unmatched == []
    assert [r.path for r in server.requests][-2:] == ["/api/v2/instance", "/api/v1/instance"]
    assert facts["max_characters"] == 500 and facts["version"] == "4.6.4"
    assert instance_facts({"max_toot_chars": 5000}) == {"max_characters": 5000}  # older forks
    assert instance_facts(["not", "an", "instance"]) == {}


def test_the_instance_limit_decides_the_plan(store, vault, clock) -> None:
    """900 characters: accepted for an account on a 1000-character instance, refused on a 500 one,
    each limit learnt by `account add` (discover) and applied by `Posts.plan`."""
    big = MastodonServer({"token-a": "alice"}, max_characters=1000).start()
    small = MastodonServer({"token-a": "alice"}, max_characters=500).start()
    try:
        accounts = Accounts(store, vault)
        for name, server in (("big", big), ("small", small)):
            accounts.add("mastodon", name, {"instance": server.url}, dict(CREDS), discover=True)
        request = PostRequest(
            "a" * 900, ["mastodon:big", "mastodon:small"], clock.now + timedelta(hours=1), "UTC"
        )
        plans = {p.target: p for p in Posts(store, default_max_lateness=3600).plan(request)}
    finally:
        big.stop()
        small.stop()
    assert (plans["mastodon:big"].ok, plans["mastodon:big"].length, plans["mastodon:big"].limit) == (
        True,
        900,
        1000,
    )
    assert (plans["mastodon:small"].length, plans["mastodon:small"].limit) == (900, 500)
    assert plans["mastodon:small"].problems == ["text is 900 characters, over Mastodon's limit of 500"]


# == media: POST /api/v2/media, then wait until processed ============================================


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mastodon_media, "POLL_DELAYS", (0.02,))


def photo(alt: str = "a red bicycle", name: str = "bike.jpg") -> MediaFile:
    return MediaFile(JPEG + name.encode(), "image/jpeg", name, alt, 640, 480)


@dataclass(frozen=True)
class FocusedMedia(MediaFile):
    """A media file with a focal point (the core's MediaFile has none yet)."""

    focus: tuple[float, float] | None = None


def test_an_image_processed_at_once_is_attached(mastodon: MastodonServer) -> None:
    account = connector(mastodon)
    content = Content("with a picture", (photo(),))
    assert account.payload(content) == {
        "status": "with a picture",
        "media_ids": ["<id of bike.jpg once uploaded>"],
    }
    result = account.publish(content, CREDS, KEY)
    upload, status_request = mastodon.requests
    assert (upload.method, upload.path, status_request.path) == ("POST", "/api/v2/media", "/api/v1/statuses")
    assert upload.header("Authorization") == "Bearer token-a" and upload.header("Idempotency-Key") is None
    parts = MastodonServer._multipart(upload)
    assert parts["file"] == ("bike.jpg", "image/jpeg", photo().data)
    assert parts["description"][2] == b"a red bicycle" and "focus" not in parts
    [media_id] = mastodon.media
    assert status_request.json() == {**account.payload(content), "media_ids": [media_id]}
    assert status_request.header("Idempotency-Key") == KEY
    [attached] = mastodon.statuses[result.remote_id]["media_attachments"]
    assert attached["id"] == media_id and attached["description"] == "a red bicycle"
    assert account.state == {}  # nothing kept once the status exists


def test_media_processed_in_the_background_is_polled_until_ready(
    mastodon: MastodonServer, fast_polls: None
) -> None:
    """202 (url null), then 206 while processing, then 200: only then is the status posted."""
    mastodon.async_media, mastodon.processing_polls = True, 2
    pauses: list[str] = []
    http = HttpClient(connect_timeout=2, read_timeout=2)
    original = http.pause
    http.pause = lambda seconds, why: (pauses.append(why), original(seconds, why))[-1]  # type: ignore[method-assign]
    account = Mastodon({"instance": mastodon.url}, http)
    result = account.publish(Content("slow media", (photo(),)), CREDS, KEY)
    [media_id] = mastodon.media
    assert [(r.method, r.path) for r in mastodon.requests] == [
        ("POST", "/api/v2/media"),
        ("GET", f"/api/v1/media/{media_id}"),
        ("GET", f"/api/v1/media/{media_id}"),
        ("GET", f"/api/v1/media/{media_id}"),
        ("POST", "/api/v1/statuses"),
    ]
    assert pauses == ["Mastodon is processing bike.jpg"] * 3
    assert len(mastodon.statuses[result.remote_id]["media_attachments"]) == 1


def test_a_video_is_processed_in_the_background_by_default(
    mastodon: MastodonServer, fast_polls: None
) -> None:
    video = MediaFile(b"\0\0\0\x18ftypmp42" + bytes(64), "video/mp4", "clip.mp4", "a clip")
    connector(mastodon).publish(Content("", (video,)), CREDS, KEY)
    assert [r.path.count("/media/") for r in mastodon.requests] == [0, 1, 1, 1, 0]
    [created] = mastodon.created
    assert created["text"] == "" and len(created["media_ids"]) == 1


def test_processing_past_the_deadline_is_transient_and_the_retry_resumes(mastodon: MastodonServer) -> None:
    """The worker's deadline ends the wait with a TransientError (nothing posted); the next attempt
    polls the same upload instead of sending the file again."""
    mastodon.async_media, mastodon.processing_polls = True, 1000
    state: dict[str, object] = {}
    first = Mastodon(
        {"instance": mastodon.url}, HttpClient(read_timeout=2, deadline=time.monotonic() + 2.2), state=state
    )
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        first.publish(Content("a long video", (photo(),)), CREDS, KEY)
    assert "time limit reached while waiting: Mastodon is processing bike.jpg" in str(caught.value)
    assert time.monotonic() - started < 2.2
    assert mastodon.created == [] and len(mastodon.uploads) == 1
    assert mastodon_media.STATE_KEY in state  # the upload's id, kept for the retry
    mastodon.processing_polls = 0
    for media in mastodon.media.values():
        media["pending"] = 0
    result = Mastodon({"instance": mastodon.url}, HttpClient(read_timeout=2), state=state).publish(
        Content("a long video", (photo(),)), CREDS, KEY
    )
    assert len(mastodon.uploads) == 1  # not uploaded again
    assert [c["media_ids"] for c in mastodon.created] == [list(mastodon.media)]
    assert result.remote_id == mastodon.created[0]["id"] and state == {}


def test_without_a_deadline_the_wait_is_bounded(
    mastodon: MastodonServer, fast_polls: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mastodon_media, "NO_DEADLINE_WAIT", 0.1)
    mastodon.async_media, mastodon.processing_polls = True, 1000
    with pytest.raises(TransientError) as caught:
        connector(mastodon).publish(Content("x", (photo(),)), CREDS, KEY)
    assert "still processing bike.jpg" in str(caught.value) and "nothing was posted" in str(caught.value)
    assert mastodon.created == []


def test_kept_uploads_are_reused_within_a_few_hours_only(mastodon: MastodonServer) -> None:
    state: dict[str, object] = {}
    account = Mastodon({"instance": mastodon.url}, state=state)
    mastodon.inject(
        Fault(match=lambda r: r.path == "/api/v1/statuses", response=Response(503, {"error": "busy"}))
    )
    with pytest.raises(TransientError):
        account.publish(Content("retried", (photo(),)), CREDS, KEY)
    kept = state[mastodon_media.STATE_KEY]
    assert isinstance(kept, dict) and list(kept) == [KEY]
    later = datetime.now(UTC) + mastodon_media.REUSE_FOR + timedelta(minutes=1)
    uploads = mastodon_media.MediaUploads(account.http, account.base_url, {}, state, now=later)
    uploads.forget("another key")  # any use drops what is too old to reuse
    assert state == {}


def test_a_kept_id_the_server_no_longer_has_is_uploaded_again(
    mastodon: MastodonServer, fast_polls: None
) -> None:
    state: dict[str, object] = {}
    account = Mastodon({"instance": mastodon.url}, state=state)
    mastodon.async_media, mastodon.processing_polls = True, 1000
    account.http.deadline = time.monotonic() + 1.6
    with pytest.raises(TransientError):
        account.publish(Content("vanished", (photo(),)), CREDS, KEY)
    mastodon.media.clear()  # e.g. removed by the server's clean-up
    mastodon.async_media = False
    account.http.deadline = None
    result = account.publish(Content("vanished", (photo(),)), CREDS, KEY)
    assert len(mastodon.uploads) == 2 and len(mastodon.statuses[result.remote_id]["media_attachments"]) == 1


def test_a_stale_kept_id_is_refused_with_422_and_forgotten(mastodon: MastodonServer) -> None:
    """Real Mastodon refuses unknown media ids (the mock accepts them); so must our server."""
    state: dict[str, object] = {}
    account = Mastodon({"instance": mastodon.url}, state=state)
    uploads = account._uploads(CREDS)
    uploads._remember(KEY, mastodon_media._fingerprint(0, photo()), "999", True)
    with pytest.raises(PermanentError) as caught:
        account.publish(Content("stale", (photo(),)), CREDS, KEY)
    assert caught.value.http_status == 422
    assert "Media 999 not found or already attached to another post" in str(caught.value)
    assert mastodon.created == [] and state == {}


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        ("unknown", "Media 1 not found or already attached to another post"),
        ("unprocessed", "Cannot attach files that have not finished processing. Try again in a moment!"),
        ("too many", "Cannot attach more than 4 files"),
    ],
)
def test_the_server_refuses_media_ids_as_mastodon_does(
    mastodon: MastodonServer, problem: str, expected: str
) -> None:
    mastodon.async_media = True
    upload = connector(mastodon)._uploads(CREDS)._upload(photo())[0]
    ids = {"unknown": ["1"], "unprocessed": [upload], "too many": [upload] * 5}[problem]
    with pytest.raises(PermanentError) as caught:
        connector(mastodon)._post_status(Content("x"), CREDS, KEY, ids)
    assert caught.value.http_status == 422 and expected in str(caught.value)


@pytest.mark.parametrize(
    ("response", "error", "words"),
    [
        (
            Response(422, {"error": "Validation failed: File content type is invalid, File is invalid"}),
            PermanentError,
            "Mastodon refused bike.jpg (Mastodon answered 422: Validation failed: File content type",
        ),
        (
            Response(500, {"error": "Error processing thumbnail for uploaded media"}),
            TransientError,
            "Mastodon answered 500: Error processing thumbnail for uploaded media (uploading bike.jpg)",
        ),
        (
            Response(413, raw=b"<html><head><title>413 Request Entity Too Large</title></head></html>"),
            PermanentError,
            "bike.jpg is larger than the server accepts (Mastodon answered 413: <html>",
        ),
        (Response(401, {"error": "The access token is invalid"}), AuthExpired, "token is invalid"),
        (Response(403, {"error": "This action is outside the authorized scopes"}), AuthExpired, "scopes"),
        (Response(502, {"error": "Bad gateway"}), TransientError, "502: Bad gateway (uploading bike.jpg)"),
        (Response(504, raw=b""), TransientError, "(uploading bike.jpg)"),
        (
            Response(503, {"error": "Remote data could not be fetched"}),
            TransientError,
            "could not be fetched",
        ),
        (
            Response(202, {"url": None}),
            TransientError,
            "answered 202 to the upload of bike.jpg without an id",
        ),
    ],
    ids=["422", "500-thumbnail", "413", "401", "403", "502", "504", "503", "202-no-id"],
)
def test_upload_errors_are_classified(
    mastodon: MastodonServer, response: Response, error: type[ConnectorError], words: str
) -> None:
    mastodon.inject(Fault(match=lambda r: r.path == "/api/v2/media", response=response))
    with pytest.raises(ConnectorError) as caught:
        connector(mastodon).publish(Content("x", (photo(),)), CREDS, KEY)
    assert type(caught.value) is error and words in str(caught.value)
    assert caught.value.http_status == response.status
    assert mastodon.created == []


def test_the_server_refuses_files_as_mastodon_does(mastodon: MastodonServer) -> None:
    mastodon.configuration["media_attachments"]["description_limit"] = 5
    cases = [
        (MediaFile(b"not a png", "image/png", "fake.png"), "File content type is invalid"),
        (MediaFile(JPEG, "image/bmp", "a.bmp"), "File content type is invalid"),
        (photo(alt="too long"), "Description is too long (maximum is 5 characters)"),
    ]
    for media, words in cases:
        with pytest.raises(PermanentError) as caught:
            connector(mastodon).publish(Content("x", (media,)), CREDS, KEY)
        assert caught.value.http_status == 422 and words in str(caught.value)
    assert mastodon.media == {} and mastodon.created == []


def test_a_failed_processing_is_permanent(mastodon: MastodonServer, fast_polls: None) -> None:
    mastodon.async_media, mastodon.processing_polls, mastodon.fail_processing = True, 1, True
    with pytest.raises(PermanentError) as caught:
        connector(mastodon).publish(Content("x", (photo(),)), CREDS, KEY)
    assert caught.value.http_status == 422 and "Error processing thumbnail" in str(caught.value)
    assert mastodon.created == []


def test_an_upload_without_an_answer_is_transient_not_unknown(mastodon: MastodonServer) -> None:
    """An upload is not a post: a lost answer leaves at most an unattached file."""
    mastodon.inject(Fault(match=lambda r: r.path == "/api/v2/media", after_processing=True, drop=True))
    with pytest.raises(TransientError) as caught:
        connector(mastodon).publish(Content("x", (photo(),)), CREDS, KEY)
    assert "nothing was posted" in str(caught.value)
    assert len(mastodon.uploads) == 1 and mastodon.created == []


def test_media_uploads_are_rate_limited_with_the_reset(mastodon: MastodonServer) -> None:
    mastodon.inject(
        Fault(
            match=lambda r: r.path == "/api/v2/media",
            response=Response(
                429, {"error": "Too many requests"}, {"X-RateLimit-Reset": mastodon.reset_in(1800)}
            ),
        )
    )
    with pytest.raises(RateLimited) as caught:
        connector(mastodon).publish(Content("x", (photo(),)), CREDS, KEY)
    assert caught.value.retry_after == pytest.approx(1800, abs=3)


def test_focus_is_sent_when_the_file_has_one(mastodon: MastodonServer) -> None:
    media = FocusedMedia(JPEG, "image/jpeg", "f.jpg", "focused", focus=(-0.5, 0.3))
    result = connector(mastodon).publish(Content("x", (media,)), CREDS, KEY)
    assert MastodonServer._multipart(mastodon.requests[0])["focus"][2] == b"-0.5,0.3"
    [attached] = mastodon.statuses[result.remote_id]["media_attachments"]
    assert attached["meta"] == {"focus": {"x": -0.5, "y": 0.3}}
    with pytest.raises(PermanentError, match=r"within -1\.0\.\.1\.0"):
        connector(mastodon).publish(Content("x", (replace(media, focus=(2.0, 0.0)),)), CREDS, "k2")
    assert mastodon_media.focus_value(None) is None
    with pytest.raises(PermanentError, match="two numbers"):
        mastodon_media.focus_value("middle")


def test_replay_of_the_recorded_media_upload(cassettes: Path) -> None:
    """test_media_post_file.yaml: the real server's answer to `POST /api/v2/media`, served to the
    connector's upload of the same file: the recorded id, processed at once (200, url set)."""
    [recorded] = load_cassette(cassettes / "test_media_post_file.yaml")
    [sent_file] = [p for name, p in _recorded_parts(recorded).items() if name == "file"]
    filename, mime, data = sent_file
    assert (recorded.method, recorded.path, recorded.status, mime) == (
        "POST",
        "/api/v2/media",
        200,
        "image/jpeg",
    )
    with replay([recorded]) as server:
        account = connector(server)
        ids = account._uploads(CREDS).ids_for([MediaFile(data, mime, str(filename))], KEY)
    assert ids == ["117020576894251992"] == [recorded.json()["id"]]
    assert server.unmatched == [] and len(server.requests) == 1  # no polling: it was processed
    assert _recorded_parts(recorded)["file"] == MastodonServer._multipart(server.requests[0])["file"]
    assert recorded.header("x-ratelimit-limit") == "30"  # media has its own budget (30 per 30 min)


def test_replay_of_a_recorded_post_with_two_images(cassettes: Path) -> None:
    """test_media_post_multiple.yaml: two uploads with description and focus, then a status with
    both ids, all recorded against a real server and replayed through `publish`."""
    flow = [
        i
        for i in load_cassette(cassettes / "test_media_post_multiple.yaml")
        if (i.method, i.path) in (("POST", "/api/v2/media"), STATUSES)
    ]
    files = []
    for upload in flow[:2]:
        parts = _recorded_parts(upload)
        focus = tuple(float(v) for v in parts["focus"][2].decode().split(","))
        name, mime, data = parts["file"]
        files.append(FocusedMedia(data, mime, str(name), parts["description"][2].decode(), focus=focus))
    with replay(flow) as server:
        result = connector(server).publish(Content("LOL check this out", tuple(files)), CREDS, KEY)
    assert server.unmatched == [] and server.served == flow
    assert result.remote_id == flow[2].json()["id"]
    for upload, request in zip(flow[:2], server.requests[:2], strict=True):
        assert _recorded_parts(upload) == MastodonServer._multipart(request)  # what Mastodon.py sent
    assert server.requests[2].json() == {
        "status": flow[2].request_params()["status"],
        "media_ids": flow[2].request_params()["media_ids[]"],
    }


def _recorded_parts(interaction: Interaction) -> dict[str, tuple[str | None, str, bytes]]:
    request = Request("POST", interaction.path, {}, interaction.request_headers, interaction.request_body)
    return MastodonServer._multipart(request)


# == threads and lookup ===============================================================================


def publish_thread(
    account: Mastodon, texts: list[str], reply_to: RemoteRef | None = None, key: str = KEY
) -> list[PublishResult]:
    """What the worker does: item N replies to item N-1 and has the key `{key}-{N}`."""
    results: list[PublishResult] = []
    for number, text in enumerate(texts):
        parent = results[-1].ref() if results else reply_to
        root = results[0].ref() if results else None
        results.append(
            account.publish(Content(text, reply_to=parent, root=root), CREDS, item_key(key, number))
        )
    return results


def test_a_thread_replies_item_by_item(mastodon: MastodonServer) -> None:
    account = connector(mastodon)
    [earlier] = publish_thread(account, ["an earlier post"], key="earlier")
    results = publish_thread(account, ["1/3", "2/3", "3/3"], reply_to=earlier.ref())
    parents = [mastodon.statuses[r.remote_id]["in_reply_to_id"] for r in results]
    assert parents == [earlier.remote_id, results[0].remote_id, results[1].remote_id]
    assert [c["key"] for c in mastodon.created[1:]] == [KEY, f"{KEY}-1", f"{KEY}-2"]


def test_lookup_replays_the_key_within_the_window(mastodon: MastodonServer) -> None:
    mastodon.inject(Fault(after_processing=True, drop=True))
    account = connector(mastodon)
    content = Content("lost answer", options={"spoiler_text": "cw"})
    with pytest.raises(OutcomeUnknown):
        account.publish(content, CREDS, KEY)
    found = account.lookup(content, CREDS, KEY, sent_at=datetime.now(UTC), replay_allowed=True)
    [created] = mastodon.created
    assert isinstance(found, Found) and found.result.remote_id == created["id"]
    assert mastodon.key_requests[KEY] == 2


def test_lookup_replay_of_a_media_item_uploads_nothing_again(mastodon: MastodonServer) -> None:
    state: dict[str, object] = {}
    account = Mastodon({"instance": mastodon.url}, state=state)
    mastodon.inject(Fault(match=lambda r: r.path == "/api/v1/statuses", after_processing=True, drop=True))
    content = Content("lost with a picture", (photo(),))
    with pytest.raises(OutcomeUnknown):
        account.publish(content, CREDS, KEY)
    found = account.lookup(content, CREDS, KEY, sent_at=datetime.now(UTC), replay_allowed=True)
    assert isinstance(found, Found) and [c["id"] for c in mastodon.created] == [found.result.remote_id]
    assert len(mastodon.uploads) == 1 and state == {}


def test_lookup_replay_of_a_refused_item_says_absent(mastodon: MastodonServer) -> None:
    found = connector(mastodon).lookup(
        Content("   "), CREDS, KEY, sent_at=datetime.now(UTC), replay_allowed=True
    )
    assert isinstance(found, Absent) and "blank" in found.reason
    assert mastodon.created == []


def test_lookup_searches_recent_statuses_for_thread_and_media_items(mastodon: MastodonServer) -> None:
    """Past the key's hour (or when it may not be sent now) nothing is posted: the item is looked
    for by its text, content warning, parent and attachments."""
    account = connector(mastodon)
    first, second = publish_thread(account, ["same words", "same words"])
    lone = account.publish(Content("same words"), CREDS, "lone")
    pictured = account.publish(Content("", (photo(alt="one"), photo(alt="two", name="b.jpg"))), CREDS, "pics")
    requests_before = len(mastodon.requests)
    future = datetime.now(UTC) + timedelta(minutes=10)

    def look(content: Content) -> Lookup:
        return account.lookup(content, CREDS, "unused", sent_at=future, replay_allowed=False)

    assert look(Content("same words", reply_to=first.ref())) == Found(replace(second, http_status=200))
    assert look(Content("same words")) == Found(replace(lone, http_status=200))
    media = (photo(alt="one"), photo(alt="two", name="b.jpg"))
    assert look(Content("", media)) == Found(replace(pictured, http_status=200))
    assert isinstance(look(Content("", media[:1])), Absent)  # one picture is not that status
    assert isinstance(look(Content("same words", reply_to=second.ref())), Absent)
    assert isinstance(look(Content("same words", options={"spoiler_text": "cw"})), Absent)
    assert isinstance(look(Content("@alice@example.org never posted")), Absent)
    assert all(r.method == "GET" for r in mastodon.requests[requests_before:])
    assert len(mastodon.created) == 4


def test_lookup_cannot_decide_when_the_timeline_is_too_short_or_unreadable(mastodon: MastodonServer) -> None:
    account = connector(mastodon)
    account.publish(Content("recent"), CREDS, "k")
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    found = account.lookup(Content("older"), CREDS, KEY, sent_at=long_ago, replay_allowed=True)
    assert isinstance(found, Undecidable) and "do not reach back" in found.reason
    mastodon.inject(
        Fault(
            match=lambda r: r.path == "/api/v1/accounts/verify_credentials",
            response=Response(403, {"error": "This action is outside the authorized scopes"}),
        )
    )
    found = account.lookup(Content("older"), CREDS, KEY, sent_at=long_ago, replay_allowed=False)
    assert isinstance(found, Undecidable) and "read:statuses" in found.reason
    with pytest.raises(AuthExpired):
        account.lookup(Content("x"), {"access_token": "revoked"}, KEY, sent_at=long_ago, replay_allowed=False)


# == through the worker (a real store, the contract server) ==========================================


def queued(store: Store, request: PostRequest) -> int:
    """Queue `request` as the CLI does, then move its one delivery to `queued` as the dispatcher does."""
    [delivery_id] = [d.id for d in Posts(store, default_max_lateness=3600).queue(request).deliveries]
    with store.write() as session:
        assert transition(session, delivery_id, Status.SCHEDULED, Status.QUEUED, now=store.now())
    return delivery_id


def requeue(store: Store, delivery_id: int) -> None:
    with store.write() as session:
        assert transition(session, delivery_id, Status.RETRY_WAIT, Status.QUEUED, now=store.now())


@pytest.fixture
def worker_account(store, vault, mastodon: MastodonServer) -> str:
    add_account(store, vault, "mastodon", "brand", {"instance": mastodon.url}, dict(CREDS))
    return "mastodon:brand"


def test_a_failure_on_item_2_resumes_there_and_never_reposts_item_1(
    store, vault, settings, clock, mastodon: MastodonServer, worker_account: str
) -> None:
    request = PostRequest(
        "1/3 head", [worker_account], clock.now, "UTC", then=(Item("2/3 middle"), Item("3/3 tail"))
    )
    delivery_id = queued(store, request)
    mastodon.inject(
        Fault(
            match=lambda r: r.path == "/api/v1/statuses" and r.json()["status"] == "2/3 middle",
            response=Response(503, {"error": "Remote data could not be fetched"}),
        )
    )
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "retry_wait"
    row = delivery(store, delivery_id)
    assert row.last_error and row.last_error.startswith("item 2 of 3: Mastodon answered 503")
    assert [c["text"] for c in mastodon.created] == ["1/3 head"]
    requeue(store, delivery_id)
    assert publisher.publish(delivery_id) == "published"
    assert [c["text"] for c in mastodon.created] == ["1/3 head", "2/3 middle", "3/3 tail"]  # head once
    head, middle, tail = mastodon.created
    assert (middle["in_reply_to_id"], tail["in_reply_to_id"]) == (head["id"], middle["id"])
    row = delivery(store, delivery_id)
    assert row.status == Status.PUBLISHED and row.remote_id == head["id"]
    keys = [r.header("Idempotency-Key") for r in mastodon.requests if r.path == "/api/v1/statuses"]
    assert keys == [
        row.idempotency_key,
        f"{row.idempotency_key}-1",
        f"{row.idempotency_key}-1",
        f"{row.idempotency_key}-2",
    ]


def test_a_lost_answer_on_item_2_is_found_by_its_key_and_the_thread_finishes(
    store, vault, settings, clock, mastodon: MastodonServer, worker_account: str
) -> None:
    """Item 2 was created but its answer lost: the next attempt replays item 2's own key
    (`{key}-1`), records what Mastodon answers and goes on with item 3."""
    request = PostRequest("head", [worker_account], clock.now, "UTC", then=(Item("middle"), Item("tail")))
    delivery_id = queued(store, request)
    mastodon.inject(
        Fault(
            match=lambda r: r.path == "/api/v1/statuses" and r.json()["status"] == "middle",
            after_processing=True,
            drop=True,
        )
    )
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    assert [c["text"] for c in mastodon.created] == ["head", "middle"]  # posted; the answer was lost
    clock.advance(settings.timings.settle + 1)
    assert Dispatcher(store, settings, lambda ids: None).tick().dispatched == [delivery_id]
    assert publisher.publish(delivery_id) == "published"
    assert [c["text"] for c in mastodon.created] == ["head", "middle", "tail"]
    head, middle, tail = mastodon.created
    assert (middle["in_reply_to_id"], tail["in_reply_to_id"]) == (head["id"], middle["id"])
    key = delivery(store, delivery_id).idempotency_key
    assert (mastodon.key_requests[key], mastodon.key_requests[f"{key}-1"]) == (1, 2)


def test_a_post_with_media_processed_in_the_background_through_the_worker(
    store, vault, settings, clock, mastodon: MastodonServer, worker_account: str, fast_polls: None
) -> None:
    mastodon.async_media, mastodon.processing_polls = True, 2
    request = PostRequest(
        "look at this", [worker_account], clock.now, "UTC", media=(photo(alt="a harbour at dusk"),)
    )
    delivery_id = queued(store, request)
    assert Publisher(store, vault, settings).publish(delivery_id) == "published"
    [status] = mastodon.statuses.values()
    assert [m["description"] for m in status["media_attachments"]] == ["a harbour at dusk"]
    paths = [r.path for r in mastodon.requests]
    assert paths.count("/api/v2/media") == 1 and sum("/api/v1/media/" in p for p in paths) == 3
    assert delivery(store, delivery_id).remote_id == status["id"]


def test_a_reply_target_is_a_status_id_or_a_link_to_one_on_the_instance(mastodon: MastodonServer) -> None:
    account = connector(mastodon)
    parent = account.publish(Content("the parent"), CREDS, "parent")
    link = f"{mastodon.url}/@alice/{parent.remote_id}"
    reply = Content("by link", reply_to=RemoteRef(link))
    assert account.validate(reply) == []
    assert account.payload(reply)["in_reply_to_id"] == parent.remote_id
    child = account.publish(reply, CREDS, "child")
    assert mastodon.statuses[child.remote_id]["in_reply_to_id"] == parent.remote_id
    future = datetime.now(UTC) + timedelta(minutes=10)
    found = account.lookup(reply, CREDS, "child", sent_at=future, replay_allowed=False)
    assert isinstance(found, Found) and found.result.remote_id == child.remote_id
    for other in ("https://elsewhere.example/@bob/123", "not an id", f"{mastodon.url}/about"):
        [problem] = account.validate(Content("x", reply_to=RemoteRef(other)))
        assert (
            problem.code == "reply" and "is not a status id or a link to one on 127.0.0.1" in problem.message
        )


def test_an_unreadable_reset_falls_back_to_retry_after(mastodon: MastodonServer) -> None:
    headers = {"X-RateLimit-Reset": "soon", "Retry-After": "42"}
    mastodon.inject(Fault(response=Response(429, {"error": "Too many requests"}, headers)))
    with pytest.raises(RateLimited) as caught:
        connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert caught.value.retry_after == 42.0


def test_the_contract_servers_unconditional_faults_are_for_the_publish_path(mastodon: MastodonServer) -> None:
    """Discovery goes first in the worker; a scripted `Fault()` without a match must still meet the
    status it was written for (tests/workers rely on it), and discovery is logged apart."""
    mastodon.inject(Fault(response=Response(503, {"error": "busy"})))
    account = connector(mastodon)
    assert account.discover(CREDS)["max_characters"] == 500
    with pytest.raises(TransientError):
        account.publish(Content("hi"), CREDS, KEY)
    assert [r.path for r in mastodon.requests] == ["/api/v1/statuses"]
    assert [r.path for r in mastodon.discovery_requests] == [
        "/api/v1/accounts/verify_credentials",
        "/api/v2/instance",
    ]
    mastodon.inject(
        Fault(match=lambda r: r.path == "/api/v2/instance", response=Response(503, {"error": "x"}))
    )
    with pytest.raises(TransientError):
        account.discover(CREDS)
