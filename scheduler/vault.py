"""Encryption of account secrets at rest (Fernet: AES-128-CBC with HMAC-SHA256).

The key comes from `POSTMAST_SECRET_KEY` (or the file `POSTMAST_SECRET_KEY_FILE` names,
read by `scheduler.config`), or from a key file created with mode 0600 in the data
directory on first use. While `postmast account rotate-key` replaces that key file, the
new key waits beside it (`secret.key.next`) and is accepted for reading too, so a
rotation interrupted at any point leaves every secret readable (`scheduler/rotation.py`).
Decryption happens only where a secret is used (the worker, at publish time); everything
printed shows a mask instead.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from postmast.scheduler.errors import ConfigError
from postmast.scheduler.files import private_dir

MASK = "••••••"


class SecretsUnreadable(ConfigError):
    """Raised when stored secrets cannot be decrypted with the configured key."""


def _read_key_file(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} is readable by other users (mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}"
        )
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the key file {path}: {exc.strerror}") from None
    try:
        Fernet(key)
    except ValueError:
        raise ConfigError(f"the key file {path} does not hold a valid key") from None
    return key


def _load_key_file(path: Path) -> bytes:
    """Read the key file, or create it: written whole to a temporary file, then linked into place,
    so a process starting at the same moment never reads a half-written key."""
    if path.exists():
        return _read_key_file(path)
    key = Fernet.generate_key()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _read_key_file(path)  # another process won the race: use its key
    except OSError as exc:
        raise ConfigError(f"cannot create the key file {path}: {exc.strerror}") from None
    finally:
        temporary.unlink(missing_ok=True)
    return key


class Vault:
    """Encrypts and decrypts a mapping of secret strings."""

    def __init__(self, key: str | bytes, *, also: tuple[bytes, ...] = ()) -> None:
        """`key` encrypts and decrypts; the keys in `also` only decrypt (a rotation under way)."""
        try:
            keys = [Fernet(key if isinstance(key, bytes) else key.encode("ascii"))]
        except (ValueError, UnicodeEncodeError):
            raise ConfigError(
                "POSTMAST_SECRET_KEY is not a valid key (32 url-safe base64-encoded bytes); "
                "create one with: postmast key generate"
            ) from None
        self._fernet = MultiFernet([*keys, *(Fernet(k) for k in also)])

    @classmethod
    def from_settings(cls, secret_key: str | None, key_file: Path) -> Vault:
        if secret_key:
            return cls(secret_key)
        private_dir(key_file.parent)
        pending = next_key_file(key_file)
        also = (_read_key_file(pending),) if pending.exists() else ()
        return cls(_load_key_file(key_file), also=also)

    def encrypt(self, secrets: Mapping[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(dict(secrets), sort_keys=True).encode("utf-8"))

    def decrypt_any(self, token: bytes) -> dict[str, Any]:
        """A decrypted JSON object (connector session state keeps non-string values)."""
        try:
            data = json.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise SecretsUnreadable(
                "stored secrets cannot be decrypted: POSTMAST_SECRET_KEY or the key file changed"
            ) from None
        return dict(data)

    def decrypt(self, token: bytes) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.decrypt_any(token).items()}


def next_key_file(key_file: Path) -> Path:
    """Where a rotation keeps the new key until every secret is encrypted under it."""
    return key_file.with_name(key_file.name + ".next")


def write_key_file(path: Path, key: bytes) -> None:
    """Write `key` to `path` (mode 0600, synced), replacing it atomically."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        raise ConfigError(f"cannot write the key file {path}: {exc.strerror}") from None
    finally:
        temporary.unlink(missing_ok=True)


def read_key_file(path: Path) -> bytes:
    """A key file's key, refusing one others can read."""
    return _read_key_file(path)


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def masked(secrets: Mapping[str, str]) -> dict[str, str]:
    """What may be shown of secrets: their names, never a single character of their values."""
    return {name: MASK for name, value in secrets.items() if value}


def redact(text: str, secrets: Mapping[str, str]) -> str:
    """`text` with every secret value (of 4+ characters) replaced by the mask."""
    for value in sorted(secrets.values(), key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, MASK)
    return text
