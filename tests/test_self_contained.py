"""A clone of the repository alone runs its suite: no file points outside it, and the conformance
material it carries says where each file comes from and under which licence."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tests.conftest import CONFORMANCE, REPO

# Paths outside the repository that files once named (the shared folder of a workstation).
FORBIDDEN = ("/work/", "../shared", "shared/conformance", "POSTMAST_CONFORMANCE_DIR", "REPO.parent")
# Not part of the repository's content: installs, caches, build output, git's own files.
SKIPPED_DIRS = {
    ".git",
    ".venv",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    ".cache",
    "build",
    "dist",
}
ORIGIN_FILES = ("SOURCE.md", "ORIGIN.md")
LICENCE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE)([-.].*)?$", re.IGNORECASE)
ROW = re.compile(r"^\| `(?P<path>[^`]+)` \| (?P<size>[\d,]+) \| `(?P<sha>[0-9a-f]{16})` \|$")


def repository_files() -> list[Path]:
    found = []
    for path in REPO.rglob("*"):
        parts = path.relative_to(REPO).parts
        if any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in parts):
            continue
        if path.is_file() and not path.is_symlink():
            found.append(path)
    return found


def test_no_file_names_a_path_outside_the_repository() -> None:
    this_file = Path(__file__).resolve()  # it lists the patterns
    hits = []
    for path in repository_files():
        if path.resolve() == this_file or CONFORMANCE in path.parents:
            continue  # third-party data is checked by the test below
        try:
            text = path.read_text("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            hits += [f"{path.relative_to(REPO)}:{number}: {line.strip()}" for p in FORBIDDEN if p in line]
    assert not hits, "\n".join(hits)


def test_the_conformance_fixture_reads_the_repository_only(conformance: Path) -> None:
    assert conformance == CONFORMANCE
    assert REPO in conformance.resolve().parents


def test_every_conformance_folder_names_its_origin_and_carries_its_licence() -> None:
    folders = sorted(p for p in CONFORMANCE.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders, CONFORMANCE
    for folder in folders:
        origin = next((folder / name for name in ORIGIN_FILES if (folder / name).is_file()), None)
        assert origin is not None, f"{folder.name}: no {' or '.join(ORIGIN_FILES)}"
        text = origin.read_text("utf-8")
        assert "https://github.com/" in text, f"{origin}: no origin repository"
        assert re.search(r"\b[0-9a-f]{40}\b", text), f"{origin}: no commit"
        assert re.search(r"\b20\d\d-\d\d-\d\d\b", text), f"{origin}: no date"
        assert re.search(r"licen[cs]e", text, re.IGNORECASE), f"{origin}: no licence"
        licences = [p for p in folder.rglob("*") if p.is_file() and LICENCE.match(p.name)]
        assert licences, f"{folder.name}: no licence file"


def test_every_conformance_file_is_listed_with_its_size_and_hash() -> None:
    """So nothing lands here unexplained, and a changed file shows."""
    for origin in sorted(CONFORMANCE.glob("*/SOURCE.md")):
        folder = origin.parent
        listed = {m["path"]: m for m in map(ROW.match, origin.read_text("utf-8").splitlines()) if m}
        present = {
            p.relative_to(folder).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and p != origin and "__pycache__" not in p.parts
        }
        assert set(listed) == present, f"{origin}: listed {sorted(listed)}, present {sorted(present)}"
        for name, row in listed.items():
            data = (folder / name).read_bytes()
            assert int(row["size"].replace(",", "")) == len(data), f"{folder.name}/{name}: size"
            assert hashlib.sha256(data).hexdigest().startswith(row["sha"]), f"{folder.name}/{name}: sha256"
