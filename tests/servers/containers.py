"""The container flow Instagram and Threads share, for their contract servers.

As both documents it (Instagram content-publishing and ig-container; Threads posts and
troubleshooting): a container is created with the public URL of each file, which Meta
fetches ("We cURL media used in publishing attempts"); this server fetches it at once,
checks its type, and answers `IN_PROGRESS` for `processing_polls` status reads before
`FINISHED` (`ERROR` when the file could not be fetched or is not one the network takes).
Publishing needs a `FINISHED` container (else the "not ready" error), counts against a
quota of posts per moving 24 hours (readable through the network's limit endpoint), and
turns the container `PUBLISHED`. Publishing a container a second time is refused here
(code 100): the documents do not say what Meta answers, and a test must see it happen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from tests.servers.base import Fault, Request, Response
from tests.servers.graph import Call, GraphServer, error, usage

JPEG = b"\xff\xd8\xff"
PNG = b"\x89PNG"
MP4_BOX = b"ftyp"


def kind_of(data: bytes) -> str:
    if data.startswith(JPEG):
        return "image/jpeg"
    if data.startswith(PNG):
        return "image/png"
    if data[4:8] == MP4_BOX:
        return "video/mp4"
    return "application/octet-stream"


class ContainerServer(GraphServer):
    create_edge = "media"
    publish_edge = "media_publish"
    status_field = "status_code"
    images: tuple[str, ...] = ("image/jpeg",)
    quota_total = 50
    max_children = 10

    def __init__(
        self,
        tokens: dict[str, str],
        *,
        clock: Callable[[], datetime] | None = None,
        processing_polls: int = 1,
        usernames: dict[str, str] | None = None,
    ) -> None:
        super().__init__(tokens, clock=clock)
        self.processing_polls = processing_polls
        self.usernames = usernames or {}
        self.containers: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, dict[str, Any]] = {}
        self.fetched: list[tuple[str, bytes]] = []
        self.created: list[dict[str, Any]] = []

    # -- what each network checks of a container --------------------------------------------------------

    def check_fields(self, owner: str, params: dict[str, str]) -> Response | None:
        """A network's own refusal of a container's fields, or None."""
        return None

    def text_of(self, params: dict[str, str]) -> str:
        raise NotImplementedError

    def permalink(self, owner: str, media_id: str) -> str:
        raise NotImplementedError

    # -- the flow ---------------------------------------------------------------------------------------

    def create(self, owner: str, params: dict[str, str]) -> Response:
        refused = self.check_fields(owner, params)
        if refused is not None:
            return refused
        container: dict[str, Any] = {
            "id": self.new_id(),
            "owner": owner,
            "params": dict(params),
            "polls": 0,
            "status": "IN_PROGRESS",
            "error": "",
        }
        urls = [params[k] for k in ("image_url", "video_url") if params.get(k)]
        for url in urls:
            problem = self._fetch(url, params)
            if problem:
                container["status"], container["error"] = "ERROR", problem
        if params.get("media_type") == "CAROUSEL":
            children = [c for c in params.get("children", "").split(",") if c]
            if not 2 <= len(children) <= self.max_children:
                return error(400, 100, f"(#100) A carousel takes 2 to {self.max_children} children")
            for child in children:
                found = self.containers.get(child)
                if (
                    found is None
                    or found["owner"] != owner
                    or found["params"].get("is_carousel_item") != "true"
                ):
                    return error(400, 100, f"(#100) Invalid children: {child}")
                if found["status"] != "FINISHED":
                    return error(400, 9007, "(#9007) Media ID is not available", 2207027)
        self.containers[container["id"]] = container
        return Response(200, {"id": container["id"]})

    def _fetch(self, url: str, params: dict[str, str]) -> str:
        try:
            fetched = requests.get(url, timeout=5)
        except requests.RequestException as exc:
            return f"FAILED_DOWNLOADING ({type(exc).__name__})"
        if fetched.status_code != 200:
            return f"FAILED_DOWNLOADING (HTTP {fetched.status_code})"
        self.fetched.append((url, fetched.content))
        kind = kind_of(fetched.content)
        wanted = self.images if params.get("image_url") == url else ("video/mp4",)
        if kind not in wanted:
            return f"UNSUPPORTED_MEDIA_TYPE ({kind})"
        return ""

    def status(self, container_id: str, owner: str) -> Response:
        container = self.containers.get(container_id)
        if container is None or container["owner"] != owner:
            return error(400, 100, f"(#100) Object with ID '{container_id}' does not exist", 33)
        if container["status"] == "IN_PROGRESS":
            container["polls"] += 1
            if container["polls"] > self.processing_polls:
                container["status"] = "FINISHED"
        body = {"id": container_id, self.status_field: container["status"]}
        if container["error"]:
            body["status" if self.status_field == "status_code" else "error_message"] = container["error"]
        return Response(200, body)

    def used(self, owner: str, replies: bool = False) -> int:
        since = self.clock() - timedelta(days=1)
        return sum(
            1
            for m in self.media.values()
            if m["owner"] == owner and m["at"] >= since and bool(m.get("reply_to")) == replies
        )

    def quota_error(self) -> Response:
        return error(
            400,
            9,
            "(#9) Application request limit reached: you reached the maximum number of posts "
            "allowed to be published in 24 hours",
            2207042,
        )

    def publish(self, owner: str, params: dict[str, str]) -> Response:
        container = self.containers.get(params.get("creation_id", ""))
        if container is None or container["owner"] != owner:
            return error(400, 100, "(#100) Param creation_id is not a valid container")
        if container["status"] == "PUBLISHED":
            return error(400, 100, "(#100) This container was already published")
        if container["status"] != "FINISHED":
            return error(
                400, 9007, "(#9007) Media ID is not available: the media is not ready for publishing", 2207027
            )
        replying = bool(container["params"].get("reply_to_id"))
        if self.used(owner, replying) >= self.quota_total:
            return self.quota_error()
        container["status"] = "PUBLISHED"
        media_id = self.new_id()
        text = self.text_of(container["params"])
        self.media[media_id] = {
            "id": media_id,
            "owner": owner,
            "text": text,
            "at": self.clock(),
            "reply_to": container["params"].get("reply_to_id"),
            "container": container["id"],
            "children": container["params"].get("children", ""),
        }
        self.created.append(
            {
                "id": media_id,
                "text": text,
                "in_reply_to_id": container["params"].get("reply_to_id"),
                "media_ids": [
                    u
                    for u in (container["params"].get("image_url"), container["params"].get("video_url"))
                    if u
                ],
            }
        )
        return Response(200, {"id": media_id})

    def listing(self, owner: str, replies: bool, text_field: str, fields: str, limit: int) -> Response:
        entries = sorted(
            (m for m in self.media.values() if m["owner"] == owner and bool(m.get("reply_to")) == replies),
            key=lambda m: m["at"],
            reverse=True,
        )[:limit]
        wanted = fields.split(",")
        data = []
        for m in entries:
            entry = {
                "id": m["id"],
                text_field: m["text"],
                "timestamp": _stamp(m["at"]),
                "permalink": self.permalink(owner, m["id"]),
            }
            data.append({k: v for k, v in entry.items() if k in wanted})
        return Response(200, {"data": data})

    def add_media(self, owner: str, text: str, *, at: datetime | None = None) -> dict[str, Any]:
        """A post made earlier (by hand, or by an attempt whose answer was lost)."""
        media_id = self.new_id()
        self.media[media_id] = {
            "id": media_id,
            "owner": owner,
            "text": text,
            "at": at or self.clock(),
            "reply_to": None,
            "container": None,
        }
        return self.media[media_id]

    def fault_rate_limited(self, match: Callable[[Request], bool], owner: str, minutes: int = 9) -> Fault:
        response = error(400, 4, "(#4) Application request limit reached")
        response.headers.update(usage("instagram", owner, minutes))
        return self.inject(Fault(match=match, response=response))

    def route(self, method: str, call: Call, owner: str) -> Response:
        raise NotImplementedError


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
