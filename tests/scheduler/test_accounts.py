"""Accounts: add, list, get, update, remove; names, settings and secrets checked; secrets encrypted."""

from __future__ import annotations

import pytest
from sqlalchemy import text, update

from postmast.connectors import available
from postmast.scheduler.accounts import Accounts, parse_target
from postmast.scheduler.errors import Conflict, NotFound, UserError
from postmast.scheduler.models import Account, AccountStatus
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from postmast.scheduler.vault import MASK, Vault, generate_key
from tests.factories import add_delivery, row_counts, status_of

SECRET = "SEKRET-tok-8842"
INSTANCE = {"instance": "https://mastodon.example"}


@pytest.fixture
def accounts(store: Store, vault: Vault) -> Accounts:
    return Accounts(store, vault)


def raw_secrets(store: Store, account_id: int) -> bytes:
    with store.read() as session:
        value = session.execute(
            text("SELECT secrets FROM accounts WHERE id = :id"), {"id": account_id}
        ).scalar_one()
    return bytes(value)


def test_add_get_all(accounts: Accounts) -> None:
    view = accounts.add("mastodon", "brand", INSTANCE, {"access_token": SECRET})
    assert (view.network, view.name, view.target, view.status) == (
        "mastodon",
        "brand",
        "mastodon:brand",
        "active",
    )
    assert view.settings == INSTANCE
    assert view.secrets == {"access_token": MASK}
    hook = accounts.add("Webhook", "team", {"url": "http://127.0.0.1:9/hook"}, {})
    assert hook.network == "webhook"
    assert hook.secrets == {}
    assert accounts.get("mastodon:brand") == view
    assert accounts.get("WEBHOOK:team").id == hook.id
    assert [v.target for v in accounts.all()] == ["mastodon:brand", "webhook:team"]
    shown = view.as_dict()
    assert shown["secrets"] == {"access_token": MASK}
    assert SECRET not in repr(shown)
    assert shown["created_at"].startswith("2026-12-01T09:00:00")


def test_secrets_are_encrypted_in_the_database(store: Store, accounts: Accounts, vault: Vault) -> None:
    view = accounts.add("mastodon", "brand", INSTANCE, {"access_token": SECRET})
    stored = raw_secrets(store, view.id)
    assert SECRET.encode() not in stored
    assert b"access_token" not in stored
    assert vault.decrypt(stored) == {"access_token": SECRET}
    with store.read() as session:
        everything = session.execute(text("SELECT * FROM accounts")).all()
    assert SECRET not in repr(everything)


def test_empty_optional_secrets_are_not_stored(store: Store, accounts: Accounts, vault: Vault) -> None:
    view = accounts.add("webhook", "team", {"url": "http://127.0.0.1:9/hook"}, {"signing_secret": ""})
    assert vault.decrypt(raw_secrets(store, view.id)) == {}


@pytest.mark.parametrize("name", ["", "-lead", ".dot", "a b", "a/b", "a:b", "x" * 65, "naïve", "tab\t"])
def test_invalid_names_are_refused(store: Store, accounts: Accounts, name: str) -> None:
    with pytest.raises(UserError, match="is not valid: use 1-64 letters"):
        accounts.add("webhook", name, {"url": "http://127.0.0.1:9/hook"}, {})
    assert row_counts(store)["accounts"] == 0


@pytest.mark.parametrize("name", ["a", "7", "brand.main_2-x", "X" * 64])
def test_valid_names(accounts: Accounts, name: str) -> None:
    assert accounts.add("webhook", name, {"url": "http://127.0.0.1:9/hook"}, {}).name == name


@pytest.mark.parametrize(
    ("network", "settings", "secrets", "message"),
    [
        (
            "myspace",
            {},
            {},
            f"unknown network 'myspace' (known: {', '.join(available())})",
        ),
        (
            "mastodon",
            {**INSTANCE, "colour": "blue"},
            {"access_token": SECRET},
            "unknown setting 'colour' for mastodon",
        ),
        (
            "mastodon",
            INSTANCE,
            {"access_token": SECRET, "password": "hunter2hunter2"},
            "an unknown secret name was given for mastodon",
        ),
        ("mastodon", {}, {"access_token": SECRET}, "missing setting 'instance'"),
        ("mastodon", INSTANCE, {}, "missing secret 'access_token'"),
        ("mastodon", INSTANCE, {"access_token": ""}, "missing secret 'access_token'"),
        (
            "mastodon",
            {"instance": "mastodon.example"},
            {"access_token": SECRET},
            "instance must be an absolute http(s) URL",
        ),
        (
            "mastodon",
            {**INSTANCE, "max_length": "lots"},
            {"access_token": SECRET},
            "max_length must be a positive whole number",
        ),
        ("webhook", {"url": "ftp://example.org/x"}, {}, "url must be an absolute http(s) URL"),
    ],
)
def test_bad_settings_and_secrets_are_refused(
    store: Store,
    accounts: Accounts,
    network: str,
    settings: dict[str, str],
    secrets: dict[str, str],
    message: str,
) -> None:
    with pytest.raises(UserError) as info:
        accounts.add(network, "brand", settings, secrets)
    assert message in str(info.value)
    for value in secrets.values():
        if value:
            assert value not in str(info.value)
    assert row_counts(store)["accounts"] == 0


