"""`account add` under a real terminal asks for ONE complete sign-in method and says which."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
from sqlalchemy import text

from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.conftest import REPO
from tests.servers.x import BEARER, OAUTH1, XServer


def _spawn(tmp_path: Path, *args: str) -> pexpect.spawn:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTMAST_")}
    env.update(
        {"POSTMAST_DATA_DIR": str(tmp_path / "data"), "TZ": "UTC", "TERM": "dumb", "PYTHONPATH": str(REPO)}
    )
    return pexpect.spawn(
        sys.executable, ["-m", "postmast", *args], env=env, cwd=str(REPO), encoding="utf-8", timeout=30
    )


def _stored(tmp_path: Path) -> tuple[dict[str, str], str]:
    store = Store(f"sqlite:///{tmp_path / 'data' / 'postmast.db'}")
    with store.read() as session:
        secrets, cache = session.execute(text("SELECT secrets, cache FROM accounts")).one()
    store.dispose()
    return Vault.from_settings(None, tmp_path / "data" / "secret.key").decrypt(bytes(secrets)), str(cache)


def test_x_oauth1_is_collected_whole(tmp_path: Path, conformance: Path) -> None:
    server = XServer(conformance / "x-openapi" / "openapi.json", check_after_secs=0).start()
    try:
        child = _spawn(tmp_path, "account", "add", "x", "brand", "--set", f"api_base={server.url}")
        child.expect("1\\) OAuth 1.0a")
        child.expect("2\\) OAuth 2.0")
        child.expect("which one")
        child.sendline("1")
        child.expect("collecting OAuth 1.0a: the app's two keys and the account's two tokens \\(4 secrets\\)")
        for name in ("consumer_key", "consumer_secret", "access_token"):
            child.expect(f"{name} \\(")
            child.sendline(OAUTH1[name])
        child.expect("access_token_secret \\(")
        child.sendline("")  # an empty answer is asked again, not a failure after three keys
        child.expect("access_token_secret \\(")
        child.sendline(OAUTH1["access_token_secret"])
        child.expect(pexpect.EOF)
        output = child.before or ""
        child.close()
        assert child.exitstatus == 0, output
        assert "added x:brand" in output
        assert "bearer_token" not in output  # the other method is not asked for
        assert not any(value in output for value in OAUTH1.values())
        secrets, cache = _stored(tmp_path)
        assert secrets == OAUTH1
        assert "alice" in cache  # the network accepted the four keys (`GET /2/users/me`)
    finally:
        server.stop()


def test_x_oauth2_token_only(tmp_path: Path, conformance: Path) -> None:
    server = XServer(conformance / "x-openapi" / "openapi.json", check_after_secs=0).start()
    try:
        child = _spawn(tmp_path, "account", "add", "x", "brand", "--set", f"api_base={server.url}")
        child.expect("which one")
        child.sendline("2")
        child.expect("collecting OAuth 2.0: a user access token \\(1 secret\\)")
        child.expect("bearer_token \\(")
        child.sendline(BEARER["bearer_token"])
        child.expect("refresh_token \\(.*\\[optional, Enter to skip\\]")  # this method's own extras
        child.sendline("")
        child.expect("client_secret \\(")
        child.sendline("")
        child.expect(pexpect.EOF)
        output = child.before or ""
        child.close()
        assert child.exitstatus == 0, output
        assert "consumer_key" not in output
        assert _stored(tmp_path)[0] == BEARER
    finally:
        server.stop()
