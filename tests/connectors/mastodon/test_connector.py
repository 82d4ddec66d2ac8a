"""The Mastodon connector (connectors/mastodon/connector.py): publishing against the contract server (the
request's shape, replies, options and the payload), replay of real responses recorded by
Mastodon.py against a real Mastodon server, and discovery of the instance's limits.

Sources: NETWORKS.md §3, `connectors/mastodon/connector.py`'s docstring, `tests/servers/mastodon.py`
(written from the official documentation) and `conformance/mastodon-py-cassettes` (recorded
traffic). Errors, rate limits and transport failures: test_errors.py; the rules:
test_rules.py; media: test_media.py; threads, lookup and the worker:
test_lookup.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from postmast.connectors import Content, PublishResult, RemoteRef
from postmast.connectors.errors import AuthExpired, ConnectorError, PermanentError, TransientError
from postmast.connectors.mastodon import Mastodon
from postmast.connectors.mastodon.rules import Limits, instance_facts
from postmast.connectors.ratelimit import reset_any, until_iso8601
from postmast.scheduler.accounts import Accounts
from postmast.scheduler.posts import PostRequest, Posts
from tests.connectors.mastodon import support as mastodon_support
from tests.connectors.mastodon.support import (
    CREDS,
    FAMILY,
    KEY,
    MENTION_VECTOR,
    STATUSES,
    URL_VECTOR,
    connector,
    offline,
    replay,
)
from tests.servers.base import Fault, Response
from tests.servers.mastodon import MastodonServer
from tests.servers.replay import Interaction, ReplayServer, load_cassette, load_cassettes

# fixtures shared with the other Mastodon test files (pytest finds a fixture by its name here)
cassettes = mastodon_support.cassettes


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


# == replay of real recorded responses (Mastodon.py cassettes) ==========================================


ERROR_CLASSES: dict[int, type[ConnectorError]] = {
    401: AuthExpired,
    403: AuthExpired,
    404: PermanentError,
    410: PermanentError,
    422: PermanentError,
}


@pytest.fixture(scope="module")
def recorded(cassettes: Path) -> list[Interaction]:
    found = load_cassettes(cassettes)
    assert len(found) >= 50
    return found


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


# == discovery of the instance's limits =============================================================


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
