"""Configuration from the environment, with the timing invariants checked at start.

Timing rule (DESIGN.md): HTTP timeout < task time limit < lease < reconcile settle
delay, and the broker's visibility timeout > task time limit. A configuration that
breaks it could publish twice, so it is refused with a clear message.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import platformdirs

from postmast.scheduler.errors import ConfigError

ENV_PREFIX = "POSTMAST_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Timings:
    """Seconds, all of them; defaults suit production."""

    connect_timeout: float = 10.0
    http_timeout: float = 30.0
    """Read timeout of one HTTP request to a network."""
    task_time_limit: float = 120.0
    """Whole publish of one delivery (all its requests); hard limit for the worker."""
    lease: float = 180.0
    """How long a `publishing` claim is valid; after it the reaper marks the delivery `unknown`."""
    settle: float = 300.0
    """How long after an unknown outcome the reconciler may ask the network what happened."""
    visibility_timeout: float = 3600.0
    """Redis: how long an unacknowledged message waits before redelivery."""
    requeue_after: float = 120.0
    """A delivery `queued` this long without being claimed is enqueued again (lost message)."""
    max_lateness: float = 3600.0
    """Default for posts: later than this after its due time, a delivery is `missed`."""
    tick: float = 1.0
    """The dispatcher wakes at least this often."""
    retry_base: float = 30.0
    """First backoff after a transient error; doubles per attempt (with jitter)."""
    retry_cap: float = 3600.0
    """Longest backoff between two attempts."""
    horizon: float = 30 * 86400.0
    """How far ahead the occurrences of recurring posts (and evergreen posts) exist as deliveries."""
    plan_every: float = 60.0
    """How often the scheduler plans occurrences and evergreen posts."""
    duplicate_window: float = 86400.0
    """The same text to the same account within this long is refused (unless allowed)."""

    def check(self) -> None:
        order = [
            ("POSTMAST_HTTP_TIMEOUT", self.http_timeout),
            ("POSTMAST_TASK_TIME_LIMIT", self.task_time_limit),
            ("POSTMAST_LEASE", self.lease),
            ("POSTMAST_SETTLE", self.settle),
        ]
        for (name_a, a), (name_b, b) in pairwise(order):
            if not a < b:
                raise ConfigError(f"{name_a} ({a:g}s) must be less than {name_b} ({b:g}s)")
        if not self.visibility_timeout > self.task_time_limit:
            raise ConfigError(
                f"POSTMAST_VISIBILITY_TIMEOUT ({self.visibility_timeout:g}s) must exceed "
                f"POSTMAST_TASK_TIME_LIMIT ({self.task_time_limit:g}s)"
            )
        for name, value in [
            ("POSTMAST_HTTP_TIMEOUT", self.http_timeout),
            ("POSTMAST_TICK", self.tick),
            ("POSTMAST_CONNECT_TIMEOUT", self.connect_timeout),
            ("POSTMAST_REQUEUE_AFTER", self.requeue_after),
            ("POSTMAST_MAX_LATENESS", self.max_lateness),
            ("POSTMAST_RETRY_BASE", self.retry_base),
            ("POSTMAST_RETRY_CAP", self.retry_cap),
            ("POSTMAST_HORIZON", self.horizon),
            ("POSTMAST_PLAN_EVERY", self.plan_every),
        ]:
            if value <= 0:
                raise ConfigError(f"{name} must be positive")


_TIMING_ENV = {
    "connect_timeout": "CONNECT_TIMEOUT",
    "http_timeout": "HTTP_TIMEOUT",
    "task_time_limit": "TASK_TIME_LIMIT",
    "lease": "LEASE",
    "settle": "SETTLE",
    "visibility_timeout": "VISIBILITY_TIMEOUT",
    "requeue_after": "REQUEUE_AFTER",
    "max_lateness": "MAX_LATENESS",
    "tick": "TICK",
    "retry_base": "RETRY_BASE",
    "retry_cap": "RETRY_CAP",
    "horizon": "HORIZON",
    "plan_every": "PLAN_EVERY",
    "duplicate_window": "DUPLICATE_WINDOW",
}


@dataclass(frozen=True)
class Settings:
    """Everything postmast reads from its environment, resolved once."""

    data_dir: Path
    database_url: str
    broker_url: str
    queue: str = "postmast"
    secret_key: str | None = field(default=None, repr=False)
    secret_key_file: Path | None = None
    """Where `secret_key` was read from (`POSTMAST_SECRET_KEY_FILE`, e.g. a Docker secret)."""
    timings: Timings = field(default_factory=Timings)
    max_attempts: int = 5
    """Attempts per delivery before a transient error becomes a failure."""
    log_level: str = "INFO"

    @property
    def key_file(self) -> Path:
        """The key file postmast creates and owns when no key is configured."""
        return self.data_dir / "secret.key"

    @property
    def secret_key_source(self) -> str:
        """Where the key comes from, for people (never the key itself)."""
        if self.secret_key_file is not None:
            return f"from POSTMAST_SECRET_KEY_FILE ({self.secret_key_file})"
        if self.secret_key:
            return "from POSTMAST_SECRET_KEY"
        return f"key file {self.key_file}"

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url.startswith("sqla+sqlite")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name)
            return value if value else None

        data_dir = Path(get("DATA_DIR") or platformdirs.user_data_dir("postmast")).expanduser()
        timing_values: dict[str, float] = {}
        for attr, name in _TIMING_ENV.items():
            raw = get(name)
            if raw is None:
                continue
            try:
                timing_values[attr] = parse_duration(raw)
            except ValueError:
                raise ConfigError(
                    f"{ENV_PREFIX}{name}: {raw!r} is not a duration (e.g. 30, 90s, 5m, 1h)"
                ) from None
        timings = Timings(**timing_values)
        timings.check()
        attempts = get("MAX_ATTEMPTS") or "5"
        if not attempts.isdecimal() or not 1 <= int(attempts) <= 100:
            raise ConfigError(f"{ENV_PREFIX}MAX_ATTEMPTS must be a whole number from 1 to 100")
        log_level = (get("LOG_LEVEL") or "INFO").upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"{ENV_PREFIX}LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        secret_key, secret_key_file = _secret_key(get("SECRET_KEY"), get("SECRET_KEY_FILE"))
        database_url = get("DATABASE_URL") or f"sqlite:///{data_dir / 'postmast.db'}"
        broker_url = get("BROKER_URL") or f"sqla+sqlite:///{data_dir / 'broker.db'}"
        return cls(
            data_dir=data_dir,
            database_url=normalize_database_url(database_url),
            broker_url=broker_url,
            queue=get("QUEUE") or "postmast",
            secret_key=secret_key,
            secret_key_file=secret_key_file,
            timings=timings,
            max_attempts=int(attempts),
            log_level=log_level,
        )


DOCKER_SECRETS = Path("/run/secrets")
"""Where Docker mounts secrets (a tmpfs only the container sees; files there are often 0444)."""


def _secret_key(value: str | None, file: str | None) -> tuple[str | None, Path | None]:
    """The key from `POSTMAST_SECRET_KEY`, or read from the file `POSTMAST_SECRET_KEY_FILE` names.

    A key file others can read is refused (as postmast's own key file is), except under
    Docker's secrets mount, which only the container sees.
    """
    if value and file:
        raise ConfigError("set POSTMAST_SECRET_KEY or POSTMAST_SECRET_KEY_FILE, not both")
    if not file:
        return value, None
    path = Path(file).expanduser()
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO) and DOCKER_SECRETS not in path.resolve().parents:
            raise ConfigError(
                f"POSTMAST_SECRET_KEY_FILE {path} is readable by other users "
                f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}"
            )
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a key (not ASCII text)"
        raise ConfigError(f"cannot read POSTMAST_SECRET_KEY_FILE {path}: {reason}") from None
    if not key:
        raise ConfigError(f"POSTMAST_SECRET_KEY_FILE {path} is empty")
    return key, path


def normalize_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever spelling the user chose."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if not url.startswith(("sqlite:", "postgresql+psycopg:")):
        raise ConfigError("POSTMAST_DATABASE_URL must be a sqlite:/// or postgresql:// URL")
    return url


_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """`90`, `90s`, `5m`, `1h`, `2d` (or `1.5h`) to seconds; ValueError otherwise."""
    value = text.strip().lower()
    unit = value[-1] if value and value[-1] in "smhd" else ""
    number = float(value[: len(value) - len(unit)])
    seconds = number * _UNITS[unit]
    if not (number >= 0 and math.isfinite(seconds)):
        raise ValueError(text)
    return seconds
