"""Media for X posts (connectors/x/media.py) against the contract server: simple upload for
images, chunked INITIALIZE / APPEND / FINALIZE with STATUS polling for video and GIF, alt text
through the metadata endpoint, and how failures of each step are classified.

Every request is checked by the server against the spec's request schemas (2.167:
MediaUploadRequest, InitializeMediaUploadRequest, AppendMediaUploadRequest, CreateMediaMetadataRequest).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postmast.connectors import Content, MediaFile
from postmast.connectors.errors import AuthExpired, PermanentError, RateLimited, TransientError
from postmast.connectors.http import HttpClient
from postmast.connectors.x import X
from postmast.connectors.x.media import category
from tests.servers.base import Fault, Request, Response
from tests.servers.x import OAUTH1, XServer

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
GIF = b"GIF89a" + bytes(range(256)) * 10
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40  # 10,252 bytes


class Recording(HttpClient):
    """An HttpClient whose pauses are recorded instead of slept."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pauses: list[float] = []

    def pause(self, seconds: float, why: str) -> None:
        self.pauses.append(seconds)
        super().pause(0, why)


def connector(server: XServer, *, chunk_size: int = 4096, **http: Any) -> X:
    account = X({"api_base": server.url, "username": "alice"}, Recording(read_timeout=5, **http))
    account.chunk_size = chunk_size
    return account


def pauses(account: X) -> list[float]:
    assert isinstance(account.http, Recording)
    return account.http.pauses


@pytest.fixture
def x_server(conformance: Path) -> Iterator[XServer]:
    server = XServer(conformance / "x-openapi" / "openapi.json", check_after_secs=3).start()
    yield server
    server.stop()


def path_is(*parts: str) -> Any:
    return lambda r: r.path.endswith(parts) if len(parts) > 1 else r.path.endswith(parts[0])


# == the flows =====================================================================================


def test_an_image_with_alt_text(x_server: XServer) -> None:
    image = MediaFile(PNG, "image/png", "cat.png", alt="A cat asleep on a keyboard")
    result = connector(x_server).publish(Content("look", (image,)), OAUTH1, "key")
    assert x_server.operations == ["mediaUpload", "createMediaMetadata", "createPosts"]
    [upload] = x_server.uploads.values()
    assert (upload.category, upload.media_type, upload.chunks[0], upload.alt) == (
        "tweet_image", "image/png", PNG, "A cat asleep on a keyboard"
    )  # fmt: skip
    post = x_server.posts[result.remote_id]
    assert post["media_ids"] == [upload.id]
    metadata = x_server.requests[1].json()
    assert metadata == {"id": upload.id, "metadata": {"alt_text": {"text": "A cat asleep on a keyboard"}}}
    assert (x_server.requests[0].header("Content-Type") or "").startswith("multipart/form-data")


def test_four_images_keep_their_order_and_no_alt_means_no_metadata(x_server: XServer) -> None:
    images = tuple(MediaFile(PNG + bytes([n]), "image/png", f"{n}.png") for n in range(4))
    result = connector(x_server).publish(Content("four", images), OAUTH1, "key")
    ids = x_server.posts[result.remote_id]["media_ids"]
    assert [x_server.uploads[i].chunks[0][-1] for i in ids] == [0, 1, 2, 3]
    assert x_server.operations == ["mediaUpload"] * 4 + ["createPosts"]


