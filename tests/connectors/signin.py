"""The test's browser for `account connect` run in-process (`scheduler.connect.Connection`): it
loads the sign-in address, where the contract server consents at once and answers 302, and
follows that redirect to postmast's loopback server, as a browser would."""

from __future__ import annotations

import socket

import requests

from postmast.scheduler.connect import Callback, Terminal


class Browser:
    """A `Terminal` whose user signs in with a browser; it keeps the address it was shown."""

    def __init__(self, client_secret: str = "") -> None:
        self.client_secret = client_secret
        self.shown: list[str] = []
        self.asked: list[str] = []
        self.terminal = Terminal(self.shown.append, self._wait, self._ask)

    def _ask(self, name: str, _help: str) -> str:
        self.asked.append(name)
        return self.client_secret

    def _wait(self, callback: Callback) -> str:
        consent = requests.get(self.shown[-1], allow_redirects=False, timeout=10)
        assert consent.status_code == 302, consent.text
        page = requests.get(consent.headers["Location"], timeout=10)
        assert page.status_code == 200 and "Signed in" in page.text
        assert callback.received.wait(10)
        assert callback.redirect is not None
        return callback.redirect


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
