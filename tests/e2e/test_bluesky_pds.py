"""End to end on the reference Bluesky PDS: an account added through postmast, threads published by the
real worker path (store -> dispatcher -> Publisher -> connector -> PDS), records read back from the PDS.

The PDS is reached through the counting proxy of tests/servers/bluesky.py, which also loses one
answer on purpose: the retry must find the post under its record key instead of posting it again.
"""

from __future__ import annotations

from typing import Any

import requests
from sqlalchemy import update

from postmast.connectors import MediaFile
from postmast.scheduler.accounts import Accounts
from postmast.scheduler.dispatcher import Dispatcher
from postmast.scheduler.models import Account
from postmast.scheduler.posts import Item, PostRequest, Posts
from postmast.scheduler.states import Status
from postmast.workers.outcome import Outcome
from postmast.workers.publisher import Publisher
from postmast.workers.thread import published_items
from tests.factories import delivery
from tests.servers.base import Fault, Response
from tests.servers.bluesky import create_account, forge_expired, get_record, pds_proxy, png, records

__all__ = ["pds_proxy"]

CREATE = "com.atproto.repo.createRecord"
LOGIN = "com.atproto.server.createSession"
REFRESH = "com.atproto.server.refreshSession"


def queue_and_dispatch(store, settings, request: PostRequest) -> int:
    [queued] = Posts(store, default_max_lateness=3600).queue(request).deliveries
    sent: list[int] = []
    Dispatcher(store, settings, sent.extend).tick()
    assert sent == [queued.id]
    return queued.id


def add_account(store, vault, proxy, poster) -> int:
    view = Accounts(store, vault).add(
        "bluesky",
        "brand",
        {"handle": poster.handle, "service": proxy.url},
        {"app_password": poster.app_password},
        discover=True,
    )
    return view.id


def strong(view: dict[str, Any]) -> dict[str, str]:
    return {"uri": view["uri"], "cid": view["cid"]}


