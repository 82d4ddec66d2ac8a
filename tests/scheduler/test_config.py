"""Settings from the environment: defaults, overrides, durations, and the timing rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from postmast.scheduler.config import Settings, Timings, normalize_database_url, parse_duration
from postmast.scheduler.errors import ConfigError
from postmast.scheduler.vault import generate_key


def from_env(tmp_path: Path, **values: str) -> Settings:
    return Settings.from_env(
        {"POSTMAST_DATA_DIR": str(tmp_path), **{f"POSTMAST_{k}": v for k, v in values.items()}}
    )


def test_defaults_live_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({"POSTMAST_DATA_DIR": str(tmp_path)})
    assert settings.data_dir == tmp_path
    assert settings.database_url == f"sqlite:///{tmp_path / 'postmast.db'}"
    assert settings.broker_url == f"sqla+sqlite:///{tmp_path / 'broker.db'}"
    assert settings.embedded_broker is True
    assert settings.key_file == tmp_path / "secret.key"
    assert settings.queue == "postmast"
    assert settings.secret_key is None
    assert settings.max_attempts == 5
    assert settings.log_level == "INFO"
    assert settings.timings == Timings()


def test_default_data_dir_is_the_users_data_dir_and_never_relative() -> None:
    settings = Settings.from_env({})
    assert settings.data_dir.is_absolute()
    assert settings.data_dir.name == "postmast"
    assert settings.database_url == f"sqlite:///{settings.data_dir / 'postmast.db'}"


def test_data_dir_expands_the_home_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = Settings.from_env({"POSTMAST_DATA_DIR": "~/pm"})
    assert settings.data_dir == tmp_path / "pm"


def test_environment_overrides(tmp_path: Path) -> None:
    settings = from_env(
        tmp_path,
        DATABASE_URL="postgresql://postmast:pw@db.example:5432/postmast",
        BROKER_URL="redis://127.0.0.1:6379/3",
        QUEUE="posts",
        SECRET_KEY="k" * 44,
        MAX_ATTEMPTS="9",
        LOG_LEVEL="debug",
        LEASE="5m",
        SETTLE="10m",
        HTTP_TIMEOUT="90s",
        MAX_LATENESS="2h",
    )
    assert settings.database_url == "postgresql+psycopg://postmast:pw@db.example:5432/postmast"
    assert settings.broker_url == "redis://127.0.0.1:6379/3"
    assert settings.embedded_broker is False
    assert settings.queue == "posts"
    assert settings.secret_key == "k" * 44
    assert settings.max_attempts == 9
    assert settings.log_level == "DEBUG"
    assert settings.timings.lease == 300
    assert settings.timings.settle == 600
    assert settings.timings.http_timeout == 90
    assert settings.timings.max_lateness == 7200
    assert settings.timings.task_time_limit == Timings().task_time_limit


def test_secret_key_is_not_in_the_repr(tmp_path: Path) -> None:
    settings = from_env(tmp_path, SECRET_KEY="do-not-print-this-key")
    assert "do-not-print-this-key" not in repr(settings)


def test_empty_values_count_as_unset(tmp_path: Path) -> None:
    settings = from_env(tmp_path, DATABASE_URL="", BROKER_URL="", LEASE="", QUEUE="", SECRET_KEY="")
    assert settings.database_url == f"sqlite:///{tmp_path / 'postmast.db'}"
    assert settings.broker_url.startswith("sqla+sqlite:///")
    assert settings.timings.lease == Timings().lease
    assert settings.queue == "postmast"
    assert settings.secret_key is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("5m", 300),
        ("1h", 3600),
        ("2d", 172800),
        ("1.5h", 5400),
        (" 5M ", 300),
        ("0", 0),
        ("0.25s", 0.25),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "soon", "5x", "-5", "-1m", "nan", "inf", "1hh", "5 minutes"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_bad_duration_in_the_environment_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        from_env(tmp_path, LEASE="soon")
    assert str(info.value) == "POSTMAST_LEASE: 'soon' is not a duration (e.g. 30, 90s, 5m, 1h)"


@pytest.mark.parametrize(
    ("values", "names"),
    [
        # HTTP timeout < task time limit
        ({"HTTP_TIMEOUT": "120"}, ["POSTMAST_HTTP_TIMEOUT (120s)", "POSTMAST_TASK_TIME_LIMIT (120s)"]),
        ({"HTTP_TIMEOUT": "3m"}, ["POSTMAST_HTTP_TIMEOUT (180s)", "POSTMAST_TASK_TIME_LIMIT (120s)"]),
        # task time limit < lease
        ({"TASK_TIME_LIMIT": "200"}, ["POSTMAST_TASK_TIME_LIMIT (200s)", "POSTMAST_LEASE (180s)"]),
        # lease < settle
        ({"LEASE": "300"}, ["POSTMAST_LEASE (300s)", "POSTMAST_SETTLE (300s)"]),
        ({"SETTLE": "100"}, ["POSTMAST_LEASE (180s)", "POSTMAST_SETTLE (100s)"]),
        # visibility timeout > task time limit
        (
            {"VISIBILITY_TIMEOUT": "120"},
            ["POSTMAST_VISIBILITY_TIMEOUT (120s)", "POSTMAST_TASK_TIME_LIMIT (120s)"],
        ),
        (
            {"VISIBILITY_TIMEOUT": "60", "TASK_TIME_LIMIT": "90", "HTTP_TIMEOUT": "30"},
            ["POSTMAST_VISIBILITY_TIMEOUT (60s)", "POSTMAST_TASK_TIME_LIMIT (90s)"],
        ),
    ],
)
def test_timing_rule_violations_are_refused_naming_the_variables(
    tmp_path: Path, values: dict[str, str], names: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        from_env(tmp_path, **values)
    message = str(info.value)
    for name in names:
        assert name in message
    assert "\n" not in message


def test_timing_rule_accepts_a_consistent_short_configuration(tmp_path: Path) -> None:
    settings = from_env(
        tmp_path, HTTP_TIMEOUT="2", TASK_TIME_LIMIT="5", LEASE="8", SETTLE="10", VISIBILITY_TIMEOUT="6"
    )
    assert (
        settings.timings.http_timeout,
        settings.timings.task_time_limit,
        settings.timings.lease,
        settings.timings.settle,
        settings.timings.visibility_timeout,
    ) == (2, 5, 8, 10, 6)


@pytest.mark.parametrize(
    "name",
    ["HTTP_TIMEOUT", "TICK", "CONNECT_TIMEOUT", "REQUEUE_AFTER", "MAX_LATENESS", "RETRY_BASE", "RETRY_CAP"],
)
def test_zero_durations_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=f"POSTMAST_{name}"):
        from_env(tmp_path, **{name: "0"})


def test_timings_check_directly() -> None:
    Timings().check()
    with pytest.raises(ConfigError, match=r"POSTMAST_LEASE .* must be less than POSTMAST_SETTLE"):
        Timings(lease=400).check()


@pytest.mark.parametrize("value", ["0", "101", "abc", "-1", "2.5"])
def test_max_attempts_must_be_1_to_100(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="POSTMAST_MAX_ATTEMPTS must be a whole number from 1 to 100"):
        from_env(tmp_path, MAX_ATTEMPTS=value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql://u@h:5433/db", "postgresql+psycopg://u@h:5433/db"),
        ("postgresql+psycopg2://h/db", "postgresql+psycopg://h/db"),
        ("postgresql+psycopg://h/db", "postgresql+psycopg://h/db"),
        ("sqlite:////var/lib/postmast/postmast.db", "sqlite:////var/lib/postmast/postmast.db"),
    ],
)
def test_database_url_is_normalised(url: str, expected: str) -> None:
    assert normalize_database_url(url) == expected


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postmast.db", "redis://127.0.0.1:6379/0", "http://x"])
def test_bad_database_url_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match=r"POSTMAST_DATABASE_URL must be a sqlite:/// or postgresql:// URL"):
        from_env(tmp_path, DATABASE_URL=url)


def test_the_secret_key_can_come_from_a_file(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "postmast_key"
    path.write_text(key + "\n")
    path.chmod(0o600)
    settings = Settings.from_env({"POSTMAST_DATA_DIR": str(tmp_path), "POSTMAST_SECRET_KEY_FILE": str(path)})
    assert (settings.secret_key, settings.secret_key_file) == (key, path)
    assert settings.secret_key_source == f"from POSTMAST_SECRET_KEY_FILE ({path})"
    assert key not in repr(settings)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("both", "set POSTMAST_SECRET_KEY or POSTMAST_SECRET_KEY_FILE, not both"),
        ("missing", "cannot read POSTMAST_SECRET_KEY_FILE"),
        ("shared", "is readable by other users (mode 644); run: chmod 600"),
        ("empty", "is empty"),
    ],
)
def test_a_bad_secret_key_file_is_refused(tmp_path: Path, setup: str, message: str) -> None:
    path = tmp_path / "postmast_key"
    env = {"POSTMAST_DATA_DIR": str(tmp_path), "POSTMAST_SECRET_KEY_FILE": str(path)}
    if setup != "missing":
        path.write_text("" if setup == "empty" else generate_key())
        path.chmod(0o644 if setup == "shared" else 0o600)
    if setup == "both":
        env["POSTMAST_SECRET_KEY"] = generate_key()
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env(env)
