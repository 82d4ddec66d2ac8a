"""Sockets that misbehave below HTTP: a refused port, a server that reads the request
and then hangs, closes, resets, or sends half an answer.

`ContractServer` covers faults a well-behaved HTTP server can script; these cover the
transport itself, which is what `connectors.http.HttpClient` classifies.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator

BEHAVIOURS = ("hang", "close", "reset", "truncate")


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it), never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class RawServer:
    """Accepts connections on 127.0.0.1, reads one request each, then misbehaves.

    - `hang`: never answers (until `close`);
    - `close`: closes the socket cleanly (FIN) without a byte of answer;
    - `reset`: aborts the connection (RST);
    - `truncate`: sends a status line and headers promising more body than it sends, then closes.
    """

    def __init__(self, behaviour: str) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(behaviour)
        self.behaviour = behaviour
        self.connections = 0
        self.received: list[bytes] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.port = int(self._sock.getsockname()[1])
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> RawServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stopped.set()
        self._release.set()
        self._thread.join(2)
        self._sock.close()

    def __enter__(self) -> RawServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            request = _read_request(conn)
            with self._lock:
                self.received.append(request)
            if self.behaviour == "hang":
                self._release.wait(30)
            elif self.behaviour == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif self.behaviour == "truncate":
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b'Content-Length: 100\r\n\r\n{"id": "1'
                )
        except OSError:
            pass
        finally:
            conn.close()
