"""Secrets at rest: Fernet round trip, key file handling, masks and redaction."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from postmast.scheduler.errors import ConfigError
from postmast.scheduler.vault import MASK, SecretsUnreadable, Vault, generate_key, masked, redact
from tests.conftest import TEST_KEY

SECRET = "SEKRET-4f9c2a"


def test_roundtrip() -> None:
    vault = Vault(TEST_KEY)
    token = vault.encrypt({"access_token": SECRET, "other": "value ünïcode"})
    assert isinstance(token, bytes)
    assert SECRET.encode() not in token
    assert vault.decrypt(token) == {"access_token": SECRET, "other": "value ünïcode"}
    # bytes keys work as well as text keys, and a second vault with the same key reads it
    assert Vault(TEST_KEY.encode()).decrypt(token) == {"access_token": SECRET, "other": "value ünïcode"}


def test_encryption_is_randomised() -> None:
    vault = Vault(TEST_KEY)
    assert vault.encrypt({"a": SECRET}) != vault.encrypt({"a": SECRET})


def test_wrong_key_gives_secrets_unreadable_without_the_secret() -> None:
    token = Vault(TEST_KEY).encrypt({"access_token": SECRET})
    with pytest.raises(SecretsUnreadable) as info:
        Vault(generate_key()).decrypt(token)
    assert isinstance(info.value, ConfigError)
    message = str(info.value)
    assert "cannot be decrypted" in message
    assert SECRET not in message
    assert "access_token" not in message
    assert TEST_KEY not in message


def test_tampered_token_is_unreadable() -> None:
    vault = Vault(TEST_KEY)
    token = bytearray(vault.encrypt({"a": SECRET}))
    token[-5] ^= 1
    with pytest.raises(SecretsUnreadable):
        vault.decrypt(bytes(token))


def test_key_file_is_created_with_mode_0600_and_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "new" / "dir" / "secret.key"
    first = Vault.from_settings(None, key_file)
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes().strip()
    Fernet(key)  # a valid Fernet key
    token = first.encrypt({"a": SECRET})
    second = Vault.from_settings(None, key_file)
    assert key_file.read_bytes().strip() == key
    assert second.decrypt(token) == {"a": SECRET}


def test_key_file_mode_ignores_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        Vault.from_settings(None, tmp_path / "secret.key")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / "secret.key"
    Vault.from_settings(None, key_file)
    key_file.chmod(mode)
    with pytest.raises(ConfigError) as info:
        Vault.from_settings(None, key_file)
    message = str(info.value)
    assert f"chmod 600 {key_file}" in message
    assert f"{mode:o}" in message
    assert key_file.read_text().strip() not in message


def test_environment_key_wins_over_the_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.key"
    vault = Vault.from_settings(TEST_KEY, key_file)
    assert not key_file.exists()
    assert Vault(TEST_KEY).decrypt(vault.encrypt({"a": SECRET})) == {"a": SECRET}


@pytest.mark.parametrize("key", ["nope", "x" * 44, "é" * 44, TEST_KEY[:-4]])
def test_invalid_secret_key_is_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        Vault.from_settings(key, tmp_path / "secret.key")
    message = str(info.value)
    assert message.startswith("POSTMAST_SECRET_KEY is not a valid key")
    assert "postmast key generate" in message
    assert key not in message


def test_generated_keys_are_usable_and_distinct() -> None:
    first, second = generate_key(), generate_key()
    assert first != second
    assert Vault(first).decrypt(Vault(first).encrypt({"a": "b"})) == {"a": "b"}


def test_masked_shows_no_character_of_the_value() -> None:
    secrets = {"access_token": SECRET, "signing_secret": "••x", "empty": ""}
    shown = masked(secrets)
    assert shown == {"access_token": MASK, "signing_secret": MASK}
    rendered = json.dumps(shown, ensure_ascii=False)
    assert not set(SECRET) & set("".join(shown.values()))
    assert SECRET not in rendered
    assert "x" not in "".join(shown.values())


def test_redact_replaces_every_secret_longest_first() -> None:
    secrets = {"short": "abcd", "long": "abcdefgh", "tiny": "xyz"}
    text = "token abcdefgh and abcd, and xyz stays, abcdefgh again"
    assert redact(text, secrets) == f"token {MASK} and {MASK}, and xyz stays, {MASK} again"
    assert redact("nothing here", secrets) == "nothing here"
    assert redact(f"Bearer {SECRET}", {"access_token": SECRET}) == f"Bearer {MASK}"
