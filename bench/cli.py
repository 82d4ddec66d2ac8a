"""How fast the `postmast` command answers: a cold start, and `postmast queue` over 10,000 deliveries.

    python -m bench.cli                 # 10,000 deliveries on the embedded default (SQLite)
    python -m bench.cli --deliveries 50000 --json

Each figure is the median wall time of a few runs of the installed command in a new process
(so Python's start and every import count, as they do for a person typing it):
`postmast --help`, and `postmast queue` / `postmast queue --json` with the deliveries stored
(inserted in bulk by tests/bulk.py, due over the coming days, 1,000 accounts).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from postmast.scheduler.store import Store
from tests import bulk

RUNS = 5


@dataclass(frozen=True)
class Figure:
    command: str
    deliveries: int
    seconds: float
    output_bytes: int

    def line(self) -> str:
        stored = f"{self.deliveries:,} deliveries stored" if self.deliveries else "nothing stored"
        return (
            f"{self.command:<24} {self.seconds * 1000:8.0f} ms  ({stored}, {self.output_bytes:,} bytes out)"
        )


def postmast() -> list[str]:
    found = shutil.which("postmast", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "postmast"]


def timed(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(RUNS):
        start = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
        size = len(done.stdout)
    return statistics.median(times), size


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    args = parser.parse_args(argv)
    figures = []
    with tempfile.TemporaryDirectory(prefix="postmast-cli-") as workdir:
        env = {
            **os.environ,
            "POSTMAST_DATA_DIR": workdir,
            "POSTMAST_DATABASE_URL": f"sqlite:///{Path(workdir) / 'postmast.db'}",
            "COLUMNS": "120",
        }
        seconds, size = timed([*postmast(), "--help"], env)
        figures.append(Figure("postmast --help", 0, seconds, size))
        store = Store(env["POSTMAST_DATABASE_URL"])
        now = store.now()
        bulk.deliveries(
            store, bulk.accounts(store, 1_000, now), args.deliveries, now=now, due_in=timedelta(hours=1)
        )
        store.dispose()
        for command in (["queue"], ["queue", "--json"]):
            seconds, size = timed([*postmast(), *command], env)
            figures.append(Figure("postmast " + " ".join(command), args.deliveries, seconds, size))
    if args.json:
        print(json.dumps([asdict(f) for f in figures], indent=2))
    else:
        for figure in figures:
            print(figure.line())


if __name__ == "__main__":
    main()
