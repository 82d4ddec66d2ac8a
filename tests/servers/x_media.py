"""Media routes of the X contract server: simple and chunked upload, STATUS, metadata.

From the spec (2.167: `mediaUpload`, `initializeMediaUpload`, `appendMediaUpload`,
`finalizeMediaUpload`, `getMediaUploadStatus`, `createMediaMetadata`) and docs.x.com
(media upload chunked: `processing_info` states and `check_after_secs`; media best
practices: size caps per category). Processing moves one state per STATUS request
through `XServer.processing` (default `pending -> in_progress -> succeeded`).
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

from tests.servers.base import Request, Response
from tests.servers.x_openapi import PROBLEMS, invalid

if TYPE_CHECKING:
    from tests.servers.x import XUser

PROCESSED_KINDS = ("tweet_video", "tweet_gif")


@dataclass
class Upload:
    id: str
    owner: str
    category: str
    media_type: str
    total: int | None = None
    chunks: dict[int, bytes] = field(default_factory=dict)
    state: str | None = None
    finalized: bool = False
    alt: str | None = None


def multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """The parts of a multipart/form-data body by field name."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    return {
        str(part.get_param("name", header="content-disposition")): part.get_payload(decode=True) or b""
        for part in message.iter_parts()
    }


class MediaRoutes:
    """Mixed into `XServer`; the state lives on the server."""

    lock: threading.RLock
    processing: tuple[str, ...]
    check_after_secs: int

    def _init_media(self) -> None:
        self.uploads: dict[str, Upload] = {}
        self.status_checks: Counter[str] = Counter()
        self._media_ids = itertools.count(1880028106020515840)

    # -- media ----------------------------------------------------------------------------------

    def _new_upload(self, user: XUser, category: str, media_type: str, total: int | None) -> Upload:
        upload = Upload(str(next(self._media_ids)), user.id, category, media_type, total)
        self.uploads[upload.id] = upload
        return upload

    @staticmethod
    def _media_key(upload: Upload) -> str:
        return {"tweet_video": "7_", "tweet_gif": "16_"}.get(upload.category, "3_") + upload.id

    def _mediaUpload(
        self, user: XUser, path: dict[str, str], request: Request, body: Any, files: Any
    ) -> Response:
        if "media" in files:
            data = files["media"]
        else:
            try:
                data = base64.b64decode(str(body["media"]), validate=True)
            except ValueError:
                return invalid("media must be base64 in a JSON body")
        kind = next((t for magic, t in _MAGIC if data.startswith(magic)), None)
        if kind is None:
            return invalid("media type unrecognized.")
        if len(data) > _LIMITS[body["media_category"]]:
            return invalid(f"File size exceeds {_LIMITS[body['media_category']]} bytes.")
        upload = self._new_upload(user, body["media_category"], kind, len(data))
        upload.chunks, upload.finalized = {0: data}, True
        answer = {
            "id": upload.id,
            "media_key": self._media_key(upload),
            "size": len(data),
            "expires_after_secs": 86400,
            "image": {"image_type": kind},
        }
        return Response(200, {"data": answer})

    def _initializeMediaUpload(
        self, user: XUser, path: dict[str, str], request: Request, body: Any, files: Any
    ) -> Response:
        if "total_bytes" not in body or "media_type" not in body:
            return invalid("total_bytes and media_type are required")
        category = body.get("media_category", "tweet_image")
        if body["total_bytes"] > _LIMITS.get(category, 0):
            return invalid(f"File size exceeds {_LIMITS.get(category, 0)} bytes.")
        upload = self._new_upload(user, category, body["media_type"], body["total_bytes"])
        return Response(
            200,
            {"data": {"id": upload.id, "media_key": self._media_key(upload), "expires_after_secs": 86400}},
        )

    def _owned(self, user: XUser, media_id: str) -> Upload | Response:
        upload = self.uploads.get(media_id)
        if upload is None or upload.owner != user.id:
            return Response(
                404,
                {
                    "title": "Not Found Error",
                    "detail": f"Could not find media with id: [{media_id}].",
                    "type": PROBLEMS + "resource-not-found",
                    "resource_type": "media",
                    "status": 404,
                },
            )
        return upload

    def _appendMediaUpload(
        self, user: XUser, path: dict[str, str], request: Request, body: Any, files: Any
    ) -> Response:
        upload = self._owned(user, path["id"])
        if isinstance(upload, Response):
            return upload
        if upload.finalized:
            return invalid("this upload is already finalized")
        upload.chunks[int(body["segment_index"])] = files.get("media", b"")
        return Response(200, {"data": {"expires_at": int(time.time()) + 86400}})

    def _finalizeMediaUpload(
        self, user: XUser, path: dict[str, str], request: Request, body: Any, files: Any
    ) -> Response:
        upload = self._owned(user, path["id"])
        if isinstance(upload, Response):
            return upload
        size = sum(len(c) for c in upload.chunks.values())
        if sorted(upload.chunks) != list(range(len(upload.chunks))) or size != upload.total:
            return invalid("Segments do not add up to provided total file size.")
        upload.finalized = True
        if upload.category in PROCESSED_KINDS and self.processing:
            upload.state = self.processing[0]
        return Response(200, {"data": self._media_view(upload)})

    def _getMediaUploadStatus(
        self, user: XUser, path: dict[str, str], request: Request, body: Any, files: Any
    ) -> Response:
        upload = self._owned(user, request.query["media_id"][0])
        if isinstance(upload, Response):
            return upload
        self.status_checks[upload.id] += 1
        if upload.state in self.processing:
            index = self.processing.index(upload.state)
            upload.state = self.processing[min(index + 1, len(self.processing) - 1)]
        return Response(200, {"data": self._media_view(upload)})

    def _media_view(self, upload: Upload) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": upload.id,
            "media_key": self._media_key(upload),
            "size": upload.total,
            "expires_after_secs": 86400,
        }
        if upload.state is not None:
            info: dict[str, Any] = {"state": upload.state}
            if upload.state in ("pending", "in_progress"):
                info |= {
                    "check_after_secs": self.check_after_secs,
                    "progress_percent": 0 if upload.state == "pending" else 50,
                }
            elif upload.state == "succeeded":
                info["progress_percent"] = 100
            view["processing_info"] = info
        if upload.category == "tweet_video" and upload.state == "succeeded":
            view["video"] = {"video_type": upload.media_type}
        return view

    def _createMediaMetadata(
        self, user: XUser, path: dict[str, str], request: Request, body: Any, files: Any
    ) -> Response:
        upload = self._owned(user, body["id"])
        if isinstance(upload, Response):
            return upload
        if upload.category == "tweet_video":
            return invalid("alt text is supported for images and GIFs only")  # docs: media metadata create
        alt = ((body.get("metadata") or {}).get("alt_text") or {}).get("text")
        upload.alt = alt
        return Response(200, {"data": {"id": upload.id, "associated_metadata": {"alt_text": {"text": alt}}}})


_MAGIC = (
    (b"\x89PNG", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"RIFF", "image/webp"),
)
_LIMITS = {"tweet_image": 5_242_880, "tweet_gif": 15_728_640, "tweet_video": 536_870_912}
"""Upload caps by category (docs: image 5 MB, GIF 15 MB, video 512 MB)."""
