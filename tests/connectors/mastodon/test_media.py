"""Media for Mastodon (connectors/mastodon/media.py): `POST /api/v2/media`, polling until the
server has processed a file, the worker's deadline, kept uploads and their reuse, media ids the
server refuses, upload errors, the focal point, and replay of recorded media uploads.

Sources: `tests/servers/mastodon.py` (written from the official documentation) and
`conformance/mastodon-py-cassettes` (recorded traffic).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from postmast.connectors import Content, MediaFile
from postmast.connectors.errors import (
    AuthExpired,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import HttpClient
from postmast.connectors.mastodon import Mastodon
from postmast.connectors.mastodon import media as mastodon_media
from tests.connectors.mastodon import support as mastodon_support
from tests.connectors.mastodon.support import CREDS, JPEG, KEY, STATUSES, connector, photo, replay
from tests.servers.base import Fault, Request, Response
from tests.servers.mastodon import MastodonServer
from tests.servers.replay import Interaction, load_cassette

# fixtures shared with the other Mastodon test files (pytest finds a fixture by its name here)
cassettes = mastodon_support.cassettes
fast_polls = mastodon_support.fast_polls


# == media: POST /api/v2/media, then wait until processed ============================================


@dataclass(frozen=True)
class FocusedMedia(MediaFile):
    """A media file with a focal point (the core's MediaFile has none yet)."""

    focus: tuple[float, float] | None = None


def test_an_image_processed_at_once_is_attached(mastodon: MastodonServer) -> None:
    account = connector(mastodon)
    content = Content("with a picture", (photo(),))
    assert account.payload(content) == {
        "status": "with a picture",
        "media_ids": ["<id of bike.jpg once uploaded>"],
    }
    result = account.publish(content, CREDS, KEY)
    upload, status_request = mastodon.requests
    assert (upload.method, upload.path, status_request.path) == ("POST", "/api/v2/media", "/api/v1/statuses")
    assert upload.header("Authorization") == "Bearer token-a" and upload.header("Idempotency-Key") is None
    parts = MastodonServer._multipart(upload)
    assert parts["file"] == ("bike.jpg", "image/jpeg", photo().data)
    assert parts["description"][2] == b"a red bicycle" and "focus" not in parts
    [media_id] = mastodon.media
    assert status_request.json() == {**account.payload(content), "media_ids": [media_id]}
    assert status_request.header("Idempotency-Key") == KEY
    [attached] = mastodon.statuses[result.remote_id]["media_attachments"]
    assert attached["id"] == media_id and attached["description"] == "a red bicycle"
    assert account.state == {}  # nothing kept once the status exists


def test_media_processed_in_the_background_is_polled_until_ready(
    mastodon: MastodonServer, fast_polls: None
) -> None:
    """202 (url null), then 206 while processing, then 200: only then is the status posted."""
    mastodon.async_media, mastodon.processing_polls = True, 2
    pauses: list[str] = []
    http = HttpClient(connect_timeout=2, read_timeout=2)
    original = http.pause
    http.pause = lambda seconds, why: (pauses.append(why), original(seconds, why))[-1]  # type: ignore[method-assign]
    account = Mastodon({"instance": mastodon.url}, http)
    result = account.publish(Content("slow media", (photo(),)), CREDS, KEY)
    [media_id] = mastodon.media
    assert [(r.method, r.path) for r in mastodon.requests] == [
        ("POST", "/api/v2/media"),
        ("GET", f"/api/v1/media/{media_id}"),
        ("GET", f"/api/v1/media/{media_id}"),
        ("GET", f"/api/v1/media/{media_id}"),
        ("POST", "/api/v1/statuses"),
    ]
    assert pauses == ["Mastodon is processing bike.jpg"] * 3
    assert len(mastodon.statuses[result.remote_id]["media_attachments"]) == 1


def test_a_video_is_processed_in_the_background_by_default(
    mastodon: MastodonServer, fast_polls: None
) -> None:
    video = MediaFile(b"\0\0\0\x18ftypmp42" + bytes(64), "video/mp4", "clip.mp4", "a clip")
    connector(mastodon).publish(Content("", (video,)), CREDS, KEY)
    assert [r.path.count("/media/") for r in mastodon.requests] == [0, 1, 1, 1, 0]
    [created] = mastodon.created
    assert created["text"] == "" and len(created["media_ids"]) == 1


def test_processing_past_the_deadline_is_transient_and_the_retry_resumes(mastodon: MastodonServer) -> None:
    """The worker's deadline ends the wait with a TransientError (nothing posted); the next attempt
    polls the same upload instead of sending the file again."""
    mastodon.async_media, mastodon.processing_polls = True, 1000
    state: dict[str, object] = {}
    first = Mastodon(
        {"instance": mastodon.url}, HttpClient(read_timeout=2, deadline=time.monotonic() + 2.2), state=state
    )
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        first.publish(Content("a long video", (photo(),)), CREDS, KEY)
    assert "time limit reached while waiting: Mastodon is processing bike.jpg" in str(caught.value)
    assert time.monotonic() - started < 2.2
    assert mastodon.created == [] and len(mastodon.uploads) == 1
    assert mastodon_media.STATE_KEY in state  # the upload's id, kept for the retry
    mastodon.processing_polls = 0
    for media in mastodon.media.values():
        media["pending"] = 0
    result = Mastodon({"instance": mastodon.url}, HttpClient(read_timeout=2), state=state).publish(
        Content("a long video", (photo(),)), CREDS, KEY
    )
    assert len(mastodon.uploads) == 1  # not uploaded again
    assert [c["media_ids"] for c in mastodon.created] == [list(mastodon.media)]
    assert result.remote_id == mastodon.created[0]["id"] and state == {}


def test_without_a_deadline_the_wait_is_bounded(
    mastodon: MastodonServer, fast_polls: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mastodon_media, "NO_DEADLINE_WAIT", 0.1)
    mastodon.async_media, mastodon.processing_polls = True, 1000
    with pytest.raises(TransientError) as caught:
        connector(mastodon).publish(Content("x", (photo(),)), CREDS, KEY)
    assert "still processing bike.jpg" in str(caught.value) and "nothing was posted" in str(caught.value)
    assert mastodon.created == []


def test_kept_uploads_are_reused_within_a_few_hours_only(mastodon: MastodonServer) -> None:
    state: dict[str, object] = {}
    account = Mastodon({"instance": mastodon.url}, state=state)
    mastodon.inject(
        Fault(match=lambda r: r.path == "/api/v1/statuses", response=Response(503, {"error": "busy"}))
    )
    with pytest.raises(TransientError):
        account.publish(Content("retried", (photo(),)), CREDS, KEY)
    kept = state[mastodon_media.STATE_KEY]
    assert isinstance(kept, dict) and list(kept) == [KEY]
    later = datetime.now(UTC) + mastodon_media.REUSE_FOR + timedelta(minutes=1)
    uploads = mastodon_media.MediaUploads(account.http, account.base_url, {}, state, clock=lambda: later)
    uploads.forget("another key")  # any use drops what is too old to reuse
    assert state == {}


def test_a_kept_id_the_server_no_longer_has_is_uploaded_again(
    mastodon: MastodonServer, fast_polls: None
) -> None:
    state: dict[str, object] = {}
    account = Mastodon({"instance": mastodon.url}, state=state)
    mastodon.async_media, mastodon.processing_polls = True, 1000
    account.http.deadline = time.monotonic() + 1.6
    with pytest.raises(TransientError):
        account.publish(Content("vanished", (photo(),)), CREDS, KEY)
    mastodon.media.clear()  # e.g. removed by the server's clean-up
    mastodon.async_media = False
    account.http.deadline = None
    result = account.publish(Content("vanished", (photo(),)), CREDS, KEY)
    assert len(mastodon.uploads) == 2 and len(mastodon.statuses[result.remote_id]["media_attachments"]) == 1


def test_a_stale_kept_id_is_refused_with_422_and_forgotten(mastodon: MastodonServer) -> None:
    """Real Mastodon refuses unknown media ids (the mock accepts them); so must our server."""
    state: dict[str, object] = {}
    account = Mastodon({"instance": mastodon.url}, state=state)
    uploads = account._uploads(CREDS)
    uploads._remember(KEY, mastodon_media._fingerprint(0, photo()), "999", True)
    with pytest.raises(PermanentError) as caught:
        account.publish(Content("stale", (photo(),)), CREDS, KEY)
    assert caught.value.http_status == 422
    assert "Media 999 not found or already attached to another post" in str(caught.value)
    assert mastodon.created == [] and state == {}


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        ("unknown", "Media 1 not found or already attached to another post"),
        ("unprocessed", "Cannot attach files that have not finished processing. Try again in a moment!"),
        ("too many", "Cannot attach more than 4 files"),
    ],
)
def test_the_server_refuses_media_ids_as_mastodon_does(
    mastodon: MastodonServer, problem: str, expected: str
) -> None:
    mastodon.async_media = True
    upload = connector(mastodon)._uploads(CREDS)._upload(photo())[0]
    ids = {"unknown": ["1"], "unprocessed": [upload], "too many": [upload] * 5}[problem]
    with pytest.raises(PermanentError) as caught:
        connector(mastodon)._post_status(Content("x"), CREDS, KEY, ids)
    assert caught.value.http_status == 422 and expected in str(caught.value)


