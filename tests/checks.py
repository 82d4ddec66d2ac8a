"""Lint and type checks, as `./dev check` runs them and as tests/test_quality.py asserts them.

mypy cannot follow setuptools' package-dir mapping (an import hook), so it checks a link
tree laid out as the installed package: `postmast/` holding links to the shell's modules
and to `scheduler/`, `connectors/` and `workers/`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = {"scheduler": "scheduler", "connectors": "connectors", "workers": "workers"}
LINTED = ["postmast", *PACKAGES.values(), "tests", "bench", "setup.py"]


def link_tree(root: Path) -> Path:
    """`root/postmast` as installed, made of symbolic links into the repository; returns `root`."""
    package = root / "postmast"
    package.mkdir(parents=True, exist_ok=True)
    for entry in (REPO / "postmast").iterdir():
        if entry.name != "__pycache__":
            _link(package / entry.name, entry)
    for name, folder in PACKAGES.items():
        _link(package / name, REPO / folder)
    return root


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() and link.resolve() == target.resolve():
        return
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)


def ruff() -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "ruff", "check", *LINTED], REPO)


def ruff_format() -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "ruff", "format", "--check", *LINTED], REPO)


def mypy() -> subprocess.CompletedProcess[str]:
    tree = link_tree(REPO / ".cache" / "typecheck")
    return _run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--cache-dir",
            str(REPO / ".mypy_cache"),
            "-p",
            "postmast",
        ],
        tree,
    )


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)


def main() -> int:
    failed = 0
    for check in (ruff, ruff_format, mypy):
        result = check()
        sys.stdout.write(result.stdout + result.stderr)
        failed |= result.returncode
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
