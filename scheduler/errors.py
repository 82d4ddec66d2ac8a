"""Errors meant for the person at the keyboard: one clear line, nothing written."""

from __future__ import annotations

import unicodedata


def one_line(message: str) -> str:
    """`message` as one printable line: control characters, line and paragraph separators
    (U+2028, U+2029) and lone surrogates (undecodable input) are shown escaped, so nothing a
    user typed can break or rewrite the terminal line."""
    return "".join(
        c.encode("unicode_escape", "backslashreplace").decode("ascii")
        if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp")
        else c
        for c in message
    )


class UserError(Exception):
    """Raised when input or configuration is wrong; the CLI prints it as one line and exits 1.

    The message is made one printable line here, whatever user input it quotes.
    """

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class ConfigError(UserError):
    """Raised when an environment variable or the data directory is unusable."""


class NotFound(UserError):
    """Raised when an id or account name does not exist."""


class Conflict(UserError):
    """Raised when the requested change is not allowed in the current state."""