@pytest.mark.parametrize(
    ("response", "error", "words"),
    [
        (
            Response(422, {"error": "Validation failed: File content type is invalid, File is invalid"}),
            PermanentError,
            "Mastodon refused bike.jpg (Mastodon answered 422: Validation failed: File content type",
        ),
        (
            Response(500, {"error": "Error processing thumbnail for uploaded media"}),
            TransientError,
            "Mastodon answered 500: Error processing thumbnail for uploaded media (uploading bike.jpg)",
        ),
        (
            Response(413, raw=b"<html><head><title>413 Request Entity Too Large</title></head></html>"),
            PermanentError,
            "bike.jpg is larger than the server accepts (Mastodon answered 413: <html>",
        ),
        (Response(401, {"error": "The access token is invalid"}), AuthExpired, "token is invalid"),
        (Response(403, {"error": "This action is outside the authorized scopes"}), AuthExpired, "scopes"),
        (Response(502, {"error": "Bad gateway"}), TransientError, "502: Bad gateway (uploading bike.jpg)"),
        (Response(504, raw=b""), TransientError, "(uploading bike.jpg)"),
        (
            Response(503, {"error": "Remote data could not be fetched"}),
            TransientError,
            "could not be fetched",
        ),
        (
            Response(202, {"url": None}),
            TransientError,
            "answered 202 to the upload of bike.jpg without an id",
        ),
    ],
    ids=["422", "500-thumbnail", "413", "401", "403", "502", "504", "503", "202-no-id"],
)
def test_upload_errors_are_classified(
    mastodon: MastodonServer, response: Response, error: type[ConnectorError], words: str
) -> None:
    mastodon.inject(Fault(match=lambda r: r.path == "/api/v2/media", response=response))
    with pytest.raises(ConnectorError) as caught:
        connector(mastodon).publish(Content("x", (photo(),)), CREDS, KEY)
    assert type(caught.value) is error and words in str(caught.value)
    assert caught.value.http_status == response.status
    assert mastodon.created == []


