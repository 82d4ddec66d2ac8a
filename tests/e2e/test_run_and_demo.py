"""`postmast run` (worker + scheduler on one machine, Ctrl-C stops both) and `postmast demo`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

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


def _children(pid_file) -> dict[str, int]:
    try:
        data = json.loads(pid_file.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return {name: info["pid"] for name, info in data.get("children", {}).items()}


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie is gone


@pytest.mark.slow
def test_the_children_die_with_a_killed_supervisor_and_take_its_log_level(tmp_path) -> None:
    env = service_env(tmp_path / "data", POSTMAST_LOG_LEVEL="WARNING")
    process = subprocess.Popen(
        [sys.executable, "-m", "postmast", "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    pid_file = tmp_path / "data" / "run.pid"
    children: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 60
        while len(children) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            children = _children(pid_file)
        assert set(children) == {"scheduler", "worker"}, pid_file.read_text()
        assert stat.S_IMODE(pid_file.stat().st_mode) == 0o600
        for pid in children.values():  # POSTMAST_LOG_LEVEL reaches the children
            assert b"--loglevel=WARNING" in Path(f"/proc/{pid}/cmdline").read_bytes()
            assert os.getpgid(pid) != os.getpgid(process.pid)  # not the terminal's group: Ctrl-C is ours
        assert os.getpgid(children["worker"]) == os.getpgid(children["scheduler"])
        time.sleep(3)  # both started (and asked to die with their parent)
        process.kill()  # SIGKILL: no chance to stop them
        process.wait()
        deadline = time.monotonic() + 60
        while not all(_gone(pid) for pid in children.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(_gone(pid) for pid in children.values()), children
        output = process.stdout.read().decode(errors="replace")
        assert " INFO " not in output, output  # WARNING: no INFO lines from anyone
    finally:
        for pid in children.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_set_left_running_by_an_earlier_run_is_reported(tmp_path) -> None:
    from postmast.supervisor import start_time

    data = tmp_path / "data"
    data.mkdir()
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = start_time(stray.pid)
        (data / "run.pid").write_text(
            json.dumps(
                {
                    "supervisor": {"pid": 1, "started": 0},
                    "children": {
                        "worker": {"pid": stray.pid, "started": started},
                        "scheduler": {"pid": stray.pid, "started": started + 1},  # its pid, reused
                    },
                }
            )
        )
        result = subprocess.run(
            [sys.executable, "-m", "postmast", "run"],
            env=service_env(data),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1
        assert result.stderr.strip().splitlines()[-1] == (
            f"postmast: error: an earlier postmast run left worker (pid {stray.pid}) running "
            f"(its supervisor was killed); stop them first: kill {stray.pid}"
        )
        assert stray.poll() is None  # reported, not touched
    finally:
        stray.kill()
        stray.wait()
