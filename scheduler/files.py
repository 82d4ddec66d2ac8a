"""Private files: the data directory is 0700 and every file postmast keeps in it 0600,
whatever the umask.

The job store holds the whole schedule (unpublished posts included), the broker file the
delivery ids, the key file the key to every account's secrets. With the usual umask 022
they came out 0755/0644: readable by any local user. SQLite creates a database's `-wal`,
`-shm` and journal files with the mode of the database file itself, so creating the
database file 0600 before SQLite opens it keeps those private too. `postmast config`
shows the modes (`modes`) and warns about anything looser.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from postmast.scheduler.errors import ConfigError

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) with mode 0700. A directory that already exists is
    left as it is (it may be one the user chose and shares); `postmast config` warns about it."""
    if path.is_dir():
        return path
    if path.parent != path and not path.parent.exists():
        private_dir(path.parent)
    try:
        path.mkdir(mode=DIR_MODE)
        os.chmod(path, DIR_MODE)  # mkdir's mode is masked by the umask
    except FileExistsError:  # another process created it at the same moment, or it is a file
        if not path.is_dir():
            raise ConfigError(f"cannot create the data directory {path}: a file is in the way") from None
    except OSError as exc:
        raise ConfigError(f"cannot create the data directory {path}: {exc.strerror}") from None
    return path


def private_file(path: Path) -> Path:
    """Make sure `path` exists with mode 0600 (created empty if missing, tightened if looser)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) & ~FILE_MODE:
                os.fchmod(fd, FILE_MODE)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror}") from None
    return path


def private_sqlite(path: Path) -> Path:
    """A SQLite database file, and its companions that exist, private before SQLite opens them."""
    private_file(path)
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        try:
            if companion.exists() and stat.S_IMODE(companion.stat().st_mode) & ~FILE_MODE:
                os.chmod(companion, FILE_MODE)
        except OSError:
            pass  # removed meanwhile by SQLite: it will be created with the database's mode
    return path


def sqlite_path(url: str) -> Path | None:
    """The database file of a `sqlite:///...` (or kombu's `sqla+sqlite:///...`) URL, if it has one."""
    rest = url.removeprefix("sqla+")
    if not rest.startswith("sqlite:///"):
        return None
    name = rest.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(name).expanduser() if name and name != ":memory:" else None


@dataclass(frozen=True)
class Mode:
    path: Path
    mode: int
    loose: bool
    """Readable, writable or enterable by someone other than the owner."""

    def as_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "mode": f"{self.mode:04o}", "loose": self.loose}


def modes(data_dir: Path) -> list[Mode]:
    """The data directory and every file and folder in it, with their modes (nothing if it does
    not exist yet)."""
    if not data_dir.is_dir():
        return []
    found = [data_dir, *sorted(data_dir.rglob("*"))]
    result = []
    for path in found:
        try:
            mode = stat.S_IMODE(path.lstat().st_mode)
        except OSError:
            continue
        result.append(Mode(path, mode, bool(mode & 0o077)))
    return result
