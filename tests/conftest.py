"""Shared fixtures: real stores on SQLite and PostgreSQL, Redis, contract servers, the CLI."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from postmast.scheduler.config import Settings
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.servers.mastodon import MastodonServer
from tests.services import Services

REPO = Path(__file__).resolve().parent.parent
CONFORMANCE = REPO / "tests" / "conformance"
TEST_KEY = "vz5e2nvD4RO2w81cz-IgMRi-JP7SqokXJch69RIYJBg="


# -- services ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    found = Services()
    yield found
    found.stop()


@pytest.fixture(scope="session")
def redis_url(services: Services) -> str:
    return services.redis_url()


@pytest.fixture(scope="session")
def pg_url(services: Services) -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    admin_url = services.postgres_admin_url()
    name = f"postmast_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as connection:
        connection.execute(
            text(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' "
                "AND pid <> pg_backend_pid()"
            )
        )
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def truncate(store: Store) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "TRUNCATE attempts, deliveries, posts, accounts, heartbeats, incidents "
                "RESTART IDENTITY CASCADE"
            )
        )


# -- clocks and stores ------------------------------------------------------------------------------


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


BACKENDS = os.environ.get("POSTMAST_TEST_BACKENDS", "sqlite,postgresql").split(",")
"""The stores every store test runs on; the shifted-date CI run keeps PostgreSQL only, whose
server keeps the real date, so a statement that read the server's clock would show there."""


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'postmast.db'}"
    url = str(request.getfixturevalue("pg_url"))
    truncate(Store(url))
    return url


@pytest.fixture
def store(database_url: str, clock: FakeClock) -> Iterator[Store]:
    """The job store on each backend, with a hand-moved clock."""
    result = Store(database_url, clock=clock)
    yield result
    result.dispose()


@pytest.fixture
def vault() -> Vault:
    return Vault(TEST_KEY)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings on the parametrised backend, with short timings suitable for tests."""
    return Settings.from_env(
        {
            "POSTMAST_DATA_DIR": str(tmp_path),
            "POSTMAST_DATABASE_URL": database_url,
            "POSTMAST_SECRET_KEY": TEST_KEY,
            "POSTMAST_HTTP_TIMEOUT": "2",
            "POSTMAST_TASK_TIME_LIMIT": "5",
            "POSTMAST_LEASE": "8",
            "POSTMAST_SETTLE": "10",
            "POSTMAST_RETRY_BASE": "5",
        }
    )


# -- contract servers -------------------------------------------------------------------------------


@pytest.fixture
def mastodon() -> Iterator[MastodonServer]:
    server = MastodonServer({"token-a": "alice", "token-b": "bob"})
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def conformance() -> Path:
    """The conformance material (specs, cassettes, vectors) kept in the repository; see its README."""
    if not CONFORMANCE.is_dir():
        pytest.fail(f"conformance material missing: {CONFORMANCE} (part of the repository)")
    return CONFORMANCE


# -- the CLI ----------------------------------------------------------------------------------------


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for CLI runs: a private data dir on the embedded default."""
    env = {k: None for k in os.environ if k.startswith("POSTMAST_")}
    env.update({"POSTMAST_DATA_DIR": str(tmp_path / "data"), "TZ": "UTC"})
    return env


@pytest.fixture
def cli(cli_env: dict[str, str]):
    """Run `postmast ARGS` in-process; returns exit code, stdout and stderr."""

    def run(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None) -> CliResult:
        from postmast.cli import main

        runner = CliRunner()
        with runner.isolation(input=input, env={**cli_env, **(env or {})}) as (out, err, _):
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            # what was written to sys.stdout directly (csv) is still in the text wrapper's buffer,
            # where a real process would flush it at exit
            sys.stdout.flush()
            sys.stderr.flush()
            return CliResult(
                code, out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace")
            )

    return run


def table_counts(
    database_url: str, tables: Sequence[str] = ("accounts", "posts", "deliveries", "attempts")
) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return {
                t: int(connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables
            }
    finally:
        engine.dispose()


# -- third-party peers (installed on first use; see tests/peers/launcher.py) ------------------------

PEER_FIXTURES = {"pds", "mastodon_mock", "prism_x"}


def _needs_peers(item: pytest.Item) -> bool:
    return bool(PEER_FIXTURES & set(getattr(item, "fixturenames", ()))) or "differential" in item.path.parts


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """On a machine where the peers are not installed yet (a fresh clone: about five minutes of
    npm and pip), install them in the background while the tests that need none run first."""
    from tests.peers.launcher import warm_in_background

    if any(_needs_peers(item) for item in items) and warm_in_background():
        items.sort(key=_needs_peers)  # stable: the order within each group is kept


def _peer(start, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, *args, **kwargs):
    from tests.peers.launcher import PeerError

    logs = tmp_path_factory.mktemp("peers")
    try:
        peer = start(logs, *args, **kwargs)
    except PeerError as exc:
        pytest.fail(f"could not start a test peer: {exc}")
    request.addfinalizer(peer.stop)
    return peer


@pytest.fixture(scope="session")
def pds(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The reference Bluesky PDS on a loopback port (`.url`; dev-mode JWT secret in `.extra`)."""
    from tests.peers.launcher import start_pds

    return _peer(start_pds, request, tmp_path_factory)


@pytest.fixture(scope="session")
def mastodon_mock(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """mastodon-mock (third-party, MIT) with rate limits on; token `mock_token`."""
    from tests.peers.launcher import start_mastodon_mock

    config = "[ratelimit]\nenabled = true\nlimit = 300\nwindow_seconds = 300\n"
    return _peer(start_mastodon_mock, request, tmp_path_factory, config=config)


@pytest.fixture(scope="session")
def prism_x(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, conformance: Path):
    """Prism serving X's OpenAPI spec (OAuth 1.0a scheme patched so Prism can read it)."""
    from tests.peers.launcher import start_prism

    spec = conformance / "specs-for-prism" / "x-api-v2.openapi.prism-oauth1-patched.json"
    return _peer(start_prism, request, tmp_path_factory, spec)
