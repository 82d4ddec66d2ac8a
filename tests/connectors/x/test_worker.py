"""X through the real worker path: `Posts.queue` (validation and storage, media included), the
`Publisher` (claim, item by item, each item recorded before the next) and, after an unknown
outcome, the `Dispatcher` scheduling a lookup that the next claim performs (workers/lookup.py),
on both store backends, against the X contract server.

- a thread of 3 items, the first with an image and alt text: every item's id and URL recorded;
- a failure on item 2, then a retry: it resumes at item 2 and item 1 is not posted again;
- an unknown outcome on item 2: the lookup finds it on the timeline, then item 3 goes out;
- a 403 duplicate: the delivery goes to `unknown` (not to a retry) and the lookup finds the
  post (`Found`): it is recorded as published and nothing new is posted.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from postmast.connectors import MediaFile
from postmast.scheduler.dispatcher import Dispatcher
from postmast.scheduler.models import DeliveryItem
from postmast.scheduler.posts import Item, PostRequest, Posts
from postmast.scheduler.states import Status, transition
from postmast.workers.publisher import Publisher
from tests.factories import add_account, delivery
from tests.servers.base import Fault, Response
from tests.servers.x import OAUTH1, XServer

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
ALT = "A lighthouse at dusk, its beam crossing low clouds"


@pytest.fixture
def x_server(conformance: Path) -> Iterator[XServer]:
    server = XServer(conformance / "x-openapi" / "openapi.json", check_after_secs=0).start()
    yield server
    server.stop()


@pytest.fixture
def account(store, vault, clock, x_server: XServer) -> int:
    clock.now = datetime.now(UTC).replace(microsecond=0)  # X's timestamps and timelines are real time
    return add_account(store, vault, "x", "brand", {"api_base": x_server.url, "username": "alice"}, OAUTH1)


def queue(store, texts: list[str], media: tuple[MediaFile, ...] = ()) -> int:
    posts = Posts(store, default_max_lateness=3600)
    queued = posts.queue(
        PostRequest(
            texts[0],
            ["x:brand"],
            store.now(),
            "UTC",
            media=media,
            then=tuple(Item(text) for text in texts[1:]),
        )
    )
    [target] = queued.deliveries
    due_again(store, target.id, Status.SCHEDULED)
    return target.id


def due_again(store, delivery_id: int, current: Status) -> None:
    """What the dispatcher does when a delivery is due: queue it."""
    with store.write() as session:
        assert transition(session, delivery_id, current, Status.QUEUED, now=store.now())


def settle_and_dispatch(store, clock, settings, delivery_id: int) -> None:
    """Let the settle delay pass: the dispatcher claims the delivery for its lookup."""
    row = delivery(store, delivery_id)
    assert row.status == Status.UNKNOWN and row.reconcile_at is not None  # waiting to look, not to retry
    clock.advance(settings.timings.settle + 1)
    assert Dispatcher(store, settings, lambda ids: None).tick().dispatched == [delivery_id]
    row = delivery(store, delivery_id)
    assert row.status == Status.RECONCILING


def items(store, delivery_id: int) -> list[DeliveryItem]:
    with store.read() as session:
        rows = session.scalars(
            select(DeliveryItem)
            .where(DeliveryItem.delivery_id == delivery_id)
            .order_by(DeliveryItem.position)
        )
        return list(rows)


def creations(server: XServer) -> int:
    return sum(1 for r in server.requests if (r.method, r.path) == ("POST", "/2/tweets"))


def nth_creation(number: int):
    seen = []

    def match(request) -> bool:
        if (request.method, request.path) != ("POST", "/2/tweets"):
            return False
        seen.append(request)
        return len(seen) == number

    return match


def test_a_thread_with_an_image_and_alt_text(store, vault, settings, account, x_server: XServer) -> None:
    image = MediaFile(PNG, "image/png", "lighthouse.png", alt=ALT)
    delivery_id = queue(store, ["1/3 The lighthouse", "2/3 The keeper", "3/3 The storm"], (image,))
    assert Publisher(store, vault, settings).publish(delivery_id) == "published"

    recorded = items(store, delivery_id)
    posts = x_server.created
    assert [r.remote_id for r in recorded] == [p["id"] for p in posts]
    assert [r.public_url for r in recorded] == [f"https://x.com/alice/status/{p['id']}" for p in posts]
    assert [p["text"] for p in posts] == ["1/3 The lighthouse", "2/3 The keeper", "3/3 The storm"]
    assert [p["reply_to"] for p in posts] == [None, posts[0]["id"], posts[1]["id"]]
    [upload] = x_server.uploads.values()
    assert posts[0]["media_ids"] == [upload.id] and upload.alt == ALT and upload.chunks[0] == PNG
    assert posts[1]["media_ids"] == posts[2]["media_ids"] == []
    row = delivery(store, delivery_id)
    assert row.status == Status.PUBLISHED
    assert (row.remote_id, row.public_url) == (posts[0]["id"], f"https://x.com/alice/status/{posts[0]['id']}")


def test_a_failure_on_item_2_resumes_there(store, vault, settings, account, x_server: XServer) -> None:
    delivery_id = queue(store, ["first", "second", "third"])
    x_server.inject(Fault(match=nth_creation(2), response=Response(503, {"title": "Service Unavailable"})))
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "retry_wait"
    assert [r.position for r in items(store, delivery_id)] == [0]
    row = delivery(store, delivery_id)
    assert row.last_error_class == "TransientError" and "item 2 of 3" in (row.last_error or "")

    due_again(store, delivery_id, Status.RETRY_WAIT)
    assert publisher.publish(delivery_id) == "published"
    assert x_server.created_texts() == {"first": 1, "second": 1, "third": 1}  # item 1 was not reposted
    assert creations(x_server) == 4  # first, the failed second, second, third
    posts = x_server.created
    assert [p["reply_to"] for p in posts] == [None, posts[0]["id"], posts[1]["id"]]
    assert [r.remote_id for r in items(store, delivery_id)] == [p["id"] for p in posts]


def test_an_unknown_item_2_is_found_by_the_lookup(store, clock, vault, settings, account, x_server) -> None:
    delivery_id = queue(store, ["alpha", "beta", "gamma"])
    x_server.inject(
        Fault(
            match=nth_creation(2), response=Response(504, {"title": "Gateway Timeout"}), after_processing=True
        )
    )
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    assert len(x_server.created) == 2  # beta exists; nobody was told

    settle_and_dispatch(store, clock, settings, delivery_id)
    assert publisher.publish(delivery_id) == "published"
    assert [r.remote_id for r in items(store, delivery_id)] == [p["id"] for p in x_server.created]
    assert x_server.created_texts() == {"alpha": 1, "beta": 1, "gamma": 1}
    posts = x_server.created
    assert posts[2]["reply_to"] == posts[1]["id"]


def test_a_duplicate_goes_to_a_lookup_which_finds_it(
    store, clock, vault, settings, account, x_server
) -> None:
    """The post went out on an attempt whose answer was lost; the next attempt gets X's 403."""
    delivery_id = queue(store, ["Good morning, harbour"])
    existing = x_server.add_post("1401", "Good morning, harbour")
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    assert delivery(store, delivery_id).last_error_class == "DuplicateContent"

    settle_and_dispatch(store, clock, settings, delivery_id)
    assert publisher.publish(delivery_id) == "published"
    row = delivery(store, delivery_id)
    assert row.status == Status.PUBLISHED
    assert (row.remote_id, row.public_url) == (existing["id"], f"https://x.com/alice/status/{existing['id']}")
    assert x_server.created == []  # nothing new was posted
    assert creations(x_server) == 1  # the attempt that got the 403; the lookup only reads
    assert [r.remote_id for r in items(store, delivery_id)] == [existing["id"]]
