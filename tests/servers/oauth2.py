"""An OAuth 2.0 authorization server for the contract servers: authorization code with PKCE, and
refresh tokens (RFC 6749 §4.1 and §6, RFC 7636), as X and Mastodon serve them.

- `GET {authorize}`: checks `response_type=code`, the client, an exact registered
  `redirect_uri`, the scopes, and a PKCE `code_challenge` with `code_challenge_method=S256`
  (X and Mastodon 4.3 take S256); the test's "user" consents at once: 302 to the redirect
  URI with `code` and the client's `state`. Bad client or redirect URI: 400, no redirect
  (RFC 6749 §4.1.2.1); other errors redirect with `error=`.
- `POST {token}`: form body. `authorization_code`: the code once, its redirect URI, and
  `code_verifier` whose S256 equals the challenge; a confidential client authenticates
  with HTTP Basic (or `client_secret` in the body). `refresh_token`: a live refresh token,
  rotated on use (X's behaviour: the old one is spent). Errors are 400 with `error`.
- Issued access tokens belong to the user who consented; `user_of(token)` tells the
  network's routes who that is.
- Per network: `offline` is a parameter of the authorization URL without which no refresh
  token is issued (Google's `access_type=offline`, Reddit's `duration=permanent`);
  `scope_separator` is how the scopes are joined (Pinterest: commas); `extra` adds fields to
  every token answer (Pinterest's `refresh_token_expires_in`).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode

from tests.servers.base import Request, Response


@dataclass
class Client:
    client_id: str
    redirect_uris: list[str]
    secret: str | None = None
    scopes: frozenset[str] = frozenset()


@dataclass
class Grant:
    client_id: str
    user: str
    redirect_uri: str
    challenge: str
    scopes: tuple[str, ...]
    offline: bool = True


@dataclass
class OAuth2Provider:
    """Shared by a contract server: it routes `authorize_path` and `token_path` here."""

    user: str
    """Who consents in the test's browser."""
    expires_in: int = 7200
    clients: dict[str, Client] = field(default_factory=dict)
    codes: dict[str, Grant] = field(default_factory=dict)
    access: dict[str, str] = field(default_factory=dict)
    """access token -> user."""
    refresh: dict[str, tuple[str, str]] = field(default_factory=dict)
    """refresh token -> (client id, user)."""
    rotate: bool = True
    offline: tuple[str, str] | None = None
    scope_separator: str = " "
    extra: dict[str, object] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def register(self, client: Client) -> Client:
        self.clients[client.client_id] = client
        return client

    def user_of(self, token: str) -> str | None:
        return self.access.get(token)

    def _new(self, kind: str) -> str:
        return f"{kind}-{next(self._ids)}-{secrets.token_urlsafe(12)}"

    def authorize(self, request: Request) -> Response:
        q = {k: v[0] for k, v in request.query.items()}
        client = self.clients.get(q.get("client_id", ""))
        redirect = q.get("redirect_uri", "")
        if client is None or redirect not in client.redirect_uris:
            return Response(
                400, {"error": "invalid_request", "error_description": "unknown client or redirect_uri"}
            )
        state = {"state": q["state"]} if "state" in q else {}

        def back(**params: str) -> Response:
            return Response(302, None, {"Location": f"{redirect}?{urlencode({**params, **state})}"})

        if q.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return back(error="invalid_request", error_description="PKCE with S256 is required")
        scopes = tuple(s for s in q.get("scope", "").split(self.scope_separator.strip() or None) if s)
        if client.scopes and not set(scopes) <= client.scopes:
            return back(error="invalid_scope")
        offline = self.offline is None or q.get(self.offline[0]) == self.offline[1]
        code = self._new("code")
        self.codes[code] = Grant(client.client_id, self.user, redirect, q["code_challenge"], scopes, offline)
        return back(code=code)

    def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8")).items()}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = request.header("Authorization") or ""
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        client = self.clients.get(client_id or "")
        if client is None or (client.secret is not None and secret != client.secret):
            return Response(401, {"error": "invalid_client"})
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or grant.client_id != client.client_id:
                return Response(400, {"error": "invalid_grant", "error_description": "unknown or used code"})
            if form.get("redirect_uri") != grant.redirect_uri:
                return Response(400, {"error": "invalid_grant", "error_description": "redirect_uri differs"})
            verifier = form.get("code_verifier", "")
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if digest != grant.challenge:
                return Response(
                    400, {"error": "invalid_grant", "error_description": "code_verifier mismatch"}
                )
            return self._issue(client.client_id, grant.user, grant.scopes, offline=grant.offline)
        if grant_type == "refresh_token":
            found = self.refresh.get(form.get("refresh_token", ""))
            if found is None or found[0] != client.client_id:
                return Response(400, {"error": "invalid_grant", "error_description": "refresh token invalid"})
            if self.rotate:
                del self.refresh[form["refresh_token"]]
            return self._issue(
                client.client_id, found[1], (), keep=None if self.rotate else form["refresh_token"]
            )
        return Response(400, {"error": "unsupported_grant_type"})

    def _issue(
        self,
        client_id: str,
        user: str,
        scopes: tuple[str, ...],
        keep: str | None = None,
        *,
        offline: bool = True,
    ) -> Response:
        access = self._new("access")
        self.access[access] = user
        body: dict[str, object] = {
            "token_type": "bearer",
            "access_token": access,
            "expires_in": self.expires_in,
            "scope": self.scope_separator.join(scopes),
            **self.extra,
        }
        if offline:
            refresh = keep or self._new("refresh")
            self.refresh[refresh] = (client_id, user)
            body["refresh_token"] = refresh
        return Response(200, body, {"Cache-Control": "no-store"})
