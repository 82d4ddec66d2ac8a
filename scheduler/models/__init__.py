"""Typed SQLAlchemy 2.0 models of the job store, one per module.

accounts ──< deliveries >── posts; deliveries ──< attempts (append-only) and
──< delivery_items (thread items as published); posts reference media by id.
Times are UTC instants everywhere (`UTCDateTime`); relationships refuse lazy loading
so every query is visible where it runs.
"""

from postmast.scheduler.models.account import Account, AccountStatus
from postmast.scheduler.models.attempt import Attempt
from postmast.scheduler.models.base import NAMING, Base, StatusType, UTCDateTime
from postmast.scheduler.models.delivery import Delivery, DeliveryItem
from postmast.scheduler.models.media import Media
from postmast.scheduler.models.post import Post

__all__ = [
    "NAMING",
    "Account",
    "AccountStatus",
    "Attempt",
    "Base",
    "Delivery",
    "DeliveryItem",
    "Media",
    "Post",
    "StatusType",
    "UTCDateTime",
]
