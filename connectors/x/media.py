"""Media for X posts through API v2 (`conformance/x-openapi/openapi.json`, version 2.167).

- Images: one `POST /2/media/upload`, multipart `media` + `media_category=tweet_image`
  (`MediaUploadRequest`; the spec allows no other field) -> `{"data": {"id", ...}}`.
- Video and animated GIF: `POST /2/media/upload/initialize` (JSON `media_type`,
  `total_bytes`, `media_category`), `POST /2/media/upload/{id}/append` (multipart
  `media` chunk + `segment_index` 0..999) for each chunk, `POST /2/media/upload/{id}/finalize`
  (no body). When the answer carries `processing_info`, `GET /2/media/upload?command=STATUS&media_id=`
  until `state` is `succeeded` or `failed` (`pending -> in_progress -> ...`), waiting
  `check_after_secs` between checks through `HttpClient.pause` (docs: media-upload-chunked).
- Alt text: `POST /2/media/metadata` `{"id", "metadata": {"alt_text": {"text"}}}` (at most 1000),
  for images and GIFs: X supports metadata for those only (docs: media metadata create), so
  the alt text of a video is not sent.

A media step that fails without an answer (read timeout, 502/504) cannot have created
a post, so it is reported as `TransientError`: nothing was posted, a retry is safe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from postmast.connectors.content import MediaFile
from postmast.connectors.errors import OutcomeUnknown, PermanentError, TransientError
from postmast.connectors.x.api import XApi, finite, is_post_id

CHUNK_SIZE = 4 * 1024 * 1024
"""Bytes per APPEND: under the 5 MB X documents per chunk (v1.1 chunked upload guide)."""
MAX_SEGMENTS = 1000
"""`segment_index` is 0..999 (spec `AppendMediaUploadRequest`)."""
MAX_STATUS_CHECKS = 120
"""Polls of one upload's processing before giving up (each waits `check_after_secs`)."""
MAX_CHECK_WAIT = 60.0
WAITING_STATES = ("pending", "in_progress")

Pause = Callable[[float, str], None]


def category(media: MediaFile) -> str:
    """The `media_category` of an attachment to a post (docs: media best practices)."""
    return {"image": "tweet_image", "gif": "tweet_gif", "video": "tweet_video"}[media.kind]


class MediaUpload:
    """Uploads one post's attachments and returns their media ids, in order."""

    def __init__(self, api: XApi, pause: Pause, *, chunk_size: int = CHUNK_SIZE) -> None:
        self.api = api
        self.pause = pause
        self.chunk_size = chunk_size

    def upload_all(self, media: tuple[MediaFile, ...]) -> list[str]:
        try:
            return [self.upload(item) for item in media]
        except OutcomeUnknown as exc:  # a media upload is not a post: nothing can have been posted
            raise TransientError(
                f"{exc.message} (during a media upload; nothing was posted)", http_status=exc.http_status
            ) from None

    def upload(self, media: MediaFile) -> str:
        if media.kind == "image":
            answer = self.simple(media)
        else:
            media_id = self.initialize(media)
            for index, start in enumerate(range(0, media.size, self.chunk_size)):
                self.append(media_id, index, media.data[start : start + self.chunk_size])
            answer = self.finalize(media_id)
        media_id = self._id(answer, media)
        self.wait_processed(media_id, answer, media)
        if media.alt and media.kind != "video":  # X takes alt text for images and GIFs only
            self.describe(media_id, media.alt)
        return media_id

    # -- the steps, one request each ----------------------------------------------------------------

    def simple(self, media: MediaFile) -> dict[str, Any]:
        return self.api.call(
            "POST",
            "/2/media/upload",
            files={"media": (media.filename or "media", media.data, media.mime)},
            data={"media_category": category(media)},
        ).body()

    def initialize(self, media: MediaFile) -> str:
        segments = -(-media.size // self.chunk_size)
        if segments > MAX_SEGMENTS:
            raise PermanentError(f"{media.filename} needs {segments} chunks; X takes at most {MAX_SEGMENTS}")
        body = {"media_type": media.mime, "total_bytes": media.size, "media_category": category(media)}
        return self._id(self.api.call("POST", "/2/media/upload/initialize", json=body).body(), media)

    def append(self, media_id: str, index: int, chunk: bytes) -> None:
        self.api.call(
            "POST",
            f"/2/media/upload/{media_id}/append",
            files={"media": ("chunk", chunk, "application/octet-stream")},
            data={"segment_index": str(index)},
        )

    def finalize(self, media_id: str) -> dict[str, Any]:
        return self.api.call("POST", f"/2/media/upload/{media_id}/finalize").body()

    def status(self, media_id: str) -> dict[str, Any]:
        return self.api.call(
            "GET", "/2/media/upload", params={"command": "STATUS", "media_id": media_id}
        ).body()

    def describe(self, media_id: str, alt: str) -> None:
        body = {"id": media_id, "metadata": {"alt_text": {"text": alt}}}
        self.api.call("POST", "/2/media/metadata", json=body)

    # -- processing ---------------------------------------------------------------------------------

    def wait_processed(self, media_id: str, answer: dict[str, Any], media: MediaFile) -> None:
        """Poll STATUS while X says the upload is `pending` or `in_progress`."""
        for _ in range(MAX_STATUS_CHECKS):
            info = answer.get("processing_info")
            state = info.get("state") if isinstance(info, dict) else None
            if state == "failed":
                raise PermanentError(f"X could not process {media.filename}: {_processing_error(info)}")
            if state not in WAITING_STATES:
                return
            assert isinstance(info, dict)
            wait = min(MAX_CHECK_WAIT, max(0.0, finite(info.get("check_after_secs"), 1.0)))
            self.pause(wait, f"X is processing {media.filename} ({state})")
            answer = self.status(media_id)
        raise TransientError(f"X was still processing {media.filename} after {MAX_STATUS_CHECKS} checks")

    @staticmethod
    def _id(answer: dict[str, Any], media: MediaFile) -> str:
        media_id = answer.get("id")
        if not is_post_id(media_id):
            raise TransientError(f"X answered the upload of {media.filename} without a media id")
        assert isinstance(media_id, str)
        return media_id


def _processing_error(info: Any) -> str:
    error = info.get("error") if isinstance(info, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("name") or "processing failed")
    return "processing failed"