def test_a_video_goes_up_in_chunks_and_is_waited_for(x_server: XServer) -> None:
    video = MediaFile(MP4, "video/mp4", "clip.mp4", alt="A short clip")
    account = connector(x_server, chunk_size=4096)
    result = account.publish(Content("watch", (video,)), OAUTH1, "key")
    assert x_server.operations == [
        "initializeMediaUpload",
        *["appendMediaUpload"] * 3,
        "finalizeMediaUpload",
        "getMediaUploadStatus",
        "getMediaUploadStatus",
        "createPosts",
    ]  # no metadata: X takes alt text for images and GIFs only
    [upload] = x_server.uploads.values()
    assert x_server.requests[0].json() == {
        "media_type": "video/mp4",
        "total_bytes": len(MP4),
        "media_category": "tweet_video",
    }
    assert b"".join(upload.chunks[i] for i in sorted(upload.chunks)) == MP4 and sorted(upload.chunks) == [
        0,
        1,
        2,
    ]
    assert upload.state == "succeeded" and upload.alt is None
    assert pauses(account) == [3, 3]  # check_after_secs, through HttpClient.pause, before each STATUS
    assert x_server.posts[result.remote_id]["media_ids"] == [upload.id]


def test_a_gif_is_chunked_as_tweet_gif_with_its_alt_text(x_server: XServer) -> None:
    gif = MediaFile(GIF, "image/gif", "loop.gif", alt="A cat chasing its tail")
    connector(x_server).publish(Content("loop", (gif,)), OAUTH1, "key")
    [upload] = x_server.uploads.values()
    assert upload.category == "tweet_gif" and upload.state == "succeeded"
    assert upload.alt == "A cat chasing its tail" and x_server.operations[-2:] == [
        "createMediaMetadata",
        "createPosts",
    ]
    assert x_server.operations[0] == "initializeMediaUpload"
    assert category(gif) == "tweet_gif"


def test_media_that_needs_no_processing_is_not_polled(conformance: Path) -> None:
    server = XServer(conformance / "x-openapi" / "openapi.json", processing=()).start()
    try:
        account = connector(server)
        account.publish(Content("v", (MediaFile(MP4, "video/mp4", "v.mp4"),)), OAUTH1, "key")
    finally:
        server.stop()
    assert "getMediaUploadStatus" not in server.operations and pauses(account) == []


def test_a_retry_after_a_failed_upload_posts_once(x_server: XServer) -> None:
    x_server.inject(
        Fault(match=path_is("/finalize"), response=Response(503, {"title": "Service Unavailable"}))
    )
    account = connector(x_server)
    video = MediaFile(MP4, "video/mp4", "v.mp4")
    with pytest.raises(TransientError):
        account.publish(Content("v", (video,)), OAUTH1, "key")
    assert x_server.created == []
    account.publish(Content("v", (video,)), OAUTH1, "key")
    assert len(x_server.created) == 1


# == failures ======================================================================================


def test_processing_that_fails_is_permanent(conformance: Path) -> None:
    server = XServer(conformance / "x-openapi" / "openapi.json", processing=("pending", "failed")).start()
    try:
        with pytest.raises(PermanentError) as caught:
            connector(server).publish(Content("v", (MediaFile(MP4, "video/mp4", "bad.mp4"),)), OAUTH1, "key")
    finally:
        server.stop()
    assert "bad.mp4" in str(caught.value) and server.created == []


