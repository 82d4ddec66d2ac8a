"""The Google Business Profile connector against the contract server: options checked at queue time
(topics, schedules, buttons), the LocalPost bodies of an update, an event and an offer, the access
token from the refresh token (cached, renewed on a 401), every row of the error table, and the lookup
in the location's posts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from postmast.connectors import Absent, Content, Found
from postmast.connectors.errors import (
    AuthExpired,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.google_business import GoogleBusiness
from postmast.connectors.http import HttpClient
from tests.conftest import FakeClock
from tests.servers.base import Fault, Request
from tests.servers.google_business import (
    ACCOUNT,
    CLIENT_ID,
    CLIENT_SECRET,
    LOCATION,
    OTHER_LOCATION,
    REFRESH_TOKEN,
    GoogleBusinessServer,
    google_error,
)

SECRETS = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN}
EVENT = {"event_title": "Harbour night", "event_start": "2026-12-05 18:00", "event_end": "2026-12-05 23:30"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[GoogleBusinessServer]:
    running = GoogleBusinessServer(clock=clock).start()
    yield running
    running.stop()


def settings(server: GoogleBusinessServer, location: str = LOCATION) -> dict[str, str]:
    return {
        "account_id": ACCOUNT,
        "location_id": location,
        "api_base": server.url,
        "token_url": f"{server.url}/token",
    }


def gbp(
    server: GoogleBusinessServer, clock: FakeClock, location: str = LOCATION, read_timeout: float = 3
) -> GoogleBusiness:
    return GoogleBusiness(
        settings(server, location), HttpClient(connect_timeout=2, read_timeout=read_timeout), clock=clock
    )


def creating(request: Request) -> bool:
    return request.method == "POST" and request.path.endswith("/localPosts")


def post(text: str = "Open late tonight.", **options: object) -> Content:
    return Content(text, options=options)


# -- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"topic": "event"}, "a event post needs event_title, event_start, event_end"),
        ({"event_title": "x"}, "event_title apply to topic=event or topic=offer"),
        ({"topic": "event", **EVENT, "event_end": "2026-12-04"}, "event_end is before event_start"),
        (
            {"topic": "event", **EVENT, "event_start": "5 Dec"},
            "event_start must be YYYY-MM-DD or YYYY-MM-DD HH:MM",
        ),
        (
            {"topic": "event", **EVENT, "coupon_code": "X"},
            "coupon_code, redeem_url and terms apply to topic=offer",
        ),
        (
            {"topic": "offer", **EVENT, "action": "shop", "action_url": "https://h.example"},
            "an offer takes no action button",
        ),
        ({"action": "book"}, "action=book needs action_url"),
        (
            {"action": "call", "action_url": "https://h.example"},
            "action=call dials the location's phone number",
        ),
        ({"action_url": "https://h.example"}, "action_url needs an action"),
        ({"image_url": "h.example/a.jpg"}, "image_url must be an absolute http(s) URL"),
        (
            {"topic": "event", **EVENT, "event_title": "t" * 59},
            "event_title is 59 characters, over the limit of 58",
        ),
    ],
)
def test_options_are_checked(
    server: GoogleBusinessServer, clock: FakeClock, options: dict[str, str], message: str
) -> None:
    [problem] = gbp(server, clock).validate(post(**options))
    assert problem.message.startswith(message), problem


def test_the_summary_limit(server: GoogleBusinessServer, clock: FakeClock) -> None:
    connector = gbp(server, clock)
    assert connector.validate(post("s" * 1500)) == []
    assert [p.message for p in connector.validate(post("s" * 1501))] == [
        "text is 1501 characters, over Google Business Profile's limit of 1500"
    ]


def test_settings(server: GoogleBusinessServer) -> None:
    assert GoogleBusiness.check_settings(settings(server)) == []
    assert [
        p.message for p in GoogleBusiness.check_settings({**settings(server), "location_id": "locations/1"})
    ] == ["location_id must be a number (the digits after accounts/ or locations/)"]


def test_the_bodies(server: GoogleBusinessServer, clock: FakeClock) -> None:
    connector = gbp(server, clock)
    standard = connector.payload(
        post(action="learn_more", action_url="https://h.example/", image_url="https://h.example/p.jpg")
    )
    assert standard == {
        "languageCode": "en",
        "summary": "Open late tonight.",
        "topicType": "STANDARD",
        "callToAction": {"actionType": "LEARN_MORE", "url": "https://h.example/"},
        "media": [{"mediaFormat": "PHOTO", "sourceUrl": "https://h.example/p.jpg"}],
    }
    offer = connector.payload(
        post(
            topic="offer",
            **{**EVENT, "event_end": "2026-12-06"},
            coupon_code="HARBOUR10",
            terms="One per guest",
        )
    )
    assert offer["event"] == {
        "title": "Harbour night",
        "schedule": {
            "startDate": {"year": 2026, "month": 12, "day": 5},
            "startTime": {"hours": 18, "minutes": 0, "seconds": 0, "nanos": 0},
            "endDate": {"year": 2026, "month": 12, "day": 6},
        },
    }
    assert offer["offer"] == {"couponCode": "HARBOUR10", "termsConditions": "One per guest"}
    assert connector.payload(post(action="call"))["callToAction"] == {"actionType": "CALL"}


# -- publishing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{}, {"topic": "event", **EVENT, "action": "book", "action_url": "https://h.example/book"},
     {"topic": "offer", **EVENT, "coupon_code": "HARBOUR10", "redeem_url": "https://h.example/o"}],
)  # fmt: skip
def test_a_post_is_published_with_its_search_url(
    server: GoogleBusinessServer, clock: FakeClock, options: dict[str, str]
) -> None:
    result = gbp(server, clock).publish(post(**options), SECRETS, "k")
    [created] = server.created
    assert (result.remote_id, result.url) == (created["name"], created["searchUrl"])
    assert result.remote_id.startswith(f"accounts/{ACCOUNT}/locations/{LOCATION}/localPosts/")


def test_the_token_is_cached_and_renewed_on_a_401(server: GoogleBusinessServer, clock: FakeClock) -> None:
    connector = gbp(server, clock)
    connector.publish(post("one"), SECRETS, "k1")
    connector.publish(post("two"), SECRETS, "k2")
    assert len(server.token_requests()) == 1
    server.expire_tokens()
    connector.publish(post("three"), SECRETS, "k3")
    assert len(server.token_requests()) == 2 and len(server.created) == 3
    clock.advance(3600)
    connector.publish(post("four"), SECRETS, "k4")
    assert len(server.token_requests()) == 3 and len(server.posts()) == 5  # one refused, four posted


def test_a_revoked_refresh_token_is_auth_expired_without_secrets(
    server: GoogleBusinessServer, clock: FakeClock
) -> None:
    server.revoke_refresh()
    with pytest.raises(AuthExpired, match="invalid_grant: Token has been expired or revoked") as caught:
        gbp(server, clock).publish(post(), SECRETS, "k")
    assert all(secret not in caught.value.message for secret in SECRETS.values())
    assert server.posts() == []


def test_a_location_not_managed_is_permission_denied(server: GoogleBusinessServer, clock: FakeClock) -> None:
    with pytest.raises(AuthExpired, match="403: PERMISSION_DENIED"):
        gbp(server, clock, OTHER_LOCATION).publish(post(), SECRETS, "k")


def test_resource_exhausted_is_rate_limited(clock: FakeClock) -> None:
    server = GoogleBusinessServer(clock=clock, per_minute=1).start()
    try:
        connector = gbp(server, clock)
        connector.publish(post("one"), SECRETS, "k1")
        with pytest.raises(RateLimited, match="RESOURCE_EXHAUSTED") as caught:
            connector.publish(post("two"), SECRETS, "k2")
        assert caught.value.retry_after == 60
    finally:
        server.stop()


def test_invalid_argument_is_permanent(server: GoogleBusinessServer, clock: FakeClock) -> None:
    refusal = google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
    server.inject(Fault(match=creating, response=refusal))
    with pytest.raises(PermanentError, match="400: INVALID_ARGUMENT"):
        gbp(server, clock).publish(post(), SECRETS, "k")


def test_a_5xx_on_the_create_is_unknown(server: GoogleBusinessServer, clock: FakeClock) -> None:
    broken = google_error(500, "INTERNAL", "Internal error encountered.")
    server.inject(Fault(match=creating, response=broken, after_processing=True))
    with pytest.raises(OutcomeUnknown, match="500: INTERNAL"):
        gbp(server, clock).publish(post(), SECRETS, "k")
    assert len(server.created) == 1


def test_a_slow_answer_is_unknown(server: GoogleBusinessServer, clock: FakeClock) -> None:
    server.inject(Fault(match=lambda r: r.method == "POST" and r.path.endswith("/localPosts"), delay=1.5))
    with pytest.raises(OutcomeUnknown, match="no answer"):
        gbp(server, clock, read_timeout=0.5).publish(post(), SECRETS, "k")


# -- reconciliation --------------------------------------------------------------------------------


def test_the_lookup_lists_the_locations_posts(server: GoogleBusinessServer, clock: FakeClock) -> None:
    connector = gbp(server, clock)
    connector.publish(post("an older post"), SECRETS, "old")
    clock.advance(3600)
    sent_at = clock()
    server.inject(
        Fault(
            match=lambda r: r.method == "POST" and r.path.endswith("/localPosts"),
            response=google_error(503, "UNAVAILABLE", "x"),
            after_processing=True,
        )
    )
    with pytest.raises(OutcomeUnknown):
        connector.publish(post("tonight"), SECRETS, "k")
    found = connector.lookup(post("tonight"), SECRETS, "k", sent_at=sent_at, replay_allowed=True)
    assert isinstance(found, Found) and found.result.remote_id == server.created[-1]["name"]
    assert isinstance(
        connector.lookup(post("an older post"), SECRETS, "k", sent_at=sent_at, replay_allowed=True), Absent
    )
    assert isinstance(
        connector.lookup(
            post("tonight", topic="event", **EVENT), SECRETS, "k", sent_at=sent_at, replay_allowed=True
        ),
        Absent,
    )


def test_a_list_that_fails_is_transient(server: GoogleBusinessServer, clock: FakeClock) -> None:
    server.inject(Fault(match=lambda r: r.method == "GET", response=google_error(503, "UNAVAILABLE", "x")))
    with pytest.raises(TransientError):
        gbp(server, clock).lookup(post(), SECRETS, "k", sent_at=clock(), replay_allowed=True)
