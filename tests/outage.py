"""The job store made unavailable on purpose, for real: PostgreSQL connections refused (a TCP
proxy in front of the server that stops listening and cuts what is open), or a SQLite file
locked by another connection for longer than the busy timeout."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
from collections.abc import Iterator

from sqlalchemy.engine import make_url

from postmast.clock import Clock
from postmast.scheduler.store import Store


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target`; `refuse()` makes connecting fail with ECONNREFUSED
    and drops the connections already open, `accept()` listens again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.listener: socket.socket | None = None
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.accept()

    def accept(self) -> None:
        if self.listener is not None:
            return
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._serve, args=(listener,), daemon=True).start()

    def refuse(self) -> None:
        with self.lock:
            listener, self.listener = self.listener, None
            sockets, self.open = self.open, set()
        if listener is not None:
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                if self.listener is not listener:
                    client.close()
                    server.close()
                    return
                self.open |= {client, server}
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class Outage:
    """A second handle on a test's store that can be made unavailable: `store` is the handle (give
    it to the worker), `down()` and `up()` switch the outage."""

    def __init__(self, database_url: str, clock: Clock) -> None:
        self.database_url = database_url
        self.proxy: TcpProxy | None = None
        self.lock: sqlite3.Connection | None = None
        if database_url.startswith("sqlite"):
            # SQLite waits this long for a lock before "database is locked"
            self.store = Store(database_url, clock=clock, busy_timeout=0.2)
        else:
            url = make_url(database_url)
            self.proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
            proxied = url.set(host="127.0.0.1", port=self.proxy.port).render_as_string(hide_password=False)
            self.store = Store(proxied, clock=clock)

    def down(self) -> None:
        if self.proxy is not None:
            self.proxy.refuse()
            return
        path = make_url(self.database_url).database
        assert path
        self.lock = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.lock.execute("BEGIN EXCLUSIVE")

    def up(self) -> None:
        if self.proxy is not None:
            self.proxy.accept()
            return
        if self.lock is not None:
            self.lock.execute("ROLLBACK")
            self.lock.close()
            self.lock = None

    @contextlib.contextmanager
    def during(self) -> Iterator[None]:
        self.down()
        try:
            yield
        finally:
            self.up()

    def close(self) -> None:
        self.up()
        self.store.dispose()
        if self.proxy is not None:
            self.proxy.refuse()
