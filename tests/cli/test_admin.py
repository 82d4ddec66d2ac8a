"""`postmast db | key | config` and `--version`."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from celery import Celery
from sqlalchemy import create_engine, text

from postmast import __version__
from postmast.scheduler.config import Settings
from postmast.scheduler.migrations import head_revision
from postmast.scheduler.vault import Vault
from postmast.workers.broker import kombu_url
from tests.cli.conftest import Cli, as_json, error_line, ok


def test_db_upgrade_json(cli: Cli, db_url: str) -> None:
    assert as_json(cli("db", "upgrade", "--json")) == {
        "database": db_url,
        "revision": head_revision(),
        "applied": True,
    }
    assert as_json(cli("db", "upgrade", "--json")) == {
        "database": db_url,
        "revision": head_revision(),
        "applied": False,
    }
    assert ok(cli("db", "upgrade")).out == f"{db_url}: at revision {head_revision()} (already up to date)\n"


def test_db_upgrade_on_postgresql(cli: Cli, pg_url: str) -> None:
    data = as_json(cli("db", "upgrade", "--json", env={"POSTMAST_DATABASE_URL": pg_url}))
    assert data["revision"] == head_revision()
    assert data["database"] == pg_url
    assert as_json(cli("db", "upgrade", "--json", env={"POSTMAST_DATABASE_URL": pg_url}))["applied"] is False


def test_key_generate_gives_a_usable_key(cli: Cli, db_url: str, data_dir: Path) -> None:
    key = ok(cli("key", "generate")).out.strip()
    assert key != ok(cli("key", "generate")).out.strip()
    env = {"POSTMAST_SECRET_KEY": key}
    ok(
        cli(
            "account",
            "add",
            "mastodon",
            "brand",
            "--set",
            "instance=http://127.0.0.1:9",
            "--secrets-from-stdin",
            input="access_token=SEKRET123\n",
            env=env,
        )
    )
    engine = create_engine(db_url)
    with engine.connect() as connection:
        token = connection.execute(text("SELECT secrets FROM accounts")).scalar_one()
    engine.dispose()
    assert Vault(key).decrypt(token) == {"access_token": "SEKRET123"}
    assert not (data_dir / "secret.key").exists()  # the environment's key was used, no key file made
    # another key cannot read it, and says so without failing the listing
    other = ok(cli("key", "generate")).out.strip()
    [account] = as_json(cli("account", "list", "--json", env={"POSTMAST_SECRET_KEY": other}))["accounts"]
    assert list(account["secrets"]) == ["(unreadable with the current key)"]


def test_invalid_secret_key_is_one_line(cli: Cli, counts) -> None:
    ok(cli("db", "upgrade"))
    result = cli(
        "account",
        "add",
        "webhook",
        "team",
        "--set",
        "url=http://127.0.0.1:9/hook",
        env={"POSTMAST_SECRET_KEY": "not-a-key"},
    )
    error_line(result, "POSTMAST_SECRET_KEY is not a valid key", "postmast key generate")
    assert "not-a-key" not in result.err
    assert counts()["accounts"] == 0


def test_config_json_masks_passwords(cli: Cli) -> None:
    env = {
        "POSTMAST_DATABASE_URL": "postgresql://postmast:hunter2pw@db.example:5432/postmast",
        "POSTMAST_BROKER_URL": "redis://:redispw99@cache.example:6379/0",
        "POSTMAST_SECRET_KEY": "vz5e2nvD4RO2w81cz-IgMRi-JP7SqokXJch69RIYJBg=",
    }
    result = cli("config", "--json", env=env)
    data = as_json(result)
    for secret in ("hunter2pw", "redispw99", env["POSTMAST_SECRET_KEY"]):
        assert secret not in result.out
    assert data["database_url"] == "postgresql+psycopg://postmast:***@db.example:5432/postmast"
    assert data["broker_url"] == "redis://:***@cache.example:6379/0"
    assert data["secret_key"] == "from POSTMAST_SECRET_KEY"
    assert data["schema_head"] == head_revision()
    assert data["timings_seconds"]["lease"] == 180.0
    text_out = ok(cli("config", env=env)).out
    assert "hunter2pw" not in text_out and "***" in text_out


def test_config_json_defaults(cli: Cli, data_dir: Path) -> None:
    data = as_json(cli("config", "--json", env={"POSTMAST_LEASE": "4m", "POSTMAST_SETTLE": "5m"}))
    assert data["data_dir"] == str(data_dir)
    assert data["database_url"] == f"sqlite:///{data_dir / 'postmast.db'}"
    assert data["broker_url"] == f"sqla+sqlite:///{data_dir / 'broker.db'}"
    assert data["secret_key"] == f"key file {data_dir / 'secret.key'}"
    assert (data["timings_seconds"]["lease"], data["timings_seconds"]["settle"]) == (240.0, 300.0)
    assert json.dumps(data)  # plain JSON types only


def test_bad_configuration_is_one_line(cli: Cli) -> None:
    error_line(
        cli("config", env={"POSTMAST_LEASE": "400"}),
        "POSTMAST_LEASE (400s) must be less than POSTMAST_SETTLE (300s)",
    )
    error_line(cli("queue", env={"POSTMAST_DATABASE_URL": "mysql://x@y/z"}), "POSTMAST_DATABASE_URL must be")
    error_line(cli("report", env={"POSTMAST_MAX_ATTEMPTS": "zero"}), "POSTMAST_MAX_ATTEMPTS")


def test_unusable_data_dir_is_one_line(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    error_line(
        cli("account", "list", env={"POSTMAST_DATA_DIR": str(tmp_path / "a-file" / "data")}),
        "cannot create the data directory",
    )


def test_unreachable_database_is_one_line(cli: Cli) -> None:
    env = {"POSTMAST_DATABASE_URL": "postgresql://postmast:pw@127.0.0.1:1/postmast"}
    line = error_line(cli("queue", env=env), "cannot open the database")
    assert ":pw@" not in line
    line = error_line(cli("db", "upgrade", env=env), "cannot open the database")
    assert ":pw@" not in line


def test_version(cli: Cli) -> None:
    assert ok(cli("--version")).out == f"postmast, version {__version__}\n"


def test_every_file_in_the_data_dir_is_private_whatever_the_umask(cli: Cli, data_dir: Path) -> None:
    previous = os.umask(0o022)  # the usual umask: files 0644, directories 0755
    try:
        ok(cli("account", "add", "webhook", "team", "--set", "url=http://127.0.0.1:9/hook", input=""))
        ok(cli("post", "Hello", "--to", "webhook:team", "--at", "in 1h"))
        broker = Settings.from_env({"POSTMAST_DATA_DIR": str(data_dir)}).broker_url
        Celery(broker=kombu_url(broker)).connection().ensure_connection()  # the embedded broker's file
        engine = create_engine(broker.removeprefix("sqla+"))
        with engine.connect() as connection:
            connection.execute(text("PRAGMA journal_mode=WAL"))
            connection.execute(text("CREATE TABLE IF NOT EXISTS t (x)"))
            names = {p.name for p in data_dir.iterdir()}
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data_dir.iterdir()}
        engine.dispose()
    finally:
        os.umask(previous)
    # a -wal file exists while a connection is open: SQLite gives it the database file's mode
    assert {"postmast.db", "broker.db", "broker.db-wal", "secret.key", "postmast.db.migrate-lock"} <= names
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert {name: oct(mode) for name, mode in modes.items() if mode & 0o077} == {}
    data = as_json(cli("config", "--json"))
    assert {f["path"]: f["mode"] for f in data["files"]}[str(data_dir / "postmast.db")] == "0600"
    assert not any(f["loose"] for f in data["files"])


def test_config_warns_about_files_open_to_others(cli: Cli, data_dir: Path) -> None:
    ok(cli("account", "list"))
    os.chmod(data_dir / "postmast.db", 0o644)
    os.chmod(data_dir, 0o755)  # noqa: S103 (what the check must find)
    result = cli("config")
    assert result.code == 0
    assert f"0644 {data_dir / 'postmast.db'}  (open to other users)" in result.out
    assert (
        f"postmast: warning: {data_dir / 'postmast.db'} is open to other users (mode 0644); "
        f"run: chmod 600 {data_dir / 'postmast.db'}"
    ) in result.err
    assert f"run: chmod 700 {data_dir}\n" in result.err
    ok(cli("account", "list"))  # opening the store tightens its own file again
    assert stat.S_IMODE((data_dir / "postmast.db").stat().st_mode) == 0o600
