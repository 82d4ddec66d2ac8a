"""The Pinterest connector against the contract server: validation at queue time (one image or
video, the field limits, ids), the pin body with an uploaded image, an image URL or a video
(registered, uploaded, polled), the token refreshed once when Pinterest refuses it, every row of
the error table, and the lookup in the board's pins."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from postmast.connectors import Absent, Content, Found, MediaFile, Undecidable
from postmast.connectors.errors import (
    AuthExpired,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import HttpClient
from postmast.connectors.pinterest import Pinterest
from tests.conftest import FakeClock
from tests.factories import tiny_png
from tests.servers.base import Fault, Response
from tests.servers.pinterest import (
    ACCESS_TOKEN,
    BOARD,
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_BOARD,
    REFRESH_TOKEN,
    SECTION,
    PinterestServer,
    error,
)

TOKEN = {"access_token": ACCESS_TOKEN}
RENEWABLE = {**TOKEN, "refresh_token": REFRESH_TOKEN, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
PNG = MediaFile(tiny_png(4, 4), "image/png", "doors.png", alt="Open doors")
VIDEO = MediaFile(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "video/mp4", "tour.mp4")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[PinterestServer]:
    running = PinterestServer(clock=clock).start()
    yield running
    running.stop()


def pinterest(server: PinterestServer, clock: FakeClock, read_timeout: float = 3) -> Pinterest:
    settings = {"board_id": BOARD, "api_base": server.url}
    return Pinterest(settings, HttpClient(connect_timeout=2, read_timeout=read_timeout), clock=clock)


def pin(text: str = "Doors open at 9.", media: tuple[MediaFile, ...] = (PNG,), **options: object) -> Content:
    return Content(text, media=media, options=options)


# -- validation ------------------------------------------------------------------------------------


def test_a_pin_needs_exactly_one_image_or_video(server: PinterestServer, clock: FakeClock) -> None:
    connector = pinterest(server, clock)
    assert connector.validate(pin()) == []
    assert connector.validate(pin(media=(), image_url="https://harbour.example/a.jpg")) == []
    assert [p.message for p in connector.validate(pin(media=()))] == [
        "a pin needs an image or a video: --media FILE or --option image_url=URL"
    ]
    both = connector.validate(pin(image_url="https://harbour.example/a.jpg"))
    assert [p.message for p in both] == ["a pin takes one image: a file or image_url, not both"]
    assert [p.message for p in connector.validate(pin(media=(PNG, PNG)))] == [
        "2 attachments, Pinterest takes at most 1"
    ]


def test_the_field_limits(server: PinterestServer, clock: FakeClock) -> None:
    connector = pinterest(server, clock)
    assert [p.message for p in connector.validate(pin("d" * 801))] == [
        "text is 801 characters, over Pinterest's limit of 800"
    ]
    assert [p.message for p in connector.validate(pin(title="t" * 101))] == [
        "title is 101 characters, over the limit of 100"
    ]
    long_alt = MediaFile(PNG.data, "image/png", "doors.png", alt="a" * 501)
    assert [p.message for p in connector.validate(pin(media=(long_alt,)))] == [
        "alt text of doors.png is over 500 characters"
    ]
    assert [p.message for p in connector.validate(pin(link="harbour.example"))] == [
        "link must be an http(s) URL of at most 2048 characters"
    ]
    assert [p.message for p in connector.validate(pin(board_id="my-board"))] == [
        "board_id must be a numeric id"
    ]


def test_settings_and_secrets(server: PinterestServer) -> None:
    assert Pinterest.check_settings({"board_id": BOARD}) == []
    assert [p.message for p in Pinterest.check_settings({"board_id": "harbour"})] == [
        "board_id must be a board's numeric id (GET /v5/boards lists them)"
    ]
    assert Pinterest.check_secrets(RENEWABLE) == []
    assert [p.message for p in Pinterest.check_secrets({**TOKEN, "refresh_token": "r"})] == [
        "refresh_token, client_id and client_secret go together (to renew the token)"
    ]


def test_the_dry_run_payload_names_the_file(server: PinterestServer, clock: FakeClock) -> None:
    body = pinterest(server, clock).payload(
        pin(title="Harbour", link="https://harbour.example/", board_section_id=SECTION)
    )
    assert body == {
        "board_id": BOARD,
        "board_section_id": SECTION,
        "title": "Harbour",
        "description": "Doors open at 9.",
        "link": "https://harbour.example/",
        "alt_text": "Open doors",
        "media_source": {
            "source_type": "image_base64",
            "content_type": "image/png",
            "data": f"<base64 of doors.png, {PNG.size:,} bytes>",
        },
    }


# -- publishing ------------------------------------------------------------------------------------


def test_an_uploaded_image_is_pinned(server: PinterestServer, clock: FakeClock) -> None:
    result = pinterest(server, clock).publish(pin(title="Harbour", board_section_id=SECTION), TOKEN, "k")
    [created] = server.created
    assert (result.remote_id, result.url) == (
        created["id"],
        f"https://www.pinterest.com/pin/{created['id']}/",
    )
    sent = server.posts()[0].json()["media_source"]
    assert base64.b64decode(sent["data"]) == PNG.data and created["alt_text"] == "Open doors"
    assert created["board_section_id"] == SECTION


def test_an_image_url_is_pinned(server: PinterestServer, clock: FakeClock) -> None:
    pinterest(server, clock).publish(pin(media=(), image_url="https://harbour.example/a.jpg"), TOKEN, "k")
    assert server.posts()[0].json()["media_source"] == {
        "source_type": "image_url",
        "url": "https://harbour.example/a.jpg",
    }


def test_a_video_is_registered_uploaded_and_waited_for(server: PinterestServer, clock: FakeClock) -> None:
    result = pinterest(server, clock).publish(pin(media=(VIDEO,), cover_frame=3), TOKEN, "k")
    [media_id] = server.media
    assert server.media[media_id]["bytes"] == VIDEO.size and server.media[media_id]["status"] == "succeeded"
    source = server.posts()[0].json()["media_source"]
    assert source == {"source_type": "video_id", "media_id": media_id, "cover_image_key_frame_time": 3}
    assert result.remote_id == server.created[0]["id"]
    polls = [r.path for r in server.requests if r.path.startswith("/v5/media/")]
    assert polls == [f"/v5/media/{media_id}"] * 2


def test_a_video_pinterest_cannot_process_is_refused(server: PinterestServer, clock: FakeClock) -> None:
    server.fail_media()
    with pytest.raises(PermanentError, match=r"could not process the video tour\.mp4"):
        pinterest(server, clock).publish(pin(media=(VIDEO,)), TOKEN, "k")
    assert server.posts() == []


def test_an_expired_token_is_refreshed_once_and_kept(server: PinterestServer, clock: FakeClock) -> None:
    connector = pinterest(server, clock)
    server.expire_token()
    connector.publish(pin(), RENEWABLE, "k1")
    connector.publish(pin("again"), RENEWABLE, "k2")
    refreshes = [r for r in server.requests if r.path == "/v5/oauth/token"]
    assert len(refreshes) == 1 and len(server.created) == 2
    assert ACCESS_TOKEN not in str(connector.state) and "pinterest_token" in connector.state


def test_an_expired_token_without_a_refresh_token_is_auth_expired(
    server: PinterestServer, clock: FakeClock
) -> None:
    server.expire_token()
    with pytest.raises(AuthExpired, match="Authentication failed"):
        pinterest(server, clock).publish(pin(), TOKEN, "k")


def test_a_revoked_refresh_token_is_auth_expired_without_secrets(
    server: PinterestServer, clock: FakeClock
) -> None:
    server.expire_token()
    server.revoke_refresh()
    with pytest.raises(AuthExpired) as caught:
        pinterest(server, clock).publish(pin(), RENEWABLE, "k")
    assert all(secret not in caught.value.message for secret in RENEWABLE.values())
    assert server.created == []


def test_a_429_waits_its_reset(clock: FakeClock) -> None:
    server = PinterestServer(clock=clock, budget=0).start()
    try:
        with pytest.raises(RateLimited) as caught:
            pinterest(server, clock).publish(pin(), TOKEN, "k")
        assert caught.value.retry_after == 60
    finally:
        server.stop()


def test_retry_after_wins_over_the_reset(server: PinterestServer, clock: FakeClock) -> None:
    server.inject(
        Fault(
            response=Response(
                429, {"code": 8, "message": "slow"}, {"Retry-After": "7", "x-ratelimit-reset": "60"}
            )
        )
    )
    with pytest.raises(RateLimited) as caught:
        pinterest(server, clock).publish(pin(), TOKEN, "k")
    assert caught.value.retry_after == 7


@pytest.mark.parametrize(
    ("options", "kind", "said"),
    [
        ({"board_id": "123"}, PermanentError, "Board not found"),
        ({"board_id": OTHER_BOARD}, AuthExpired, "not permitted"),
        ({"board_section_id": "77"}, PermanentError, "Board section not found"),
    ],
)
def test_refusals(
    server: PinterestServer, clock: FakeClock, options: dict[str, str], kind: type, said: str
) -> None:
    with pytest.raises(kind, match=said):
        pinterest(server, clock).publish(pin(**options), TOKEN, "k")
    assert server.created == []


def test_a_5xx_on_the_pin_is_unknown_but_transient_on_the_media(
    server: PinterestServer, clock: FakeClock
) -> None:
    server.inject(
        Fault(match=lambda r: r.path == "/v5/pins", response=error(500, 0, "oops"), after_processing=True)
    )
    with pytest.raises(OutcomeUnknown, match="500"):
        pinterest(server, clock).publish(pin(), TOKEN, "k1")
    assert len(server.created) == 1
    server.inject(Fault(match=lambda r: r.path == "/v5/media", response=error(503, 0, "busy")))
    with pytest.raises(TransientError, match="503"):
        pinterest(server, clock).publish(pin(media=(VIDEO,)), TOKEN, "k2")


def test_a_slow_answer_is_an_unknown_outcome(server: PinterestServer, clock: FakeClock) -> None:
    server.inject(Fault(match=lambda r: r.path == "/v5/pins", delay=1.5))
    with pytest.raises(OutcomeUnknown, match="no answer"):
        pinterest(server, clock, read_timeout=0.5).publish(pin(), TOKEN, "k")


# -- reconciliation --------------------------------------------------------------------------------


def test_the_lookup_reads_the_board(server: PinterestServer, clock: FakeClock) -> None:
    connector = pinterest(server, clock)
    sent_at = clock()
    server.inject(
        Fault(
            match=lambda r: r.path == "/v5/pins", response=error(502, 0, "bad gateway"), after_processing=True
        )
    )
    with pytest.raises(OutcomeUnknown):
        connector.publish(pin(title="Harbour"), TOKEN, "k")
    found = connector.lookup(pin(title="Harbour"), TOKEN, "k", sent_at=sent_at, replay_allowed=True)
    assert isinstance(found, Found) and found.result.remote_id == server.created[0]["id"]
    absent = connector.lookup(pin(title="Other"), TOKEN, "k", sent_at=sent_at, replay_allowed=True)
    assert isinstance(absent, Absent)
    clock.advance(3600)
    later = connector.lookup(pin(title="Harbour"), TOKEN, "k", sent_at=clock(), replay_allowed=True)
    assert isinstance(later, Absent)  # an older pin with the same text is not this delivery's


def test_a_board_too_long_to_read_is_undecidable(server: PinterestServer, clock: FakeClock) -> None:
    connector = pinterest(server, clock)
    for number in range(101):
        connector.publish(
            pin(f"pin {number}", media=(), image_url="https://harbour.example/a.jpg"), TOKEN, f"k{number}"
        )
    looked = connector.lookup(pin("missing"), TOKEN, "k", sent_at=clock(), replay_allowed=True)
    assert isinstance(looked, Undecidable)
    assert len([r for r in server.requests if r.path.endswith("/pins") and r.method == "GET"]) == 4


def test_discover(server: PinterestServer, clock: FakeClock) -> None:
    assert pinterest(server, clock).discover(TOKEN) == {"username": "harbour_news", "board": "Harbour"}
