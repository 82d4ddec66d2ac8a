"""The Mastodon connector end to end against mastodon-mock, a third-party Mastodon server (PEERS.md),
through the real worker path: `Publisher` with a real store (SQLite and PostgreSQL).

The mock is shared by the whole session, so every test writes texts of its own (a random
suffix) and reads them back from the mock. Faults come from the mock's own control plane
(`POST /api/v1/_mock/faults`, mastodon_mock/faults.py: a forced status, a rate limit with
epoch `X-RateLimit-Reset` and `Retry-After`, latency); an answer lost after the mock
processed a request comes from `LossyLink`, a hop in front of it. Where the mock differs
from real Mastodon (length rule, ISO resets, unknown media ids, 202 media) the contract
server in tests/servers/mastodon.py is the reference: see test_connector.py.
"""

from __future__ import annotations

import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from postmast.connectors import (
    Content,
    Found,
    MediaFile,
    PermanentError,
    RateLimited,
    RemoteRef,
)
from postmast.connectors.http import HttpClient
from postmast.connectors.mastodon import Mastodon
from postmast.connectors.mastodon import media as mastodon_media
from postmast.scheduler.accounts import Accounts
from postmast.scheduler.body import OptionValue
from postmast.scheduler.dispatcher import Dispatcher
from postmast.scheduler.models import Account
from postmast.scheduler.posts import Item, PostRequest, Posts
from postmast.scheduler.states import Status, transition
from postmast.scheduler.store import Store
from postmast.workers.outcome import Outcome
from postmast.workers.publisher import Publisher
from postmast.workers.thread import published_items
from tests.factories import add_account, add_delivery, delivery, status_of
from tests.servers.base import ContractServer, Fault, Request, Response

TOKEN = {"access_token": "mock_token"}
URL_VECTOR = "a" * 476 + " http://" + "b" * 30 + ".com/example"  # 500 by Mastodon's rule


def unique(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:10]}"


def png(width: int = 2, height: int = 2) -> bytes:
    """A small valid PNG (greyscale)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# -- talking to the mock ------------------------------------------------------------------------------


class Mock:
    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: Any) -> Any:
        response = requests.get(
            f"{self.url}{path}", params=params, headers={"Authorization": "Bearer mock_token"}, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def fault(self, methods: list[str], effect: dict[str, Any], count: int = 1, **match: str) -> None:
        rule = {"match": {"methods": methods, **match}, "effect": effect, "count": count}
        requests.post(f"{self.url}/api/v1/_mock/faults", json=rule, timeout=10).raise_for_status()

    def faults(self) -> list[dict[str, Any]]:
        return list(requests.get(f"{self.url}/api/v1/_mock/faults", timeout=10).json())

    def clear_faults(self) -> None:
        requests.delete(f"{self.url}/api/v1/_mock/faults", timeout=10).raise_for_status()

    def statuses_with(self, text: str) -> list[dict[str, Any]]:
        """The account's statuses whose text contains `text` (newest first)."""
        me = self.get("/api/v1/accounts/verify_credentials")
        found = self.get(f"/api/v1/accounts/{me['id']}/statuses", limit=40)
        return [s for s in found if text in s["content"]]


@pytest.fixture
def mock(mastodon_mock) -> Iterator[Mock]:
    peer = Mock(mastodon_mock.url)
    peer.clear_faults()
    yield peer
    peer.clear_faults()


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mastodon_media, "POLL_DELAYS", (0.05,))


@pytest.fixture
def account(store, vault, mock: Mock) -> int:
    return add_account(store, vault, "mastodon", "mock", {"instance": mock.url}, dict(TOKEN))


def queued(store: Store, request: PostRequest) -> int:
    [delivery_id] = [d.id for d in Posts(store, default_max_lateness=3600).queue(request).deliveries]
    with store.write() as session:
        assert transition(session, delivery_id, Status.SCHEDULED, Status.QUEUED, now=store.now())
    return delivery_id


