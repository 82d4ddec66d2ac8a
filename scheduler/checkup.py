"""`postmast account check`: ask each network who the stored credentials are, and say what to do.

Each account's connector is asked its "who am I" (`Connector.whoami`: Mastodon
`verify_credentials`, Bluesky `getSession`, X `/2/users/me`, LinkedIn `/v2/userinfo`, Meta
`/me`, Telegram `getMe`, Slack `auth.test`, a Discord webhook's GET). The answer is one
of a few states, each with the command that fixes it. The check changes nothing but a
session the network renewed on the way (Bluesky), saved by compare-and-set as the
worker saves it: a refreshed token that was not kept would lock the account out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from postmast.connectors import AuthExpired, ConnectorError, get_connector
from postmast.connectors.base import insecure_endpoints
from postmast.connectors.http import HttpClient
from postmast.scheduler.accounts import find
from postmast.scheduler.models import Account, AccountStatus
from postmast.scheduler.store import Store
from postmast.scheduler.vault import SecretsUnreadable, Vault, redact

HEALTHY = "healthy"
EXPIRING = "expiring"
NEEDS_REAUTH = "needs_reauth"
UNREACHABLE = "unreachable"
UNCHECKABLE = "uncheckable"
UNREADABLE = "unreadable"
STATES = (HEALTHY, EXPIRING, NEEDS_REAUTH, UNREACHABLE, UNCHECKABLE, UNREADABLE)
BAD = frozenset({NEEDS_REAUTH, UNREADABLE})
"""States a person must act on (`account check` exits non-zero)."""
WARN_DAYS = 7
"""Credentials that expire within this many days are reported as expiring."""


@dataclass(frozen=True)
class Health:
    """One account's state after asking its network, and the command that fixes it."""

    target: str
    state: str
    detail: str
    fix: str | None = None
    days_left: int | None = None
    identity: dict[str, str] = field(default_factory=dict)
    """Public facts the network gave (handle, id): never a secret."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "state": self.state,
            "detail": self.detail,
            "fix": self.fix,
            "days_left": self.days_left,
            "identity": self.identity,
        }


def reauth_command(target: str) -> str:
    return f"postmast account update {target} --secrets"


def expiry_state(target: str, expires_at: datetime | None, now: datetime) -> Health | None:
    """`expiring` (or `needs_reauth` once past) for credentials with a known end, else None."""
    if expires_at is None:
        return None
    left = expires_at - now
    days = max(0, left.days)
    if left.total_seconds() <= 0:
        return Health(target, NEEDS_REAUTH, "the credentials have expired", reauth_command(target), 0)
    if left.days < WARN_DAYS:
        when = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
        return Health(target, EXPIRING, f"the credentials expire {when}", reauth_command(target), days)
    return None


class Checkup:
    def __init__(self, store: Store, vault: Vault) -> None:
        self.store = store
        self.vault = vault

    def run(self, target: str | None = None) -> list[Health]:
        with self.store.read() as session:
            if target is not None:
                accounts = [find(session, target)]
            else:
                accounts = list(
                    session.scalars(
                        select(Account)
                        .where(Account.status != AccountStatus.REMOVED)
                        .order_by(Account.network, Account.name)
                    )
                )
            session.expunge_all()
        return [self.check(account) for account in accounts]

    def check(self, account: Account) -> Health:
        target = account.target
        cls = get_connector(account.network)
        insecure = insecure_endpoints(account.settings)
        if insecure:
            return Health(target, UNREACHABLE, f"not asked: {insecure[0].message}")
        try:
            secrets = self.vault.decrypt(account.secrets)
            state: dict[str, Any] = self.vault.decrypt_any(account.session) if account.session else {}
        except SecretsUnreadable:
            return Health(
                target,
                UNREADABLE,
                "the stored secrets cannot be decrypted with the current key",
                "set the key they were stored with (POSTMAST_SECRET_KEY or its file), or "
                + reauth_command(target),
            )
        before = json.dumps(state, sort_keys=True)
        connector = cls(
            account.settings,
            HttpClient(connect_timeout=5.0, read_timeout=15.0),
            cache=account.cache,
            state=state,
            clock=self.store.clock,
        )
        try:
            found = connector.whoami(secrets)
        except AuthExpired as exc:
            return Health(
                target,
                NEEDS_REAUTH,
                f"{cls.title} refused the credentials ({redact(exc.message, secrets)})",
                reauth_command(target),
            )
        except ConnectorError as exc:
            return Health(target, UNREACHABLE, f"could not ask {cls.title}: {redact(exc.message, secrets)}")
        finally:
            if json.dumps(dict(connector.state), sort_keys=True) != before:
                self._save_session(account, dict(connector.state))
        if found is None:
            return Health(target, UNCHECKABLE, f"{cls.title} offers no way to check credentials")
        identity = {k: str(v) for k, v in found.items() if isinstance(v, (str, int)) and k != "fetched_at"}
        if account.status == AccountStatus.NEEDS_REAUTH:
            return Health(
                target,
                NEEDS_REAUTH,
                f"flagged ({account.status_reason or 'refused earlier'}); {cls.title} accepts the "
                "credentials now: store them again to release its posts",
                reauth_command(target),
                identity=identity,
            )
        expiring = expiry_state(target, account.expires_at, self.store.now())
        if expiring is not None and (expiring.state != EXPIRING or not connector.can_refresh(secrets)):
            return Health(
                expiring.target, expiring.state, expiring.detail, expiring.fix, expiring.days_left, identity
            )
        return Health(target, HEALTHY, f"{cls.title} accepts the credentials", identity=identity)

    def _save_session(self, account: Account, state: dict[str, Any]) -> None:
        """Keep a session the network renewed while it was asked (compare-and-set on its version)."""
        with self.store.write() as session:
            session.execute(
                update(Account)
                .where(Account.id == account.id, Account.session_version == account.session_version)
                .values(
                    session=self.vault.encrypt(state),
                    session_version=account.session_version + 1,
                    updated_at=self.store.now(),
                )
            )
