"""Shared by the Mastodon connector's test files (tests/connectors/mastodon/): credentials
and keys, the spec vectors, the connector factories, a sample photo, the cassette directory and the
replay server, and the fixture that makes media polling fast. A plain module, imported by them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from postmast.connectors import MediaFile
from postmast.connectors.http import HttpClient
from postmast.connectors.mastodon import Mastodon
from postmast.connectors.mastodon import media as mastodon_media
from tests.servers.mastodon import MastodonServer
from tests.servers.replay import Interaction, ReplayServer

CREDS = {"access_token": "token-a"}
KEY = "delivery-42-attempt-key"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"

# Mastodon's own spec vectors (StatusLengthValidator spec, NETWORKS.md §3)
URL_VECTOR = "a" * 476 + " http://" + "b" * 30 + ".com/example"
MENTION_VECTOR = "a" * 475 + " @alice@" + "b" * 30 + ".com"
JPEG = b"\xff\xd8\xff\xe0" + bytes(64)

STATUSES = ("POST", "/api/v1/statuses")


def connector(server: MastodonServer | ReplayServer, **settings: str) -> Mastodon:
    return Mastodon({"instance": server.url, **settings}, HttpClient(connect_timeout=2, read_timeout=2))


def offline(**settings: str) -> Mastodon:
    return Mastodon({"instance": "https://mastodon.example", **settings})


def photo(alt: str = "a red bicycle", name: str = "bike.jpg") -> MediaFile:
    return MediaFile(JPEG + name.encode(), "image/jpeg", name, alt, 640, 480)


@pytest.fixture(scope="module")
def cassettes(conformance: Path) -> Path:
    path = conformance / "mastodon-py-cassettes" / "cassettes"
    assert path.is_dir(), path
    return path


@contextlib.contextmanager
def replay(interactions: list[Interaction]) -> Iterator[ReplayServer]:
    server = ReplayServer(interactions)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mastodon_media, "POLL_DELAYS", (0.02,))
