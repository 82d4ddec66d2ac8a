"""Runs worker and scheduler together for one machine (`postmast run`).

The children share one process group of their own (not the terminal's), so a terminal's
Ctrl-C reaches only the supervisor, which then asks each child once, with SIGTERM, to
finish in-flight work and stop; a child that outlives the grace period is killed with
its whole group. If one child dies, the other is stopped too and the exit code says so.

The children die with the supervisor, however it ends: each asks Linux for a parent-death
signal (`prctl(PR_SET_PDEATHSIG, SIGTERM)`, `die_with_parent`) as it starts, so a
supervisor killed with SIGKILL no longer leaves a worker and a scheduler running. A pid
file in the data directory (`run.pid`, locked while the supervisor lives) names the set;
at start, a set still alive from an earlier run, or another `postmast run` on the same
data directory, is reported and nothing is started beside it.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any

from postmast.scheduler.errors import UserError
from postmast.scheduler.files import private_file

log = logging.getLogger("postmast.run")

PARENT_ENV = "POSTMAST_SUPERVISOR_PID"
"""Set for the children: the pid they must not outlive."""
PR_SET_PDEATHSIG = 1


def postmast_command(*args: str) -> list[str]:
    """The argv that runs `postmast ARGS` with this interpreter, installed or not."""
    return [sys.executable, "-m", "postmast", *args]


def die_with_parent() -> None:
    """In a child of `postmast run`: be sent SIGTERM when the supervisor dies, even by SIGKILL.

    Linux only (elsewhere the supervisor's own shutdown is all there is). If the supervisor is
    already gone by the time this runs, stop at once."""
    parent = os.environ.get(PARENT_ENV, "")
    if not parent.isdecimal() or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("could not ask to be stopped with postmast run (errno %d)", ctypes.get_errno())
    if os.getppid() != int(parent):
        log.error("postmast run (pid %s) is gone; stopping", parent)
        raise SystemExit(1)


def start_time(pid: int) -> int | None:
    """When `pid` started (clock ticks after boot), or None if there is no such process: a pid
    together with its start time names one process, even after pids are reused."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[19])  # field 22 of stat; the first two (pid, name) are before ")"


class PidFile:
    """`run.pid`: who is running, locked for as long as the supervisor lives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.held: IO[str] | None = None

    def acquire(self) -> None:
        """Lock the file, or explain who is running already."""
        handle = open(private_file(self.path), "r+")  # noqa: SIM115 (held for the supervisor's life)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            owner = self._read().get("supervisor", {}).get("pid", "?")
            raise UserError(
                f"postmast run is already running on this data directory (pid {owner}); stop it first"
            ) from None
        self.held = handle
        alive = self.stale()
        if alive:
            handle.close()
            self.held = None
            listed = ", ".join(f"{name} (pid {pid})" for name, pid in alive)
            pids = " ".join(str(pid) for _, pid in alive)
            raise UserError(
                f"an earlier postmast run left {listed} running (its supervisor was killed); "
                f"stop them first: kill {pids}"
            )

    def stale(self) -> list[tuple[str, int]]:
        """Children named in the file that are still the same processes and still running."""
        found = []
        children = self._read().get("children", {})
        for name, info in children.items():
            if not isinstance(info, dict):
                continue
            pid, started = info.get("pid"), info.get("started")
            if isinstance(pid, int) and started is not None and start_time(pid) == started:
                found.append((name, pid))
        return found

    def write(self, children: Mapping[str, int]) -> None:
        assert self.held is not None
        data = {
            "supervisor": {"pid": os.getpid(), "started": start_time(os.getpid())},
            "children": {name: {"pid": pid, "started": start_time(pid)} for name, pid in children.items()},
        }
        self.held.seek(0)
        self.held.truncate()
        self.held.write(json.dumps(data) + "\n")
        self.held.flush()

    def release(self) -> None:
        if self.held is not None:
            self.held.seek(0)
            self.held.truncate()
            self.held.close()
            self.held = None

    def _read(self) -> dict[str, dict[str, Any]]:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(self.path.read_text() or "{}")
            if isinstance(data, dict):
                return data
        return {}


class Supervisor:
    def __init__(
        self,
        commands: Mapping[str, Sequence[str]],
        *,
        env: Mapping[str, str] | None = None,
        grace: float = 60.0,
        output: IO[bytes] | None = None,
        pid_file: Path | None = None,
    ) -> None:
        self.commands = commands
        self.env = dict(env if env is not None else os.environ)
        self.grace = grace
        self.output = output
        self.pid_file = PidFile(pid_file) if pid_file is not None else None
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.group: int | None = None
        self._stop_requested = False

    def reserve(self) -> None:
        """Take the pid file, or report who is running already (before anything else is done)."""
        if self.pid_file is not None and self.pid_file.held is None:
            self.pid_file.acquire()

    def start(self) -> None:
        self.reserve()
        env = {**self.env, PARENT_ENV: str(os.getpid())}
        for name, argv in self.commands.items():
            # the first child leads a new process group; the others join it
            child = subprocess.Popen(
                list(argv),
                env=env,
                process_group=self.group or 0,
                stdout=self.output,
                stderr=self.output,
            )
            self.group = self.group or child.pid
            self.children[name] = child
            log.info("started %s (pid %d)", name, child.pid)
        if self.pid_file is not None:
            self.pid_file.write({name: child.pid for name, child in self.children.items()})

    def request_stop(self, *_: object) -> None:
        self._stop_requested = True

    def stop(self) -> None:
        for name, child in self.children.items():
            if child.poll() is None:
                log.info("stopping %s (pid %d)", name, child.pid)
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for name, child in self.children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %gs; killing the children", name, self.grace)
                if self.group is not None:  # the whole group: a worker's pool processes too
                    os.killpg(self.group, signal.SIGKILL)
                child.wait()
        if self.pid_file is not None:
            self.pid_file.release()

    def run(self) -> int:
        """Start everything, wait for a signal or a child's death, stop everything."""
        with self._signals():
            self.start()
            failed = None
            while not self._stop_requested:
                for name, child in self.children.items():
                    if child.poll() is not None:
                        failed = name
                        log.error("%s exited with code %s; stopping the rest", name, child.returncode)
                        self._stop_requested = True
                time.sleep(0.2)
            self.stop()
            return 1 if failed else 0

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        def handler(signum: int, frame: FrameType | None) -> None:
            self.request_stop()

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
