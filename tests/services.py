"""Real Redis and PostgreSQL for the tests: use the running ones, or start private ones.

Tests never skip for want of a service: if none is reachable and none can be
started, they fail with the reason (STYLE.md: fail loudly in CI).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(port: int, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if reachable("127.0.0.1", port):
            return True
        time.sleep(0.1)
    return False


class Services:
    """Finds or starts the servers; stops only what it started."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[bytes]] = []
        self._cleanups: list[Path] = []
        self._redis: str | None = None
        self._postgres: str | None = None

    def redis_url(self) -> str:
        if self._redis:
            return self._redis
        url = os.environ.get("POSTMAST_TEST_REDIS_URL")
        if url:
            self._redis = url
        elif reachable("127.0.0.1", 6379):
            self._redis = "redis://127.0.0.1:6379/0"
        else:
            binary = shutil.which("redis-server")
            if not binary:
                pytest.fail("Redis is not running on 127.0.0.1:6379 and redis-server is not installed")
            port = free_port()
            workdir = Path(tempfile.mkdtemp(prefix="postmast-redis-"))
            self._cleanups.append(workdir)
            self._started.append(
                subprocess.Popen(
                    [
                        binary,
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        str(workdir),
                    ],
                    stdout=subprocess.DEVNULL,
                )
            )
            if not _wait(port, 10):
                pytest.fail("started a private redis-server but it did not listen")
            self._redis = f"redis://127.0.0.1:{port}/0"
        return self._redis

    def postgres_admin_url(self) -> str:
        """URL of a database we may CREATE DATABASE from."""
        if self._postgres:
            return self._postgres
        url = os.environ.get("POSTMAST_TEST_PG_URL")
        if url:
            self._postgres = url
        elif reachable("127.0.0.1", 5432):
            self._postgres = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        else:
            self._postgres = self._start_postgres()
        return self._postgres

    def _start_postgres(self) -> str:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            pytest.fail("PostgreSQL is not running on 127.0.0.1:5432 and initdb is not installed")
        bindir = Path(bins[-1]).parent
        datadir = Path(tempfile.mkdtemp(prefix="postmast-pg-"))
        self._cleanups.append(datadir)
        prefix: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(datadir, "postgres")
            prefix = ["runuser", "-u", "postgres", "--"]
        port = free_port()
        subprocess.run(
            [*prefix, str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self._started.append(
            subprocess.Popen(
                [
                    *prefix,
                    str(bindir / "postgres"),
                    "-D",
                    str(datadir),
                    "-p",
                    str(port),
                    "-h",
                    "127.0.0.1",
                    "-k",
                    str(datadir),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        if not _wait(port, 20):
            pytest.fail("started a private PostgreSQL but it did not listen")
        time.sleep(0.5)
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def stop(self) -> None:
        for process in self._started:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        for path in self._cleanups:
            shutil.rmtree(path, ignore_errors=True)
