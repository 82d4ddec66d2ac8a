"""Duplicates: the same text to the same account within a window, and the same file twice.

A delivery keeps the fingerprint of the text its account receives (the first item,
whitespace-normalised, SHA-256). Posting or importing that text to that account again
within `POSTMAST_DUPLICATE_WINDOW` (24 h) of a live delivery is refused with that
delivery's id, unless the user says `--allow-duplicate`. An import file's hash is kept
with its import, so the same file is refused the second time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from postmast.scheduler.models import Delivery, Import, ImportState
from postmast.scheduler.states import Status

IGNORED = (Status.CANCELLED, Status.FAILED, Status.MISSED)
"""Deliveries that did not and will not go out do not make a later post a duplicate."""


def fingerprint(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).casefold().encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Earlier:
    delivery_id: int
    due_at: datetime


class Window:
    """The live deliveries of some accounts near some times, to check new ones against."""

    def __init__(self, window: float) -> None:
        self.window = timedelta(seconds=window)
        self.known: dict[tuple[int, str], list[Earlier]] = {}

    def load(self, session: Session, account_ids: Iterable[int], start: datetime, end: datetime) -> None:
        ids = sorted(set(account_ids))
        for offset in range(0, len(ids), 500):
            rows = session.execute(
                select(Delivery.id, Delivery.account_id, Delivery.fingerprint, Delivery.due_at).where(
                    Delivery.account_id.in_(ids[offset : offset + 500]),
                    Delivery.fingerprint.is_not(None),
                    Delivery.due_at >= start - self.window,
                    Delivery.due_at <= end + self.window,
                    Delivery.status.not_in(IGNORED),
                )
            ).all()
            for delivery_id, account_id, print_, due in rows:
                if print_ is None:
                    continue
                self.known.setdefault((account_id, print_), []).append(Earlier(delivery_id, due))

    def earlier(self, account_id: int, print_: str, due: datetime) -> Earlier | None:
        for found in self.known.get((account_id, print_), ()):
            if abs(found.due_at - due) < self.window:
                return found
        return None

    def add(self, account_id: int, print_: str, due: datetime, delivery_id: int = 0) -> None:
        self.known.setdefault((account_id, print_), []).append(Earlier(delivery_id, due))


def imported_before(session: Session, sha256: str) -> int | None:
    """The live import of the file with this hash, if there is one."""
    return session.scalar(
        select(Import.id).where(Import.sha256 == sha256, Import.state != ImportState.CANCELLED).limit(1)
    )
