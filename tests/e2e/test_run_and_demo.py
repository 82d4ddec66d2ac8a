"""`postmast run` (worker + scheduler on one machine, Ctrl-C stops both) and `postmast demo`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.e2e.harness import service_env


def _read_until(process: subprocess.Popen[bytes], needles: list[str], timeout: float) -> str:
    seen = b""
    end = time.monotonic() + timeout
    os.set_blocking(process.stdout.fileno(), False)
    while time.monotonic() < end and not all(n.encode() in seen for n in needles):
        chunk = process.stdout.read()
        seen += chunk or b""
        time.sleep(0.1)
    return seen.decode(errors="replace")


@pytest.mark.slow
def test_run_starts_both_and_ctrl_c_stops_them_cleanly(tmp_path) -> None:
    env = service_env(tmp_path / "data")
    process = subprocess.Popen(
        [sys.executable, "-m", "postmast", "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        output = _read_until(process, ["scheduler running", "ready."], 60)
        assert "scheduler running" in output and "ready." in output, output
        children = [
            int(line.split("pid ")[1].rstrip(")")) for line in output.splitlines() if "started " in line
        ]
        assert len(children) == 2, output
        process.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C sends to the foreground process
        assert process.wait(60) == 0
        for pid in children:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.slow
def test_demo_publishes_and_reports_on_the_embedded_default(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTMAST_")}
    result = subprocess.run(
        [sys.executable, "-m", "postmast", "demo", "--data-dir", str(tmp_path / "demo")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "webhook receiver: 6 requests for 6 deliveries, 6 distinct idempotency keys, 6 valid signatures"
        in result.stdout
    )
    assert "fake network: 2 posts in its outbox for 2 deliveries" in result.stdout
    assert result.stdout.count("published") >= 8
    assert (tmp_path / "demo" / "postmast.db").exists() and (tmp_path / "demo" / "broker.db").exists()
