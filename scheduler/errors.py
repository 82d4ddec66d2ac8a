"""Errors meant for the person at the keyboard: one clear line, nothing written."""

from __future__ import annotations


class UserError(Exception):
    """Raised when input or configuration is wrong; the CLI prints it as one line and exits 1."""


class ConfigError(UserError):
    """Raised when an environment variable or the data directory is unusable."""


class NotFound(UserError):
    """Raised when an id or account name does not exist."""


class Conflict(UserError):
    """Raised when the requested change is not allowed in the current state."""