def test_the_server_refuses_files_as_mastodon_does(mastodon: MastodonServer) -> None:
    mastodon.configuration["media_attachments"]["description_limit"] = 5
    cases = [
        (MediaFile(b"not a png", "image/png", "fake.png"), "File content type is invalid"),
        (MediaFile(JPEG, "image/bmp", "a.bmp"), "File content type is invalid"),
        (photo(alt="too long"), "Description is too long (maximum is 5 characters)"),
    ]
    for media, words in cases:
        with pytest.raises(PermanentError) as caught:
            connector(mastodon).publish(Content("x", (media,)), CREDS, KEY)
        assert caught.value.http_status == 422 and words in str(caught.value)
    assert mastodon.media == {} and mastodon.created == []


def test_a_failed_processing_is_permanent(mastodon: MastodonServer, fast_polls: None) -> None:
    mastodon.async_media, mastodon.processing_polls, mastodon.fail_processing = True, 1, True
    with pytest.raises(PermanentError) as caught:
        connector(mastodon).publish(Content("x", (photo(),)), CREDS, KEY)
    assert caught.value.http_status == 422 and "Error processing thumbnail" in str(caught.value)
    assert mastodon.created == []


def test_an_upload_without_an_answer_is_transient_not_unknown(mastodon: MastodonServer) -> None:
    """An upload is not a post: a lost answer leaves at most an unattached file."""
    mastodon.inject(Fault(match=lambda r: r.path == "/api/v2/media", after_processing=True, drop=True))
    with pytest.raises(TransientError) as caught:
        connector(mastodon).publish(Content("x", (photo(),)), CREDS, KEY)
    assert "nothing was posted" in str(caught.value)
    assert len(mastodon.uploads) == 1 and mastodon.created == []


