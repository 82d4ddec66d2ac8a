"""Runs worker and scheduler together for one machine (`postmast run`).

Children get their own session so a terminal's Ctrl-C reaches only the supervisor,
which then asks each child once, with SIGTERM, to finish in-flight work and stop;
a child that outlives the grace period is killed. If one child dies, the other is
stopped too and the exit code says so.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import IO

log = logging.getLogger("postmast.run")


def postmast_command(*args: str) -> list[str]:
    """The argv that runs `postmast ARGS` with this interpreter, installed or not."""
    return [sys.executable, "-m", "postmast", *args]


class Supervisor:
    def __init__(
        self,
        commands: Mapping[str, Sequence[str]],
        *,
        env: Mapping[str, str] | None = None,
        grace: float = 60.0,
        output: IO[bytes] | None = None,
    ) -> None:
        self.commands = commands
        self.env = dict(env) if env is not None else None
        self.grace = grace
        self.output = output
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._stop_requested = False

    def start(self) -> None:
        for name, argv in self.commands.items():
            self.children[name] = subprocess.Popen(
                list(argv), env=self.env, start_new_session=True, stdout=self.output, stderr=self.output
            )
            log.info("started %s (pid %d)", name, self.children[name].pid)

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
                log.warning("%s did not stop within %gs; killing it", name, self.grace)
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()

    def run(self) -> int:
        """Start everything, wait for a signal or a child's death, stop everything."""

        def handler(signum: int, frame: FrameType | None) -> None:
            self.request_stop()

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
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
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
