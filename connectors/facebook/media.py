"""Facebook Page photos and videos: the requests before (or instead of) a feed post.

- one photo is its own post: `POST /{page-id}/photos` multipart `source`, `message`,
  `alt_text_custom` -> `{"id": photo, "post_id"}` (the posting request);
- several photos are uploaded unpublished (`published=false`; not a post, so a lost answer
  is only transient) and attached to one feed post with `attached_media`;
- a video goes up by the resumable upload of the Video API: `upload_phase=start`
  (`file_size`) -> `video_id`, `upload_session_id`, `start_offset`, `end_offset`; then
  `upload_phase=transfer` with the bytes from `start_offset` to `end_offset`
  (`video_file_chunk`) until the offsets meet; then `upload_phase=finish` with the
  `description`, which publishes it (the posting request).

Sources: developers.facebook.com/docs/graph-api/reference/page/photos,
developers.facebook.com/docs/video-api/guides/publishing (resumable upload), pages-api/posts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from postmast.connectors.content import MediaFile
from postmast.connectors.errors import OutcomeUnknown, TransientError
from postmast.connectors.graph import GraphClient

MAX_CHUNKS = 2000


class PageMedia:
    def __init__(self, graph: GraphClient, page_id: str, pause: Callable[[float, str], None]) -> None:
        self.graph = graph
        self.page_id = page_id
        self.pause = pause

    def post_photo(self, photo: MediaFile, caption: str) -> str:
        """One photo published as the Page's post; the post's id (`post_id`), else the photo's."""
        fields = {"published": "true"}
        if caption:
            fields["message"] = caption
        if photo.alt:
            fields["alt_text_custom"] = photo.alt
        answer = self.graph.call(
            "POST",
            f"{self.page_id}/photos",
            posting=True,
            data=fields,
            files={"source": (photo.filename, photo.data, photo.mime)},
        )
        remote = answer.get("post_id") or answer.get("id")
        if not isinstance(remote, str) or not remote:
            raise OutcomeUnknown("Facebook answered the photo post without an id")
        return remote

    def unpublished_photos(self, photos: Sequence[MediaFile]) -> list[str]:
        """Upload each photo unpublished, for `attached_media`; their ids."""
        ids = []
        for photo in photos:
            fields = {"published": "false", "temporary": "true"}
            if photo.alt:
                fields["alt_text_custom"] = photo.alt
            answer = self.graph.call(
                "POST",
                f"{self.page_id}/photos",
                data=fields,
                files={"source": (photo.filename, photo.data, photo.mime)},
            )
            photo_id = answer.get("id")
            if not isinstance(photo_id, str) or not photo_id:
                raise TransientError(f"Facebook answered the upload of {photo.filename} without an id")
            ids.append(photo_id)
        return ids

    def post_video(self, video: MediaFile, description: str) -> str:
        """Upload `video` in the chunks Facebook asks for, then publish it; the video's id."""
        path = f"{self.page_id}/videos"
        started = self.graph.post(path, {"upload_phase": "start", "file_size": str(video.size)})
        session, video_id = started.get("upload_session_id"), started.get("video_id")
        if not isinstance(session, str) or not isinstance(video_id, str):
            raise TransientError("Facebook did not open an upload session for the video")
        start, end = _offsets(started)
        for _ in range(MAX_CHUNKS):
            if start >= end:
                break
            answer = self.graph.call(
                "POST",
                path,
                data={"upload_phase": "transfer", "upload_session_id": session, "start_offset": str(start)},
                files={
                    "video_file_chunk": (video.filename, video.data[start:end], "application/octet-stream")
                },
            )
            start, end = _offsets(answer)
        else:
            raise TransientError("Facebook kept asking for more of the video than it has")
        fields = {"upload_phase": "finish", "upload_session_id": session}
        if description:
            fields["description"] = description
        finished = self.graph.post(path, fields, posting=True)
        if finished.get("success") is not True:
            raise OutcomeUnknown("Facebook did not say whether the video was published")
        return video_id


def _offsets(answer: dict[str, object]) -> tuple[int, int]:
    try:
        return int(str(answer["start_offset"])), int(str(answer["end_offset"]))
    except (KeyError, ValueError):
        raise TransientError("Facebook's upload answer has no offsets") from None