def requeue(store: Store, delivery_id: int) -> None:
    with store.write() as session:
        assert transition(session, delivery_id, Status.RETRY_WAIT, Status.QUEUED, now=store.now())


# -- through the worker ---------------------------------------------------------------------------------


def test_a_post_is_published(store, vault, settings, mock: Mock, account: int) -> None:
    text = unique("Hello from postmast")
    delivery_id = add_delivery(store, account, status=Status.QUEUED, text=text)
    assert Publisher(store, vault, settings).publish(delivery_id) == "published"
    row = delivery(store, delivery_id)
    status = mock.get(f"/api/v1/statuses/{row.remote_id}")
    assert text in status["content"] and row.public_url == status["url"]
    assert [s["id"] for s in mock.statuses_with(text)] == [row.remote_id]
    with store.read() as session:  # the worker learnt the mock's limits on the way (daily discover)
        cache = session.get(Account, account).cache
    assert cache["max_characters"] == 500 and cache["image_size_limit"] == 10485760


def test_a_thread_of_three_replies_item_by_item(
    store, vault, settings, clock, mock: Mock, account: int
) -> None:
    texts = [unique("1/3"), unique("2/3"), unique("3/3")]
    request = PostRequest(
        texts[0],
        ["mastodon:mock"],
        clock.now,
        "UTC",
        then=(Item(texts[1]), Item(texts[2])),
        options=(OptionValue("", "spoiler_text", "a thread"), OptionValue("", "language", "en")),
    )
    delivery_id = queued(store, request)
    assert Publisher(store, vault, settings).publish(delivery_id) == "published"
    with store.read() as session:
        items = published_items(session, delivery_id)
    statuses = [mock.get(f"/api/v1/statuses/{items[n].id}") for n in range(3)]
    assert [text in s["content"] for text, s in zip(texts, statuses, strict=True)] == [True] * 3
    assert [s["in_reply_to_id"] for s in statuses] == [None, statuses[0]["id"], statuses[1]["id"]]
    assert {(s["spoiler_text"], s["language"]) for s in statuses} == {("a thread", "en")}
    context = mock.get(f"/api/v1/statuses/{statuses[0]['id']}/context")
    assert [d["id"] for d in context["descendants"]] == [statuses[1]["id"], statuses[2]["id"]]
    assert delivery(store, delivery_id).remote_id == statuses[0]["id"]


def test_an_image_with_alt_text_goes_through_v2_media(store, vault, settings, clock, mock: Mock) -> None:
    Accounts(store, vault).add("mastodon", "pictures", {"instance": mock.url}, dict(TOKEN), discover=True)
    text = unique("a picture")
    image = MediaFile(png(), "image/png", "grey.png", alt="a grey square, two pixels wide", width=2, height=2)
    delivery_id = queued(store, PostRequest(text, ["mastodon:pictures"], clock.now, "UTC", media=(image,)))
    assert Publisher(store, vault, settings).publish(delivery_id) == "published"
    status = mock.get(f"/api/v1/statuses/{delivery(store, delivery_id).remote_id}")
    [attached] = status["media_attachments"]
    assert attached["description"] == "a grey square, two pixels wide" and attached["type"] == "image"
    assert requests.get(attached["url"].replace("localhost", "127.0.0.1"), timeout=10).content == png()


def test_the_same_idempotency_key_returns_the_same_status(mock: Mock) -> None:
    account = Mastodon({"instance": mock.url}, HttpClient(read_timeout=5))
    text, key = unique("exactly once"), str(uuid.uuid4())
    first = account.publish(Content(text), TOKEN, key)
    again = account.publish(Content(text), TOKEN, key)
    assert again.remote_id == first.remote_id
    assert [s["id"] for s in mock.statuses_with(text)] == [first.remote_id]  # the mock holds one


