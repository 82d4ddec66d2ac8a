"""`account connect`: OAuth 2.0 with PKCE against the contract servers, the test acting as the browser."""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
import requests
from sqlalchemy import text

from postmast.connectors import Content
from postmast.connectors.mastodon import Mastodon
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.conftest import REPO
from tests.servers.linkedin import LinkedInServer
from tests.servers.mastodon import MastodonServer
from tests.servers.oauth2 import Client
from tests.servers.telegram import TOKEN, TelegramServer
from tests.servers.x import XServer

URL = re.compile(r"  (http://127\.0\.0\.1:\d+/\S+)")


def _spawn(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> pexpect.spawn:
    variables = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("POSTMAST_") and k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")
    }
    variables.update(env or {})
    variables.update(
        {"POSTMAST_DATA_DIR": str(tmp_path / "data"), "TZ": "UTC", "TERM": "dumb", "PYTHONPATH": str(REPO)}
    )
    return pexpect.spawn(
        sys.executable, ["-m", "postmast", *args], env=variables, cwd=str(REPO), encoding="utf-8", timeout=30
    )


def _stored(tmp_path: Path) -> tuple[dict[str, str], str, object]:
    store = Store(f"sqlite:///{tmp_path / 'data' / 'postmast.db'}")
    with store.read() as session:
        secrets, settings, expires = session.execute(
            text("SELECT secrets, settings, expires_at FROM accounts WHERE status = 'active'")
        ).one()
    store.dispose()
    vault = Vault.from_settings(None, tmp_path / "data" / "secret.key")
    return vault.decrypt(bytes(secrets)), str(settings), expires


def _sign_in(child: pexpect.spawn) -> str:
    """Read the sign-in address and do what a browser does there: the server consents and
    answers 302 to the loopback redirect. Returns that redirect address."""
    child.expect(URL)
    authorize = child.match.group(1)
    answer = requests.get(authorize, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


@pytest.fixture
def mastodon() -> Iterator[MastodonServer]:
    server = MastodonServer({"token-a": "alice"})
    server.start()
    yield server
    server.stop()


def test_mastodon_registers_its_app_then_signs_in(tmp_path: Path, mastodon: MastodonServer) -> None:
    child = _spawn(
        tmp_path,
        "account",
        "connect",
        "mastodon",
        "brand",
        "--set",
        f"instance={mastodon.url}",
        "--no-browser",
    )
    redirect = _sign_in(child)
    assert redirect.startswith("http://127.0.0.1:") and "code=" in redirect and "state=" in redirect
    page = requests.get(redirect, timeout=10)  # the browser follows the redirect to the loopback server
    assert page.status_code == 200 and "you can close this window" in page.text
    child.expect(pexpect.EOF)
    output = child.before or ""
    child.close()
    assert child.exitstatus == 0, output
    assert (
        "connected mastodon:brand (status: active; secrets stored encrypted: client_secret, access_token)"
        in output
    )
    [app] = mastodon.apps
    assert app["redirect_uris"] == [redirect.split("?")[0]]
    assert set(app["scopes"]) == {"write:statuses", "write:media", "read:statuses", "read:accounts"}
    secrets, settings, expires = _stored(tmp_path)
    assert secrets["client_secret"] == app["client_secret"]
    assert app["client_id"] in settings  # kept with the account, beside its instance
    assert mastodon.tokens[secrets["access_token"]] == "alice"
    assert expires is None  # Mastodon's tokens do not expire
    assert secrets["access_token"] not in output and app["client_secret"] not in output
    # the account works: the stored token publishes
    result = Mastodon({"instance": mastodon.url}).publish(Content("signed in"), secrets, "idem-connect-1")
    assert mastodon.created[-1]["id"] == result.remote_id


def test_a_pasted_redirect_on_a_machine_without_a_browser(tmp_path: Path, mastodon: MastodonServer) -> None:
    child = _spawn(
        tmp_path,
        "account",
        "connect",
        "mastodon",
        "brand",
        "--set",
        f"instance={mastodon.url}",
        "--no-browser",
    )
    redirect = _sign_in(child)
    child.expect("paste here the address")
    child.sendline(redirect)  # opened on another machine: the loopback server never hears of it
    child.expect(pexpect.EOF)
    output = child.before or ""
    child.close()
    assert child.exitstatus == 0, output
    assert "connected mastodon:brand" in output
    assert mastodon.tokens[_stored(tmp_path)[0]["access_token"]] == "alice"


def test_a_pasted_address_that_is_not_the_redirect_is_refused(
    tmp_path: Path, mastodon: MastodonServer
) -> None:
    child = _spawn(
        tmp_path,
        "account",
        "connect",
        "mastodon",
        "brand",
        "--set",
        f"instance={mastodon.url}",
        "--no-browser",
    )
    _sign_in(child)
    child.expect("paste here the address")
    child.sendline("https://example.com/?code=stolen")
    child.expect(pexpect.EOF)
    output = child.before or ""
    child.close()
    assert child.exitstatus != 0
    assert "postmast: error: that is not the address the sign-in sends you to" in output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_x_oauth2_with_pkce_and_a_refresh_token(tmp_path: Path, conformance: Path) -> None:
    port = _free_port()
    server = XServer(conformance / "x-openapi" / "openapi.json", check_after_secs=0)
    server.oauth.register(Client("x-client", [f"http://127.0.0.1:{port}/callback"]))
    server.start()
    try:
        child = _spawn(
            tmp_path,
            "account",
            "connect",
            "x",
            "brand",
            "--set",
            f"api_base={server.url}",
            "--set",
            "client_id=x-client",
            "--port",
            str(port),
            "--no-browser",
        )
        child.expect(r"client_secret \(")
        child.sendline("")  # a public client: PKCE alone
        redirect = _sign_in(child)
        assert redirect.startswith(f"http://127.0.0.1:{port}/callback?")
        requests.get(redirect, timeout=10)
        child.expect(pexpect.EOF)
        output = child.before or ""
        child.close()
        assert child.exitstatus == 0, output
        assert "connected x:brand" in output
        secrets, settings, expires = _stored(tmp_path)
        assert set(secrets) == {"bearer_token", "refresh_token"}
        assert server.oauth.user_of(secrets["bearer_token"]) == "alice"
        assert secrets["refresh_token"] in server.oauth.refresh
        assert expires is not None  # two hours: renewed ahead of it
        assert "x-client" in settings  # the client id is kept, to renew the token
    finally:
        server.stop()


def test_a_wrong_pkce_verifier_is_refused_by_the_server(tmp_path: Path, conformance: Path) -> None:
    """The contract server really checks PKCE: a code redeemed without the verifier fails."""
    server = XServer(conformance / "x-openapi" / "openapi.json", check_after_secs=0)
    server.oauth.register(Client("x-client", ["http://127.0.0.1:9/callback"]))
    server.start()
    try:
        answer = requests.get(
            f"{server.url}/i/oauth2/authorize",
            params={
                "response_type": "code",
                "client_id": "x-client",
                "redirect_uri": "http://127.0.0.1:9/callback",
                "scope": "tweet.read",
                "state": "s",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256",
            },
            allow_redirects=False,
            timeout=10,
        )
        code = answer.headers["Location"].split("code=")[1].split("&")[0]
        token = requests.post(
            f"{server.url}/2/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "http://127.0.0.1:9/callback",
                "client_id": "x-client",
                "code_verifier": "not-the-verifier",
            },
            timeout=10,
        )
        assert (token.status_code, token.json()["error"]) == (400, "invalid_grant")
    finally:
        server.stop()


