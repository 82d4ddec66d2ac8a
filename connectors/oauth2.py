"""OAuth 2.0 as connectors declare and use it: where to sign in, and renewing a token.

A connector that signs in with OAuth 2.0 declares its endpoints (`Connector.oauth2`):
the authorization and token URLs, the scopes, and which setting holds the app's client
id. `postmast account connect` runs the authorization-code flow with PKCE against them
(`scheduler/connect.py`, with requests-oauthlib); the connector itself only renews a
token (`refresh`, RFC 6749 §6), through its own `HttpClient` so that timeouts and the
"may have reached the network" rule hold as for any request.

The token endpoint's answers (RFC 6749 §5.1 and §5.2): 200 with `access_token`, and
`expires_in` and a new `refresh_token` when the server rotates them; 400/401 with
`error` = `invalid_grant` (the refresh token is spent, revoked or expired),
`invalid_client` or `unauthorized_client` mean a person must sign in again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from postmast.connectors.content import Renewal
from postmast.connectors.errors import AuthExpired, OutcomeUnknown, PermanentError, TransientError
from postmast.connectors.http import HttpClient, json_or_none

REFUSED = frozenset({"invalid_grant", "invalid_client", "unauthorized_client", "invalid_token"})


@dataclass(frozen=True)
class OAuth2Endpoints:
    """Where an account of this network signs in with the authorization-code flow and PKCE."""

    authorize_url: str
    token_url: str
    scopes: tuple[str, ...]
    client_id: str
    """The app's client id (from the account's settings)."""
    token_field: str = "access_token"  # noqa: S105 (a secret's name, not a secret)
    """The secret the access token is stored as."""
    refresh_field: str | None = "refresh_token"
    """The secret the refresh token is stored as (None: the network gives none)."""
    client_secret_field: str | None = None
    """The secret holding the client secret of a confidential client (None: a public client)."""
    secret_in_body: bool = False
    """A confidential client sends its id and secret in the token request's body (LinkedIn)
    rather than as HTTP Basic credentials (X, and the RFC's preference)."""


def token_secrets(answer: Mapping[str, Any], endpoints: OAuth2Endpoints, now: datetime) -> Renewal:
    """An RFC 6749 §5.1 token answer as the account's secrets and their end."""
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise PermanentError("the token endpoint answered without an access_token")
    secrets = {endpoints.token_field: token}
    refresh = answer.get("refresh_token")
    if endpoints.refresh_field and isinstance(refresh, str) and refresh:
        secrets[endpoints.refresh_field] = refresh
    lifetime = answer.get("expires_in")
    expires = (
        now + timedelta(seconds=int(lifetime))
        if isinstance(lifetime, (int, float, str)) and str(lifetime).isdigit()
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
            headers={"Accept": "application/json"},
            auth=(endpoints.client_id, secret) if basic else None,
        )
    except OutcomeUnknown as exc:
        raise TransientError(f"the token endpoint did not answer ({exc.message})") from None
    answer = json_or_none(response)
    if response.status_code in (400, 401, 403):
        error = answer.get("error") if isinstance(answer, dict) else None
        if error in REFUSED or response.status_code == 401:
            raise AuthExpired(
                f"the token endpoint refused the refresh token ({error or response.status_code})"
            )
        raise PermanentError(f"the token endpoint refused the request ({error or response.status_code})")
    if response.status_code == 429 or response.status_code >= 500 or not isinstance(answer, dict):
        raise TransientError(f"the token endpoint answered {response.status_code}")
    renewed = token_secrets(answer, endpoints, now)
    return Renewal({**credentials, **renewed.secrets}, renewed.expires_at)