class LossyLink(ContractServer):
    """A hop in front of the mock: scripted faults here lose answers the mock really gave."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def handle(self, request: Request) -> Response:
        query = urlencode([(k, v) for k, values in request.query.items() for v in values])
        skip = {"host", "content-length", "connection", "accept-encoding"}
        answer = requests.request(
            request.method,
            f"{self.target}{request.path}" + (f"?{query}" if query else ""),
            headers={k: v for k, v in request.headers.items() if k.lower() not in skip},
            data=request.body,
            timeout=10,
        )
        keep = {
            k: v
            for k, v in answer.headers.items()
            if k.lower() == "content-type" or k.lower().startswith("x-ratelimit")
        }
        return Response(answer.status_code, headers=keep, raw=answer.content)


def test_a_lost_answer_is_replayed_with_the_same_key(store, vault, settings, clock, mock: Mock) -> None:
    """The mock created the status, the answer never came back: the delivery is unknown; the next
    attempt replays the delivery's Idempotency-Key and gets the status the mock already holds."""
    link = LossyLink(mock.url).start()
    try:
        account = add_account(store, vault, "mastodon", "lossy", {"instance": link.url}, dict(TOKEN))
        text = unique("answer lost")
        delivery_id = add_delivery(store, account, status=Status.QUEUED, text=text)
        link.inject(Fault(match=lambda r: r.path == "/api/v1/statuses", after_processing=True, drop=True))
        publisher = Publisher(store, vault, settings)
        assert publisher.publish(delivery_id) == "unknown"
        [created] = mock.statuses_with(text)  # it is out there
        clock.advance(settings.timings.settle + 1)
        assert Dispatcher(store, settings, lambda ids: None).tick().dispatched == [delivery_id]
        assert publisher.publish(delivery_id) == "published"
    finally:
        link.stop()
    row = delivery(store, delivery_id)
    assert row.remote_id == created["id"]
    assert [s["id"] for s in mock.statuses_with(text)] == [created["id"]]  # still one
    sent = [r for r in link.requests if (r.method, r.path) == ("POST", "/api/v1/statuses")]
    assert [r.header("Idempotency-Key") for r in sent] == [row.idempotency_key] * 2


def test_429_with_a_reset_holds_the_account_back(
    store, vault, settings, clock, mock: Mock, account: int
) -> None:
    clock.now = datetime.now(UTC)  # the mock's reset is wall-clock time, and the connector reads the store's
    mock.fault(["POST"], {"type": "ratelimit"}, path="/api/v1/statuses")
    first_text, second_text = unique("limited"), unique("waits")
    first = add_delivery(store, account, status=Status.QUEUED, text=first_text)
    second = add_delivery(store, account, status=Status.QUEUED, text=second_text)
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(first) == "retry_wait"
    row = delivery(store, first)
    assert row.last_error_class == "RateLimited" and "Too many requests" in (row.last_error or "")
    wait = (row.next_attempt_at - store.now()).total_seconds()
    assert 295 <= wait <= 302  # the mock's epoch X-RateLimit-Reset: now + 300
    with store.read() as session:
        limited_until = session.get(Account, account).limited_until
    assert limited_until == row.next_attempt_at
    assert publisher.publish(second) == Outcome.HELD_RATE_LIMITED
    assert status_of(store, second) == Status.SCHEDULED
    assert mock.statuses_with(first_text) == [] and mock.statuses_with(second_text) == []


def test_the_mocks_epoch_reset_is_read(mock: Mock) -> None:
    mock.fault(["POST"], {"type": "ratelimit", "headers": {"Retry-After": "9999"}}, path="/api/v1/statuses")
    with pytest.raises(RateLimited) as caught:
        Mastodon({"instance": mock.url}).publish(Content(unique("limited")), TOKEN, str(uuid.uuid4()))
    assert caught.value.retry_after == pytest.approx(300, abs=3)  # X-RateLimit-Reset wins over Retry-After


