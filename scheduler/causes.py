"""Why deliveries go wrong, and whether trying again can help: one table for every view.

The error class recorded with an attempt or a delivery (`connectors.errors`' class
names, plus the worker's and dispatcher's own) is its cause. Reports, `queue`,
`retry --failed --cause` and notifications all read their advice from here, so they
never disagree about what a person should do.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Retry(StrEnum):
    """Whether sending the post again can succeed."""

    YES = "yes"
    AFTER_FIX = "after_fix"
    """Only once a person fixed something first (credentials, the key)."""
    CHECK_FIRST = "check_first"
    """It may already be out: look at the account before re-sending (it may post twice)."""
    NO = "no"
    """Not the same post: the network refused its content."""


@dataclass(frozen=True)
class Cause:
    name: str
    meaning: str
    retry: Retry
    fix: str
    """The command (or step) that fixes it; `{target}` and `{id}` are filled in where known."""

    def advice(self, *, target: str = "NETWORK:NAME", delivery_id: int | str = "ID") -> str:
        return self.fix.format(target=target, id=delivery_id, name=self.name)


_RETRY_IT = "postmast retry --failed --cause {name}"
CAUSES: dict[str, Cause] = {
    c.name: c
    for c in (
        Cause(
            "TransientError", "the network failed for a while (5xx, refused connection)", Retry.YES, _RETRY_IT
        ),
        Cause("RateLimited", "the network limited the account's rate for too long", Retry.YES, _RETRY_IT),
        Cause(
            "AuthExpired",
            "the network refused the account's credentials",
            Retry.AFTER_FIX,
            "postmast account update {target} --secrets, then " + _RETRY_IT,
        ),
        Cause(
            "SecretsUnreadable",
            "the account's secrets could not be decrypted (another POSTMAST_SECRET_KEY?)",
            Retry.AFTER_FIX,
            "set the right POSTMAST_SECRET_KEY, then " + _RETRY_IT,
        ),
        Cause("PermanentError", "the network refused the post for good", Retry.NO, "postmast show {id}"),
        Cause("InvalidOption", "a post option the network does not take", Retry.NO, "postmast show {id}"),
        Cause(
            "DuplicateContent",
            "the network calls it a duplicate: it is probably out already",
            Retry.CHECK_FIRST,
            "check {target}, then postmast retry {id} --resend-unknown",
        ),
        Cause(
            "OutcomeUnknown",
            "no answer said whether the post went out",
            Retry.CHECK_FIRST,
            "check {target}, then postmast retry {id} --resend-unknown",
        ),
        Cause(
            "WorkerLost",
            "the worker stopped answering in the middle of a publish",
            Retry.CHECK_FIRST,
            "check {target}, then postmast retry {id} --resend-unknown",
        ),
        Cause(
            "Unverifiable",
            "the network cannot be asked whether the post is there",
            Retry.CHECK_FIRST,
            "check {target}, then postmast retry {id} --resend-unknown",
        ),
        Cause(
            "InternalError",
            "postmast failed after sending (a bug: please report it)",
            Retry.CHECK_FIRST,
            "check {target}, then postmast retry {id} --resend-unknown",
        ),
        Cause(
            "Missed",
            "not published within the post's allowed lateness",
            Retry.YES,
            "postmast retry --missed (if it is still worth posting)",
        ),
    )
}


def cause(name: str | None) -> Cause:
    """The cause named `name`; an unlisted class is treated as needing a look before a retry."""
    if name in CAUSES:
        return CAUSES[name]
    return Cause(name or "Unknown", "no error class was recorded", Retry.CHECK_FIRST, "postmast show {id}")
