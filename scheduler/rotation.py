"""Rotating the key that encrypts account secrets, in one transaction.

Every account's secrets and connector session (removed accounts too: their rows keep an
encrypted blob) are decrypted with the current key and encrypted under the new one in a
single write transaction: it commits whole or not at all, so a crash half-way leaves
every row under the old key, which still works.

Where postmast owns the key file (no `POSTMAST_SECRET_KEY` or `..._FILE`), the new key is
written first beside it (`secret.key.next`, 0600, synced), the rows are re-encrypted and
committed, and only then does the new key replace the old file. A vault reads with both
keys while the `.next` file exists, so a crash between the commit and the replacement
leaves everything readable, and running `rotate-key` again finishes the job with the same
pending key. Where the key comes from the environment, the new key is given on stdin and
the operator puts it in place afterwards (postmast cannot rewrite its environment).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from postmast.scheduler.config import Settings
from postmast.scheduler.errors import UserError
from postmast.scheduler.models import Account
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault, generate_key, next_key_file, read_key_file, write_key_file


@dataclass(frozen=True)
class Rotation:
    """What a rotation did, for the command to say."""

    accounts: int
    key_file: Path | None
    """The key file now holding the new key; None when the operator must install the key."""

    def as_dict(self) -> dict[str, object]:
        return {"accounts": self.accounts, "key_file": str(self.key_file) if self.key_file else None}


def reencrypt(store: Store, old: Vault, new: Vault) -> int:
    """Re-encrypt every account's secrets and session from `old` to `new`, all in one transaction.

    A secret `old` cannot read stops the whole rotation before anything is written. The
    session version is bumped so that a worker saving a session it read under the old key
    loses its compare-and-set instead of writing an old-key blob back.
    """
    with store.write() as session:
        accounts = session.scalars(select(Account).order_by(Account.id).with_for_update()).all()
        for account in accounts:
            account.secrets = new.encrypt(old.decrypt_any(account.secrets))
            if account.session is not None:
                account.session = new.encrypt(old.decrypt_any(account.session))
                account.session_version = (account.session_version or 0) + 1
        return len(accounts)


def rotate_key(store: Store, settings: Settings, new_key: str | None) -> Rotation:
    """Rotate to `new_key` (required when the key comes from the environment; generated when
    postmast owns the key file)."""
    if settings.secret_key:
        if not new_key:
            raise UserError(
                "the key comes from the environment: give the new key on stdin "
                "(postmast key generate | postmast account rotate-key --new-key-from-stdin)"
            )
        if new_key == settings.secret_key:
            raise UserError("the new key is the current key: generate one with postmast key generate")
        old = Vault(settings.secret_key)
        return Rotation(reencrypt(store, old, Vault(new_key)), None)
    key_file = settings.key_file
    old = Vault.from_settings(None, key_file)  # reads the pending key too, if a rotation was cut short
    pending = next_key_file(key_file)
    if pending.exists():
        key = read_key_file(pending)  # finish the rotation that was cut short, with its key
    else:
        key = (new_key or generate_key()).encode("ascii")
        write_key_file(pending, key)
    count = reencrypt(store, old, Vault(key))
    os.replace(pending, key_file)
    return Rotation(count, key_file)
