"""Accounts: add, list, remove, and look up by `network:name` target.

Settings are public (instance URL, webhook URL, limits) and stored as JSON; secrets
are encrypted as one blob and only ever shown as a mask.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from postmast.clock import Clock
from postmast.connectors import AuthExpired, Connector, ConnectorError, get_connector
from postmast.connectors.http import HttpClient
from postmast.connectors.registry import UnknownNetwork, available
from postmast.connectors.text import text_problems
from postmast.scheduler.errors import Conflict, NotFound, UserError
from postmast.scheduler.models import Account, AccountStatus, Delivery
from postmast.scheduler.reactivation import release_waiting
from postmast.scheduler.states import PENDING, UNSETTLED, Status, allowed, transition
from postmast.scheduler.store import Store
from postmast.scheduler.targets import NAME_RE, parse_target
from postmast.scheduler.vault import MASK, SecretsUnreadable, Vault, redact

FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True)
class AccountView:
    """An account as it may be shown: secrets appear as names with a mask."""

    id: int
    network: str
    name: str
    status: str
    status_reason: str | None
    settings: dict[str, Any]
    secrets: dict[str, str]
    created_at: datetime
    notes: list[str] = field(default_factory=list)
    """What the user should know but that did not stop the command (shown on stderr)."""

    @property
    def target(self) -> str:
        return f"{self.network}:{self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "target": self.target,
            "network": self.network,
            "name": self.name,
            "status": self.status,
            "status_reason": self.status_reason,
            "settings": self.settings,
            "secrets": self.secrets,
            "created_at": self.created_at.isoformat(),
        }


@dataclass
class Discovery:
    """What the network said about an account when it was added: cache, session, notes."""

    cache: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def run(
        cls,
        connector: type[Connector],
        settings: Mapping[str, str],
        secrets: Mapping[str, str],
        target: str,
        clock: Clock,
    ) -> Discovery:
        """Ask the network: refused credentials are an error; an unreachable network only a note."""
        instance = connector(settings, HttpClient(connect_timeout=5.0, read_timeout=15.0), clock=clock)
        now = clock()
        try:
            cache = instance.discover(secrets)
        except AuthExpired as exc:
            reason = redact(exc.message, secrets)
            raise UserError(f"{target}: {connector.title} refused the credentials ({reason})") from None
        except ConnectorError as exc:
            reason = redact(exc.message, secrets)
            return cls(
                notes=[
                    f"could not check {target} with {connector.title} ({reason}); "
                    "added anyway, limits are the network's defaults"
                ]
            )
        if cache:
            cache = {**cache, "fetched_at": now.isoformat()}
        return cls(cache, dict(instance.state))


def check_fields(values: Mapping[str, str], what: str) -> None:
    """Keys are identifiers; values are printable text of a sane length (they are shown later)."""
    for key, value in values.items():
        if not FIELD_RE.fullmatch(key):
            raise UserError(f"{what} name {key[:40]!r} is not valid (letters, digits and '_')")
        problems = text_problems(value)
        if problems:
            raise UserError(f"{what} {key!r}: {problems[0].replace('text', 'the value', 1)}")
        if any(c in value for c in "\t\r\n"):
            raise UserError(f"{what} {key!r}: the value contains a tab or a line break")
        if len(value) > 4096:
            raise UserError(f"{what} {key!r} is longer than 4096 characters")


def connector_class(network: str) -> type[Connector]:
    """The connector for `network`; a misspelt name gets "did you mean ...?"."""
    try:
        return get_connector(network)
    except UnknownNetwork as exc:
        close = difflib.get_close_matches(network.lower(), list(available()), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UserError(f"{exc}{hint}") from None


def lifetime_end(cls: type[Connector], now: datetime) -> datetime | None:
    """When credentials stored now end, for a network that fixes their lifetime (LinkedIn)."""
    return now + cls.token_lifetime if cls.token_lifetime is not None else None


def check_name(name: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise UserError(
            f"account name {name!r} is not valid: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def find(session: Session, target: str) -> Account:
    """The live account for `target`, or NotFound naming the accounts that exist."""
    network, name = parse_target(target)
    connector_class(network)
    account = session.scalars(
        select(Account).where(
            Account.network == network, Account.name == name, Account.status != AccountStatus.REMOVED
        )
    ).one_or_none()
    if account is None:
        raise NotFound(f"no account {network}:{name} (see: postmast account list)")
    return account


class Accounts:
    def __init__(self, store: Store, vault: Vault) -> None:
        self.store = store
        self.vault = vault

    def add(
        self,
        network: str,
        name: str,
        settings: Mapping[str, str],
        secrets: Mapping[str, str],
        *,
        discover: bool = False,
        expires_at: datetime | None = None,
    ) -> AccountView:
        """Add an account; with `discover`, first ask the network about it (limits, a session).

        `expires_at` is when the credentials end, when the sign-in said so; else the connector's
        `token_lifetime` from now, if it declares one."""
        network = network.lower()
        cls = connector_class(network)
        check_name(name)
        check_fields(settings, "setting")
        check_fields(secrets, "secret")
        problems = cls.check_settings(settings) + cls.check_secrets(secrets)
        if problems:
            raise UserError(f"{network}:{name}: " + "; ".join(p.message for p in problems))
        clean_secrets = {k: v for k, v in secrets.items() if v}
        now = self.store.now()
        checked = (
            Discovery.run(cls, settings, clean_secrets, f"{network}:{name}", self.store.clock)
            if discover
            else Discovery()
        )
        with self.store.write() as session:
            exists = session.scalar(
                select(func.count())
                .select_from(Account)
                .where(
                    Account.network == network, Account.name == name, Account.status != AccountStatus.REMOVED
                )
            )
            if exists:
                raise Conflict(
                    f"account {network}:{name} already exists; to change its settings or secrets run: "
                    f"postmast account update {network}:{name} --set KEY=VALUE or --secrets"
                )
            account = Account(
                network=network,
                name=name,
                settings=dict(settings),
                secrets=self.vault.encrypt(clean_secrets),
                status=AccountStatus.ACTIVE,
                cache=checked.cache or None,
                session=self.vault.encrypt(checked.state) if checked.state else None,
                expires_at=expires_at or lifetime_end(cls, now),
                created_at=now,
                updated_at=now,
            )
            session.add(account)
            session.flush()
            return replace(self._view(account, clean_secrets), notes=checked.notes)

    def update(
        self,
        target: str,
        settings: Mapping[str, str],
        secrets: Mapping[str, str] | None,
        *,
        discover: bool = False,
        expires_at: datetime | None = None,
    ) -> AccountView:
        """Change settings (`KEY=` removes one) and/or replace the secrets; clears a re-auth flag
        and releases the deliveries held back meanwhile (they are due at once).

        New secrets replace the connector's session; with `discover` the network is asked first.
        Nothing to change (no secrets, settings as they are) is an error: it would only look fixed.
        """
        now = self.store.now()
        with self.store.read() as session:
            current = find(session, target)
            cls = connector_class(current.network)
            merged = {k: v for k, v in {**current.settings, **settings}.items() if v}
            unchanged = secrets is None and merged == {k: v for k, v in current.settings.items() if v}
        if unchanged:
            raise UserError(
                f"{current.target}: nothing to change (the settings given are as they are); "
                "give --set KEY=VALUE, or new secrets with --secrets or --secrets-from-stdin"
            )
        check_fields(settings, "setting")
        if secrets is not None:
            check_fields(secrets, "secret")
        clean = {k: v for k, v in secrets.items() if v} if secrets is not None else None
        problems = cls.check_settings(merged) + (cls.check_secrets(clean) if clean is not None else [])
        if problems:
            raise UserError(f"{current.target}: " + "; ".join(p.message for p in problems))
        checked = Discovery()
        if discover and clean is not None:
            checked = Discovery.run(cls, merged, clean, current.target, self.store.clock)
        with self.store.write() as session:
            account = find(session, target)
            if clean is not None:
                account.secrets = self.vault.encrypt(clean)
                account.session = self.vault.encrypt(checked.state) if checked.state else None
                account.session_version = (account.session_version or 0) + 1
                account.expires_at = expires_at or lifetime_end(cls, now)
                account.renewal_note = None
                if checked.cache:
                    account.cache = checked.cache
            account.settings = merged
            if account.status == AccountStatus.NEEDS_REAUTH:
                account.status, account.status_reason = AccountStatus.ACTIVE, None
            account.updated_at = now
            session.flush()
            release_waiting(session, account.id, now)
            return replace(self._view(account, self._readable(account)), notes=checked.notes)

    def all(self, *, include_removed: bool = False) -> list[AccountView]:
        with self.store.read() as session:
            query = select(Account).order_by(Account.network, Account.name, Account.id)
            if not include_removed:
                query = query.where(Account.status != AccountStatus.REMOVED)
            return [self._view(a, self._readable(a)) for a in session.scalars(query)]

    def _readable(self, account: Account) -> dict[str, str]:
        """Decrypted secrets, or a marker when the key cannot read them (shown masked anyway)."""
        try:
            return self.vault.decrypt(account.secrets)
        except SecretsUnreadable:
            return {"(unreadable with the current key)": "?"}

    def get(self, target: str) -> AccountView:
        with self.store.read() as session:
            account = find(session, target)
            return self._view(account, self._readable(account))

    def remove(self, target: str, *, cancel_pending: bool = False) -> int:
        """Remove an account; its history stays in reports. Returns deliveries cancelled."""
        now = self.store.now()
        with self.store.write() as session:
            account = find(session, target)
            pending = session.execute(
                select(Delivery.id, Delivery.status).where(
                    Delivery.account_id == account.id, Delivery.status.in_([*PENDING, *UNSETTLED])
                )
            ).all()
            if pending and not cancel_pending:
                raise Conflict(
                    f"{account.target} has {len(pending)} pending deliveries; cancel them first "
                    "or pass --cancel-pending"
                )
            blocking = [d for d, s in pending if not allowed(s, Status.CANCELLED)]
            if blocking:
                raise Conflict(
                    f"{account.target} has deliveries being published or with unknown outcome "
                    f"({', '.join(map(str, blocking))}); wait for them or resolve them first"
                )
            for delivery_id, status in pending:
                if not transition(
                    session, delivery_id, status, Status.CANCELLED, now=now, last_error="account removed"
                ):
                    raise Conflict(f"delivery {delivery_id} of {account.target} started meanwhile; try again")
            account.status = AccountStatus.REMOVED
            account.status_reason = f"removed {now.isoformat(timespec='seconds')}"
            account.secrets = self.vault.encrypt({})
            account.updated_at = now
            return len(pending)

    @staticmethod
    def _view(account: Account, secrets: Mapping[str, str]) -> AccountView:
        return AccountView(
            id=account.id,
            network=account.network,
            name=account.name,
            status=account.status,
            status_reason=account.status_reason,
            settings=dict(account.settings),
            secrets={k: MASK for k, v in secrets.items() if v},
            created_at=account.created_at,
        )
