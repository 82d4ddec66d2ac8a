"""What Meta's three Graph hosts (Facebook, Instagram, Threads) share, for their contract servers.

Written from developers.facebook.com/docs/graph-api: guides/error-handling (the error
object and its codes), overview/rate-limiting (the usage headers), and the versioning
overview (a path starts with the version, `/v25.0/...`; an unknown or retired one is
refused). The Threads host is unversioned at `v1.0` and the servers take a set of versions.

- the token is read as Graph reads it: `Authorization: Bearer`, or `access_token` in the
  query or the form; none -> 400 code 2500, unknown -> 400 code 190, one listed in
  `expired` -> 400 code 190 subcode 463 (`Session has expired on ...`);
- parameters are merged from the query, a form body and a multipart body (files kept);
- `fault_*` build the scripted answers every network's tests use: rate limit (with the
  network's usage header), the ambiguous 500 (code 2, after the post was created),
  an expired token, a slow answer.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from tests.servers.base import ContractServer, Fault, Request, Response
from tests.servers.oauth2 import Client, OAuth2Provider

APP_ID, APP_SECRET = "1122334455667788", "meta-app-secret-0123456789abcdef"


def error(
    status: int, code: int, message: str, subcode: int | None = None, kind: str = "OAuthException"
) -> Response:
    body: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEfGhIjK"}
    if subcode is not None:
        body["error_subcode"] = subcode
    return Response(status, {"error": body})


def expired_token() -> Response:
    return error(
        400,
        190,
        "Error validating access token: Session has expired on Tuesday, 01-Dec-26 08:00:00 PST. "
        "The current time is Tuesday, 01-Dec-26 09:00:00 PST.",
        463,
    )


def ambiguous_500() -> Response:
    """What Meta answers when it failed midway: the post may exist all the same ([koala])."""
    return Response(
        500,
        {
            "error": {
                "message": "An unexpected error has occurred. Please retry your request later.",
                "type": "OAuthException",
                "is_transient": True,
                "code": 2,
                "fbtrace_id": "AbCdEfGhIjK",
            }
        },
    )


@dataclass
class Upload:
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class Call:
    """One request as Graph reads it."""

    version: str
    path: list[str]
    token: str | None
    params: dict[str, str]
    files: dict[str, Upload] = field(default_factory=dict)


class GraphServer(ContractServer):
    versions: tuple[str, ...] = ("v25.0",)
    network = "Facebook"

    def __init__(self, tokens: dict[str, str], *, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.tokens = dict(tokens)
        """token -> the id of the Page or user it acts as."""
        self.expired: set[str] = set()
        self.refreshed: list[str] = []
        """Tokens a token-refresh endpoint renewed (Threads), in order."""
        self.clock = clock or (lambda: datetime.now(UTC))
        self.ids = itertools.count(17_841_400_000_000_001)

    def new_id(self) -> str:
        return str(next(self.ids))

    def created_time(self) -> str:
        return self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")

    # -- reading a request --------------------------------------------------------------------------

    def read(self, request: Request) -> Call | Response:
        parts = request.path.strip("/").split("/")
        version, rest = parts[0], parts[1:]
        if version not in self.versions:
            if version.startswith("v") and version[1:].replace(".", "").isdigit():
                return error(
                    400,
                    2635,
                    f"(#2635) You are calling a deprecated version of the Graph API. "
                    f"Please update to the latest version: {self.versions[-1]}.",
                )
            return error(400, 2500, f"Unknown path components: /{request.path.strip('/')}")
        params = {k: v[0] for k, v in request.query.items()}
        files: dict[str, Upload] = {}
        content_type = request.header("Content-Type") or ""
        if "multipart/form-data" in content_type:
            for name, upload in _multipart(request).items():
                if upload.filename is None:
                    params[name] = upload.data.decode("utf-8")
                else:
                    files[name] = upload
        elif request.body:
            params.update(
                {k: v[0] for k, v in parse_qs(request.body.decode("utf-8"), keep_blank_values=True).items()}
            )
        auth = request.header("Authorization") or ""
        token = (
            auth.removeprefix("Bearer ").strip()
            if auth.startswith("Bearer ")
            else params.pop("access_token", None)
        )
        params.pop("access_token", None)
        return Call(version, rest, token, params, files)

    def auth(self, call: Call) -> Response | str:
        """The id the token acts as, or Graph's refusal."""
        if not call.token:
            return error(
                400, 2500, "An active access token must be used to query information about the current user."
            )
        if call.token in self.expired:
            return expired_token()
        owner = self.tokens.get(call.token)
        if owner is None:
            return error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        return owner

    def handle(self, request: Request) -> Response:
        call = self.read(request)
        if isinstance(call, Response):
            return call
        owner = self.auth(call)
        if isinstance(owner, Response):
            return owner
        with self.lock:
            return self.route(request.method, call, owner)

    def route(self, method: str, call: Call, owner: str) -> Response:
        raise NotImplementedError

    # -- scripted faults ----------------------------------------------------------------------------

    @staticmethod
    def posting(path_end: str) -> Callable[[Request], bool]:
        return lambda r: r.method == "POST" and r.path.rstrip("/").endswith(path_end)

    def fault_expired(self, match: Callable[[Request], bool]) -> Fault:
        return self.inject(Fault(match=match, response=expired_token()))

    def fault_ambiguous(self, match: Callable[[Request], bool]) -> Fault:
        """The request is processed (the post exists), then a 500 code 2 is answered."""
        return self.inject(Fault(match=match, response=ambiguous_500(), after_processing=True))

    def fault_slow(self, match: Callable[[Request], bool], seconds: float) -> Fault:
        """The answer comes `seconds` late (after the request was processed)."""
        return self.inject(Fault(match=match, delay=seconds))