def test_503_is_retried_and_published_on_the_next_attempt(
    store, vault, settings, mock: Mock, account: int
) -> None:
    mock.fault(["POST"], {"type": "status", "status": 503}, path="/api/v1/statuses")
    text = unique("after a 503")
    delivery_id = add_delivery(store, account, status=Status.QUEUED, text=text)
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "retry_wait"
    row = delivery(store, delivery_id)
    assert row.last_error_class == "TransientError" and "503" in (row.last_error or "")
    assert mock.statuses_with(text) == []
    requeue(store, delivery_id)
    assert publisher.publish(delivery_id) == "published"
    assert [s["id"] for s in mock.statuses_with(text)] == [delivery(store, delivery_id).remote_id]


def test_slow_media_202_then_206_then_200(mock: Mock, fast_polls: None) -> None:
    """The mock always processes at once; its fault API makes the upload answer 202 and the first
    two polls 206 around a file it really holds, so the connector must wait for the 200."""
    upload = requests.post(
        f"{mock.url}/api/v2/media",
        headers={"Authorization": "Bearer mock_token"},
        files={"file": ("slow.png", png(), "image/png")},
        data={"description": "processed slowly"},
        timeout=10,
    ).json()
    media_id = upload["id"]
    mock.fault(
        ["POST"], {"type": "status", "status": 202, "body": {**upload, "url": None}}, path="/api/v2/media"
    )
    mock.fault(
        ["GET"],
        {"type": "status", "status": 206, "body": {**upload, "url": None}},
        2,
        path=f"/api/v1/media/{media_id}",
    )
    text = unique("slow media")
    account = Mastodon({"instance": mock.url}, HttpClient(read_timeout=5, deadline=time.monotonic() + 10))
    result = account.publish(
        Content(text, (MediaFile(png(), "image/png", "slow.png", "processed slowly"),)),
        TOKEN,
        str(uuid.uuid4()),
    )
    assert mock.faults() == []  # the 202 and both 206 were served
    [attached] = mock.get(f"/api/v1/statuses/{result.remote_id}")["media_attachments"]
    assert attached["id"] == media_id and attached["description"] == "processed slowly"


def test_lookup_replays_the_key_or_finds_the_item_by_its_parent(mock: Mock) -> None:
    account = Mastodon({"instance": mock.url}, HttpClient(read_timeout=5))
    words, head_key = unique("same words"), str(uuid.uuid4())
    head = account.publish(Content(words), TOKEN, head_key)
    reply = account.publish(Content(words, reply_to=head.ref()), TOKEN, f"{head_key}-1")
    # within the key's hour, and allowed to go out: the replay answers with what exists
    found = account.lookup(Content(words), TOKEN, head_key, sent_at=datetime.now(UTC), replay_allowed=True)
    assert isinstance(found, Found) and found.result.remote_id == head.remote_id
    # not allowed to send: the recent statuses are searched, the parent tells the two apart
    future = datetime.now(UTC) + timedelta(minutes=10)  # the timeline reaches back before it
    as_reply = Content(words, reply_to=RemoteRef(head.remote_id))
    found = account.lookup(as_reply, TOKEN, f"{head_key}-1", sent_at=future, replay_allowed=False)
    assert isinstance(found, Found) and found.result.remote_id == reply.remote_id
    found = account.lookup(Content(words), TOKEN, head_key, sent_at=future, replay_allowed=False)
    assert isinstance(found, Found) and found.result.remote_id == head.remote_id
    assert {s["id"] for s in mock.statuses_with(words)} == {head.remote_id, reply.remote_id}


def test_the_mock_counts_length_unlike_mastodon(mock: Mock) -> None:
    """PEERS.md: the mock counts plain characters; Mastodon counts each URL as 23. The connector
    follows Mastodon (the contract server accepts this text: test_spec_vectors_are_accepted_by_the_server)."""
    account = Mastodon({"instance": mock.url}, HttpClient(read_timeout=5))
    assert account.validate(Content(URL_VECTOR)) == [] and len(URL_VECTOR) > 500
    with pytest.raises(PermanentError) as caught:
        account.publish(Content(URL_VECTOR), TOKEN, str(uuid.uuid4()))
    assert caught.value.http_status == 422
