"""Comments: the items after a post, on networks that answer posts with comments.

Networks without threads (Facebook Pages, Instagram, LinkedIn) answer a post with
comments; brands put the link or the hashtags there. The `first_comment` option (the
core's `FIRST_COMMENT`, declared here with the network's own length limit) is made the
last item of the delivery by the post body, so it is sent after the post, recorded on
its own and resumed on its own: a retry after a failed comment never posts the post
again. Further items of a thread (`--then`) are comments too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from postmast.connectors.content import FIRST_COMMENT, Content, Option, RemoteRef

NAME = FIRST_COMMENT.name


def first_comment_option(limit: int, network: str) -> Option:
    return Option(
        NAME,
        f"a comment {network} posts under the post right after it (links and hashtags often go there)",
        max_length=limit,
    )


def linked(items: Sequence[Content]) -> list[Content]:
    """Items after the first, marked as answering the one before until its id is known.

    The worker gives each item its parent's real id before sending it
    (`workers/thread.py`); this placeholder is what validation and `--dry-run` see.
    """
    return [
        item if number == 0 or item.reply_to else replace(item, reply_to=RemoteRef(f"<id of item {number}>"))
        for number, item in enumerate(items)
    ]


def is_comment(content: Content) -> bool:
    """An item that answers another: every item after the first, or a first item given a reply target."""
    return content.reply_to is not None
