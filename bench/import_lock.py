"""While a 30,000-delivery import runs on the embedded default, are due posts still on time?

    python -m bench.import_lock                 # 10,000 posts x 3 accounts = 30,000 deliveries
    python -m bench.import_lock --posts 2000

On SQLite (the embedded default) it starts a real `postmast scheduler` and `postmast
worker`, queues posts due every 0.25 s to a fake account for the next 40 s, then runs
`postmast import` of a file whose posts go to three other accounts. It prints the
import's time, the lateness of every delivery due while it ran (published_at - due_at:
at most 2 s is the goal), and whether "database is locked" appeared in any log or report.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

KEY = "vz5e2nvD4RO2w81cz-IgMRi-JP7SqokXJch69RIYJBg="


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=40.0, help="seconds of due posts around the import")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="postmast-lock-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POSTMAST_")}
        env.update({"POSTMAST_DATA_DIR": f"{tmp}/data", "POSTMAST_SECRET_KEY": KEY, "TZ": "UTC"})

        def postmast(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "postmast", *args], env=env, capture_output=True, text=True
            )

        for name in ("live", "i0", "i1", "i2"):
            assert (
                postmast("account", "add", "fake", name, "--set", f"outbox={tmp}/{name}.jsonl").returncode
                == 0
            )
        path = Path(tmp) / "big.csv"
        with path.open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["text", "to", "at"])
            for n in range(options.posts):
                writer.writerow(
                    [f"Imported post {n} https://example.org/{n}", "fake:i0 fake:i1 fake:i2", f"in {2 + n}h"]
                )
        start = datetime.now(UTC) + timedelta(seconds=10)
        steps = int(options.window / 0.25)
        live = [
            {"text": f"live {n}", "to": "fake:live", "at": (start + timedelta(seconds=n * 0.25)).isoformat()}
            for n in range(steps)
        ]
        (Path(tmp) / "live.json").write_text(json.dumps(live))
        assert postmast("import", f"{tmp}/live.json").returncode == 0
        logs = {name: open(f"{tmp}/{name}.log", "w") for name in ("scheduler", "worker")}  # noqa: SIM115
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "postmast", "scheduler"],
                env=env,
                stdout=logs["scheduler"],
                stderr=subprocess.STDOUT,
            ),
            subprocess.Popen(
                [sys.executable, "-m", "postmast", "worker", "-c", "2"],
                env=env,
                stdout=logs["worker"],
                stderr=subprocess.STDOUT,
            ),
        ]
        try:
            time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 3)
            began = time.perf_counter()
            imported = postmast("import", str(path))
            import_seconds = time.perf_counter() - began
            ended = datetime.now(UTC)
            deadline = time.monotonic() + options.window + 30
            while time.monotonic() < deadline:
                report = postmast("report", "--json", "--account", "fake:live")
                rows = json.loads(report.stdout)["deliveries"] if report.returncode == 0 else []
                if len(rows) == steps and all(r["status"] == "published" for r in rows):
                    break
                time.sleep(1)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(60)
            for log in logs.values():
                log.close()
        text_logs = (
            "".join(Path(f"{tmp}/{name}.log").read_text() for name in logs) + imported.stderr + report.stdout
        )
        window_start = ended - timedelta(seconds=import_seconds)
        during = [
            r
            for r in rows
            if window_start <= datetime.fromisoformat(r["due_at"]) <= ended
            and r["lateness_seconds"] is not None
        ]
        lateness = [r["lateness_seconds"] for r in during]
    print(f"import of {options.posts:,} posts x 3 accounts = {options.posts * 3:,} deliveries on SQLite, "
          f"while a scheduler and a worker publish a post every 0.25 s")  # fmt: skip
    said = imported.stdout.strip().splitlines()[0] if imported.stdout else imported.stderr.strip()
    print(f"  import: rc {imported.returncode}, {import_seconds:.2f} s; {said}")
    print(f"  live posts published: {sum(r['status'] == 'published' for r in rows)} of {steps}")
    if lateness:
        print(f"  lateness of the {len(lateness)} due during the import: max {max(lateness):.2f} s, "
              f"median {statistics.median(lateness):.2f} s (goal: max <= 2 s)")  # fmt: skip
    locked = text_logs.count("database is locked")
    print(f"  'database is locked' in logs and reports: {locked} (must be 0)")
    ok = imported.returncode == 0 and locked == 0 and bool(lateness) and max(lateness) <= 2.0
    print(f"  verdict: {'OK' if ok else 'NOT OK'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
