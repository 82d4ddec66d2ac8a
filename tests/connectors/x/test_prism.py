"""Every kind of request the X connector makes, sent to Prism serving X's own OpenAPI spec.

Prism (`prism_x`, tests/peers/launcher.py) validates each request against the spec
(2.167; only its OAuth 1.0a security scheme is patched so Prism can read it) and lists
what it finds in the `sl-violations` response header. A request violation means our
request is outside X's contract: a 422 and an entry whose location starts with
`request`. Prism's answers are generated from the spec's schemas (ids like "string"),
so the connector is driven step by step with real-looking ids where an answer would
otherwise feed the next request.

The kinds of request are the operations the connector used in a full run against the
contract server (posts, a reply, image + alt text, chunked video, lookup), so a new kind
of request cannot be added without being checked here too.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from postmast.connectors import Content, MediaFile, RemoteRef
from postmast.connectors.errors import ConnectorError
from postmast.connectors.http import HttpClient
from postmast.connectors.x import X
from postmast.connectors.x.lookup import Timeline
from tests.servers.x import BEARER, OAUTH1, XServer
from tests.servers.x_openapi import XSpec

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 9000
MEDIA_ID = "1880028106020515840"
POST_ID = "1346889436626259968"
USER_ID = "2244994945"


class NoWait(HttpClient):
    def pause(self, seconds: float, why: str) -> None:
        super().pause(0, why)


@pytest.fixture(scope="module")
def spec(conformance: Path) -> XSpec:
    return XSpec.load(conformance / "x-openapi" / "openapi.json")


@pytest.fixture(scope="module")
def operations_used(conformance: Path) -> set[str]:
    """The operations of a full run against the contract server."""
    server = XServer(conformance / "x-openapi" / "openapi.json", check_after_secs=0).start()
    try:
        account = X({"api_base": server.url}, NoWait(read_timeout=5))
        account.chunk_size = 4096
        first = account.publish(Content("first"), OAUTH1, "k")
        account.publish(Content("reply", reply_to=first.ref()), OAUTH1, "k")
        account.publish(Content("pic", (MediaFile(PNG, "image/png", "a.png", alt="alt"),)), OAUTH1, "k")
        account.publish(Content("vid", (MediaFile(MP4, "video/mp4", "v.mp4"),)), OAUTH1, "k")
        account.lookup(Content("first"), OAUTH1, "k", sent_at=datetime.now(UTC), replay_allowed=True)
        return set(server.operations)
    finally:
        server.stop()


class Recorder:
    def __init__(self) -> None:
        self.responses: list[requests.Response] = []

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.responses.append(response)


def every_request(account: X, credentials: dict[str, str]) -> None:
    """Each kind of request, built by the connector's own code."""
    api = account.api(credentials)
    media = account.media(api)
    timeline = Timeline(api)
    image = MediaFile(PNG, "image/png", "a.png", alt="a tiny picture")
    video = MediaFile(MP4, "video/mp4", "v.mp4", alt="a short clip")
    steps = [
        lambda: account.publish(Content("Hello from postmast"), credentials, "k"),
        lambda: account.publish(Content("a reply", reply_to=RemoteRef(POST_ID)), credentials, "k"),
        lambda: api.call("POST", "/2/tweets", json=account.payload(Content("pic", (image,)), [MEDIA_ID])),
        lambda: media.simple(image),
        lambda: media.initialize(video),
        lambda: media.append(MEDIA_ID, 0, MP4[:4096]),
        lambda: media.append(MEDIA_ID, 2, MP4[8192:]),
        lambda: media.finalize(MEDIA_ID),
        lambda: media.status(MEDIA_ID),
        lambda: media.describe(MEDIA_ID, image.alt),
        lambda: timeline.me(),
        lambda: timeline.page(USER_ID, datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        lambda: timeline.page(
            USER_ID, datetime(2026, 11, 25, 12, 0, tzinfo=UTC), "7140dibdnow9c7btw3z3i2rq2o3j"
        ),
    ]
    for step in steps:
        with contextlib.suppress(ConnectorError):  # Prism's generated answers ("string" ids) may not do
            step()


@pytest.mark.parametrize("credentials", [OAUTH1, BEARER], ids=["oauth1", "bearer"])
def test_every_request_fits_xs_spec(
    prism_x: Any, spec: XSpec, operations_used: set[str], credentials: dict[str, str]
) -> None:
    session = requests.Session()
    recorder = Recorder()
    session.hooks["response"].append(recorder)
    account = X({"api_base": prism_x.url, "username": "alice"}, NoWait(read_timeout=10, session=session))
    every_request(account, credentials)

    seen: dict[str, list[requests.Response]] = {}
    for response in recorder.responses:
        found = spec.operation(response.request.method or "", requests.utils.urlparse(response.url).path)
        assert found is not None, response.url
        seen.setdefault(found[0].operation_id, []).append(response)
    assert set(seen) == operations_used  # every kind the connector makes, and nothing else
    assert set(seen) >= {
        "createPosts",
        "mediaUpload",
        "initializeMediaUpload",
        "appendMediaUpload",
        "finalizeMediaUpload",
        "getMediaUploadStatus",
        "createMediaMetadata",
        "getUsersMe",
        "getUsersPosts",
    }
    for operation, responses in seen.items():
        for response in responses:
            violations = json.loads(response.headers.get("sl-violations", "[]"))
            about_request = [v for v in violations if v.get("location", [""])[0] == "request"]
            assert about_request == [], f"{operation}: {about_request}"
            assert 200 <= response.status_code < 300, (operation, response.status_code, response.text[:300])


def test_prism_does_catch_a_bad_request(prism_x: Any) -> None:
    """The check above can fail: a request outside the spec is reported (here, an unknown field)."""
    account = X({"api_base": prism_x.url}, HttpClient(read_timeout=10))
    api = account.api(OAUTH1)
    with pytest.raises(ConnectorError) as caught:
        api.call("POST", "/2/tweets", json={"text": "hi", "language": "de"})
    assert caught.value.http_status == 422
    with pytest.raises(ConnectorError):
        api.call("POST", "/2/media/metadata", json={"id": "not-a-number"})
