"""`postmast account connect`: a network's own sign-in, from a terminal.

For a connector that declares OAuth 2.0 endpoints (`Connector.oauth2`), the authorization
code flow with PKCE (RFC 7636, S256) and a loopback redirect (RFC 8252 §7.3:
`http://127.0.0.1:PORT/callback`), run by requests-oauthlib (`OAuth2Session`: the state,
the PKCE verifier and challenge, the token request and its checks). A network where anyone
may register an app (Mastodon) registers postmast first (`Connector.register_client`) and
then runs the same flow. The shell shows the URL (and opens a browser where there is one)
and hands back the redirect: the one the loopback server received, or one the user pasted
on a machine without a browser. The tokens are stored like any secrets, with their end
(`expires_at`) so that they are renewed ahead of it (`scheduler.renewal`); an account
that exists already gets its new tokens (as `account update` would: its waiting posts go).
A connector whose network needs more than the token answer (Meta's long-lived exchange, a
Page's own token) says what to keep instead (`Connector.complete_sign_in`).

Networks without OAuth 2.0 here (Bluesky's app passwords, Telegram, Discord and Slack bot
tokens or webhooks, X's OAuth 1.0a keys) are connected by the hidden prompt instead.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from postmast.connectors import Connector, ConnectorError
from postmast.connectors.content import Renewal
from postmast.connectors.http import HttpClient
from postmast.connectors.oauth2 import OAuth2Endpoints, token_secrets
from postmast.scheduler.accounts import Accounts, AccountView, check_name, connector_class
from postmast.scheduler.errors import NotFound, UserError
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault, redact

LOOPBACK = "127.0.0.1"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
CALLBACK_PATH = "/callback"
DONE_PAGE = (
    b"<!doctype html><title>postmast</title><p>Signed in: you can close this window and go back to "
    b"the terminal.</p>"
)


class Callback:
    """A one-shot HTTP server on the loopback interface that receives the sign-in's redirect."""

    def __init__(self, port: int = 0) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if urlsplit(self.path).path != CALLBACK_PATH:
                    self.send_error(404)
                    return
                owner.redirect = f"http://{LOOPBACK}:{owner.port}{self.path}"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(DONE_PAGE)))
                self.end_headers()
                self.wfile.write(DONE_PAGE)
                owner.received.set()

            def log_message(self, format: str, *args: Any) -> None:
                return  # the query holds the code: never logged

        try:
            self._server = ThreadingHTTPServer((LOOPBACK, port), Handler)
        except OSError as exc:
            raise UserError(f"cannot listen on {LOOPBACK}:{port} for the sign-in ({exc.strerror})") from None
        self.port: int = self._server.server_address[1]
        self.redirect: str | None = None
        self.received = threading.Event()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="postmast-callback", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}{CALLBACK_PATH}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class Terminal:
    """What the shell does for the flow: show the sign-in URL, and wait for the redirect."""

    show: Callable[[str], None]
    wait: Callable[[Callback], str]
    ask_secret: Callable[[str, str], str]
    """Ask for a secret with a hidden prompt (name, help); "" when the user skips it."""


def _safe(url: str, what: str, allow_insecure: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" or (
        parts.scheme == "http" and (parts.hostname in LOOPBACK_HOSTS or allow_insecure)
    ):
        return
    raise UserError(f"the {what} {url!r} is not https: the sign-in would cross the network in clear text")


@contextlib.contextmanager
def _loopback_transport() -> Iterator[None]:
    """oauthlib refuses any http:// address unless told; ours are the loopback redirect (RFC 8252)
    and, only in tests or with --allow-insecure, endpoints on this machine (checked by `_safe`)."""
    before = os.environ.get("OAUTHLIB_INSECURE_TRANSPORT")
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)
        else:
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = before


def signs_in_with_oauth(network: str, settings: Mapping[str, str]) -> bool:
    """Whether `connect` runs the OAuth 2.0 flow for these settings (else: the hidden prompt)."""
    cls = connector_class(network)
    connector = cls(settings)
    return connector.oauth2() is not None or type(connector).register_client is not Connector.register_client


def _headers(endpoints: OAuth2Endpoints) -> dict[str, Any]:
    """The token request's headers where the network wants its own (requests-oauthlib's defaults
    plus them); none otherwise, so requests-oauthlib keeps its defaults."""
    if not endpoints.token_headers:
        return {}
    return {
        "headers": {
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
            **dict(endpoints.token_headers),
        }
    }


