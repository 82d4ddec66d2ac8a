"""The outbox: durable, private, applied in order by one drainer at a time."""

from __future__ import annotations

import fcntl
import stat

from sqlalchemy import select

from postmast.scheduler.models import Attempt
from postmast.scheduler.states import Status
from postmast.workers.claim import new_token, take, worker_name
from postmast.workers.outbox import Outbox
from postmast.workers.retry import RetryPolicy
from postmast.workers.write import Abandon, apply_entry, decode, encode
from tests.factories import add_account, add_delivery, delivery


def test_entries_are_private_and_applied_in_the_order_they_were_written(store, tmp_path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    for number in range(3):
        outbox.put(7, {"n": number})
    assert stat.S_IMODE((tmp_path / "outbox").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in outbox.entries())
    assert outbox.holds(7) and not outbox.holds(70)
    seen: list[int] = []
    result = outbox.drain(store, lambda session, entry: seen.append(entry["n"]))
    assert (result.applied, result.remaining, seen) == (3, 0, [0, 1, 2])
    assert outbox.entries() == [] and not outbox.holds(7)


def test_one_drainer_at_a_time(store, tmp_path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.put(1, {"n": 1})
    with open(tmp_path / "outbox" / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = outbox.drain(store, lambda session, entry: None)
    assert result.busy and result.remaining == 1 and len(outbox.entries()) == 1


def test_an_entry_that_fails_for_another_reason_is_moved_aside_not_retried_forever(store, tmp_path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.put(1, {"n": 1})
    outbox.put(2, {"n": 2})

    def apply(session, entry) -> None:
        if entry["n"] == 1:
            raise ValueError("a bug")

    result = outbox.drain(store, apply)
    assert (result.applied, result.remaining) == (1, 0)
    assert [p.suffix for p in (tmp_path / "outbox").iterdir() if not p.name.startswith(".")] == [".failed"]


def test_an_abandoned_claim_that_was_stored_goes_back_to_wait_with_the_true_reason(store, vault) -> None:
    account = add_account(store, vault, "webhook", "team")
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    token, now = new_token(), store.now()
    take(store, delivery_id, lease=60, policy=RetryPolicy(), token=token, now=now)  # the commit went through
    entry = encode(Abandon(delivery_id, token, worker_name(), now))
    assert decode(entry) == Abandon(delivery_id, token, worker_name(), now)
    with store.write() as session:
        apply_entry(session, entry)
    row = delivery(store, delivery_id)
    assert row.status == Status.RETRY_WAIT and row.claim_token is None and row.next_attempt_at == now
    assert "nothing was sent" in (row.last_error or "")
    with store.read() as session:
        attempt = session.scalars(select(Attempt).where(Attempt.delivery_id == delivery_id)).one()
    assert (attempt.outcome, attempt.error_class) == ("retry_wait", "StoreUnavailable")
