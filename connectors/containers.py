"""Media containers: how Instagram and Threads publish, in the three steps both document.

1. create a container (`POST /{user}/media` on Instagram, `/{user}/threads` on Threads) with
   the text and the public URL of each file; a carousel is one container per file
   (`is_carousel_item=true`) and a parent naming them (`children`);
2. wait until Meta has fetched and processed it: `GET /{container}?fields=status_code`
   (Instagram) or `fields=status,error_message` (Threads) until `FINISHED`; `ERROR` is
   final, `EXPIRED` (not published within 24 hours) means make a new one, `IN_PROGRESS`
   is asked again after `poll_interval` (both docs: about once a minute, five minutes at
   most; the worker's time limit bounds it);
3. publish it (`POST /{user}/media_publish` or `/threads_publish`, `creation_id`) — the
   one request that creates the post.

The container of each item is kept in the connector's `state` by item key until the
item is published, so a retry after a lost answer asks the container first: `PUBLISHED`
means the post exists (it is looked up among the account's recent posts, never
published again); `FINISHED` means it does not, and the same container is published.

Sources: Instagram: developers.facebook.com/docs/instagram-platform/content-publishing,
.../instagram-graph-api/reference/ig-container (status_code values), .../ig-user/media_publish;
Threads: developers.facebook.com/documentation/threads/posts, .../threads/troubleshooting
(status values and error messages, "query a container's status once per minute, for no
more than 5 minutes").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from postmast.connectors.content import Absent, Content, Found, Lookup, PublishResult, Undecidable
from postmast.connectors.errors import OutcomeUnknown, PermanentError, TransientError
from postmast.connectors.graph import GraphClient
from postmast.connectors.hosting import MediaHost, host_all, object_key

CONTAINERS = "containers"
"""`state[CONTAINERS][item key]`: the container created for an item, until it is published."""
SKEW = timedelta(minutes=5)
MAX_POLLS = 30


@dataclass(frozen=True)
class Flavour:
    """What differs between Instagram and Threads."""

    create_edge: str
    publish_edge: str
    status_field: str
    message_field: str
    list_edge: str
    text_field: str
    url_field: str = "permalink"


class Containers:
    def __init__(
        self,
        graph: GraphClient,
        user: str,
        flavour: Flavour,
        state: MutableMapping[str, Any],
        pause: Callable[[float, str], None],
        poll_interval: float,
    ) -> None:
        self.graph = graph
        self.user = user
        self.flavour = flavour
        self.state = state
        self.pause = pause
        self.poll_interval = poll_interval

    # -- step 1 and 2 -----------------------------------------------------------------------------

    def create(self, fields: Mapping[str, str]) -> str:
        answer = self.graph.post(f"{self.user}/{self.flavour.create_edge}", fields)
        container = answer.get("id")
        if not isinstance(container, str) or not container:
            raise TransientError(f"{self.graph.network} answered without a container id")
        return container

    def status(self, container: str) -> tuple[str, str]:
        fields = self.flavour.status_field + (
            "," + self.flavour.message_field if self.flavour.message_field else ""
        )
        answer = self.graph.get(container, fields=fields)
        return str(answer.get(self.flavour.status_field) or ""), str(
            answer.get(self.flavour.message_field) or ""
        )

    def wait(self, container: str, what: str) -> str:
        """Poll until the container is ready; its final status (FINISHED or PUBLISHED)."""
        for _ in range(MAX_POLLS):
            status, detail = self.status(container)
            if status in ("FINISHED", "PUBLISHED"):
                return status
            if status == "ERROR":
                raise PermanentError(
                    f"{self.graph.network} could not process {what}: {detail or 'ERROR'} "
                    "(is the file's format one it takes, and could it fetch the URL?)"
                )
            if status == "EXPIRED":
                raise TransientError(
                    f"{self.graph.network}'s container for {what} expired; a new one is made"
                )
            self.pause(self.poll_interval, f"{self.graph.network} is processing {what}")
        raise TransientError(f"{self.graph.network} is still processing {what}")

    # -- step 3, and what a retry finds -----------------------------------------------------------

    def remembered(self, key: str) -> str | None:
        found = self.state.get(CONTAINERS, {}).get(key)
        return str(found) if found else None

    def remember(self, key: str, container: str) -> None:
        self.state[CONTAINERS] = {**self.state.get(CONTAINERS, {}), key: container}

    def forget(self, key: str) -> None:
        kept = {k: v for k, v in self.state.get(CONTAINERS, {}).items() if k != key}
        if kept:
            self.state[CONTAINERS] = kept
        else:
            self.state.pop(CONTAINERS, None)

    def publish(self, container: str) -> str:
        answer = self.graph.post(
            f"{self.user}/{self.flavour.publish_edge}", {"creation_id": container}, posting=True
        )
        media = answer.get("id")
        if not isinstance(media, str) or not media:
            raise OutcomeUnknown(f"{self.graph.network} answered the publish without the post's id")
        return media

    def permalink(self, media: str) -> str | None:
        try:
            answer = self.graph.get(media, fields=self.flavour.url_field)
        except Exception:  # the post exists: a missing link must not fail it
            return None
        link = answer.get(self.flavour.url_field)
        return str(link) if isinstance(link, str) and link.startswith("https://") else None

    def find_recent(self, content: Content, since: datetime, edge: str | None = None) -> Lookup:
        """The account's recent posts since `since`, matched by text: Found, Absent or Undecidable."""
        wanted = " ".join(content.text.split())
        fields = f"id,{self.flavour.text_field},timestamp,{self.flavour.url_field}"
        answer = self.graph.get(f"{self.user}/{edge or self.flavour.list_edge}", fields=fields, limit=50)
        entries = [e for e in answer.get("data") or [] if isinstance(e, dict)]
        older = False
        for entry in entries:
            when = _timestamp(entry.get("timestamp"))
            if when is not None and when < since - SKEW:
                older = True
                continue
            if " ".join(str(entry.get(self.flavour.text_field) or "").split()) == wanted and entry.get("id"):
                link = entry.get(self.flavour.url_field)
                return Found(PublishResult(str(entry["id"]), str(link) if link else None, 200))
        if older or len(entries) < 50:
            return Absent("not among the account's posts since the attempt")
        return Undecidable("the account's recent posts do not reach back to the attempt")

    def lookup(self, content: Content, key: str, sent_at: datetime, edge: str | None = None) -> Lookup:
        """After an unknown outcome: the item's container says whether it was published."""
        container = self.remembered(key)
        status = self.status(container)[0] if container is not None else ""
        if status in ("FINISHED", "IN_PROGRESS", "ERROR", "EXPIRED"):
            return Absent(f"its container is {status}, not published")
        if not " ".join(content.text.split()):
            return Undecidable("an item without text cannot be told apart from the account's other posts")
        found = self.find_recent(content, sent_at, edge)
        if status == "PUBLISHED" and isinstance(found, Absent):
            return Undecidable("its container was published, but the post is not among the recent ones")
        return found

    def resume(
        self, content: Content, key: str, since: datetime, edge: str | None = None
    ) -> str | PublishResult:
        """Before creating anything for an item: its earlier container, if one can be published
        (its id), or the post it already became (a `PublishResult`); "" when a new one is needed."""
        container = self.remembered(key)
        if container is None:
            return ""
        status, _ = self.status(container)
        if status == "PUBLISHED":
            found = self.find_recent(content, since, edge)
            if isinstance(found, Found):
                return found.result
            raise OutcomeUnknown(
                f"{self.graph.network} published this item's container on an earlier attempt, "
                "but the post is not among the recent ones"
            )
        if status in ("FINISHED", "IN_PROGRESS"):
            return container
        self.forget(key)  # ERROR or EXPIRED: start again
        return ""

    # -- one item, start to end ------------------------------------------------------------------

    def publish_item(
        self,
        content: Content,
        key: str,
        *,
        since: datetime,
        edge: str | None,
        host: Callable[[], MediaHost],
        prefix: str,
        fields: Callable[[Sequence[str]], dict[str, Any]],
        before: Callable[[], None],
    ) -> PublishResult:
        """Publish one item: resume its earlier container (or find the post it became), else
        check the quota (`before`), host its media, create its container(s); wait; publish;
        then forget the container and delete the hosted files. `fields(urls)` gives the
        container's fields, a carousel's as `children` (a list of child fields)."""
        resumed = self.resume(content, key, since, edge)
        if isinstance(resumed, PublishResult):
            self.forget(key)
            return resumed
        before()
        media_host = host() if content.media else None
        keys = [object_key(prefix, key, n, m) for n, m in enumerate(content.media)]
        container = resumed or self._create(content, key, media_host, prefix, fields)
        self.wait(container, "the post")
        try:
            media_id = self.publish(container)
        except PermanentError:
            self._done(key, media_host, keys)
            raise
        self._done(key, media_host, keys)
        return PublishResult(media_id, self.permalink(media_id), 200)

    def _create(
        self,
        content: Content,
        key: str,
        host: MediaHost | None,
        prefix: str,
        fields_for: Callable[[Sequence[str]], dict[str, Any]],
    ) -> str:
        urls = host_all(host, prefix, key, content.media).urls if host else []
        fields = fields_for(urls)
        children = fields.pop("children", None)
        if children is not None:
            ids = []
            for number, child in enumerate(children):
                child_id = self.create(child)
                self.wait(child_id, content.media[number].filename)
                ids.append(child_id)
            fields["children"] = ",".join(ids)
        container = self.create(fields)
        self.remember(key, container)
        return container

    def _done(self, key: str, host: MediaHost | None, keys: Sequence[str]) -> None:
        self.forget(key)
        if host is not None:
            host.delete(keys)


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def carousel_fields(urls: Sequence[tuple[str, str]], image_field: str = "image_url") -> list[dict[str, str]]:
    """The child containers of a carousel: (kind, url) pairs -> their fields."""
    children = []
    for kind, url in urls:
        if kind == "video":
            children.append({"media_type": "VIDEO", "video_url": url, "is_carousel_item": "true"})
        else:
            children.append({image_field: url, "is_carousel_item": "true"})
    return children
