"""A server that replays recorded HTTP interactions (vcrpy cassettes) on loopback.

The cassettes in `conformance/mastodon-py-cassettes` were recorded by Mastodon.py
against a real Mastodon server. `load_cassettes` reads them into `Interaction`s;
`ReplayServer` answers each request with the next recorded interaction for the same
method and path: the recorded status, headers (minus hop-by-hop ones, which the
server recomputes) and body, byte for byte. A request nothing was recorded for is
kept in `unmatched` and answered 501, so a test can assert there were none.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.servers.base import ContractServer, Request, Response

# Recomputed by the server (or meaningless once the body is stored decoded).
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}


def _canonical(name: str) -> str:
    """`x-ratelimit-reset` -> `X-Ratelimit-Reset`: one spelling, so defaults are overridden."""
    return "-".join(part.capitalize() for part in name.split("-"))


def _as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def _single(headers: dict[str, Any] | None) -> dict[str, str]:
    """vcrpy stores every header as a list of values; join them as HTTP allows."""
    return {
        str(k): ", ".join(str(v) for v in (vs if isinstance(vs, list) else [vs]))
        for k, vs in (headers or {}).items()
    }


@dataclass(frozen=True)
class Interaction:
    """One recorded request and the response the real server gave."""

    source: str
    """`cassette.yaml#index`, for assertion messages."""
    method: str
    path: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    def request_header(self, name: str) -> str | None:
        for key, value in self.request_headers.items():
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def request_params(self) -> dict[str, Any]:
        """The recorded request's parameters, whether it was sent as a form or as JSON."""
        content_type = self.request_header("Content-Type") or ""
        if "json" in content_type:
            data = json.loads(self.request_body or b"null")
            return data if isinstance(data, dict) else {}
        form = parse_qs(self.request_body.decode("utf-8"), keep_blank_values=True)
        return {k: v[0] if len(v) == 1 else v for k, v in form.items()}


def load_cassette(path: Path) -> list[Interaction]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    found = []
    for index, item in enumerate(data.get("interactions") or []):
        request, response = item["request"], item["response"]
        body = response.get("body")
        found.append(
            Interaction(
                source=f"{path.name}#{index}",
                method=str(request["method"]).upper(),
                path=urlsplit(request["uri"]).path,
                request_headers=_single(request.get("headers")),
                request_body=_as_bytes(request.get("body")),
                status=int(response["status"]["code"]),
                headers=_single(response.get("headers")),
                body=_as_bytes(body.get("string") if isinstance(body, dict) else body),
            )
        )
    return found


def load_cassettes(directory: Path, pattern: str = "*.yaml") -> list[Interaction]:
    found: list[Interaction] = []
    for path in sorted(directory.glob(pattern)):
        found += load_cassette(path)
    return found


class ReplayServer(ContractServer):
    def __init__(self, interactions: Iterable[Interaction]) -> None:
        super().__init__()
        self._queues: dict[tuple[str, str], deque[Interaction]] = {}
        for interaction in interactions:
            self._queues.setdefault((interaction.method, interaction.path), deque()).append(interaction)
        self.served: list[Interaction] = []
        self.unmatched: list[Request] = []

    def handle(self, request: Request) -> Response:
        with self.lock:
            queue = self._queues.get((request.method, request.path))
            if not queue:
                self.unmatched.append(request)
                return Response(501, {"error": f"nothing recorded for {request.method} {request.path}"})
            interaction = queue.popleft()
            self.served.append(interaction)
        headers = {_canonical(k): v for k, v in interaction.headers.items() if k.lower() not in _HOP_BY_HOP}
        return Response(interaction.status, headers=headers, raw=interaction.body)
