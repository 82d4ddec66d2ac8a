"""Run one network's contract server on your machine, to try postmast without a real account.

    ./.venv/bin/python -m tests.servers mastodon --port 3000

It serves on 127.0.0.1, prints its URL, the credentials it accepts and the exact
`postmast account add` command for an account on it, then runs until Ctrl-C, printing one
line per post it creates. The servers are the suite's own (`tests/servers/`); `bluesky`
starts the reference PDS the suite uses (`tests/peers/`, installed on first use: npm, a few
minutes) behind the suite's counting proxy.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.base import ContractServer, Request, Response

CONFORMANCE = Path(__file__).resolve().parent.parent / "conformance"
ACCOUNT = "try"
DEFAULT_PORTS = {
    "mastodon": 3000,
    "x": 4010,
    "webhook": 8089,
    "bluesky": 2583,
    "telegram": 8081,
    "discord": 8090,
    "slack": 8091,
    "facebook": 4020,
    "instagram": 4021,
    "threads": 4022,
    "linkedin": 4023,
    "reddit": 4030,
    "pinterest": 4031,
    "google_business": 4032,
}
EXAMPLE = """\
example:
  ./.venv/bin/python -m tests.servers mastodon --port 3000
  # then, in another shell, with .venv/bin on PATH, the printed command, e.g.
  printf 'access_token=token-a\\n' | postmast account add mastodon try \\
      --set instance=http://127.0.0.1:3000 --secrets-from-stdin
  postmast post "Hello from postmast" --to mastodon:try
  postmast run      # publishes it; this server prints: created ... "Hello from postmast"
"""


@dataclass
class Running:
    """A started server and how to use it."""

    server: ContractServer
    credentials: list[str]
    settings: dict[str, str]
    secrets: dict[str, str]
    stop_also: list[Callable[[], None]] = field(default_factory=list)
    post_options: str = ""
    """What `postmast post` needs besides text on this network (a title, an image)."""


def _answer(response: Response) -> dict[str, Any]:
    """The JSON object a (proxied) response carries, or {}."""
    try:
        data = json.loads(response.raw) if response.raw is not None else response.body
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _mastodon(port: int, args: argparse.Namespace) -> Running:
    from tests.servers.mastodon import MastodonServer

    server = MastodonServer({args.token or "token-a": "alice"})
    server.start(port)
    token = next(iter(server.tokens))
    return Running(
        server,
        [f"access token: {token} (user @alice)"],
        {"instance": server.url},
        {"access_token": token},
    )


def _x(port: int, args: argparse.Namespace) -> Running:
    from tests.servers.x import XServer

    server = XServer(CONFORMANCE / "x-openapi" / "openapi.json", check_after_secs=1)
    server.start(port)
    user = server.users[0]
    return Running(
        server,
        [
            f"OAuth 2.0 user token: bearer_token={user.bearer} (user @{user.username})",
            f"or OAuth 1.0a: consumer_key={user.consumer_key} consumer_secret={user.consumer_secret} "
            f"access_token={user.token} access_token_secret={user.token_secret}",
        ],
        {"api_base": server.url, "username": user.username},
        {"bearer_token": user.bearer},
    )


def _webhook(port: int, args: argparse.Namespace) -> Running:
    from tests.servers.webhook import WebhookServer

    server = WebhookServer(args.token)
    server.start(port)
    signed = f"signing_secret: {args.token} (Standard Webhooks signature required)"
    return Running(
        server,
        [signed if args.token else "none: unsigned posts (start with --token SECRET to require a signature)"],
        {"url": f"{server.url}/hook"},
        {"signing_secret": args.token} if args.token else {},
    )


def _bluesky(port: int, args: argparse.Namespace) -> Running:
    from tests.peers.launcher import start_pds
    from tests.servers.bluesky import PdsProxy, create_account

    class Recording(PdsProxy):
        """The suite's proxy, noting each post the PDS created."""

        def __init__(self, upstream: str) -> None:
            super().__init__(upstream)
            self.created: list[dict[str, Any]] = []

        def handle(self, request: Request) -> Response:
            response = super().handle(request)
            if request.path == "/xrpc/com.atproto.repo.createRecord" and response.status == 200:
                record = dict(request.json().get("record") or {})
                reply = (record.get("reply") or {}).get("parent") or {}
                images = ((record.get("embed") or {}).get("images")) or []
                with self.lock:
                    self.created.append(
                        {
                            "id": _answer(response).get("uri"),
                            "text": record.get("text", ""),
                            "in_reply_to_id": reply.get("uri"),
                            "media_ids": images,
                        }
                    )
            return response

    print("starting the reference Bluesky PDS (installed on first use; see tests/peers/launcher.py) ...")
    peer = start_pds(Path(tempfile.mkdtemp(prefix="postmast-try-pds-")))
    try:
        account = create_account(peer.url, "try")
        server = Recording(peer.url)
        server.start(port)
    except BaseException:
        peer.stop()
        raise
    return Running(
        server,
        [f"handle {account.handle}, app password {account.app_password} (password {account.password})"],
        {"handle": account.handle, "service": server.url},
        {"app_password": account.app_password},
        [peer.stop],
    )


