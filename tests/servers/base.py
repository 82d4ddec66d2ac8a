"""A small threaded HTTP server for contract servers: request log, scripted faults.

Each network's contract server subclasses `ContractServer` and implements `handle`.
Faults are scripted per request (`inject`): an HTTP status with headers and body,
a delay before or after the request is processed, or holding the response until
the test releases it (to kill a worker while its request is in flight).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    client: tuple[str, int] = ("", 0)
    """The client's address and port: one TCP connection reused keeps its port."""

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


@dataclass
class Fault:
    """What to do to one matching request instead of (or around) normal handling.

    - `response`: answer this instead, without processing the request;
    - `after_processing`: process normally, then answer `response` (the post exists!);
    - `hold`: process normally, then wait for `release` before answering (or drop);
    - `drop`: close the connection without an answer (after processing if `after_processing`).
    """

    match: Callable[[Request], bool] = lambda r: True
    response: Response | None = None
    after_processing: bool = False
    delay: float = 0.0
    hold: threading.Event | None = None
    drop: bool = False


class ContractServer:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self.server: ThreadingHTTPServer | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self, port: int = 0) -> ContractServer:
        """Serve on 127.0.0.1 at `port` (0: a free one; `url` says which)."""
        contract = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    dict(self.headers.items()),
                    body,
                    (str(self.client_address[0]), int(self.client_address[1])),
                )
                contract._dispatch(self, request)

            do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 (names http.server dispatches to)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        # a short poll interval: `stop` waits up to one interval, and tests start many servers
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    # -- faults -------------------------------------------------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def _take_fault(self, request: Request) -> Fault | None:
        with self.lock:
            for index, fault in enumerate(self.faults):
                if fault.match(request):
                    return self.faults.pop(index)
        return None

    # -- serving ------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def _dispatch(self, handler: BaseHTTPRequestHandler, request: Request) -> None:
        with self.lock:
            self.requests.append(request)
        fault = self._take_fault(request)
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.response is not None and not fault.after_processing:
            self._write(handler, fault.response)
            return
        if fault and fault.drop and not fault.after_processing:
            handler.close_connection = True
            return
        response = self.handle(request)
        if fault and fault.hold is not None:
            fault.hold.wait(60)
        if fault and fault.drop:
            handler.close_connection = True
            return
        if fault and fault.response is not None:
            response = fault.response
        self._write(handler, response)

    @staticmethod
    def _write(handler: BaseHTTPRequestHandler, response: Response) -> None:
        raw = (
            response.raw
            if response.raw is not None
            else (b"" if response.body is None else json.dumps(response.body).encode("utf-8"))
        )
        try:
            handler.send_response(response.status)
            headers = {"Content-Type": "application/json; charset=utf-8", **response.headers}
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(raw)))
            handler.end_headers()
            handler.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
