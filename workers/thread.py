"""Threads: items are sent one by one, each recorded before the next goes out.

A retry resumes at the first unrecorded item and never reposts the head; each item
has its own idempotency key derived from the delivery's. Recording an item is the
`Recorder`'s (`workers.record.Item`): in the store, or in the outbox while the store is
unavailable, before the next item is sent.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from postmast.connectors import Content, RemoteRef
from postmast.scheduler.models import DeliveryItem


def item_key(idempotency_key: str, position: int) -> str:
    """The idempotency key of one item: the delivery's key for the head, suffixed after it."""
    return idempotency_key if position == 0 else f"{idempotency_key}-{position}"


def published_items(session: Session, delivery_id: int) -> dict[int, RemoteRef]:
    rows = session.scalars(select(DeliveryItem).where(DeliveryItem.delivery_id == delivery_id))
    return {row.position: RemoteRef(row.remote_id, row.public_url, dict(row.ref)) for row in rows}


def thread_content(items: list[Content], position: int, done: dict[int, RemoteRef]) -> Content:
    """Item `position` linked to its parent (the previous item) and root; the first item already
    carries the post it replies to, if any."""
    if position == 0:
        return items[0]
    return replace(items[position], reply_to=done[position - 1], root=done[0])
