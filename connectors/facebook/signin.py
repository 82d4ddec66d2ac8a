"""Signing a Facebook Page in from the terminal (`postmast account connect facebook NAME --set
page_id=ID --set client_id=APP_ID`): Facebook Login's code flow, then two Graph calls.

1. the Login dialog `https://www.facebook.com/{version}/dialog/oauth` with `client_id`,
   `redirect_uri`, `state` and the scopes comma-separated [login]; postmast sends PKCE too
   (Meta documents `code_challenge` for the dialog [login-pkce]; whether it is enforced for a
   confidential app is not stated);
2. the code redeemed at `{graph}/{version}/oauth/access_token` with the app's id and secret ->
   a short-lived user token (about an hour) [login]; Meta documents a GET with query
   parameters, postmast's OAuth library sends the same parameters as a POST form, which the
   Graph API accepts for this endpoint (not stated on the pages found);
3. `GET /{version}/oauth/access_token?grant_type=fb_exchange_token&client_id&client_secret
   &fb_exchange_token=SHORT` -> a long-lived user token (about 60 days) [long];
4. `GET /{version}/me/accounts?fields=id,name,access_token` -> each Page the user manages with
   its Page token; a Page token taken with a long-lived user token has no expiry [long] [pages].

Kept: the Page's `page_access_token` only, as `account add` stores it; the user token and the
app secret are not kept (nothing renews a Page token that does not end). A user who does not
manage the `page_id` given gets the Pages they do manage named, and nothing is stored.

Sources: developers.facebook.com/docs: [login]
facebook-login/guides/advanced/manual-flow (the dialog, the code exchange); [login-pkce] the same
page, "code_challenge"; [long] facebook-login/guides/access-tokens/get-long-lived (the
`fb_exchange_token` grant, long-lived Page tokens); [pages] pages-api/getting-started
(`GET /me/accounts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from postmast.connectors.content import Renewal
from postmast.connectors.errors import PermanentError
from postmast.connectors.graph import GraphClient
from postmast.connectors.http import HttpClient

SCOPES = "pages_manage_posts,pages_read_engagement,pages_show_list,pages_manage_engagement,publish_video"
"""One comma-separated string, Facebook Login's form of `scope` [login]."""


def long_lived_token(
    http: HttpClient, graph: str, version: str, client_id: str, client_secret: str, user_token: str
) -> tuple[str, int | None]:
    """Step 3 (also Instagram's, with Facebook Login): the long-lived user token and its lifetime in
    seconds when Facebook says it [long]."""
    short = GraphClient(http, graph, version, user_token, "Facebook")
    exchanged = short.get(
        "oauth/access_token",
        grant_type="fb_exchange_token",
        client_id=client_id,
        client_secret=client_secret,
        fb_exchange_token=user_token,
    )
    long_lived, lifetime = exchanged.get("access_token"), exchanged.get("expires_in")
    if not isinstance(long_lived, str) or not long_lived:
        raise PermanentError("Facebook's token exchange answered without an access_token")
    return long_lived, lifetime if isinstance(lifetime, int) and not isinstance(lifetime, bool) else None


def page_token(
    http: HttpClient,
    graph: str,
    version: str,
    client_id: str,
    client_secret: str,
    user_token: str,
    page_id: str,
) -> Renewal:
    """Steps 3 and 4: the long-lived user token, then the Page's own token (no end)."""
    long_lived, _lifetime = long_lived_token(http, graph, version, client_id, client_secret, user_token)
    pages = GraphClient(http, graph, version, long_lived, "Facebook").get(
        "me/accounts", fields="id,name,access_token", limit="100"
    )
    listed: list[Mapping[str, Any]] = [p for p in pages.get("data") or [] if isinstance(p, dict)]
    for page in listed:
        token = page.get("access_token")
        if str(page.get("id")) == page_id and isinstance(token, str) and token:
            return Renewal({"page_access_token": token}, None)
    managed = ", ".join(f"{p.get('name')} ({p.get('id')})" for p in listed) or "none"
    raise PermanentError(f"the signed-in user does not manage Page {page_id} (Pages: {managed})")


def token_of(answer: Mapping[str, Any]) -> str:
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise PermanentError("Facebook answered the sign-in without an access_token")
    return token
