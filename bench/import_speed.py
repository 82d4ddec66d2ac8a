"""How long `postmast import` takes for 10,000 posts on the embedded default (SQLite).

    python -m bench.import_speed                  # 10,000 posts, 2 targets each
    python -m bench.import_speed --posts 2000 --targets 3

Runs the real command line (`python -m postmast import`) in a fresh data directory, first
with `--dry-run`, then for real, and prints the wall time of each (process start
included), the rows written and the longest write transaction. Targets: issue 14 asks
for at most 3 s (dry run) and 5 s (import).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text


def write_csv(path: Path, posts: int, targets: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "to", "at", "tz"])
        for n in range(posts):
            text = f"Post {n}: our news of the day https://example.org/{n} #news"
            writer.writerow([text, " ".join(targets), f"in {60 + n}m", "Europe/Berlin"])


def postmast(env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "postmast", *args], env=env, capture_output=True, text=True
    )
    return time.perf_counter() - began, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--targets", type=int, default=2)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="postmast-bench-") as tmp:
        data = Path(tmp) / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("POSTMAST_")}
        env.update(
            {
                "POSTMAST_DATA_DIR": str(data),
                "POSTMAST_SECRET_KEY": "vz5e2nvD4RO2w81cz-IgMRi-JP7SqokXJch69RIYJBg=",
            }
        )
        targets = []
        for n in range(options.targets):
            _, added = postmast(env, "account", "add", "fake", f"f{n}", "--set", f"outbox={tmp}/f{n}.jsonl")
            assert added.returncode == 0, added.stderr
            targets.append(f"fake:f{n}")
        path = Path(tmp) / "posts.csv"
        write_csv(path, options.posts, targets)
        dry_seconds, dry = postmast(env, "import", str(path), "--dry-run")
        assert dry.returncode == 0, dry.stderr
        seconds, done = postmast(env, "import", str(path), "--json")
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)["summary"]
        engine = create_engine(f"sqlite:///{data / 'postmast.db'}")
        with engine.connect() as connection:
            deliveries = connection.execute(text("SELECT count(*) FROM deliveries")).scalar_one()
        engine.dispose()
    print(f"import of {options.posts:,} posts to {options.targets} accounts each (CSV, SQLite)")
    print(f"  dry run     {dry_seconds:6.2f} s   (target <= 3 s)   {dry.stdout.strip()}")
    stored = f"{summary['posts']:,} posts, {deliveries:,} deliveries stored"
    print(f"  import      {seconds:6.2f} s   (target <= 5 s)   {stored}")
    ok = dry_seconds <= 3 and seconds <= 5 and deliveries == options.posts * options.targets
    print(f"  verdict: {'OK' if ok else 'TOO SLOW OR INCOMPLETE'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
