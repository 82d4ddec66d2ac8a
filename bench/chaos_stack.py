"""The chaos run's moving parts: restartable postmast services, a private Redis with AOF,
and a private PostgreSQL cluster (its own `initdb` in a temporary directory, started and
restarted with `pg_ctl`; never a server someone else uses)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from tests.services import free_port, reachable


class Process:
    """A postmast service in its own process group, restartable."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name, self.args, self.env, self.logs = name, args, env, logs
        self.generation = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.killed: set[int] = set()
        """Every pid this service had when it was killed (the worker's pool children too)."""
        self.start()

    def start(self) -> None:
        self.generation += 1
        log = open(self.logs / f"{self.name}.{self.generation}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "postmast", *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill9(self) -> None:
        if self.process and self.process.poll() is None:
            self.killed |= group_members(self.process.pid)
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()


class RedisServer:
    """A private Redis with AOF on, so a restart keeps the queue."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "redis"
        self.dir.mkdir()

        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("the chaos run needs redis-server")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--maxmemory-policy",
                "noeviction",
            ],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                if redis.Redis.from_url(self.url).ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise SystemExit("the chaos run's redis-server did not start")

    def restart(self, down: float = 2.0) -> None:
        """Shut down (with AOF on, the log is synced first), stay away `down` seconds, start again."""
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis.from_url(self.url).shutdown()
        if self.process:
            self.process.wait(10)
        time.sleep(down)
        self.start()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def group_members(pgid: int) -> set[int]:
    """The pids of a process group (read from /proc)."""
    members = set()
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # after the name: state, ppid, pgrp
            members.add(int(Path(stat).parent.name))
    return members


class PostgresServer:
    """A private PostgreSQL cluster in a temporary directory (as the `postgres` user when run as
    root, which PostgreSQL refuses), restartable with `pg_ctl stop -m immediate`."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            raise SystemExit("the chaos run needs PostgreSQL's server binaries (Debian: postgresql)")
        self.bin = Path(found[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="postmast-chaos-pg-"))
        self.data = self.dir / "data"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N")
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.prefix, str(self.bin / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    def start(self) -> None:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.dir}"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-o", options, "-w", "start"
        )
        for _ in range(100):
            if reachable("127.0.0.1", self.port):
                return
            time.sleep(0.05)
        raise SystemExit("the chaos run's PostgreSQL did not start")

    def restart(self, down: float = 1.0) -> None:
        """Stop at once (`-m immediate`: no checkpoint, every connection cut), stay away `down`
        seconds, start again (crash recovery replays the WAL)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        time.sleep(down)
        self.start()

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