def test_processing_that_never_ends_gives_up(conformance: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("postmast.connectors.x.media.MAX_STATUS_CHECKS", 4)
    server = XServer(conformance / "x-openapi" / "openapi.json", processing=("in_progress",)).start()
    try:
        account = connector(server)
        with pytest.raises(TransientError) as caught:
            account.publish(Content("v", (MediaFile(MP4, "video/mp4", "slow.mp4"),)), OAUTH1, "key")
    finally:
        server.stop()
    assert "still processing slow.mp4" in str(caught.value)
    assert len(pauses(account)) == 4 and server.created == []


def test_waiting_past_the_deadline_is_transient(conformance: Path) -> None:
    server = XServer(conformance / "x-openapi" / "openapi.json", check_after_secs=30).start()
    try:
        account = X({"api_base": server.url}, HttpClient(read_timeout=2, deadline=time.monotonic() + 10))
        started = time.monotonic()
        with pytest.raises(TransientError) as caught:
            account.publish(Content("v", (MediaFile(MP4, "video/mp4", "v.mp4"),)), OAUTH1, "key")
    finally:
        server.stop()
    assert "time limit" in str(caught.value) and time.monotonic() - started < 5
    assert server.created == []


@pytest.mark.parametrize("step", ["/2/media/upload", "/finalize", "/append", "/2/media/metadata"])
@pytest.mark.parametrize(
    "fault",
    [
        Fault(response=Response(502, {"title": "Bad Gateway"})),
        Fault(response=Response(504, {"title": "Gateway Timeout"})),
        Fault(drop=True),
    ],
    ids=["502", "504", "dropped"],
)
def test_an_unknown_outcome_during_a_media_step_is_transient(
    x_server: XServer, step: str, fault: Fault
) -> None:
    """No post can exist before POST /2/tweets: a retry is safe, reconciliation is not needed."""
    fault.match = lambda r: r.path.endswith(step) and r.method == "POST"
    x_server.inject(fault)
    item = (
        MediaFile(PNG, "image/png", "a.png", alt="alt")
        if step in ("/2/media/upload", "/2/media/metadata")
        else MediaFile(MP4, "video/mp4", "v.mp4")
    )
    with pytest.raises(TransientError) as caught:
        connector(x_server).publish(Content("m", (item,)), OAUTH1, "key")
    assert "nothing was posted" in str(caught.value)
    assert x_server.created == []


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, PermanentError),
        (401, AuthExpired),
        (403, PermanentError),
        (429, RateLimited),
        (503, TransientError),
    ],
)
def test_media_step_errors_keep_their_class(x_server: XServer, status: int, error: type[Exception]) -> None:
    x_server.inject(
        Fault(match=path_is("/initialize"), response=Response(status, {"title": f"scripted {status}"}))
    )
    with pytest.raises(error) as caught:
        connector(x_server).publish(Content("v", (MediaFile(MP4, "video/mp4", "v.mp4"),)), OAUTH1, "key")
    assert f"to POST /2/media/upload/initialize: scripted {status}" in str(caught.value)


def test_the_server_refuses_an_image_over_5_mb(x_server: XServer) -> None:
    big = MediaFile(PNG + b"\x00" * 5_242_880, "image/png", "big.png")  # validate() would refuse it first
    with pytest.raises(PermanentError) as caught:
        connector(x_server).publish(Content("big", (big,)), OAUTH1, "key")
    assert caught.value.http_status == 400 and "File size exceeds" in str(caught.value)


def test_an_upload_answer_without_a_media_id_is_transient(x_server: XServer) -> None:
    x_server.inject(Fault(match=path_is("/2/media/upload"), response=Response(200, {"data": {"id": "x"}})))
    with pytest.raises(TransientError) as caught:
        connector(x_server).publish(Content("m", (MediaFile(PNG, "image/png", "a.png"),)), OAUTH1, "key")
    assert "without a media id" in str(caught.value)


def test_more_than_1000_chunks_are_refused_before_sending(x_server: XServer) -> None:
    with pytest.raises(PermanentError) as caught:
        connector(x_server, chunk_size=8).publish(
            Content("v", (MediaFile(MP4, "video/mp4", "v.mp4"),)), OAUTH1, "k"
        )
    assert "1282 chunks" in str(caught.value) and x_server.requests == []


def test_append_sends_the_segment_index_as_a_form_field(x_server: XServer) -> None:
    connector(x_server, chunk_size=6000).publish(
        Content("v", (MediaFile(MP4, "video/mp4", "v.mp4"),)), OAUTH1, "k"
    )
    appends: list[Request] = [r for r in x_server.requests if r.path.endswith("/append")]
    assert len(appends) == 2
    assert all(b'name="segment_index"' in r.body and b'name="media"' in r.body for r in appends)
    assert b"\r\n\r\n1\r\n" in appends[1].body
