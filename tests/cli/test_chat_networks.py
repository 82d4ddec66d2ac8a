"""Telegram, Discord and Slack through the command line: accounts added with their secrets on stdin
(checked with the network's contract server), `--dry-run` payloads with counted lengths, and what
each network would refuse turned away at queue time, one line, nothing stored."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, as_json, error_line, ok
from tests.factories import tiny_png
from tests.servers.discord import BOT_TOKEN as DISCORD_BOT
from tests.servers.discord import CHANNEL as DISCORD_CHANNEL
from tests.servers.discord import WEBHOOK_ID, WEBHOOK_TOKEN, DiscordServer
from tests.servers.slack import WEBHOOK_PATH, SlackServer
from tests.servers.telegram import TOKEN, TelegramServer


@pytest.fixture
def telegram(conformance: Path) -> Iterator[TelegramServer]:
    server = TelegramServer(conformance / "telegram-bot-api-spec" / "api.json").start()
    yield server
    server.stop()


@pytest.fixture
def discord(conformance: Path) -> Iterator[DiscordServer]:
    server = DiscordServer(conformance / "discord-api-spec" / "specs" / "openapi.json").start()
    yield server
    server.stop()


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    server = SlackServer().start()
    yield server
    server.stop()


@pytest.fixture
def image(tmp_path: Path) -> str:
    path = tmp_path / "doors.png"
    path.write_bytes(tiny_png(4, 4))
    return str(path)


def add_telegram(cli: Cli, server: TelegramServer, token: str = TOKEN):
    settings = ["--set", "chat_id=@harbour_news", "--set", f"api_base={server.url}"]
    stdin = f"bot_token={token}\n"
    return cli("account", "add", "telegram", "news", *settings, "--secrets-from-stdin", "--json", input=stdin)


def test_telegram_account_dry_run_and_the_caption_limit(
    cli: Cli, telegram: TelegramServer, image: str
) -> None:
    added = as_json(add_telegram(cli, telegram))
    assert added["target"] == "telegram:news" and set(added["secrets"]) == {"bot_token"}
    assert TOKEN not in json.dumps(added)
    assert [r.path.rsplit("/", 1)[1] for r in telegram.requests] == ["getMe", "getChat"]  # checked when added

    text = "Doors open at 9. " * 70  # 1,190 characters
    refused = cli("post", text, "--media", image, "--to", "telegram:news", "--dry-run")
    error_line(refused, "over Telegram's limit of 1,024 for the caption of images", "long_caption=split")
    options = ["--option", "long_caption=split", "--option", "disable_notification=true"]
    post = ["post", text, "--media", image, "--to", "telegram:news", *options, "--dry-run", "--json"]
    plan = as_json(cli(*post))["targets"][0]
    assert (plan["ok"], plan["length"], plan["limit"]) == (True, 1190, 4096)
    assert [r["method"] for r in plan["payload"]["requests"]] == ["sendPhoto", "sendMessage"]
    assert plan["payload"]["requests"][1]["text"] == text.replace(".", "\\.")
    assert plan["payload"]["requests"][0]["photo"].startswith("<upload doors.png")
    assert plan["payload"]["length"] == 1190


def test_telegram_refused_credentials_are_one_line_without_the_token(
    cli: Cli, telegram: TelegramServer
) -> None:
    telegram.revoke()
    line = error_line(add_telegram(cli, telegram), "telegram:news: Telegram refused the credentials", "401")
    assert TOKEN not in line
    assert as_json(cli("account", "list", "--json")) == {"accounts": []}


def test_discord_webhook_and_bot_accounts(
    cli: Cli, discord: DiscordServer, counts: Callable[[], dict[str, int]]
) -> None:
    hook = f"{discord.url}/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"
    ok(cli("account", "add", "discord", "hook", "--secrets-from-stdin", input=f"webhook_url={hook}\n"))
    settings = ["--set", f"channel_id={DISCORD_CHANNEL}", "--set", f"api_base={discord.url}/api/v10"]
    stdin = f"bot_token={DISCORD_BOT}\n"
    ok(cli("account", "add", "discord", "bot", *settings, "--secrets-from-stdin", input=stdin))
    listed = as_json(cli("account", "list", "--json"))
    assert WEBHOOK_TOKEN not in json.dumps(listed) and DISCORD_BOT not in json.dumps(listed)

    targets = ["--to", "discord:hook", "--to", "discord:bot"]
    option = ["--option", "discord:hook.username=Harbour News"]
    plans = as_json(cli("post", "Hi @everyone", *targets, *option, "--dry-run", "--json"))["targets"]
    assert plans[0]["payload"]["json"]["username"] == "Harbour News"
    assert plans[1]["payload"]["json"]["enforce_nonce"] is True and plans[0]["length"] == 12
    assert all(p["payload"]["json"]["allowed_mentions"] == {"parse": []} for p in plans)

    before = counts()
    error_line(
        cli("post", "Hi", "--to", "discord:bot", "--option", "username=x"),
        "discord:bot: username and avatar_url apply to webhooks, not to a bot",
    )
    error_line(
        cli("post", "x" * 2001, "--to", "discord:hook"),
        "text is 2001 characters, over Discord's limit of 2000",
    )
    assert counts() == before


def test_slack_webhook_account_dry_run_and_what_it_cannot_do(
    cli: Cli, slack: SlackServer, counts: Callable[[], dict[str, int]]
) -> None:
    ok(
        cli(
            "account",
            "add",
            "slack",
            "team",
            "--secrets-from-stdin",
            input=f"webhook_url={slack.url}{WEBHOOK_PATH}\n",
        )
    )
    plan = as_json(cli("post", "Q&A <!here>", "--to", "slack:team", "--dry-run", "--json"))["targets"][0]
    assert plan["payload"] == {"json": {"text": "Q&amp;A &lt;!here&gt;"}, "length": 21}
    assert plan["length"] == 21 and plan["limit"] == 40000
    before = counts()
    error_line(
        cli("post", "1/2", "--then", "2/2", "--to", "slack:team"),
        "slack:team: a Slack webhook cannot post a thread (a bot account can)",
    )
    assert counts() == before


def test_slack_secrets_are_checked_without_echoing(cli: Cli) -> None:
    line = error_line(
        cli(
            "account",
            "add",
            "slack",
            "team",
            "--secrets-from-stdin",
            input="webhook_url=https://example.org/s3cret\n",
        ),
        "webhook_url is not an incoming webhook URL",
    )
    assert "s3cret" not in line and as_json(cli("account", "list", "--json")) == {"accounts": []}


def test_the_networks_list_their_options(cli: Cli) -> None:
    networks = {n["network"]: n for n in as_json(cli("account", "networks", "--json"))["networks"]}
    telegram = ["disable_notification", "disable_web_page_preview", "long_caption"]
    assert [o["name"] for o in networks["telegram"]["options"]] == telegram
    assert {"username", "avatar_url", "embed_title", "suppress_embeds", "silent"} <= {
        o["name"] for o in networks["discord"]["options"]
    }
    assert [o["name"] for o in networks["slack"]["options"]] == ["unfurl_links", "unfurl_media"]