def test_duplicate_is_refused(store: Store, accounts: Accounts) -> None:
    accounts.add("mastodon", "brand", INSTANCE, {"access_token": SECRET})
    with pytest.raises(Conflict, match="account mastodon:brand already exists"):
        accounts.add(
            "mastodon", "brand", {"instance": "https://other.example"}, {"access_token": "other-token"}
        )
    assert row_counts(store)["accounts"] == 1
    # the same name on another network is another account
    accounts.add("webhook", "brand", {"url": "http://127.0.0.1:9/hook"}, {})
    assert row_counts(store)["accounts"] == 2


@pytest.mark.parametrize("target", ["brand", ":brand", "mastodon:", ""])
def test_malformed_targets(accounts: Accounts, target: str) -> None:
    with pytest.raises(UserError, match="must look like NETWORK:NAME"):
        accounts.get(target)


def test_parse_target_lowercases_only_the_network() -> None:
    assert parse_target("MasToDon:Brand") == ("mastodon", "Brand")
    with pytest.raises(UserError, match="must look like NETWORK:NAME"):
        parse_target("webhook:a:b")  # no account name holds a colon


def test_unknown_account_is_not_found(accounts: Accounts) -> None:
    with pytest.raises(NotFound, match=r"no account mastodon:ghost \(see: postmast account list\)"):
        accounts.get("mastodon:ghost")
    with pytest.raises(UserError, match="unknown network 'myspace'"):
        accounts.get("myspace:ghost")


def test_update_settings_and_secrets(store: Store, accounts: Accounts, vault: Vault, clock) -> None:
    view = accounts.add("mastodon", "brand", {**INSTANCE, "visibility": "unlisted"}, {"access_token": SECRET})
    clock.advance(60)
    updated = accounts.update("mastodon:brand", {"max_length": "1000", "visibility": ""}, None)
    assert updated.settings == {**INSTANCE, "max_length": "1000"}
    assert vault.decrypt(raw_secrets(store, view.id)) == {"access_token": SECRET}
    accounts.update("mastodon:brand", {}, {"access_token": "NEW-token-1234"})
    assert vault.decrypt(raw_secrets(store, view.id)) == {"access_token": "NEW-token-1234"}
    with store.read() as session:
        account = session.get(Account, view.id)
        assert account is not None
        assert account.updated_at == clock.now
        assert account.created_at < clock.now


@pytest.mark.parametrize(
    ("settings", "secrets", "message"),
    [
        ({"instance": ""}, None, "missing setting 'instance'"),
        ({"colour": "blue"}, None, "unknown setting 'colour'"),
        ({}, {}, "missing secret 'access_token'"),
        ({"max_length": "1000"}, {"token": "abcdefgh"}, "an unknown secret name was given for mastodon"),
    ],
)
def test_invalid_update_changes_nothing(
    store: Store,
    accounts: Accounts,
    vault: Vault,
    settings: dict[str, str],
    secrets: dict[str, str] | None,
    message: str,
) -> None:
    view = accounts.add("mastodon", "brand", INSTANCE, {"access_token": SECRET})
    with pytest.raises(UserError, match=message):
        accounts.update("mastodon:brand", settings, secrets)
    assert accounts.get("mastodon:brand").settings == INSTANCE
    assert vault.decrypt(raw_secrets(store, view.id)) == {"access_token": SECRET}


def test_update_clears_needs_reauth(store: Store, accounts: Accounts) -> None:
    view = accounts.add("mastodon", "brand", INSTANCE, {"access_token": SECRET})
    with store.write() as session:
        session.execute(
            update(Account)
            .where(Account.id == view.id)
            .values(status=AccountStatus.NEEDS_REAUTH, status_reason="401 from the instance")
        )
    flagged = accounts.get("mastodon:brand")
    assert (flagged.status, flagged.status_reason) == ("needs_reauth", "401 from the instance")
    fixed = accounts.update("mastodon:brand", {}, {"access_token": "fresh-token-123"})
    assert (fixed.status, fixed.status_reason) == ("active", None)


def test_remove(store: Store, accounts: Accounts, vault: Vault) -> None:
    view = accounts.add("mastodon", "brand", INSTANCE, {"access_token": SECRET})
    assert accounts.remove("mastodon:brand") == 0
    with pytest.raises(NotFound):
        accounts.get("mastodon:brand")
    assert accounts.all() == []
    removed = accounts.all(include_removed=True)
    assert [(v.id, v.status) for v in removed] == [(view.id, "removed")]
    assert removed[0].status_reason == "removed 2026-12-01T09:00:00+00:00"
    # its secrets are gone, not just hidden
    assert vault.decrypt(raw_secrets(store, view.id)) == {}
    with pytest.raises(NotFound):
        accounts.remove("mastodon:brand")