def _telegram(port: int, args: argparse.Namespace) -> Running:
    from tests.servers.telegram import TOKEN, TelegramServer

    server = TelegramServer(CONFORMANCE / "telegram-bot-api-spec" / "api.json")
    server.start(port)
    return Running(
        server,
        [
            f"bot token: {TOKEN} (bot @postmast_bot)",
            "chats: @harbour_news (a public channel), -1009876543210 (a private channel)",
        ],
        {"chat_id": "@harbour_news", "api_base": server.url},
        {"bot_token": TOKEN},
    )


def _discord(port: int, args: argparse.Namespace) -> Running:
    from tests.servers.discord import BOT_TOKEN, CHANNEL, WEBHOOK_ID, WEBHOOK_TOKEN, DiscordServer

    server = DiscordServer(CONFORMANCE / "discord-api-spec" / "specs" / "openapi.json")
    server.start(port)
    hook = f"{server.url}/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"
    return Running(
        server,
        [
            f"webhook_url: {hook}",
            f"or bot_token: {BOT_TOKEN} with channel_id={CHANNEL} and api_base={server.url}/api/v10",
        ],
        {},
        {"webhook_url": hook},
    )


def _slack(port: int, args: argparse.Namespace) -> Running:
    from tests.servers.slack import BOT_TOKEN, CHANNEL, WEBHOOK_PATH, SlackServer

    server = SlackServer()
    server.start(port)
    return Running(
        server,
        [
            f"webhook_url: {server.url}{WEBHOOK_PATH}",
            f"or bot_token: {BOT_TOKEN} with channel={CHANNEL} and api_base={server.url}/api",
        ],
        {},
        {"webhook_url": f"{server.url}{WEBHOOK_PATH}"},
    )


def _facebook(port: int, args: argparse.Namespace) -> Running:
    from tests.servers.facebook import FacebookServer

    server = FacebookServer({"page-token": "1234567890"})
    server.start(port)
    return Running(
        server,
        ["Page access token: page-token (Page 1234567890)"],
        {"page_id": "1234567890", "api_base": server.url},
        {"page_access_token": "page-token"},
    )


def _linkedin(port: int, args: argparse.Namespace) -> Running:
    from tests.servers.linkedin import LinkedInServer

    server = LinkedInServer()
    server.start(port)
    return Running(
        server,
        ["access token: li-token (as urn:li:person:abc123 or urn:li:organization:555)"],
        {"author": "urn:li:person:abc123", "api_base": server.url},
        {"access_token": "li-token"},
    )


def _reddit(port: int, args: argparse.Namespace) -> Running:
    from tests.servers.reddit import (
        CLIENT_ID,
        CLIENT_SECRET,
        PASSWORD,
        SUBREDDIT,
        USER_AGENT,
        USERNAME,
        RedditServer,
    )

    server = RedditServer()
    server.start(port)
    return Running(
        server,
        [f"script app {CLIENT_ID} of u/{USERNAME}, User-Agent {USER_AGENT!r}, subreddit r/{SUBREDDIT}"],
        {
            "username": USERNAME,
            "user_agent": USER_AGENT,
            "subreddit": SUBREDDIT,
            "api_base": server.url,
            "auth_base": server.url,
        },
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "password": PASSWORD},
        post_options=" --option reddit.title=Hello",
    )


def _pinterest(port: int, args: argparse.Namespace) -> Running:
    from tests.servers.pinterest import ACCESS_TOKEN, BOARD, PinterestServer

    server = PinterestServer()
    server.start(port)
    return Running(
        server,
        [f"access token: {ACCESS_TOKEN} (board {BOARD})"],
        {"board_id": BOARD, "api_base": server.url},
        {"access_token": ACCESS_TOKEN},
        post_options=" --option pinterest.image_url=https://example.org/hello.png",
    )


def _google_business(port: int, args: argparse.Namespace) -> Running:
    from tests.servers.google_business import (
        ACCOUNT,
        CLIENT_ID,
        CLIENT_SECRET,
        LOCATION,
        REFRESH_TOKEN,
        GoogleBusinessServer,
    )

    server = GoogleBusinessServer()
    server.start(port)
    return Running(
        server,
        [f"OAuth client {CLIENT_ID} with refresh token {REFRESH_TOKEN} (location {LOCATION})"],
        {
            "account_id": ACCOUNT,
            "location_id": LOCATION,
            "api_base": server.url,
            "token_url": f"{server.url}/token",
        },
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN},
    )


