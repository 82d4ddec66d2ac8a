"""The status of a delivery: one enum the whole system shares (the table is in `states`)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    RETRY_WAIT = "retry_wait"
    FAILED = "failed"
    UNKNOWN = "unknown"
    RECONCILING = "reconciling"
    CANCELLED = "cancelled"
    MISSED = "missed"
