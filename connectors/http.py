"""HTTP for connectors: timeouts the worker chose, and transport failures classified.

The one question that matters for "never post twice" is whether a failed request may
have reached the network. A refused or timed-out *connect* certainly did not; a read
timeout or a connection dropped mid-exchange may have, so it becomes `OutcomeUnknown`.
Error messages name the host only: some networks put secrets in the URL path.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from postmast.connectors.errors import OutcomeUnknown, PermanentError, TransientError

USER_AGENT = "postmast/0.1 (+https://github.com/postmast/postmast)"


def host_of(url: str) -> str:
    """The host[:port] of `url`: safe to print, unlike paths and query strings."""
    return urlsplit(url).netloc.rsplit("@", 1)[-1] or "?"


def _never_sent(exc: requests.ConnectionError) -> bool:
    """True when the connection failed before any byte of the request was sent."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason: Any = exc.args[0] if exc.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    return isinstance(
        reason,
        urllib3.exceptions.NewConnectionError
        | urllib3.exceptions.NameResolutionError
        | urllib3.exceptions.ConnectTimeoutError,
    )


class HttpClient:
    """A `requests` session with connect/read timeouts and an optional overall deadline.

    `deadline` is a `time.monotonic()` value: the worker's time limit for the whole
    publish. A request that would start after it is not sent (`TransientError`).
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        deadline: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.deadline = deadline
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT

    def _timeout(self, host: str) -> tuple[float, float]:
        if self.deadline is None:
            return (self.connect_timeout, self.read_timeout)
        left = self.deadline - time.monotonic()
        if left <= 0.5:
            raise TransientError(f"time limit reached before sending to {host}")
        return (min(self.connect_timeout, left), min(self.read_timeout, left))

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        host = host_of(url)
        timeout = self._timeout(host)
        try:
            return self.session.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
        except requests.ConnectionError as exc:
            if _never_sent(exc):
                raise TransientError(f"could not connect to {host}") from None
            raise OutcomeUnknown(
                f"connection to {host} broke during the request; it may have been accepted"
            ) from None
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.InvalidHeader,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
            requests.exceptions.InvalidJSONError,
        ) as exc:
            # Raised while preparing the request: nothing was sent.
            raise PermanentError(f"request to {host} could not be built ({type(exc).__name__})") from None
        except requests.Timeout:
            raise OutcomeUnknown(
                f"no answer from {host} within {timeout[1]:g}s; the request may have been accepted"
            ) from None
        except requests.RequestException as exc:
            raise OutcomeUnknown(f"request to {host} failed ({type(exc).__name__})") from None

    def pause(self, seconds: float, why: str) -> None:
        """Wait between polls (e.g. while a network processes an uploaded video).

        Connectors never sleep on their own: this waits only within the worker's
        deadline, and raises `TransientError` (nothing sent) when the wait would pass it.
        """
        if self.deadline is not None and time.monotonic() + seconds > self.deadline - 1.0:
            raise TransientError(f"time limit reached while waiting: {why}")
        time.sleep(max(0.0, seconds))

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", url, **kwargs)


def json_or_none(response: requests.Response) -> Any:
    """The response's JSON body, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def short_body(response: requests.Response, limit: int = 300) -> str:
    """A short, single-line excerpt of a response body for error messages."""
    text = " ".join(response.text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
