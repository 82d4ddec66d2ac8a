"""The typed errors a connector raises; the worker maps each to a policy.

Messages are built from the network's response and must never contain credentials:
connectors put only status codes and the network's error text in them.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class: carries the HTTP status (if any) and a short, secret-free reason."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status

    @property
    def kind(self) -> str:
        """The class name, as recorded in the attempts table and shown in reports."""
        return type(self).__name__


class AuthExpired(ConnectorError):
    """Raised when the network refuses the account's credentials (expired, revoked, invalid)."""


class RateLimited(ConnectorError):
    """Raised when the network says the account is over its limit; `retry_after` is in seconds."""

    def __init__(self, message: str, *, retry_after: float | None, http_status: int | None = 429) -> None:
        super().__init__(message, http_status=http_status)
        self.retry_after = retry_after


class TransientError(ConnectorError):
    """Raised when the request was certainly not accepted and may succeed later (5xx, refused)."""


class PermanentError(ConnectorError):
    """Raised when the network rejected the content for good (validation, not found, forbidden)."""


class OutcomeUnknown(ConnectorError):
    """Raised when the request may have reached the network but no answer says what happened."""


class DuplicateContent(OutcomeUnknown):
    """Raised when the network refuses a post as a duplicate: it is probably already out there."""
