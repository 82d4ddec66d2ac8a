"""Reconciliation for Facebook Pages: is an item among the Page's posts (or the post's comments)?

Facebook has no idempotency key. After an unknown outcome the Page's feed is read since the
attempt (`GET /{page-id}/feed?fields=id,message,created_time,permalink_url&since=T&limit=100`,
following `paging.next` a few pages), its videos for a video item (`GET /{page-id}/videos`,
whose text is the `description`), or the post's comments for a comment
(`GET /{post-id}/comments?filter=stream&order=reverse_chronological`, only those `from` the
Page). An entry with the same text (whitespace collapsed) created since the attempt (less
five minutes of clock skew) is the item. Not there, and the answer reaches back past the
attempt (every page read) -> Absent; otherwise Undecidable.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from postmast.connectors.comments import is_comment
from postmast.connectors.content import Absent, Content, Found, Lookup, PublishResult, Undecidable
from postmast.connectors.graph import GraphClient

SKEW = timedelta(minutes=5)
MAX_PAGES = 5
PUBLIC = "https://www.facebook.com"


def public_url(permalink: Any, fallback_id: str) -> str:
    """`permalink_url` as Graph gives it (absolute, or a path for videos), else the id's URL."""
    if isinstance(permalink, str) and permalink.startswith("https://"):
        return permalink
    if isinstance(permalink, str) and permalink.startswith("/"):
        return f"{PUBLIC}{permalink}"
    return f"{PUBLIC}/{fallback_id}"


def comparable(text: str) -> str:
    return " ".join(text.split())


def created(entry: dict[str, Any]) -> datetime | None:
    """Graph's `created_time` (`2026-12-01T09:00:00+0000`)."""
    value = entry.get("created_time")
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def _pages(graph: GraphClient, path: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]] | None]:
    """Each page of entries; None last when more pages remain than are read."""
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        answer = graph.get(path, **params, **({"after": cursor} if cursor else {}))
        data = answer.get("data")
        yield [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []
        paging = answer.get("paging")
        paging = paging if isinstance(paging, dict) else {}
        cursors = paging.get("cursors")
        cursors = cursors if isinstance(cursors, dict) else {}
        cursor = cursors.get("after") if paging.get("next") else None
        if not cursor:
            return
    yield None


def find_item(graph: GraphClient, page_id: str, content: Content, sent_at: datetime) -> Lookup:
    wanted = comparable(content.text)
    if not wanted:
        return Undecidable("an item without text cannot be told apart from the Page's other posts")
    since = sent_at - SKEW
    text_field = "message"
    if is_comment(content):
        assert content.reply_to is not None
        parent = (content.root or content.reply_to).id
        path = f"{parent}/comments"
        params: dict[str, Any] = {
            "fields": "id,message,created_time,permalink_url,from",
            "filter": "stream",
            "order": "reverse_chronological",
            "limit": 100,
        }
    elif len(content.media) == 1 and content.media[0].kind == "video":
        path, text_field = f"{page_id}/videos", "description"
        params = {"fields": "id,description,created_time,permalink_url", "limit": 100}
    else:
        path = f"{page_id}/feed"
        params = {
            "fields": "id,message,created_time,permalink_url",
            "since": int(since.timestamp()),
            "limit": 100,
        }
    reached_back = False
    for entries in _pages(graph, path, params):
        if entries is None:
            return Undecidable(
                "more of the Page's recent posts than postmast reads were created since the attempt"
            )
        for entry in entries:
            when = created(entry)
            if when is not None and when < since:
                reached_back = True
                continue
            author = entry.get("from")
            if is_comment(content) and isinstance(author, dict) and str(author.get("id")) != page_id:
                continue
            if comparable(str(entry.get(text_field) or "")) == wanted and entry.get("id"):
                remote = str(entry["id"])
                link = entry.get("permalink_url")
                url = public_url(link, remote) if link or not is_comment(content) else None
                return Found(PublishResult(remote, url, 200))
    if path.endswith("/feed") or reached_back:
        # the feed was asked `since` the attempt: everything it answered is all there is
        return Absent("not among the Page's posts since the attempt")
    return Undecidable("the answers do not reach back to the attempt")