def facet_texts(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each facet's bytes [byteStart, byteEnd) of the text, with its feature."""
    data = record["text"].encode("utf-8")
    return [
        (data[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode("utf-8"), f["features"][0])
        for f in record.get("facets", [])
    ]


def test_a_thread_with_facets_and_an_image_goes_out_once_through_the_worker(
    store, vault, settings, clock, pds, pds_proxy
) -> None:
    poster, fan = create_account(pds.url, "brand"), create_account(pds.url, "fan")
    add_account(store, vault, pds_proxy, poster)
    assert pds_proxy.count(LOGIN) == 1  # the only login: publishing uses the stored session
    texts = [
        f"Launch day 🚀 with @{fan.handle}: https://example.com/launch?ref=bsky #launch",
        "2/ 👨‍👩‍👧‍👧 the whole family is in: example.org/docs",
        "3/ merci, ありがとう! #bluesky",
    ]
    chart = MediaFile(png(6, 4), "image/png", "chart.png", "A chart going up and to the right", 6, 4)
    request = PostRequest(
        texts[0], ["bluesky:brand"], store.now(), "UTC", media=(chart,), then=(Item(texts[1]), Item(texts[2]))
    )
    delivery_id = queue_and_dispatch(store, settings, request)
    # The PDS creates item 2, but the worker hears a 503: it must not post it a second time.
    pds_proxy.inject(
        Fault(
            match=lambda r: r.path == f"/xrpc/{CREATE}" and r.json()["record"]["text"] == texts[1],
            response=Response(503, {"error": "NotEnoughResources", "message": "busy"}),
            after_processing=True,
        )
    )
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == Outcome.RETRY_WAIT
    assert len(records(pds.url, poster.did)) == 2  # items 1 and 2 exist; the worker recorded only item 1
    clock.advance(600)
    sent: list[int] = []
    Dispatcher(store, settings, sent.extend).tick()
    assert sent == [delivery_id]
    assert publisher.publish(delivery_id) == Outcome.PUBLISHED

    row = delivery(store, delivery_id)
    with store.read() as session:
        items = published_items(session, delivery_id)
    assert row.status == Status.PUBLISHED and row.attempt_count == 2
    views = [get_record(pds.url, items[n].id) for n in range(3)]
    assert sorted(r["uri"] for r in records(pds.url, poster.did)) == sorted(v["uri"] for v in views)
    assert [v["value"]["text"] for v in views] == texts
    for n, view in enumerate(views):
        rkey = view["uri"].rsplit("/", 1)[1]
        assert items[n].url == f"https://bsky.app/profile/{poster.handle}/post/{rkey}"
    assert (row.remote_id, row.public_url) == (views[0]["uri"], items[0].url)

    head, second, third = (v["value"] for v in views)
    assert facet_texts(head) == [
        (f"@{fan.handle}", {"$type": "app.bsky.richtext.facet#mention", "did": fan.did}),
        (
            "https://example.com/launch?ref=bsky",
            {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/launch?ref=bsky"},
        ),
        ("#launch", {"$type": "app.bsky.richtext.facet#tag", "tag": "launch"}),
    ]
    [image] = head["embed"]["images"]
    assert head["embed"]["$type"] == "app.bsky.embed.images" and "reply" not in head
    assert image["alt"] == "A chart going up and to the right"
    assert image["aspectRatio"] == {"width": 6, "height": 4}
    assert image["image"]["mimeType"] == "image/png" and image["image"]["ref"]["$link"].startswith("bafkrei")
    assert facet_texts(second) == [
        ("example.org/docs", {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.org/docs"})
    ]
    assert facet_texts(third) == [("#bluesky", {"$type": "app.bsky.richtext.facet#tag", "tag": "bluesky"})]
    assert second["reply"] == {"root": strong(views[0]), "parent": strong(views[0])}
    assert third["reply"] == {"root": strong(views[0]), "parent": strong(views[1])}
    assert (pds_proxy.count(LOGIN), pds_proxy.count(REFRESH), pds_proxy.count(CREATE)) == (1, 0, 4)


def test_a_thread_answering_a_post_keeps_its_root_and_refreshes_an_expired_session(
    store, vault, settings, pds, pds_proxy
) -> None:
    poster, fan = create_account(pds.url, "brand"), create_account(pds.url, "fan")
    account_id = add_account(store, vault, pds_proxy, poster)
    top = requests_post(pds.url, fan, "what are you launching?")
    answer = requests_post(pds.url, fan, "tell us!", reply={"root": top, "parent": top})
    link = f"https://bsky.app/profile/{fan.handle}/post/{answer['uri'].rsplit('/', 1)[1]}"
    with store.write() as session:  # the stored session's access token has expired meanwhile
        stored = session.get(Account, account_id)
        assert stored is not None
        state = vault.decrypt_any(stored.session)
        state["accessJwt"] = forge_expired(state["accessJwt"])
        session.execute(update(Account).where(Account.id == account_id).values(session=vault.encrypt(state)))
    request = PostRequest(
        "A rocket 🚀",
        ["bluesky:brand"],
        store.now(),
        "UTC",
        then=(Item("and a moon 🌕"),),
        reply_to={"bluesky:brand": link},
    )
    delivery_id = queue_and_dispatch(store, settings, request)
    assert Publisher(store, vault, settings).publish(delivery_id) == Outcome.PUBLISHED
    with store.read() as session:
        items = published_items(session, delivery_id)
        saved = vault.decrypt_any(session.get(Account, account_id).session)  # type: ignore[union-attr]
    first, second = (get_record(pds.url, items[n].id) for n in range(2))
    assert first["value"]["reply"] == {"root": top, "parent": answer}
    assert second["value"]["reply"] == {"root": top, "parent": strong(first)}
    assert (pds_proxy.count(LOGIN), pds_proxy.count(REFRESH)) == (1, 1)
    assert saved["accessJwt"] != state["accessJwt"] and saved["did"] == poster.did  # persisted, encrypted


def requests_post(pds_url: str, author, text: str, reply: dict[str, Any] | None = None) -> dict[str, str]:
    """A post made directly on the PDS by someone else (what postmast's user replies to)."""
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": "2026-12-01T08:00:00Z",
    }
    if reply:
        record["reply"] = reply
    answer = requests.post(
        f"{pds_url}/xrpc/com.atproto.repo.createRecord",
        headers={"Authorization": f"Bearer {author.access_jwt}"},
        json={"repo": author.did, "collection": "app.bsky.feed.post", "record": record},
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    return {"uri": answer.json()["uri"], "cid": answer.json()["cid"]}
