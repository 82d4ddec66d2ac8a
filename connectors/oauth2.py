"""OAuth 2.0 for connectors: where an account signs in, renewing its token, and access
tokens asked for at a token endpoint and cached in the account's session.

A connector that signs in with the authorization-code flow declares its endpoints
(`Connector.oauth2`): the authorization and token URLs, the scopes, and which setting holds
the app's client id. `postmast account connect` runs the flow with PKCE against them
(`scheduler/connect.py`, with requests-oauthlib); the connector itself only renews a token
(`refresh`, RFC 6749 §6).

Reddit (the password grant of a script app, or the refresh-token grant of a signed-in web
app), Pinterest and Google (the refresh-token grant) ask for short-lived access tokens before
posting (`request_token`) and keep them in the
connector's `state`, which the worker keeps encrypted (`TokenCache`); expiry is read
against the caller's clock.

The token endpoint's answers (RFC 6749 §5.1 and §5.2): 200 with `access_token`, and
`expires_in` and a new `refresh_token` when the server rotates them; 400/401 with `error` =
`invalid_grant` (the refresh token is spent, revoked or expired), `invalid_client` or
`unauthorized_client` mean a person must sign in again (Reddit sends the error with 200).
A token request creates nothing on the network, so one whose answer was lost is simply not
trusted (`TransientError`), never `OutcomeUnknown`. Requests go through the worker's
`HttpClient` (its timeouts and deadline), which sorts failures by whether they may have
reached the network; each grant is one form POST.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from postmast.connectors.content import Renewal
from postmast.connectors.errors import (
    AuthExpired,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import HttpClient, json_or_none, short_body
from postmast.connectors.ratelimit import retry_after

EARLY = timedelta(seconds=60)
"""A token this close to its expiry is replaced before use: a request must not outlive it."""
REFUSED = frozenset(
    {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope", "invalid_token"}
)


@dataclass(frozen=True)
class OAuth2Endpoints:
    """Where an account of this network signs in with the authorization-code flow and PKCE."""

    authorize_url: str
    token_url: str
    scopes: tuple[str, ...]
    client_id: str
    """The app's client id (from the account's settings)."""
    token_field: str | None = "access_token"  # noqa: S105 (a secret's name, not a secret)
    """The secret the access token is stored as (None: it is not kept, and its end is not the
    account's: the connector asks for a short-lived one from the refresh token when it posts,
    Google and Reddit)."""
    refresh_field: str | None = "refresh_token"
    """The secret the refresh token is stored as (None: the network gives none)."""
    client_secret_field: str | None = None
    """The secret holding the client secret of a confidential client (None: a public client)."""
    secret_in_body: bool = False
    """A confidential client sends its id and secret in the token request's body (LinkedIn)
    rather than as HTTP Basic credentials (X, and the RFC's preference)."""
    client_id_field: str | None = None
    """The secret the client id is kept as too, for a connector whose posting path reads it
    beside the client secret (Google, Pinterest, Reddit)."""
    authorize_params: tuple[tuple[str, str], ...] = ()
    """Parameters the network wants on the authorization URL besides the standard ones
    (Google's `access_type=offline`, Reddit's `duration=permanent`)."""
    token_headers: tuple[tuple[str, str], ...] = ()
    """Headers the token endpoint wants (Reddit's own User-Agent)."""


def token_secrets(answer: Mapping[str, Any], endpoints: OAuth2Endpoints, now: datetime) -> Renewal:
    """An RFC 6749 §5.1 token answer as the account's secrets and their end."""
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise PermanentError("the token endpoint answered without an access_token")
    secrets = {endpoints.token_field: token} if endpoints.token_field else {}
    if endpoints.client_id_field:
        secrets[endpoints.client_id_field] = endpoints.client_id
    refresh = answer.get("refresh_token")
    if endpoints.refresh_field and isinstance(refresh, str) and refresh:
        secrets[endpoints.refresh_field] = refresh
    lifetime = answer.get("expires_in")
    expires = (
        now + timedelta(seconds=int(lifetime))
        if endpoints.token_field and isinstance(lifetime, (int, float, str)) and str(lifetime).isdigit()
        else None
    )
    return Renewal(secrets, expires)


def refresh(
    http: HttpClient,
    endpoints: OAuth2Endpoints,
    credentials: Mapping[str, str],
    now: datetime,
) -> Renewal | None:
    """Renew the access token with the stored refresh token; None when there is none to use.

    Secrets other than the tokens (e.g. a client secret) are kept; a refresh token the server
    does not rotate is kept too.
    """
    refresh_token = credentials.get(endpoints.refresh_field or "")
    if not refresh_token:
        return None
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": endpoints.client_id}
    secret = credentials.get(endpoints.client_secret_field or "")
    basic = bool(secret) and not endpoints.secret_in_body
    if secret and endpoints.secret_in_body:
        data["client_secret"] = secret
    try:
        response = http.post(
            endpoints.token_url,
            data=data,
            headers={"Accept": "application/json", **dict(endpoints.token_headers)},
            auth=(endpoints.client_id, secret) if basic else None,
        )
    except OutcomeUnknown as exc:
        raise TransientError(f"the token endpoint did not answer ({exc.message})") from None
    answer = json_or_none(response)
    error = answer.get("error") if isinstance(answer, dict) else None
    if response.status_code in (400, 401, 403) or (response.status_code == 200 and error):
        if error in REFUSED or response.status_code == 401:
            raise AuthExpired(
                f"the token endpoint refused the refresh token ({error or response.status_code})"
            )
        raise PermanentError(f"the token endpoint refused the request ({error or response.status_code})")
    if response.status_code == 429 or response.status_code >= 500 or not isinstance(answer, dict):
        raise TransientError(f"the token endpoint answered {response.status_code}")
    renewed = token_secrets(answer, endpoints, now)
    return Renewal({**credentials, **renewed.secrets}, renewed.expires_at)


class TokenCache:
    """The access token of one account, kept in its session under `key`."""

    def __init__(self, state: MutableMapping[str, Any], key: str) -> None:
        self.state = state
        self.key = key

    def current(self, now: datetime) -> str | None:
        """The cached token if it is still good for a while, else None."""
        entry = self.state.get(self.key)
        if not isinstance(entry, dict) or not isinstance(entry.get("access_token"), str):
            return None
        try:
            expires = datetime.fromisoformat(str(entry.get("expires_at")))
        except ValueError:
            return None
        return entry["access_token"] if now + EARLY < expires else None

    def keep(self, token: str, expires_in: float, now: datetime) -> str:
        self.state[self.key] = {
            "access_token": token,
            "expires_at": (now + timedelta(seconds=expires_in)).isoformat(),
        }
        return token

    def drop(self) -> None:
        """Forget the token (the network refused it): the next call asks for a new one."""
        self.state.pop(self.key, None)


def request_token(
    http: HttpClient,
    url: str,
    form: Mapping[str, str],
    *,
    title: str,
    now: datetime,
    basic: tuple[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[str, float]:
    """Ask `url` for an access token; returns it and its lifetime in seconds.

    Raises `AuthExpired` when the network refuses the grant (wrong password, revoked refresh
    token, wrong client), `RateLimited` on 429, `TransientError` otherwise. Messages carry
    the network's error code only, never the form.
    """
    try:
        response = http.post(url, data=dict(form), auth=basic, headers=dict(headers or {}))
    except OutcomeUnknown as exc:
        raise TransientError(exc.message) from None
    data = json_or_none(response)
    body: Mapping[str, Any] = data if isinstance(data, dict) else {}
    error = str(body.get("error") or "")
    status = response.status_code
    if status == 429:
        wait = retry_after(response.headers.get("Retry-After", ""), now)
        raise RateLimited(f"{title} refused a token request: too many requests", retry_after=wait)
    if status in (400, 401, 403) or error in REFUSED:
        said = error or str(body.get("message") or short_body(response, 100) or "no body")
        described = str(body.get("error_description") or "")[:200]
        raise AuthExpired(
            f"{title} refused the credentials ({status} {said}{': ' + described if described else ''})",
            http_status=status,
        )
    token = body.get("access_token")
    if status != 200 or error or not isinstance(token, str) or not token:
        raise TransientError(
            f"{title}'s token endpoint answered {status} without a token", http_status=status
        )
    lifetime = body.get("expires_in")
    seconds = (
        float(lifetime) if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) else 3600.0
    )
    return token, max(0.0, seconds)
