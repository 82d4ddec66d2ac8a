"""PRAW's recordings of real Reddit traffic (tests/conformance/praw-cassettes) as contract data:
each recorded token request and submission is replayed against the contract server, whose answers
must have the recorded status and shape; and every field the connector sends is one that PRAW sent
to the real API."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
import regex
import requests

from postmast.connectors import Content
from tests.conftest import FakeClock
from tests.connectors.reddit.support import reddit
from tests.servers.reddit import (
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    SUBREDDIT,
    USER_AGENT,
    USERNAME,
    RedditServer,
)

COMMENTS = regex.compile(r"https://www\.reddit\.com/r/[^/]+/comments/[a-z0-9]+/[^/]+/")


def cassettes(conformance: Path) -> list[Path]:
    return sorted((conformance / "praw-cassettes" / "cassettes").glob("*.json"))


def interactions(path: Path) -> list[dict[str, Any]]:
    return [i for i in json.loads(path.read_text())["interactions"] if "/api/" in i["request"]["uri"]]


def body_of(recorded: dict[str, Any]) -> str:
    body = recorded.get("body")
    return str(body.get("string", "") if isinstance(body, dict) else body or "")


def ours(form: str) -> dict[str, str]:
    """A recorded form with the recording's placeholders replaced by the contract server's account."""
    fields = {k: v[-1] for k, v in parse_qs(form, keep_blank_values=True).items()}
    swap = {"<USERNAME>": USERNAME, "<PASSWORD>": PASSWORD, "<TEST_SUBREDDIT>": SUBREDDIT}
    return {k: swap.get(v, v) for k, v in fields.items()}


@pytest.fixture
def server() -> Iterator[RedditServer]:
    running = RedditServer(clock=FakeClock()).start()
    yield running
    running.stop()


def replay(server: RedditServer, interaction: dict[str, Any], token: str | None) -> requests.Response:
    request = interaction["request"]
    path = "/" + request["uri"].split("/", 3)[3]
    headers = {"User-Agent": USER_AGENT, "Content-Type": "application/x-www-form-urlencoded"}
    if "access_token" in path:
        headers["Authorization"] = (
            "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        )
    else:
        headers["Authorization"] = f"bearer {token}"
    return requests.post(
        server.url + path, data=urlencode(ours(body_of(request))), headers=headers, timeout=5
    )


def test_every_cassette_is_read(conformance: Path) -> None:
    assert len(cassettes(conformance)) == 8


@pytest.mark.parametrize(
    "name",
    ["flair", "nsfw", "selftext", "selftext_blank", "spoiler", "url", "url_selftext", "verify_invalid"],
)
def test_the_server_answers_as_reddit_did(server: RedditServer, conformance: Path, name: str) -> None:
    path = conformance / "praw-cassettes" / "cassettes" / f"TestSubreddit.test_submit__{name}.json"
    token = None
    for interaction in interactions(path):
        recorded = interaction["response"]
        answer = replay(server, interaction, token)
        assert answer.status_code == recorded["status"]["code"], (name, answer.text)
        expected, got = json.loads(recorded["body"]["string"]), answer.json()
        if "access_token" in interaction["request"]["uri"]:
            assert (
                set(got) == set(expected)
                and got["token_type"] == "bearer"
                and isinstance(got["expires_in"], int)
            )
            token = got["access_token"]
        elif answer.status_code == 200:
            assert (
                set(got) == set(expected) == {"json"}
                and got["json"]["errors"] == expected["json"]["errors"] == []
            )
            data, recorded_data = got["json"]["data"], expected["json"]["data"]
            assert set(recorded_data) <= set(data) <= {"url", "id", "name", "drafts_count"}
            assert COMMENTS.fullmatch(data["url"]) and COMMENTS.fullmatch(
                recorded_data["url"].replace("<TEST_SUBREDDIT>", "x")
            )
            assert data["name"] == f"t3_{data['id']}" and recorded_data["name"] == f"t3_{recorded_data['id']}"
        else:
            assert set(got) == set(expected)
            assert (got["error_type"], got["reason"], got["fields"]) == (
                expected["error_type"],
                expected["reason"],
                expected["fields"],
            )
            assert got["explanation"] == expected["explanation"]
    assert token is not None


def test_the_connector_sends_only_fields_praw_sent_to_reddit(server: RedditServer, conformance: Path) -> None:
    recorded: set[str] = set()
    for path in cassettes(conformance):
        for interaction in interactions(path):
            if "/api/submit" in interaction["request"]["uri"]:
                recorded |= set(parse_qs(body_of(interaction["request"]), keep_blank_values=True))
    clock = FakeClock()
    connector = reddit(server, clock)
    options = {"title": "t", "flair_id": "f", "flair_text": "x", "nsfw": True, "spoiler": True}
    sent = set(connector.payload(Content("text", options=options))) | set(
        connector.payload(Content("text", options={**options, "url": "https://harbour.example/"}))
    )
    assert sent <= recorded, sent - recorded
