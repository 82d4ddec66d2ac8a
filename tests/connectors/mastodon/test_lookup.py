"""Threads and lookup for Mastodon (connectors/mastodon/connector.py): a thread replies item by item; after
an unknown outcome `lookup` replays the idempotency key within its window or searches the recent
statuses; reply targets given as links; and the same through the worker (a real store, the
contract server): resuming a thread, finding a lost answer, media processed in the background.

Sources: `connectors/mastodon/connector.py`'s docstring and `tests/servers/mastodon.py` (written from the
official documentation).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from postmast.connectors import Absent, Content, Found, Lookup, PublishResult, RemoteRef, Undecidable
from postmast.connectors.errors import AuthExpired, OutcomeUnknown
from postmast.connectors.mastodon import Mastodon
from postmast.scheduler.dispatcher import Dispatcher
from postmast.scheduler.posts import Item, PostRequest, Posts
from postmast.scheduler.states import Status, transition
from postmast.scheduler.store import Store
from postmast.workers.publisher import Publisher
from postmast.workers.thread import item_key
from tests.connectors.mastodon import support as mastodon_support
from tests.connectors.mastodon.support import CREDS, KEY, connector, photo
from tests.factories import add_account, delivery
from tests.servers.base import Fault, Response
from tests.servers.mastodon import MastodonServer

# fixtures shared with the other Mastodon test files (pytest finds a fixture by its name here)
fast_polls = mastodon_support.fast_polls


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
