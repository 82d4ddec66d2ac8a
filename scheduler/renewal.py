"""Renewing credentials ahead of their end, and warning where they cannot be renewed.

Every few minutes (a thread of `postmast scheduler`, like the notifier) each active account
whose credentials end within its connector's `refresh_margin` is renewed with
`Connector.refresh` (an OAuth 2.0 refresh token; a connector may declare its own way):

- renewed: the new secrets and end are stored by compare-and-set on the old encrypted
  blob, so two schedulers renewing at once keep one answer and nothing overwrites a person's
  `account update`;
- cannot be renewed (LinkedIn's 60-day tokens, a token without a refresh token): the
  account's `renewal_note` says so, which `scheduler.incidents` turns into one `expiring`
  incident (one notice) until someone signs in again; past its end, the account is flagged;
- refused by the network: the account is flagged `needs_reauth` by compare-and-set from
  `active`; only the scheduler that flips the flag logs it, and the `needs_reauth` incident
  is the one notice;
- the network did not answer: tried again next round.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from postmast.connectors import AuthExpired, ConnectorError, get_connector
from postmast.connectors.base import insecure_endpoints
from postmast.connectors.http import HttpClient
from postmast.connectors.registry import UnknownNetwork
from postmast.scheduler.models import Account, AccountStatus
from postmast.scheduler.store import Store
from postmast.scheduler.vault import SecretsUnreadable, Vault, redact

log = logging.getLogger("postmast.scheduler")

LOOK_AHEAD = timedelta(days=60)
"""Accounts ending within this long are considered (each connector's margin decides)."""


@dataclass
class Round:
    """What one round did, by target."""

    renewed: list[str] = field(default_factory=list)
    noted: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Renewer:
    """Renews credentials ahead of their end, every `every` seconds, in its own thread."""

    def __init__(self, store: Store, vault: Vault, *, every: float = 300.0) -> None:
        self.store = store
        self.vault = vault
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="postmast-renewal", daemon=True)

    def run_once(self) -> Round:
        now = self.store.now()
        with self.store.read() as session:
            due = list(
                session.scalars(
                    select(Account)
                    .where(
                        Account.status == AccountStatus.ACTIVE,
                        Account.expires_at.is_not(None),
                        Account.expires_at <= now + LOOK_AHEAD,
                    )
                    .order_by(Account.expires_at)
                )
            )
            session.expunge_all()
        done = Round()
        for account in due:
            try:
                cls = get_connector(account.network)
            except UnknownNetwork:
                continue
            if account.expires_at is None or account.expires_at - now > cls.refresh_margin:
                continue
            self._renew(account, cls, now, done)
        return done

    def _renew(self, account: Account, cls: Any, now: datetime, done: Round) -> None:
        target = account.target
        if insecure_endpoints(account.settings):
            return
        try:
            secrets = self.vault.decrypt(account.secrets)
        except SecretsUnreadable:
            done.failed.append(target)
            return
        connector = cls(
            account.settings,
            HttpClient(connect_timeout=5.0, read_timeout=15.0),
            cache=account.cache,
            clock=self.store.clock,
        )
        try:
            renewal = connector.refresh(secrets)
        except AuthExpired as exc:
            self._flag(account, f"its token could not be renewed: {redact(exc.message, secrets)}", now, done)
            return
        except ConnectorError as exc:
            log.warning("account %s: could not renew its token (%s); trying again later", target, exc.message)
            done.failed.append(target)
            return
        expires = account.expires_at
        if renewal is None:
            assert expires is not None
            if expires <= now:
                self._flag(
                    account, f"its credentials expired {expires.isoformat(timespec='minutes')}", now, done
                )
                return
            note = (
                f"{cls.title} credentials of {target} expire {expires.isoformat(timespec='minutes')} and "
                "cannot be renewed by postmast; sign in again with: "
                f"postmast account update {target} --secrets"
            )
            if account.renewal_note != note:
                with self.store.write() as session:
                    session.execute(update(Account).where(Account.id == account.id).values(renewal_note=note))
                done.noted.append(target)
            return
        new_end = renewal.expires_at or (now + cls.token_lifetime if cls.token_lifetime else None)
        with self.store.write() as session:
            won = session.execute(
                update(Account)
                .where(
                    Account.id == account.id,
                    Account.secrets == account.secrets,
                    Account.status == AccountStatus.ACTIVE,
                )
                .values(
                    secrets=self.vault.encrypt(renewal.secrets),
                    expires_at=new_end,
                    renewal_note=None,
                    updated_at=now,
                )
            ).rowcount  # type: ignore[attr-defined]
        if won:
            log.info(
                "account %s: token renewed (until %s)", target, new_end.isoformat() if new_end else "unknown"
            )
            done.renewed.append(target)

    def _flag(self, account: Account, reason: str, now: datetime, done: Round) -> None:
        with self.store.write() as session:
            flipped = session.execute(
                update(Account)
                .where(Account.id == account.id, Account.status == AccountStatus.ACTIVE)
                .values(status=AccountStatus.NEEDS_REAUTH, status_reason=reason[:500], updated_at=now)
            ).rowcount  # type: ignore[attr-defined]
        if flipped:  # one notice per incident: only the scheduler that flipped the flag says it
            log.error(
                "account %s needs re-authorisation: %s (fix with: postmast account update %s --secrets)",
                account.target,
                reason,
                account.target,
            )
            done.flagged.append(account.target)

    def _run(self) -> None:
        while True:
            try:
                self.run_once()
            except Exception:
                log.exception("renewing tokens failed; trying again in %gs", self.every)
            if self._stop.wait(self.every):
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