def _multipart(request: Request) -> dict[str, Upload]:
    head = f"Content-Type: {request.header('Content-Type') or ''}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    parts: dict[str, Upload] = {}
    if message.is_multipart():
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str):
                parts[name] = Upload(
                    part.get_filename(),
                    part.get_content_type(),
                    payload if isinstance(payload, bytes) else b"",
                )
    return parts


def usage(kind: str, owner: str, minutes: int) -> dict[str, str]:
    """The `X-Business-Use-Case-Usage` header of a spent business-use-case budget."""
    entry = {
        "type": kind,
        "call_count": 100,
        "total_cputime": 12,
        "total_time": 14,
        "estimated_time_to_regain_access": minutes,
    }
    return {"X-Business-Use-Case-Usage": json.dumps({owner: [entry]})}


class FacebookLogin:
    """Facebook Login for a Graph server (facebook-login/guides/advanced/manual-flow,
    guides/access-tokens/get-long-lived): the dialog `GET /{version}/dialog/oauth` and the code at
    `/{version}/oauth/access_token` are `tests/servers/oauth2.py` (comma-separated scopes, no
    refresh token) for `APP_ID`; the same address with `grant_type=fb_exchange_token` (app id
    and secret, a live short-lived user token) gives a long-lived user token, about 60 days.
    `on_long_lived(token, user)` lets the server accept that token where it should."""

    def __init__(self, user: str, on_long_lived: Callable[[str, str], None]) -> None:
        self.oauth = OAuth2Provider(user=user, expires_in=5183, scope_separator=",")
        self.oauth.register(Client(APP_ID, [], secret=APP_SECRET))
        self.long_lived: dict[str, str] = {}
        """long-lived user token -> user."""
        self.on_long_lived = on_long_lived
        self._ids = itertools.count(1)

    def allow_redirect(self, uri: str) -> None:
        """Facebook Login › Settings › Valid OAuth Redirect URIs."""
        self.oauth.clients[APP_ID].redirect_uris.append(uri)

    def serve(self, request: Request, rest: list[str]) -> Response | None:
        """The answer when `rest` (the path after the version) is a Login address, else None."""
        if rest == ["dialog", "oauth"] and request.method == "GET":
            return self.oauth.authorize(request)
        if rest != ["oauth", "access_token"]:
            return None
        query = {k: v[0] for k, v in request.query.items()}
        if query.get("grant_type") != "fb_exchange_token":
            answer = self.oauth.token(request)
            if answer.status == 200:
                answer.body.pop("refresh_token", None)  # Facebook Login gives none
            return answer
        if (query.get("client_id"), query.get("client_secret")) != (APP_ID, APP_SECRET):
            return error(400, 1, "Error validating client secret.")
        user = self.oauth.user_of(query.get("fb_exchange_token", ""))
        if user is None:
            return error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        token = f"EAAlong{next(self._ids)}"
        self.long_lived[token] = user
        self.on_long_lived(token, user)
        return Response(200, {"access_token": token, "token_type": "bearer", "expires_in": 5_183_944})