def _meta_media(
    network: str, port: int, make: Callable[[], Any], settings: dict[str, str], token: str
) -> Running:
    """Instagram or Threads, with a local S3-compatible bucket (moto) to host media for it."""
    from tests.servers.s3 import ACCESS, S3Server

    s3 = S3Server().start()
    try:
        s3.bucket("postmast-media")
        server = make()
        server.start(port)
    except BaseException:
        s3.stop()
        raise
    return Running(
        server,
        [f"access token: {token}; media go to the bucket postmast-media at {s3.url} (moto)"],
        {**settings, "api_base": server.url, **s3.settings("postmast-media")},
        {"access_token": token, **ACCESS},
        [s3.stop],
    )


def _instagram(port: int, args: argparse.Namespace) -> Running:
    from tests.servers.instagram import InstagramServer

    user = "17841400000000123"
    return _meta_media(
        "instagram",
        port,
        lambda: InstagramServer({"ig-token": user}, processing_polls=0),
        {"ig_user_id": user},
        "ig-token",
    )


def _threads(port: int, args: argparse.Namespace) -> Running:
    from tests.servers.threads import ThreadsServer

    return _meta_media(
        "threads",
        port,
        lambda: ThreadsServer({"th-token": "25800000000000077"}, processing_polls=0),
        {},
        "th-token",
    )


NETWORKS: dict[str, Callable[[int, argparse.Namespace], Running]] = {
    "mastodon": _mastodon,
    "x": _x,
    "webhook": _webhook,
    "bluesky": _bluesky,
    "telegram": _telegram,
    "discord": _discord,
    "slack": _slack,
    "facebook": _facebook,
    "instagram": _instagram,
    "threads": _threads,
    "linkedin": _linkedin,
    "reddit": _reddit,
    "pinterest": _pinterest,
    "google_business": _google_business,
}


def account_command(network: str, running: Running) -> str:
    """The `postmast account add` line for an account on this server (secrets on stdin)."""
    settings = " ".join(f"--set {shlex.quote(f'{k}={v}')}" for k, v in running.settings.items())
    command = f"postmast account add {network} {ACCOUNT} {settings} --secrets-from-stdin"
    if not running.secrets:
        return f"{command} < /dev/null"
    lines = "".join(f"{k}={v}\\n" for k, v in running.secrets.items())
    return f"printf {shlex.quote(lines)} | {command}"


def describe(item: dict[str, Any]) -> str:
    text = str(item.get("text") or "")
    parts = [f"created {item.get('id')}: {text!r}"]
    reply = item.get("in_reply_to_id") or item.get("reply_to")
    if reply:
        parts.append(f"in reply to {reply}")
    media = item.get("media_ids") or []
    if media:
        parts.append(f"with {len(media)} media")
    return ", ".join(parts)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.servers",
        description="Run a network's contract server on 127.0.0.1 to try postmast without a real account: "
        "prints the URL, the credentials it accepts and the `postmast account add` command, then prints "
        "one line per post it receives until Ctrl-C.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("network", choices=sorted(NETWORKS), help="which network's server")
    parser.add_argument(
        "--port",
        type=int,
        help="port on 127.0.0.1 (default: "
        + ", ".join(f"{n} {p}" for n, p in sorted(DEFAULT_PORTS.items()))
        + "; 0 for any free port)",
    )
    parser.add_argument(
        "--token",
        help="mastodon: the access token to accept (default token-a); webhook: a signing secret to require",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    port = DEFAULT_PORTS[args.network] if args.port is None else args.port
    try:
        running = NETWORKS[args.network](port, args)
    except OSError as exc:
        print(f"cannot serve on 127.0.0.1:{port}: {exc}", file=sys.stderr)
        return 2
    server = running.server
    # Ctrl-C and SIGTERM stop it cleanly, with the summary (also when started in the background,
    # where a shell leaves SIGINT ignored)
    stopping: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, frame: stopping.append(number))
    print(f"{args.network} contract server on {server.url}")
    for line in running.credentials:
        print(f"  accepts {line}")
    print("add an account on it (with .venv/bin on PATH):")
    print(f"  {account_command(args.network, running)}")
    print(f'then: postmast post "Hello" --to {args.network}:{ACCOUNT}{running.post_options} && postmast run')
    print("serving until Ctrl-C; one line per post it creates:", flush=True)
    shown = 0
    try:
        while True:
            with server.lock:
                created = list(getattr(server, "created", []))
            for item in created[shown:]:
                print(f"[{time.strftime('%H:%M:%S')}] {describe(item)}", flush=True)
            shown = len(created)
            if stopping:
                break
            time.sleep(0.2)
    finally:
        server.stop()
        for stop in running.stop_also:
            stop()
    received = len(server.requests) + len(getattr(server, "discovery_requests", []))
    print(f"stopped: {received} requests received, {shown} posts created", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
