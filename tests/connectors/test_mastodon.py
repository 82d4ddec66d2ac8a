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
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors import Content, PublishResult, RemoteRef
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
from connectors.ratelimit import reset_any, until_iso8601
from tests.servers.base import Fault, Response
from tests.servers.mastodon import MastodonServer
from tests.servers.raw import refused_port
from tests.servers.replay import Interaction, ReplayServer, load_cassette, load_cassettes

CREDS = {"access_token": "token-a"}
KEY = "delivery-42-attempt-key"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"

# Mastodon's own spec vectors (StatusLengthValidator spec, NETWORKS.md §3)
URL_VECTOR = "a" * 476 + " http://" + "b" * 30 + ".com/example"
MENTION_VECTOR = "a" * 475 + " @alice@" + "b" * 30 + ".com"


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
