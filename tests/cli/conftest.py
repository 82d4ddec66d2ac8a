"""Helpers for CLI tests: the embedded database of a run, accounts to post to, error checks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from postmast.scheduler.store import Store
from tests.conftest import CliResult, table_counts

Cli = Callable[..., CliResult]
SECRET = "SEKRET123"


def ok(result: CliResult) -> CliResult:
    """The run succeeded and said nothing on stderr but notes (e.g. an instance it could not reach)."""
    assert result.code == 0, result
    assert all(line.startswith("postmast: note: ") for line in result.err.splitlines()), result
    return result


def as_json(result: CliResult) -> Any:
    return json.loads(ok(result).out)


def error_line(result: CliResult, *fragments: str, code: int | None = None) -> str:
    """The run failed with exactly one `postmast: error:` line on stderr and no traceback."""
    assert result.code != 0, result
    if code is not None:
        assert result.code == code, result
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("postmast: error: "), result.err
    assert "Traceback" not in result.err + result.out
    assert "internal error" not in lines[0], lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture
def data_dir(cli_env: dict[str, str]) -> Path:
    return Path(cli_env["POSTMAST_DATA_DIR"])


@pytest.fixture
def db_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'postmast.db'}"


@pytest.fixture
def counts(db_url: str) -> Callable[[], dict[str, int]]:
    return lambda: table_counts(db_url)


@pytest.fixture
def cli_store(db_url: str) -> Iterator[Store]:
    """The job store the CLI runs use (for setting up deliveries in a given state)."""
    store = Store(db_url)
    yield store
    store.dispose()


@pytest.fixture
def two_accounts(cli: Cli) -> dict[str, int]:
    """`webhook:team` and `mastodon:brand`, added through the CLI."""
    team = as_json(cli("account", "add", "webhook", "team", "--set", "url=http://127.0.0.1:9/hook", "--json"))
    brand = as_json(
        cli(
            "account",
            "add",
            "mastodon",
            "brand",
            "--set",
            "instance=http://127.0.0.1:9",
            "--secrets-from-stdin",
            "--json",
            input=f"access_token={SECRET}\n",
        )
    )
    return {"webhook:team": team["id"], "mastodon:brand": brand["id"]}
