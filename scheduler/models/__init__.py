"""Typed SQLAlchemy 2.0 models of the job store, one per module.

accounts ──< deliveries >── posts; deliveries ──< attempts (append-only) and
──< delivery_items (thread items as published) and ──< delivery_events (retries and
reschedules, so history is never rewritten); posts reference media by id.
imports ──< posts (one `postmast import`); posts ──1 series (a recurring post's rule);
accounts ──1 slots (weekly posting slots). Heartbeats, incidents and notifications stand
apart: the services' liveness and what people were told.
Times are UTC instants everywhere (`UTCDateTime`); relationships refuse lazy loading
so every query is visible where it runs.
"""

from postmast.scheduler.models.account import Account, AccountStatus
from postmast.scheduler.models.attempt import Attempt
from postmast.scheduler.models.base import NAMING, Base, StatusType, UTCDateTime
from postmast.scheduler.models.delivery import Delivery, DeliveryItem
from postmast.scheduler.models.event import DeliveryEvent
from postmast.scheduler.models.heartbeat import Heartbeat
from postmast.scheduler.models.imports import Import, ImportState
from postmast.scheduler.models.incident import Incident, Notification
from postmast.scheduler.models.media import Media
from postmast.scheduler.models.post import Post
from postmast.scheduler.models.series import Series
from postmast.scheduler.models.slot import SlotPlan

__all__ = [
    "NAMING",
    "Account",
    "AccountStatus",
    "Attempt",
    "Base",
    "Delivery",
    "DeliveryEvent",
    "DeliveryItem",
    "Heartbeat",
    "Import",
    "ImportState",
    "Incident",
    "Media",
    "Notification",
    "Post",
    "Series",
    "SlotPlan",
    "StatusType",
    "UTCDateTime",
]
