"""Rotating the secrets key: one transaction, and the old key keeps working until it commits."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from postmast.scheduler import rotation
from postmast.scheduler.accounts import Accounts
from postmast.scheduler.config import Settings
from postmast.scheduler.errors import UserError
from postmast.scheduler.models import Account
from postmast.scheduler.store import Store
from postmast.scheduler.vault import SecretsUnreadable, Vault, generate_key, next_key_file

INSTANCE = {"instance": "https://mastodon.example"}
TOKENS = {"brand": "tok-brand-1234", "other": "tok-other-5678", "third": "tok-third-9012"}


def _settings(tmp_path: Path, store: Store, secret_key: str | None = None) -> Settings:
    return Settings(
        data_dir=tmp_path, database_url=str(store.engine.url), broker_url="memory://", secret_key=secret_key
    )


def _populate(store: Store, vault: Vault) -> None:
    accounts = Accounts(store, vault)
    for name, token in TOKENS.items():
        accounts.add("mastodon", name, INSTANCE, {"access_token": token})
    with store.write() as session:  # one account with a connector session, encrypted too
        session.execute(
            update(Account).where(Account.name == "brand").values(session=vault.encrypt({"jwt": "s-1"}))
        )


def _readable(store: Store, vault: Vault) -> dict[str, str]:
    with store.read() as session:
        rows = session.execute(select(Account.name, Account.secrets, Account.session)).all()
    found = {name: vault.decrypt(bytes(secrets))["access_token"] for name, secrets, _ in rows}
    sessions = [vault.decrypt_any(bytes(s)) for _, _, s in rows if s is not None]
    assert sessions == [{"jwt": "s-1"}]
    return found


def test_rotation_of_the_own_key_file(store: Store, tmp_path: Path) -> None:
    settings = _settings(tmp_path, store)
    before = Vault.from_settings(None, settings.key_file)
    _populate(store, before)
    old_key = settings.key_file.read_bytes()
    done = rotation.rotate_key(store, settings, None)
    assert (done.accounts, done.key_file) == (3, settings.key_file)
    assert settings.key_file.read_bytes() != old_key
    assert not next_key_file(settings.key_file).exists()
    assert oct(settings.key_file.stat().st_mode & 0o777) == "0o600"
    assert _readable(store, Vault.from_settings(None, settings.key_file)) == TOKENS
    with pytest.raises(SecretsUnreadable):
        _readable(store, before)


def test_a_crash_half_way_leaves_the_old_key_working(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, store)
    before = Vault.from_settings(None, settings.key_file)
    _populate(store, before)
    old_key = settings.key_file.read_bytes()
    real = Vault.encrypt
    calls = []

    def crash_on_the_second(self: Vault, secrets):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("power cut")
        return real(self, secrets)

    monkeypatch.setattr(Vault, "encrypt", crash_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        rotation.rotate_key(store, settings, None)
    monkeypatch.setattr(Vault, "encrypt", real)
    assert settings.key_file.read_bytes() == old_key
    assert _readable(store, before) == TOKENS  # nothing was written: the old key alone reads all
    assert _readable(store, Vault.from_settings(None, settings.key_file)) == TOKENS
    pending = next_key_file(settings.key_file).read_bytes()
    rotation.rotate_key(store, settings, None)  # running it again finishes, with the pending key
    assert settings.key_file.read_bytes() == pending
    assert _readable(store, Vault(pending.strip())) == TOKENS


def test_a_crash_after_the_commit_leaves_everything_readable(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, store)
    _populate(store, Vault.from_settings(None, settings.key_file))

    def crash(*_: object) -> None:
        raise KeyboardInterrupt("power cut before the new key file was moved into place")

    monkeypatch.setattr(rotation.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        rotation.rotate_key(store, settings, None)
    monkeypatch.undo()
    # rows are under the pending key; a vault built now reads them with it
    assert _readable(store, Vault.from_settings(None, settings.key_file)) == TOKENS
    rotation.rotate_key(store, settings, None)
    assert not next_key_file(settings.key_file).exists()
    assert _readable(store, Vault.from_settings(None, settings.key_file)) == TOKENS


def test_rotation_of_a_key_from_the_environment(store: Store, tmp_path: Path) -> None:
    old_key, new_key = generate_key(), generate_key()
    settings = _settings(tmp_path, store, old_key)
    _populate(store, Vault(old_key))
    with pytest.raises(UserError, match="give the new key on stdin"):
        rotation.rotate_key(store, settings, None)
    with pytest.raises(UserError, match="the new key is the current key"):
        rotation.rotate_key(store, settings, old_key)
    done = rotation.rotate_key(store, settings, new_key)
    assert (done.accounts, done.key_file) == (3, None)
    assert _readable(store, Vault(new_key)) == TOKENS
    assert not settings.key_file.exists()  # postmast made no key file of its own
    with pytest.raises(SecretsUnreadable):
        _readable(store, Vault(old_key))


def test_an_unreadable_secret_stops_the_rotation_before_anything_is_written(
    store: Store, tmp_path: Path
) -> None:
    old_key = generate_key()
    settings = _settings(tmp_path, store, old_key)
    _populate(store, Vault(old_key))
    with store.write() as session:
        session.execute(
            update(Account).where(Account.name == "third").values(secrets=Vault(generate_key()).encrypt({}))
        )
    with pytest.raises(SecretsUnreadable):
        rotation.rotate_key(store, settings, generate_key())
    with store.read() as session:
        brand = session.scalar(select(Account.secrets).where(Account.name == "brand"))
    assert brand is not None and Vault(old_key).decrypt(bytes(brand)) == {"access_token": TOKENS["brand"]}
