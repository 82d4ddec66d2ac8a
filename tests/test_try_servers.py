"""`python -m tests.servers NETWORK --port N` (README, "Try it without an account"): the contract
server it starts takes the account its printed command adds, accepts a post, and says so."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from postmast.connectors.content import Content
from postmast.connectors.discord import Discord
from postmast.connectors.facebook import Facebook
from postmast.connectors.google_business import GoogleBusiness
from postmast.connectors.http import HttpClient
from postmast.connectors.linkedin import LinkedIn
from postmast.connectors.mastodon import Mastodon
from postmast.connectors.pinterest import Pinterest
from postmast.connectors.reddit import Reddit
from postmast.connectors.slack import Slack
from postmast.connectors.telegram import Telegram
from postmast.connectors.threads import Threads
from tests.conftest import REPO
from tests.peers.launcher import free_port

BIN = Path(sys.executable).parent


class Served:
    """The server's process and the lines it prints."""

    def __init__(self, network: str, port: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.servers", network, "--port", str(port)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        while True:
            for line in self.seen:
                found = re.search(pattern, line)
                if found:
                    return found
            try:
                self.seen.append(self.lines.get(timeout=timeout))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.seen)) from None

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[Callable[[str, int], Served]]:
    started: list[Served] = []

    def start(network: str, port: int) -> Served:
        started.append(Served(network, port))
        return started[-1]

    yield start
    for each in started:
        each.stop()


def post_to_mastodon(url: str, text: str) -> None:
    connector = Mastodon({"instance": url}, HttpClient(connect_timeout=2, read_timeout=5))
    connector.publish(Content(text), {"access_token": "token-a"}, "try-key-1")


def post_to_x(url: str, text: str) -> None:
    answer = requests.post(
        f"{url}/2/tweets", json={"text": text}, headers={"Authorization": "Bearer u-bearer"}, timeout=5
    )
    assert answer.status_code == 201, answer.text


def post_to_webhook(url: str, text: str) -> None:
    body: dict[str, Any] = {"text": text, "idempotency_key": "try-key-1", "reply_to": None}
    answer = requests.post(f"{url}/hook", json=body, headers={"Idempotency-Key": "try-key-1"}, timeout=5)
    assert answer.status_code == 200, answer.text


def post_to_telegram(url: str, text: str) -> None:
    from tests.servers.telegram import TOKEN

    connector = Telegram({"chat_id": "@harbour_news", "api_base": url}, HttpClient(read_timeout=5))
    connector.publish(Content(text), {"bot_token": TOKEN}, "try-key-1")


def post_to_discord(url: str, text: str) -> None:
    from tests.servers.discord import WEBHOOK_ID, WEBHOOK_TOKEN

    hook = f"{url}/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"
    Discord({}, HttpClient(read_timeout=5)).publish(Content(text), {"webhook_url": hook}, "try-key-1")


def post_to_slack(url: str, text: str) -> None:
    from tests.servers.slack import WEBHOOK_PATH

    Slack({}, HttpClient(read_timeout=5)).publish(
        Content(text), {"webhook_url": url + WEBHOOK_PATH}, "try-key-1"
    )


def post_to_facebook(url: str, text: str) -> None:
    connector = Facebook(
        {"page_id": "1234567890", "api_base": url}, HttpClient(connect_timeout=2, read_timeout=5)
    )
    connector.publish(Content(text), {"page_access_token": "page-token"}, "try-key-1")


def post_to_linkedin(url: str, text: str) -> None:
    connector = LinkedIn({"author": "urn:li:person:abc123", "api_base": url}, HttpClient(read_timeout=5))
    connector.publish(Content(text), {"access_token": "li-token"}, "try-key-1")


def post_to_threads(url: str, text: str) -> None:
    connector = Threads({"api_base": url}, HttpClient(connect_timeout=2, read_timeout=5))
    connector.publish(Content(text), {"access_token": "th-token"}, "try-key-1")


def post_to_reddit(url: str, text: str) -> None:
    from tests.servers.reddit import CLIENT_ID, CLIENT_SECRET, PASSWORD, USER_AGENT

    settings = {"username": "harbour_news", "user_agent": USER_AGENT, "subreddit": "harbour"}
    connector = Reddit({**settings, "api_base": url, "auth_base": url}, HttpClient(read_timeout=5))
    secrets = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "password": PASSWORD}
    connector.publish(Content(text, options={"title": "Try"}), secrets, "try-key-1")


def post_to_pinterest(url: str, text: str) -> None:
    from tests.servers.pinterest import ACCESS_TOKEN, BOARD

    connector = Pinterest({"board_id": BOARD, "api_base": url}, HttpClient(read_timeout=5))
    content = Content(text, options={"image_url": "https://harbour.example/a.jpg"})
    connector.publish(content, {"access_token": ACCESS_TOKEN}, "try-key-1")


def post_to_google_business(url: str, text: str) -> None:
    from tests.servers.google_business import ACCOUNT, CLIENT_ID, CLIENT_SECRET, LOCATION, REFRESH_TOKEN

    settings = {"account_id": ACCOUNT, "location_id": LOCATION, "api_base": url, "token_url": f"{url}/token"}
    secrets = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN}
    GoogleBusiness(settings, HttpClient(read_timeout=5)).publish(Content(text), secrets, "try-key-1")


@pytest.mark.parametrize(
    ("network", "post"),
    [
        ("mastodon", post_to_mastodon),
        ("x", post_to_x),
        ("webhook", post_to_webhook),
        ("telegram", post_to_telegram),
        ("discord", post_to_discord),
        ("slack", post_to_slack),
        ("facebook", post_to_facebook),
        ("linkedin", post_to_linkedin),
        ("threads", post_to_threads),
        ("reddit", post_to_reddit),
        ("pinterest", post_to_pinterest),
        ("google_business", post_to_google_business),
    ],
)
def test_the_server_takes_the_printed_account_and_prints_each_post(
    network: str, post: Callable[[str, str], None], served: Callable[[str, int], Served], tmp_path: Path
) -> None:
    port = free_port()
    server = served(network, port)
    url = server.wait_for(r"contract server on (http://\S+)").group(1)
    assert url == f"http://127.0.0.1:{port}"
    command = server.wait_for(r"^  ((?:printf .* \| )?postmast account add .*)$").group(1)
    server.wait_for("serving until Ctrl-C")

    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTMAST_")}
    env |= {"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "POSTMAST_DATA_DIR": str(tmp_path)}
    added = subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert added.returncode == 0, added.stderr
    assert f"added {network}:try" in added.stdout

    post(url, "Hello from postmast")
    server.wait_for(r"created \S+: 'Hello from postmast'")
    assert server.stop() == 0
    server.wait_for(r"stopped: \d+ requests received, 1 posts created")


def test_help_shows_an_example() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.servers", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "python -m tests.servers mastodon --port 3000" in result.stdout
    networks = ("mastodon", "x", "webhook", "bluesky", "telegram", "discord", "slack")
    assert all(name in result.stdout for name in networks)


def test_a_taken_port_is_refused_plainly(served: Callable[[str, int], Served]) -> None:
    port = free_port()
    first = served("webhook", port)
    first.wait_for("serving until Ctrl-C")
    second = served("webhook", port)
    assert second.process.wait(20) == 2
    second.wait_for(f"cannot serve on 127.0.0.1:{port}")
