"""Reconciliation for X: is an item among the account's recent posts?

X has no idempotency key (NETWORKS.md §1.5), so after an unknown outcome the connector
reads `GET /2/users/me` and then the account's timeline, `GET /2/users/{id}/tweets`
(spec 2.167: `post.fields`, `expansions=referenced_posts`, `start_time`, `max_results`
5..100, `pagination_token` from `meta.next_token`), newest first, and looks for a post
with the same text that answers the same parent:

- found since the attempt (minus a margin for clock skew) -> `Found`;
- the timeline reaches back past the attempt and it is not there -> `Absent`, unless an
  identical post from the day before exists: X would refuse the item as a duplicate
  again, so a person decides (`Undecidable`);
- the pages read do not reach back to the attempt -> `Undecidable`.

Field names follow spec 2.167, which renamed tweets to posts: `post.fields` and the
expansion `referenced_posts` (older specs and most clients: `tweet.fields`,
`referenced_tweets.id`). Both namings of the reply reference are read from the answer.

Texts are compared the way X stores them (docs: counting characters; observed v2
responses): NFC, HTML entities unescaped (`&amp;`), links left out (X rewrites every
URL to a t.co link and appends one for attached media), whitespace collapsed.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from postmast.connectors.content import Absent, Content, Lookup, Undecidable
from postmast.connectors.x.api import XApi, is_post_id
from postmast.connectors.x.weighting import urls

SKEW = timedelta(minutes=5)
"""A post created this long before the attempt still counts as its result (clocks differ)."""
DUPLICATE_WINDOW = timedelta(hours=24)
"""How far back an identical older post is looked for (it would make X refuse the item)."""
PAGE_SIZE = 100
MAX_PAGES = 5
POST_FIELDS = "created_at,conversation_id"


def comparable(text: str) -> str:
    """A text as both sides can agree on it: links dropped, entities unescaped, spaces collapsed."""
    text = unicodedata.normalize("NFC", html.unescape(text))
    pieces, cursor = [], 0
    for start, end, _ in urls(text):
        pieces.append(text[cursor:start] + " ")
        cursor = end
    pieces.append(text[cursor:])
    return " ".join("".join(pieces).split())


def parent_of(post: dict[str, Any]) -> str | None:
    """The id of the post this one replies to (`referenced_posts` in 2.167, `referenced_tweets` before)."""
    for key in ("referenced_posts", "referenced_tweets"):
        refs = post.get(key)
        if isinstance(refs, list):
            for ref in refs:
                if isinstance(ref, dict) and ref.get("type") == "replied_to" and ref.get("id"):
                    return str(ref["id"])
    return None


def instant(value: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Match:
    post: dict[str, Any]
    created_at: datetime | None


class Timeline:
    """The account's recent posts, page by page, newest first."""

    def __init__(self, api: XApi) -> None:
        self.api = api

    def me(self) -> dict[str, Any]:
        return self.api.call("GET", "/2/users/me").body()

    def page(
        self, user_id: str, start_time: datetime, token: str | None = None
    ) -> tuple[list[Any], str | None]:
        params = {
            "max_results": str(PAGE_SIZE),
            "start_time": start_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "post.fields": POST_FIELDS,
            "expansions": "referenced_posts",
            "exclude": "retweets",
        }
        if token:
            params["pagination_token"] = token
        answer = self.api.call("GET", f"/2/users/{user_id}/tweets", params=params)
        data = answer.data if isinstance(answer.data, dict) else {}
        posts = data.get("data")
        meta = data.get("meta")
        following = meta.get("next_token") if isinstance(meta, dict) else None
        return (list(posts) if isinstance(posts, list) else []), str(following) if following else None

    def posts(self, user_id: str, start_time: datetime) -> Iterator[dict[str, Any]]:
        """Every post since `start_time`, within the page budget; raises `_Truncated` past it."""
        token: str | None = None
        for _ in range(MAX_PAGES):
            found, token = self.page(user_id, start_time, token)
            yield from (p for p in found if isinstance(p, dict))
            if token is None:
                return
        raise _Truncated


class _Truncated(Exception):
    """More pages than the budget allows."""


def search(timeline: Timeline, user_id: str, content: Content, sent_at: datetime) -> Match | Lookup:
    """Find `content` among the posts since `sent_at`; see the module docstring for the verdicts."""
    if not is_post_id(user_id):
        return Undecidable("X did not say which account the credentials belong to")
    wanted = comparable(content.text)
    parent = content.reply_to.id if content.reply_to else None
    window_start = sent_at - SKEW
    older: Match | None = None
    covered = False
    try:
        for post in timeline.posts(user_id, sent_at - DUPLICATE_WINDOW):
            created = instant(post.get("created_at"))
            if created is not None and created < window_start:
                covered = True
            same = comparable(str(post.get("text", ""))) == wanted and parent_of(post) == parent
            if not same or not is_post_id(post.get("id")):
                continue
            if created is None or created >= window_start:
                return Match(post, created)
            older = older or Match(post, created)
    except _Truncated:
        if not covered:
            return Undecidable(
                f"the account's last {MAX_PAGES * PAGE_SIZE} posts do not reach back to the attempt"
            )
    if older is not None:
        return Undecidable(
            f"not posted since the attempt, but an identical post {older.post['id']} exists from "
            f"{older.created_at:%Y-%m-%d %H:%M} UTC: X refuses duplicates; edit the text or cancel"
        )
    return Absent("not among the account's posts since the attempt")
