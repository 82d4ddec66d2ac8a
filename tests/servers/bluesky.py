"""The reference Bluesky PDS, reached through a forwarding proxy that counts and breaks requests.

Every request is forwarded to the real PDS (`@atproto/pds`, started by tests/peers/launcher.py),
and its real answer comes back, so the connector is always tested against Bluesky's own server.
The proxy only adds what that server cannot do on demand: a request log (to count logins and
refreshes), and scripted faults from `ContractServer` (429 with `RateLimit-Reset`, 5xx gateway
errors, a connection dropped before or after the PDS processed the request).

Helpers create accounts (`com.atproto.server.createAccount` with a `.test` handle, then a real
app password) and forge access tokens with the PDS's dev-mode HS256 secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.servers.base import ContractServer, Request, Response

_HOP_HEADERS = {"connection", "content-length", "content-encoding", "transfer-encoding", "keep-alive", "date"}


class PdsProxy(ContractServer):
    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream.rstrip("/")
        self.http = requests.Session()

    def handle(self, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS | {"host"}}
        answer = self.http.request(
            request.method,
            self.upstream + request.path,
            params={k: v for k, v in request.query.items()},
            data=request.body or None,
            headers=headers,
            timeout=30,
        )
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS}
        return Response(answer.status_code, headers=kept, raw=answer.content)

    def calls(self, nsid: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == f"/xrpc/{nsid}"]

    def count(self, nsid: str) -> int:
        return len(self.calls(nsid))

    def when(self, nsid: str) -> Any:
        """A matcher for `Fault(match=...)`: requests to one XRPC method."""
        return lambda r: r.path == f"/xrpc/{nsid}"


def xrpc_error(status: int, name: str, message: str = "", headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"error": name, "message": message or name}, headers or {})


@dataclass
class PdsAccount:
    handle: str
    did: str
    password: str
    app_password: str
    access_jwt: str
    refresh_jwt: str

    def state(self, service: str) -> dict[str, Any]:
        """A connector state holding the session createAccount returned (saves a slow login)."""
        return {
            "accessJwt": self.access_jwt,
            "refreshJwt": self.refresh_jwt,
            "did": self.did,
            "handle": self.handle,
            "pds": service.rstrip("/"),
        }


def create_account(pds_url: str, prefix: str = "t") -> PdsAccount:
    """A fresh account on the PDS, with an app password (what users give postmast)."""
    handle = f"{prefix}{uuid.uuid4().hex[:8]}.test"
    password = uuid.uuid4().hex
    created = requests.post(
        f"{pds_url}/xrpc/com.atproto.server.createAccount",
        json={"handle": handle, "email": f"{handle}@example.com", "password": password},
        timeout=20,
    )
    assert created.status_code == 200, created.text
    session = created.json()
    app = requests.post(
        f"{pds_url}/xrpc/com.atproto.server.createAppPassword",
        json={"name": "postmast"},
        headers={"Authorization": f"Bearer {session['accessJwt']}"},
        timeout=20,
    )
    assert app.status_code == 200, app.text
    return PdsAccount(
        handle, session["did"], password, app.json()["password"], session["accessJwt"], session["refreshJwt"]
    )


def png(width: int, height: int) -> bytes:
    """A real PNG of the given size (red pixels), for uploads and aspect ratios."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def forge_expired(token: str, secret: str = "jwt-secret") -> str:
    """The same access token, expired a minute ago, signed as the dev-mode PDS signs (HS256)."""
    header = token.split(".")[0]
    body = claims(token)
    body["exp"] = int(time.time()) - 60
    body["iat"] = body["exp"] - 7200
    signing_input = f"{header}.{_b64(json.dumps(body).encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def records(pds_url: str, did: str, collection: str = "app.bsky.feed.post") -> list[dict[str, Any]]:
    answer = requests.get(
        f"{pds_url}/xrpc/com.atproto.repo.listRecords",
        params={"repo": did, "collection": collection, "limit": 100},
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["records"])


def get_record(pds_url: str, uri: str) -> dict[str, Any]:
    repo, collection, rkey = uri.removeprefix("at://").split("/")
    answer = requests.get(
        f"{pds_url}/xrpc/com.atproto.repo.getRecord",
        params={"repo": repo, "collection": collection, "rkey": rkey},
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.fixture
def pds_proxy(pds: Any) -> Iterator[PdsProxy]:
    proxy = PdsProxy(pds.url)
    proxy.start()
    yield proxy
    proxy.stop()