def test_media_uploads_are_rate_limited_with_the_reset(mastodon: MastodonServer) -> None:
    mastodon.inject(
        Fault(
            match=lambda r: r.path == "/api/v2/media",
            response=Response(
                429, {"error": "Too many requests"}, {"X-RateLimit-Reset": mastodon.reset_in(1800)}
            ),
        )
    )
    with pytest.raises(RateLimited) as caught:
        connector(mastodon).publish(Content("x", (photo(),)), CREDS, KEY)
    assert caught.value.retry_after == pytest.approx(1800, abs=3)


def test_focus_is_sent_when_the_file_has_one(mastodon: MastodonServer) -> None:
    media = FocusedMedia(JPEG, "image/jpeg", "f.jpg", "focused", focus=(-0.5, 0.3))
    result = connector(mastodon).publish(Content("x", (media,)), CREDS, KEY)
    assert MastodonServer._multipart(mastodon.requests[0])["focus"][2] == b"-0.5,0.3"
    [attached] = mastodon.statuses[result.remote_id]["media_attachments"]
    assert attached["meta"] == {"focus": {"x": -0.5, "y": 0.3}}
    with pytest.raises(PermanentError, match=r"within -1\.0\.\.1\.0"):
        connector(mastodon).publish(Content("x", (replace(media, focus=(2.0, 0.0)),)), CREDS, "k2")
    assert mastodon_media.focus_value(None) is None
    with pytest.raises(PermanentError, match="two numbers"):
        mastodon_media.focus_value("middle")


def test_replay_of_the_recorded_media_upload(cassettes: Path) -> None:
    """test_media_post_file.yaml: the real server's answer to `POST /api/v2/media`, served to the
    connector's upload of the same file: the recorded id, processed at once (200, url set)."""
    [recorded] = load_cassette(cassettes / "test_media_post_file.yaml")
    [sent_file] = [p for name, p in _recorded_parts(recorded).items() if name == "file"]
    filename, mime, data = sent_file
    assert (recorded.method, recorded.path, recorded.status, mime) == (
        "POST",
        "/api/v2/media",
        200,
        "image/jpeg",
    )
    with replay([recorded]) as server:
        account = connector(server)
        ids = account._uploads(CREDS).ids_for([MediaFile(data, mime, str(filename))], KEY)
    assert ids == ["117020576894251992"] == [recorded.json()["id"]]
    assert server.unmatched == [] and len(server.requests) == 1  # no polling: it was processed
    assert _recorded_parts(recorded)["file"] == MastodonServer._multipart(server.requests[0])["file"]
    assert recorded.header("x-ratelimit-limit") == "30"  # media has its own budget (30 per 30 min)


def test_replay_of_a_recorded_post_with_two_images(cassettes: Path) -> None:
    """test_media_post_multiple.yaml: two uploads with description and focus, then a status with
    both ids, all recorded against a real server and replayed through `publish`."""
    flow = [
        i
        for i in load_cassette(cassettes / "test_media_post_multiple.yaml")
        if (i.method, i.path) in (("POST", "/api/v2/media"), STATUSES)
    ]
    files = []
    for upload in flow[:2]:
        parts = _recorded_parts(upload)
        focus = tuple(float(v) for v in parts["focus"][2].decode().split(","))
        name, mime, data = parts["file"]
        files.append(FocusedMedia(data, mime, str(name), parts["description"][2].decode(), focus=focus))
    with replay(flow) as server:
        result = connector(server).publish(Content("LOL check this out", tuple(files)), CREDS, KEY)
    assert server.unmatched == [] and server.served == flow
    assert result.remote_id == flow[2].json()["id"]
    for upload, request in zip(flow[:2], server.requests[:2], strict=True):
        assert _recorded_parts(upload) == MastodonServer._multipart(request)  # what Mastodon.py sent
    assert server.requests[2].json() == {
        "status": flow[2].request_params()["status"],
        "media_ids": flow[2].request_params()["media_ids[]"],
    }


def _recorded_parts(interaction: Interaction) -> dict[str, tuple[str | None, str, bytes]]:
    request = Request("POST", interaction.path, {}, interaction.request_headers, interaction.request_body)
    return MastodonServer._multipart(request)
