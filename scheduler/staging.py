"""Deliveries of an import that is still being written stay out of sight.

An import writes its posts in several short transactions (`scheduler.imports`); until
its row says `done`, its deliveries are neither dispatched, missed nor listed. The set
of staging imports is tiny (usually empty), so the condition costs next to nothing.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select

from postmast.scheduler.models import Delivery, Import, ImportState


def visible() -> ColumnElement[bool]:
    """True for deliveries that belong to no import, or to one that is done."""
    staging = select(Import.id).where(Import.state == ImportState.STAGING).scalar_subquery()
    return or_(Delivery.import_id.is_(None), Delivery.import_id.not_in(staging))