def test_a_real_headless_browser_follows_the_sign_in(tmp_path: Path, mastodon: MastodonServer) -> None:
    """The browser path end to end: postmast opens `$BROWSER` (headless Chromium here), which loads
    the sign-in, follows the server's 302 to the loopback redirect and shows postmast's page."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        message = "chromium is not installed (Debian package chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    page = tmp_path / "page.html"
    browser = tmp_path / "browser.sh"
    browser.write_text(
        "#!/bin/sh\n"
        # without libfaketime (the shifted-date CI run): Chromium does not start under it
        f"exec env -u LD_PRELOAD {chromium} --headless --no-sandbox --disable-gpu "
        f"--user-data-dir={tmp_path / 'profile'} "
        f'--dump-dom "$1" > {page} 2>/dev/null\n'
    )
    browser.chmod(0o700)
    child = _spawn(
        tmp_path,
        "account",
        "connect",
        "mastodon",
        "brand",
        "--set",
        f"instance={mastodon.url}",
        env={"BROWSER": f"{browser} %s", "DISPLAY": ":postmast-test"},
    )
    child.timeout = 90
    child.expect(pexpect.EOF)
    output = child.before or ""
    child.close()
    assert child.exitstatus == 0, output
    assert "(opened in your browser)" in output
    assert "connected mastodon:brand" in output
    assert "Signed in: you can close this window" in page.read_text()
    assert mastodon.tokens[_stored(tmp_path)[0]["access_token"]] == "alice"


def test_a_bot_token_network_is_connected_by_the_hidden_prompt(tmp_path: Path, conformance: Path) -> None:
    server = TelegramServer(conformance / "telegram-bot-api-spec" / "api.json").start()
    try:
        child = _spawn(
            tmp_path,
            "account",
            "connect",
            "telegram",
            "news",
            "--set",
            "chat_id=@harbour_news",
            "--set",
            f"api_base={server.url}",
        )
        child.expect("collecting Telegram secrets \\(1 secret\\)")
        child.expect("bot_token \\(")
        child.sendline(TOKEN)
        child.expect(pexpect.EOF)
        output = child.before or ""
        child.close()
        assert child.exitstatus == 0, output
        assert "connected telegram:news (status: active; secrets stored encrypted: bot_token)" in output
        assert TOKEN not in output
        assert _stored(tmp_path)[0] == {"bot_token": TOKEN}
    finally:
        server.stop()


def test_linkedin_a_confidential_client_with_60_day_tokens(tmp_path: Path) -> None:
    port = _free_port()
    server = LinkedInServer()
    server.oauth.register(Client("li-app", [f"http://127.0.0.1:{port}/callback"], secret="li-app-secret"))
    server.start()
    try:
        child = _spawn(
            tmp_path,
            "account",
            "connect",
            "linkedin",
            "me",
            "--set",
            "author=urn:li:person:abc123",
            "--set",
            f"api_base={server.url}",
            "--set",
            "client_id=li-app",
            "--port",
            str(port),
            "--no-browser",
        )
        child.expect(r"client_secret \(")
        child.sendline("li-app-secret")
        requests.get(_sign_in(child), timeout=10)
        child.expect(pexpect.EOF)
        output = child.before or ""
        child.close()
        assert child.exitstatus == 0, output
        assert "li-app-secret" not in output
        secrets, _settings, expires = _stored(tmp_path)
        assert secrets["client_secret"] == "li-app-secret"
        assert server.tokens[secrets["access_token"]] == ["urn:li:person:abc123"]
        assert expires is not None  # 60 days, warned about 7 days ahead
    finally:
        server.stop()


def test_bluesky_asks_for_the_handle_then_the_app_password(tmp_path: Path) -> None:
    child = _spawn(tmp_path, "account", "connect", "bluesky", "brand", "--set", "service=http://127.0.0.1:9")
    child.expect(r"handle \(the account's handle")
    child.sendline("brand.bsky.social")  # public: echoed
    child.expect(r"app_password \(")
    child.sendline("abcd-efgh-ijkl-mnop")
    child.expect(pexpect.EOF)
    output = child.before or ""
    child.close()
    assert child.exitstatus == 0, output
    assert "abcd-efgh-ijkl-mnop" not in output
    assert "connected bluesky:brand (status: active; secrets stored encrypted: app_password)" in output
    assert "could not check bluesky:brand" in output  # no server at that address: a note, not a failure
    secrets, settings, _expires = _stored(tmp_path)
    assert secrets == {"app_password": "abcd-efgh-ijkl-mnop"}
    assert "brand.bsky.social" in settings


def test_google_business_through_the_command(tmp_path: Path) -> None:
    """The whole command for a network whose posting path keeps its own refresh token: the client
    secret asked hidden, Google's offline sign-in followed by the test's browser, nothing echoed."""
    from tests.servers.google_business import (
        ACCOUNT,
        CLIENT_ID,
        CLIENT_SECRET,
        LOCATION,
        GoogleBusinessServer,
    )

    port = _free_port()
    server = GoogleBusinessServer().start()
    server.allow_redirect(f"http://127.0.0.1:{port}/callback")
    try:
        child = _spawn(
            tmp_path,
            "account",
            "connect",
            "google_business",
            "shop",
            *("--set", f"account_id={ACCOUNT}", "--set", f"location_id={LOCATION}"),
            *("--set", f"oauth_client_id={CLIENT_ID}", "--set", f"api_base={server.url}"),
            *(
                "--set",
                f"token_url={server.url}/token",
                "--set",
                f"authorize_url={server.url}/o/oauth2/v2/auth",
            ),
            *("--port", str(port), "--no-browser"),
        )
        child.expect(r"client_secret \(")
        child.sendline(CLIENT_SECRET)
        redirect = _sign_in(child)
        requests.get(redirect, timeout=10)
        child.expect(pexpect.EOF)
        output = child.before or ""
        child.close()
        assert child.exitstatus == 0, output
        assert (
            "connected google_business:shop (status: active; secrets stored encrypted: "
            "client_secret, client_id, refresh_token)" in output
        )
        secrets, _settings, expires = _stored(tmp_path)
        assert CLIENT_SECRET not in output and secrets["refresh_token"] not in output
        assert secrets["refresh_token"] in server.refresh_tokens and expires is None
    finally:
        server.stop()
