"""Rows for tests, created through the product's own services where that is the point,
and directly where a test needs a delivery in a given state as its starting point."""

from __future__ import annotations

import struct
import uuid
import zlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, table

from postmast.scheduler.accounts import Accounts
from postmast.scheduler.models import Account, AccountStatus, Delivery, Post
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault


def add_account(
    store: Store,
    vault: Vault,
    network: str = "mastodon",
    name: str = "brand",
    settings: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
) -> int:
    defaults: dict[str, tuple[dict[str, str], dict[str, str]]] = {
        "mastodon": ({"instance": "http://127.0.0.1:9"}, {"access_token": "token-a"}),
        "webhook": ({"url": "http://127.0.0.1:9/hook"}, {}),
    }
    base_settings, base_secrets = defaults.get(network, ({}, {}))
    view = Accounts(store, vault).add(
        network, name, settings or base_settings, base_secrets if secrets is None else secrets
    )
    return view.id


def add_delivery(
    store: Store,
    account_id: int,
    *,
    status: Status = Status.SCHEDULED,
    text: str = "hello",
    due: datetime | None = None,
    lateness: int = 3600,
    **values: Any,
) -> int:
    """A post with one delivery in `status`, as the starting point of a test."""
    now = store.now()
    due = due or now
    with store.write() as session:
        post = Post(text=text, content={}, timezone="UTC", max_lateness=lateness, created_at=now)
        session.add(post)
        session.flush()
        fields: dict[str, Any] = {
            "next_attempt_at": due,
            "deadline_at": due + timedelta(seconds=lateness),
            "idempotency_key": str(uuid.uuid4()),
            "attempt_count": 0,
            **values,
        }
        delivery = Delivery(
            post_id=post.id,
            account_id=account_id,
            status=status,
            due_at=due,
            created_at=now,
            updated_at=now,
            **fields,
        )
        session.add(delivery)
        session.flush()
        return delivery.id


def delivery(store: Store, delivery_id: int) -> Delivery:
    with store.read() as session:
        found = session.get(Delivery, delivery_id)
        assert found is not None
        session.expunge(found)
        return found


def status_of(store: Store, delivery_id: int) -> Status:
    return Status(delivery(store, delivery_id).status)


def account_status(store: Store, account_id: int) -> str:
    with store.read() as session:
        found = session.get(Account, account_id)
        assert found is not None
        return found.status


def row_counts(store: Store) -> dict[str, int]:
    """Rows per table of the job store (migrating it first if nothing has touched it yet)."""
    with store.read() as session:
        return {
            name: int(session.scalar(select(func.count()).select_from(table(name))) or 0)
            for name in ("accounts", "posts", "deliveries", "attempts")
        }


def tiny_png(width: int = 1, height: int = 1) -> bytes:
    """A valid PNG (8-bit grey, one zero byte per pixel) of the given size, with correct checksums."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x00" * width for _ in range(height)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


__all__ = [
    "AccountStatus",
    "account_status",
    "add_account",
    "add_delivery",
    "delivery",
    "row_counts",
    "status_of",
    "tiny_png",
]
