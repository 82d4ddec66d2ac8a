"""The networks' own code, run under Node: one process per network for a whole batch of inputs.

The reference packages are installed by exact version from `package-lock.json` (npm ci) into the
peers cache outside the repository (`tests/peers/launcher.py` `oracles_home`), and run under the
pinned Node 22 the suite already uses for the Bluesky PDS.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.peers.launcher import node22, oracles_home

HERE = Path(__file__).resolve().parent
NETWORKS = ("x", "bluesky", "mastodon")


class OracleError(RuntimeError):
    """Raised when a reference script fails; the message carries its error output."""


def run(network: str, inputs: list[Any]) -> list[dict[str, Any]]:
    """The reference results for `inputs`, in order (texts; for Mastodon, [text, spoiler] pairs)."""
    home = oracles_home()
    script = home / f"{network}.mjs"
    shutil.copy(HERE / "oracles" / f"{network}.mjs", script)  # bare imports resolve from its folder
    done = subprocess.run(
        [str(node22() / "node"), str(script)],
        input=json.dumps(inputs),
        capture_output=True,
        text=True,
        cwd=home,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise OracleError(f"{network}.mjs exited with {done.returncode}:\n{done.stderr[-3000:]}")
    results: list[dict[str, Any]] = json.loads(done.stdout)
    if len(results) != len(inputs):
        raise OracleError(f"{network}.mjs answered {len(results)} results for {len(inputs)} inputs")
    return results
