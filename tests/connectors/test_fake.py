"""The fake network, through the real worker and dispatcher on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from postmast.connectors import Content, Found, PermanentError
from postmast.connectors.fake import Fake, parse_script, read_outbox
from postmast.scheduler.body import Item, OptionValue
from postmast.scheduler.dispatcher import Dispatcher
from postmast.scheduler.posts import PostRequest, Posts
from postmast.scheduler.states import Status
from postmast.workers.outcome import Outcome
from postmast.workers.publisher import Publisher
from tests.factories import add_account, delivery


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox.jsonl"


def fake_account(store, vault, outbox: Path, script: str = "ok") -> int:
    return add_account(store, vault, "fake", "try", {"outbox": str(outbox), "script": script}, {})


def queue_one(store, text: str = "hello", **kw) -> int:
    posts = Posts(store, default_max_lateness=3600)
    [queued] = posts.queue(PostRequest(text, ["fake:try"], store.now(), "UTC", **kw)).deliveries
    return queued.id


def dispatch(store, settings) -> list[int]:
    return Dispatcher(store, settings, lambda ids: None).tick().dispatched


def test_a_thread_with_options_arrives_once_in_order(store, vault, settings, outbox) -> None:
    fake_account(store, vault, outbox)
    delivery_id = queue_one(
        store,
        "one",
        then=(Item("two"),),
        options=(OptionValue("", "mood", "calm"), OptionValue("fake", "pinned", "yes")),
    )
    assert dispatch(store, settings) == [delivery_id]
    assert Publisher(store, vault, settings).publish(delivery_id) == Outcome.PUBLISHED
    head, tail = read_outbox(outbox)
    assert (head["text"], tail["text"], tail["reply_to"]) == ("one", "two", head["id"])
    assert head["options"] == tail["options"] == {"mood": "calm", "pinned": True}
    assert delivery(store, delivery_id).public_url == head["url"] == f"fake://{outbox.stem}/1"


def test_the_script_rehearses_a_retry(store, vault, settings, clock, outbox) -> None:
    fake_account(store, vault, outbox, "transient,ok")
    delivery_id = queue_one(store)
    publisher = Publisher(store, vault, settings)
    dispatch(store, settings)
    assert publisher.publish(delivery_id) == Outcome.RETRY_WAIT
    assert read_outbox(outbox) == []
    clock.advance(settings.timings.retry_cap)
    assert dispatch(store, settings) == [delivery_id]
    assert publisher.publish(delivery_id) == Outcome.PUBLISHED
    assert len(read_outbox(outbox)) == 1


@pytest.mark.parametrize(("script", "arrived_before"), [("unknown,ok", True), ("lost,ok", False)])
def test_an_unknown_outcome_is_reconciled_from_the_outbox(
    store, vault, settings, clock, outbox, script: str, arrived_before: bool
) -> None:
    """Found in the outbox: published without a second send. Absent: sent now, once."""
    fake_account(store, vault, outbox, script)
    delivery_id = queue_one(store, "did it arrive?")
    publisher = Publisher(store, vault, settings)
    dispatch(store, settings)
    assert publisher.publish(delivery_id) == Outcome.UNKNOWN
    assert len(read_outbox(outbox)) == (1 if arrived_before else 0)
    clock.advance(settings.timings.settle + 1)
    assert dispatch(store, settings) == [delivery_id]
    assert delivery(store, delivery_id).status == Status.RECONCILING
    assert publisher.publish(delivery_id) == Outcome.PUBLISHED
    assert [i["text"] for i in read_outbox(outbox)] == ["did it arrive?"]


def test_validation_and_settings(tmp_path: Path) -> None:
    fake = Fake({"outbox": str(tmp_path / "o.jsonl"), "max_length": "5"})
    assert [p.code for p in fake.validate(Content("too long"))] == ["too_long"]
    assert Fake.check_settings({"outbox": "x", "script": "ok,explode"})[0].message.startswith(
        "script step 'explode'"
    )
    assert parse_script("ok, ratelimit:2.5") == [("ok", None), ("ratelimit", 2.5)]
    assert Fake.check_settings({}) != []  # the outbox is required


def test_each_step_raises_its_error_class(tmp_path: Path) -> None:
    fake = Fake({"outbox": str(tmp_path / "o.jsonl"), "script": "permanent"})
    with pytest.raises(PermanentError):
        fake.publish(Content("x"), {}, "key")
    ok = Fake({"outbox": str(tmp_path / "o.jsonl")})
    ok.publish(Content("x"), {}, "key-2")
    found = ok.lookup(Content("x"), {}, "key-2", sent_at=None, replay_allowed=True)
    assert isinstance(found, Found) and found.result.remote_id == "1"