def test_remove_with_pending_deliveries_is_refused(store: Store, accounts: Accounts) -> None:
    view = accounts.add("mastodon", "brand", INSTANCE, {"access_token": SECRET})
    pending = [
        add_delivery(store, view.id, status=s) for s in (Status.SCHEDULED, Status.QUEUED, Status.RETRY_WAIT)
    ]
    done = add_delivery(store, view.id, status=Status.PUBLISHED)
    with pytest.raises(Conflict, match=r"mastodon:brand has 3 pending deliveries; .* --cancel-pending"):
        accounts.remove("mastodon:brand")
    assert accounts.get("mastodon:brand").status == "active"
    assert [status_of(store, d) for d in pending] == [Status.SCHEDULED, Status.QUEUED, Status.RETRY_WAIT]
    assert accounts.remove("mastodon:brand", cancel_pending=True) == 3
    assert [status_of(store, d) for d in pending] == [Status.CANCELLED] * 3
    assert status_of(store, done) == Status.PUBLISHED
    assert accounts.all() == []


@pytest.mark.parametrize("blocking", [Status.PUBLISHING, Status.UNKNOWN])
def test_remove_waits_for_deliveries_in_flight(store: Store, accounts: Accounts, blocking: Status) -> None:
    view = accounts.add("mastodon", "brand", INSTANCE, {"access_token": SECRET})
    scheduled = add_delivery(store, view.id)
    in_flight = add_delivery(store, view.id, status=blocking)
    with pytest.raises(Conflict, match=f"being published or with unknown outcome \\({in_flight}\\)"):
        accounts.remove("mastodon:brand", cancel_pending=True)
    # all or nothing: the scheduled one was not cancelled either
    assert status_of(store, scheduled) == Status.SCHEDULED
    assert status_of(store, in_flight) == blocking
    assert accounts.get("mastodon:brand").status == "active"


def test_readding_a_removed_name_works(store: Store, accounts: Accounts) -> None:
    first = accounts.add("mastodon", "brand", INSTANCE, {"access_token": SECRET})
    accounts.remove("mastodon:brand")
    second = accounts.add(
        "mastodon", "brand", {"instance": "https://new.example"}, {"access_token": "t2-abcdef"}
    )
    assert second.id != first.id
    assert accounts.get("mastodon:brand").id == second.id
    assert accounts.get("mastodon:brand").settings == {"instance": "https://new.example"}
    accounts.remove("mastodon:brand")
    accounts.add("mastodon", "brand", INSTANCE, {"access_token": SECRET})
    assert len(accounts.all(include_removed=True)) == 3


def test_listing_survives_a_changed_key(store: Store, accounts: Accounts) -> None:
    accounts.add("mastodon", "brand", INSTANCE, {"access_token": SECRET})
    other = Accounts(store, Vault(generate_key()))
    [view] = other.all()
    assert view.target == "mastodon:brand"
    assert view.secrets == {"(unreadable with the current key)": MASK}
    assert other.get("mastodon:brand").secrets == {"(unreadable with the current key)": MASK}


def test_duplicate_points_to_update(accounts: Accounts) -> None:
    accounts.add("mastodon", "brand", INSTANCE, {"access_token": SECRET})
    with pytest.raises(Conflict, match=r"already exists; .*postmast account update mastodon:brand"):
        accounts.add("mastodon", "brand", INSTANCE, {"access_token": SECRET})


@pytest.mark.parametrize("settings", [{}, {"instance": "https://mastodon.example"}, {"visibility": ""}])
def test_update_with_nothing_to_change_is_refused(
    store: Store, accounts: Accounts, settings: dict[str, str]
) -> None:
    view = accounts.add("mastodon", "brand", INSTANCE, {"access_token": SECRET})
    with store.write() as session:
        session.execute(
            update(Account).where(Account.id == view.id).values(status=AccountStatus.NEEDS_REAUTH)
        )
    with pytest.raises(UserError, match="mastodon:brand: nothing to change"):
        accounts.update("mastodon:brand", settings, None)
    assert accounts.get("mastodon:brand").status == "needs_reauth"  # not made to look fixed


@pytest.mark.parametrize(
    ("network", "hint"),
    [("mastadon", "did you mean 'mastodon'?"), ("blusky", "did you mean 'bluesky'?"), ("myspace", None)],
)
def test_a_misspelt_network_gets_a_suggestion(accounts: Accounts, network: str, hint: str | None) -> None:
    with pytest.raises(UserError) as raised:
        accounts.add(network, "brand", {}, {})
    assert f"unknown network {network!r}" in str(raised.value)
    if hint:
        assert str(raised.value).endswith(hint)
    else:
        assert "did you mean" not in str(raised.value)
