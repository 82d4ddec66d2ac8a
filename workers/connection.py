"""A connector bound to one account for one task: credentials, session state and cache.

The worker is the only place secrets are decrypted. A connector may change its
session state (e.g. refreshed tokens) or learn public facts (an instance's limits);
both are written back after the call, the session encrypted and compare-and-set on
its version so two workers refreshing at once cannot clobber a newer session.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import update

from postmast.clock import Clock
from postmast.connectors import Connector
from postmast.connectors.base import insecure_endpoints
from postmast.connectors.http import HttpClient
from postmast.scheduler.config import Timings
from postmast.scheduler.errors import ConfigError
from postmast.scheduler.models import Account
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault

log = logging.getLogger("postmast.worker")

ConnectorFactory = Callable[[str], type[Connector]]


class InsecureEndpoint(ConfigError):
    """Raised when an account's endpoint is plain http:// to another machine and not allowed."""


class Sessions:
    """One `requests.Session` per account, kept by this worker process: the next delivery of
    the account reuses its open TCP (and TLS) connections instead of opening new ones.

    Only connections are carried over: cookies are cleared at every checkout, so a task sees
    what a fresh session would show it. A session idle for more than `idle` seconds is not
    reused: a server closes an idle connection after a few seconds (Node's default is 5 s),
    and a request sent as it does would fail mid-way, its outcome unknown. One delivery per
    account is in flight at a time, so no two tasks share a session. A forked child starts
    with none of its parent's sockets; past `size` accounts the least recently used session
    is dropped (and closed by the collector once no task holds it), so memory stays flat.
    """

    def __init__(self, size: int = 256, idle: float = 4.0) -> None:
        self.size = size
        self.idle = idle
        self._kept: OrderedDict[int, tuple[requests.Session, float]] = OrderedDict()
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def get(self, account_id: int) -> requests.Session:
        now = time.monotonic()
        with self._lock:
            if self._pid != os.getpid():
                self._kept, self._pid = OrderedDict(), os.getpid()
            session, used = self._kept.pop(account_id, (None, 0.0))
            if session is None or now - used > self.idle:
                session = requests.Session()
            else:
                session.cookies.clear()
            self._kept[account_id] = (session, now)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
            return session


SESSIONS = Sessions()


@dataclass
class Connection:
    """An open connector for one account, and what to write back when done."""

    connector: Connector
    credentials: dict[str, str] = field(repr=False)
    account_id: int
    session_version: int
    _session_before: str = field(repr=False)
    _cache_before: str = ""

    def refresh_cache(self, now: datetime, max_age: timedelta = timedelta(days=1)) -> None:
        """Ask the network again for the account's public facts when they are a day old."""
        connector = self.connector
        if type(connector).discover is Connector.discover:
            return
        fetched = connector.cache.get("fetched_at")
        try:
            if fetched and now - datetime.fromisoformat(fetched) < max_age:
                return
        except (TypeError, ValueError):
            pass
        try:
            found = connector.discover(self.credentials)
        except Exception as exc:  # stale limits are better than no post
            log.info(
                "account %s: could not refresh what the network says about it (%s)",
                self.account_id,
                type(exc).__name__,
            )
            return
        if found:
            connector.cache = {**found, "fetched_at": now.isoformat()}

    def save(self, store: Store, vault: Vault, now: datetime) -> None:
        """Persist a changed session (compare-and-set on its version) and a changed cache."""
        session_now = json.dumps(dict(self.connector.state), sort_keys=True)
        cache_now = json.dumps(self.connector.cache, sort_keys=True)
        if session_now == self._session_before and cache_now == self._cache_before:
            return
        with store.write() as db:
            if session_now != self._session_before:
                won = db.execute(
                    update(Account)
                    .where(Account.id == self.account_id, Account.session_version == self.session_version)
                    .values(
                        session=vault.encrypt(dict(self.connector.state)),
                        session_version=self.session_version + 1,
                        updated_at=now,
                    )
                ).rowcount  # type: ignore[attr-defined]
                if won:
                    self.session_version += 1
                    self._session_before = session_now
                else:
                    log.info(
                        "account %s: another worker saved a newer session; keeping theirs", self.account_id
                    )
            if cache_now != self._cache_before:
                db.execute(
                    update(Account).where(Account.id == self.account_id).values(cache=self.connector.cache)
                )
                self._cache_before = cache_now


def open_connection(
    account: Account,
    vault: Vault,
    timings: Timings,
    connectors: ConnectorFactory,
    *,
    clock: Clock,
    started: float | None = None,
) -> Connection:
    """Decrypt the account's secrets and session and build its connector with the task's deadline
    and the store's clock (a connector's "now" is the store's).

    Raises `scheduler.vault.SecretsUnreadable` when the key cannot decrypt them, and
    `InsecureEndpoint` when the account would send them in clear text without having been
    allowed to (`postmast account update --allow-insecure`).
    """
    insecure = insecure_endpoints(account.settings)
    if insecure:
        raise InsecureEndpoint(f"{account.target}: {insecure[0].message}")
    credentials = vault.decrypt(account.secrets)
    state: dict[str, Any] = vault.decrypt_any(account.session) if account.session else {}
    begin = started if started is not None else time.monotonic()
    http = HttpClient(
        connect_timeout=timings.connect_timeout,
        read_timeout=timings.http_timeout,
        deadline=begin + timings.task_time_limit - 1.0,
        session=SESSIONS.get(account.id),
    )
    connector = connectors(account.network)(
        account.settings, http, cache=account.cache or {}, state=state, clock=clock
    )
    return Connection(
        connector,
        credentials,
        account.id,
        account.session_version or 0,
        json.dumps(state, sort_keys=True),
        json.dumps(connector.cache, sort_keys=True),
    )
