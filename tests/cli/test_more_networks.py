"""Reddit, Pinterest and Google Business Profile through the command line: accounts added with their
secrets on stdin (checked with the network's contract server), `--dry-run` payloads with counted
lengths, and what each network would refuse turned away at queue time, one line, nothing stored."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, as_json, error_line
from tests.factories import tiny_png
from tests.servers.google_business import ACCOUNT, LOCATION, REFRESH_TOKEN, GoogleBusinessServer
from tests.servers.google_business import CLIENT_ID as GOOGLE_CLIENT
from tests.servers.google_business import CLIENT_SECRET as GOOGLE_SECRET
from tests.servers.pinterest import ACCESS_TOKEN, BOARD, PinterestServer
from tests.servers.reddit import CLIENT_ID, CLIENT_SECRET, PASSWORD, USER_AGENT, USERNAME, RedditServer


@pytest.fixture
def reddit() -> Iterator[RedditServer]:
    server = RedditServer().start()
    yield server
    server.stop()


def add_reddit(cli: Cli, server: RedditServer, password: str = PASSWORD):
    settings = [
        "--set", f"username={USERNAME}", "--set", f"user_agent={USER_AGENT}", "--set", "subreddit=harbour",
        "--set", f"api_base={server.url}", "--set", f"auth_base={server.url}",
    ]  # fmt: skip
    stdin = f"client_id={CLIENT_ID}\nclient_secret={CLIENT_SECRET}\npassword={password}\n"
    return cli(
        "account", "add", "reddit", "harbour", *settings, "--secrets-from-stdin", "--json", input=stdin
    )


def test_reddit_account_dry_run_and_the_title(
    cli: Cli, reddit: RedditServer, counts: Callable[[], dict[str, int]]
) -> None:
    added = as_json(add_reddit(cli, reddit))
    assert added["target"] == "reddit:harbour" and set(added["secrets"]) == {
        "client_id",
        "client_secret",
        "password",
    }
    assert PASSWORD not in json.dumps(added) and CLIENT_SECRET not in json.dumps(added)
    assert [r.path for r in reddit.requests] == ["/api/v1/access_token", "/api/v1/me"]  # checked when added

    text = "Doors open at 9. 👨‍👩‍👧"  # the family emoji is five code points
    post = [
        "post",
        text,
        "--to",
        "reddit:harbour",
        "--option",
        "title=Harbour opens",
        "--option",
        "spoiler=true",
    ]
    plan = as_json(cli(*post, "--dry-run", "--json"))["targets"][0]
    assert (plan["ok"], plan["length"], plan["limit"]) == (True, 22, 40_000)
    assert plan["payload"] == {
        "api_type": "json", "kind": "self", "sr": "harbour", "title": "Harbour opens", "text": text,
        "nsfw": "false", "spoiler": "true", "resubmit": "false", "sendreplies": "true",
        "validate_on_submit": "true",
    }  # fmt: skip

    link = ["--option", "title=Timetable", "--option", "url=https://harbour.example/t"]
    plan = as_json(cli("post", "", "--to", "reddit:harbour", *link, "--dry-run", "--json"))["targets"][0]
    assert plan["ok"] and plan["payload"]["kind"] == "link" and "text" not in plan["payload"]

    before = counts()
    error_line(cli("post", "hello", "--to", "reddit:harbour"), "reddit:harbour: a Reddit post needs a title")
    error_line(
        cli("post", "hello", "--to", "reddit:harbour", "--option", f"title={'t' * 301}"),
        "title is 301 characters, over Reddit's limit of 300",
    )
    error_line(
        cli(
            "post",
            "hello",
            "--to",
            "reddit:harbour",
            "--option",
            "title=t",
            "--option",
            "url=harbour.example",
        ),
        "url must be an absolute http(s) URL",
    )
    assert counts() == before and reddit.posts() == []


def test_reddit_refused_credentials_are_one_line_without_secrets(cli: Cli, reddit: RedditServer) -> None:
    line = error_line(
        add_reddit(cli, reddit, "wrong password"), "Reddit refused the credentials", "invalid_grant"
    )
    assert "wrong password" not in line and CLIENT_SECRET not in line
    assert as_json(cli("account", "list", "--json")) == {"accounts": []}


def test_a_generic_user_agent_is_refused(cli: Cli) -> None:
    result = cli(
        "account", "add", "reddit", "harbour", "--set", f"username={USERNAME}",
        "--set", "user_agent=postmast",
        "--secrets-from-stdin", input=f"client_id={CLIENT_ID}\nclient_secret={CLIENT_SECRET}\npassword=x\n",
    )  # fmt: skip
    error_line(result, "user_agent must be '<platform>:<app ID>:<version> (by /u/<username>)'")


def test_the_networks_list_their_options(cli: Cli) -> None:
    networks = {n["network"]: n for n in as_json(cli("account", "networks", "--json"))["networks"]}
    assert {"title", "link", "board_id", "board_section_id", "image_url", "cover_frame"} == {
        o["name"] for o in networks["pinterest"]["options"]
    }
    assert [o["name"] for o in networks["reddit"]["options"]] == [
        "title", "subreddit", "url", "flair_id", "flair_text", "nsfw", "spoiler", "resubmit",
    ]  # fmt: skip


@pytest.fixture
def pinterest() -> Iterator[PinterestServer]:
    server = PinterestServer().start()
    yield server
    server.stop()


def test_pinterest_account_dry_run_and_what_a_pin_needs(
    cli: Cli, pinterest: PinterestServer, tmp_path: Path, counts: Callable[[], dict[str, int]]
) -> None:
    settings = ["--set", f"board_id={BOARD}", "--set", f"api_base={pinterest.url}"]
    stdin = f"access_token={ACCESS_TOKEN}\n"
    added = as_json(
        cli(
            "account", "add", "pinterest", "harbour", *settings, "--secrets-from-stdin", "--json", input=stdin
        )
    )
    assert added["target"] == "pinterest:harbour" and ACCESS_TOKEN not in json.dumps(added)
    assert [r.path for r in pinterest.requests] == ["/v5/user_account", f"/v5/boards/{BOARD}"]

    image = tmp_path / "doors.png"
    image.write_bytes(tiny_png(4, 4))
    post = [
        "post",
        "Doors open at 9.",
        "--media",
        str(image),
        "--alt",
        "Open doors",
        "--to",
        "pinterest:harbour",
    ]
    plan = as_json(cli(*post, "--option", "title=Harbour", "--dry-run", "--json"))["targets"][0]
    assert (plan["ok"], plan["length"], plan["limit"]) == (True, 16, 800)
    assert plan["payload"]["media_source"]["data"].startswith("<base64 of doors.png")
    assert (plan["payload"]["title"], plan["payload"]["alt_text"]) == ("Harbour", "Open doors")

    before = counts()
    error_line(cli("post", "hello", "--to", "pinterest:harbour"), "a pin needs an image or a video")
    error_line(cli(*post, "--option", f"title={'t' * 101}"), "title is 101 characters, over the limit of 100")
    assert counts() == before and pinterest.posts() == []


@pytest.fixture
def google() -> Iterator[GoogleBusinessServer]:
    server = GoogleBusinessServer().start()
    yield server
    server.stop()


def test_google_business_account_dry_run_and_events(
    cli: Cli, google: GoogleBusinessServer, counts: Callable[[], dict[str, int]]
) -> None:
    settings = [
        "--set", f"account_id={ACCOUNT}", "--set", f"location_id={LOCATION}",
        "--set", f"api_base={google.url}", "--set", f"token_url={google.url}/token",
    ]  # fmt: skip
    stdin = f"client_id={GOOGLE_CLIENT}\nclient_secret={GOOGLE_SECRET}\nrefresh_token={REFRESH_TOKEN}\n"
    added = as_json(
        cli(
            "account",
            "add",
            "google_business",
            "cafe",
            *settings,
            "--secrets-from-stdin",
            "--json",
            input=stdin,
        )
    )
    assert added["target"] == "google_business:cafe" and REFRESH_TOKEN not in json.dumps(added)
    assert [r.path for r in google.requests] == [
        "/token",
        f"/v4/accounts/{ACCOUNT}/locations/{LOCATION}/localPosts",
    ]

    event = [
        "--option", "topic=event", "--option", "event_title=Harbour night",
        "--option", "event_start=2026-12-05 18:00", "--option", "event_end=2026-12-05 23:30",
        "--option", "action=book", "--option", "action_url=https://cafe.example/book",
    ]  # fmt: skip
    plan = as_json(cli("post", "Live music.", "--to", "google_business:cafe", *event, "--dry-run", "--json"))[
        "targets"
    ][0]
    assert (plan["ok"], plan["length"], plan["limit"]) == (True, 11, 1500)
    assert plan["payload"]["topicType"] == "EVENT" and plan["payload"]["callToAction"]["actionType"] == "BOOK"
    assert plan["payload"]["event"]["schedule"]["endTime"] == {
        "hours": 23,
        "minutes": 30,
        "seconds": 0,
        "nanos": 0,
    }

    before = counts()
    error_line(
        cli("post", "Live music.", "--to", "google_business:cafe", "--option", "topic=event"),
        "a event post needs event_title, event_start, event_end",
    )
    error_line(
        cli("post", "x" * 1501, "--to", "google_business:cafe"),
        "over Google Business Profile's limit of 1500",
    )
    assert counts() == before and google.posts() == []