class Connection:
    """Runs the OAuth 2.0 sign-in for one account and stores what it gives."""

    def __init__(self, store: Store, vault: Vault) -> None:
        self.store = store
        self.vault = vault

    def connect(
        self,
        network: str,
        name: str,
        settings: Mapping[str, str],
        terminal: Terminal,
        *,
        port: int = 0,
        timeout: float = 30.0,
    ) -> AccountView:
        network = network.lower()
        cls = connector_class(network)
        check_name(name)
        problems = cls.check_settings(settings)
        if problems:
            raise UserError(f"{network}:{name}: " + "; ".join(p.message for p in problems))
        allow_insecure = settings.get("allow_insecure") == "true"
        http = HttpClient(connect_timeout=5.0, read_timeout=timeout)
        callback = Callback(port)
        try:
            connector = cls(settings, http, clock=self.store.clock)
            extra_settings: dict[str, str] = {}
            extra_secrets: dict[str, str] = {}
            if connector.oauth2() is None:
                try:
                    registered = connector.register_client(callback.url)
                except ConnectorError as exc:
                    raise UserError(
                        f"{cls.title} did not register postmast as an app: {exc.message}"
                    ) from None
                if registered is None:
                    raise UserError(f"{cls.title} has no OAuth 2.0 sign-in for these settings")
                extra_settings, extra_secrets = registered
                connector = cls({**settings, **extra_settings}, http, clock=self.store.clock)
            endpoints = connector.oauth2()
            if endpoints is None:
                raise UserError(f"{cls.title} has no OAuth 2.0 sign-in for these settings")
            _safe(endpoints.authorize_url, "sign-in address", allow_insecure)
            _safe(endpoints.token_url, "token address", allow_insecure)
            field = endpoints.client_secret_field
            client_secret = extra_secrets.get(field or "", "")
            if field and not client_secret:
                client_secret = terminal.ask_secret(
                    field, "the app's client secret (Enter if it is a public client)"
                )
            if client_secret and field:
                extra_secrets[field] = client_secret
            token = self._flow(endpoints, callback, terminal, client_secret, timeout)
        finally:
            callback.close()
        try:
            completed = connector.complete_sign_in(token, client_secret)
        except ConnectorError as exc:
            reason = redact(exc.message, {"secret": client_secret})
            raise UserError(f"the sign-in did not complete: {reason}") from None
        return self._store(
            network, name, {**settings, **extra_settings}, extra_secrets, endpoints, token, completed
        )

    def _flow(
        self,
        endpoints: OAuth2Endpoints,
        callback: Callback,
        terminal: Terminal,
        client_secret: str,
        timeout: float,
    ) -> dict[str, Any]:
        from oauthlib.oauth2 import OAuth2Error
        from requests import RequestException
        from requests_oauthlib import OAuth2Session

        session = OAuth2Session(
            endpoints.client_id, redirect_uri=callback.url, scope=list(endpoints.scopes), pkce="S256"
        )
        with _loopback_transport():  # both addresses were checked: https, or this machine (`_safe`)
            url, _state = session.authorization_url(
                endpoints.authorize_url, **dict(endpoints.authorize_params)
            )
        terminal.show(url)
        redirect = terminal.wait(callback)
        if not redirect.startswith(callback.url + "?"):
            raise UserError(
                f"that is not the address the sign-in sends you to (it starts with {callback.url}?)"
            )
        try:
            with _loopback_transport():
                token = session.fetch_token(
                    endpoints.token_url,
                    authorization_response=redirect,
                    client_secret=client_secret or None,
                    # a public client names itself in the body; a confidential one uses HTTP Basic,
                    # or the body where the network asks for it (LinkedIn)
                    include_client_id=not client_secret or endpoints.secret_in_body,
                    timeout=timeout,
                    **_headers(endpoints),
                )
        except Warning as changed:  # oauthlib: the scopes granted differ from those asked for
            token = getattr(changed, "token", None)
            if token is None:
                raise
        except OAuth2Error as exc:
            reason = redact(str(exc.description or exc.error), {"secret": client_secret})
            raise UserError(f"the sign-in did not complete: {exc.error} ({reason})") from None
        except RequestException as exc:
            raise UserError(f"could not reach the token address: {type(exc).__name__}") from None
        return dict(token)

    def _store(
        self,
        network: str,
        name: str,
        settings: Mapping[str, str],
        extra_secrets: Mapping[str, str],
        endpoints: OAuth2Endpoints,
        token: Mapping[str, Any],
        completed: Renewal | None = None,
    ) -> AccountView:
        now = self.store.now()
        renewal = completed or token_secrets(token, endpoints, now)
        secrets = dict(completed.secrets) if completed else {**extra_secrets, **renewal.secrets}
        accounts = Accounts(self.store, self.vault)
        target = f"{network}:{name}"
        try:
            accounts.get(target)
        except NotFound:
            return accounts.add(
                network, name, settings, secrets, discover=True, expires_at=renewal.expires_at
            )
        return accounts.update(target, settings, secrets, discover=True, expires_at=renewal.expires_at)
