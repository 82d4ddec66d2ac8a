"""Threads through the real worker (`Publisher`), on both store backends: a thread of three
(each item recorded, a failure on item 2 resumed there), an image hosted in moto, an expired
token, a rate limit, and a lost publish found by the lookup (the duplicate never published)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from postmast.connectors import MediaFile
from postmast.connectors.threads import Threads
from postmast.scheduler.states import Status
from postmast.workers.publisher import Publisher
from tests.conftest import FakeClock
from tests.connectors.worker_path import due_again, items, queue, settle_and_dispatch, wait_of
from tests.factories import AccountStatus, account_status, add_account, delivery
from tests.servers.base import Fault, Response
from tests.servers.s3 import ACCESS, S3Server
from tests.servers.threads import ThreadsServer

USER = "25800000000000077"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def server(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadsServer]:
    monkeypatch.setattr(Threads, "poll_interval", 0.0)
    found = ThreadsServer({"th-token": USER}, clock=clock)
    found.start()
    yield found
    found.stop()


@pytest.fixture
def account(store, vault, server: ThreadsServer, s3: S3Server) -> int:
    settings = {"api_base": server.url, **s3.settings(s3.bucket(f"th-{uuid.uuid4().hex[:8]}"))}
    return add_account(store, vault, "threads", "cafe", settings, {"access_token": "th-token", **ACCESS})


def nth_publish(number: int):
    seen: list[object] = []

    def match(request) -> bool:
        if not (request.method == "POST" and request.path.endswith("/threads_publish")):
            return False
        seen.append(request)
        return len(seen) == number

    return match


def test_a_thread_with_an_image_resumes_at_the_failed_item(store, vault, settings, account, server) -> None:
    image = MediaFile(PNG, "image/png", "menu.png", "Today's menu")
    delivery_id = queue(store, "threads:cafe", ["1/3 menu", "2/3 prices", "3/3 hours"], (image,))
    server.inject(Fault(match=nth_publish(2), response=Response(503, raw=b"Service Unavailable")))
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "retry_wait"
    assert [r.position for r in items(store, delivery_id)] == [0]
    due_again(store, delivery_id, Status.RETRY_WAIT)
    assert publisher.publish(delivery_id) == "published"
    posts = list(server.media.values())
    assert [p["text"] for p in posts] == ["1/3 menu", "2/3 prices", "3/3 hours"]
    assert [p["reply_to"] for p in posts] == [None, posts[0]["id"], posts[1]["id"]]
    assert [r.remote_id for r in items(store, delivery_id)] == [p["id"] for p in posts]
    assert [data for _, data in server.fetched] == [PNG]
    # the container of item 2 was kept and published on the retry, not made again
    assert len([c for c in server.containers.values() if c["params"].get("text") == "2/3 prices"]) == 1


def test_an_expired_token_flags_the_account(store, vault, settings, account, server) -> None:
    delivery_id = queue(store, "threads:cafe", ["x"])
    server.fault_expired(server.posting("/threads"))
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    assert account_status(store, account) == AccountStatus.NEEDS_REAUTH


def test_a_rate_limit_waits_the_announced_time(store, vault, settings, account, server) -> None:
    delivery_id = queue(store, "threads:cafe", ["x"])
    server.fault_rate_limited(server.posting("/threads"), USER, minutes=3)
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    assert 180 <= wait_of(store, delivery_id) <= 182


def test_the_ambiguous_500_and_the_duplicate_are_reconciled(
    store, clock, vault, settings, account, server
) -> None:
    delivery_id = queue(store, "threads:cafe", ["Lost answer"])
    server.fault_ambiguous(server.posting("/threads_publish"))
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    settle_and_dispatch(store, clock, settings, delivery_id)
    assert publisher.publish(delivery_id) == "published"
    [post] = server.media.values()
    row = delivery(store, delivery_id)
    assert (row.remote_id, row.public_url) == (post["id"], server.permalink(USER, post["id"]))
    assert len([r for r in server.requests if r.path.endswith("/threads_publish")]) == 1
