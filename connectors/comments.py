"""A first comment: an option that becomes an item of its own, right after the post.

Networks without threads (Facebook Pages, Instagram, LinkedIn) answer a post with
comments; brands put the link or the hashtags there. The `first_comment` option is
turned into item 2 of the delivery by `Connector.items`, so it is sent after the post,
recorded on its own and resumed on its own: a retry after a failed comment never
posts the post again. Further items of a thread (`--then`) are further comments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from postmast.connectors.content import Content, Option, RemoteRef

NAME = "first_comment"


def first_comment_option(limit: int, network: str) -> Option:
    return Option(
        NAME,
        f"a comment {network} posts under the post right after it (links and hashtags often go there)",
        max_length=limit,
    )


def with_first_comment(contents: Sequence[Content]) -> list[Content]:
    """The items with the first comment (if the option is given) inserted after the post."""
    items = list(contents)
    if not items:
        return items
    text = items[0].options.get(NAME)
    if isinstance(text, str) and text.strip():
        items.insert(1, replace(items[0], text=text, media=(), reply_to=None, root=None))
    return linked(items)


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
