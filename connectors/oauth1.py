"""OAuth 1.0a request signing with HMAC-SHA1 (RFC 5849), as X's user-context auth uses it.

Written from the RFC: percent-encoding §3.6, the signature base string §3.4.1
(base string URI §3.4.1.2, parameter sources §3.4.1.3.1, normalization §3.4.1.3.2),
the HMAC-SHA1 key and digest §3.4.2, and the `Authorization: OAuth ...` header
§3.5.1. X documents the same steps ("Creating a signature", docs.x.com).

Only the query string and an `application/x-www-form-urlencoded` body are signed
(§3.4.1.3.1): a JSON or multipart body is not part of the signature, so callers pass
just the query parameters. The nonce source and the clock (a `postmast.clock.Clock`: the
connector passes its own) are injectable; tests pin them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from postmast.clock import Clock, system

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_DEFAULT_PORTS = {"http": 80, "https": 443}

Pairs = Sequence[tuple[str, str]]


def percent_encode(value: str) -> str:
    """RFC 5849 §3.6: UTF-8, then every octet outside ALPHA / DIGIT / "-" "." "_" "~" as %XX (uppercase)."""
    return "".join(chr(octet) if octet in _UNRESERVED else f"%{octet:02X}" for octet in value.encode("utf-8"))


def base_string_uri(url: str) -> str:
    """RFC 5849 §3.4.1.2: scheme and host in lowercase, the port only when not the default, no query."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("OAuth 1.0a signs absolute http(s) URLs only")
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = parts.port
    authority = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return f"{scheme}://{authority}{parts.path or '/'}"


def query_parameters(url: str) -> list[tuple[str, str]]:
    """The query of `url` decoded as application/x-www-form-urlencoded (§3.4.1.3.1: `+` is a space)."""
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def normalize_parameters(params: Iterable[tuple[str, str]]) -> str:
    """RFC 5849 §3.4.1.3.2: encode names and values, sort by name then value (bytes), join."""
    encoded = sorted((percent_encode(name), percent_encode(value)) for name, value in params)
    return "&".join(f"{name}={value}" for name, value in encoded)


def signature_base_string(method: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """RFC 5849 §3.4.1.1: METHOD & encoded base string URI & encoded normalized parameters.

    `params` are every signed parameter (query, form body, `oauth_*` protocol parameters)
    except `oauth_signature` and `realm`; `url`'s own query is not read here.
    """
    return "&".join(
        (
            percent_encode(method.upper()),
            percent_encode(base_string_uri(url)),
            percent_encode(normalize_parameters(params)),
        )
    )


def hmac_sha1(base_string: str, consumer_secret: str, token_secret: str = "") -> str:
    """RFC 5849 §3.4.2: HMAC-SHA1 keyed with `encode(consumer secret) & encode(token secret)`, base64."""
    key = f"{percent_encode(consumer_secret)}&{percent_encode(token_secret)}"
    digest = hmac.new(key.encode("ascii"), base_string.encode("ascii"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def authorization_header(protocol: Iterable[tuple[str, str]], realm: str | None = None) -> str:
    """RFC 5849 §3.5.1: `OAuth name="value", ...` with names and values percent-encoded."""
    items = [f'realm="{realm}"'] if realm is not None else []
    items += [f'{percent_encode(name)}="{percent_encode(value)}"' for name, value in protocol]
    return "OAuth " + ", ".join(items)


def parse_authorization(header: str) -> list[tuple[str, str]]:
    """The decoded parameters of an `Authorization: OAuth ...` header (`realm` included).

    Raises `ValueError` when the header is not an OAuth header or a parameter is malformed.
    """
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "oauth":
        raise ValueError("not an OAuth Authorization header")
    found = []
    for item in rest.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        value = value.strip()
        if not sep or len(value) < 2 or not (value.startswith('"') and value.endswith('"')):
            raise ValueError("malformed OAuth parameter")
        found.append((unquote(name.strip()), unquote(value[1:-1])))
    return found


def new_nonce() -> str:
    """A random nonce: 128 bits as hex (unreserved characters only)."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class OAuth1Signer:
    """Signs requests for one app (consumer) acting for one user (token), with HMAC-SHA1."""

    consumer_key: str
    consumer_secret: str = field(repr=False)
    token: str
    token_secret: str = field(repr=False)
    nonce: Callable[[], str] = new_nonce
    clock: Clock = system

    def protocol_parameters(
        self, *, nonce: str | None = None, timestamp: str | None = None
    ) -> list[tuple[str, str]]:
        """The `oauth_*` parameters of one request, before its signature (§3.1)."""
        return [
            ("oauth_consumer_key", self.consumer_key),
            ("oauth_nonce", nonce if nonce is not None else self.nonce()),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", timestamp if timestamp is not None else str(int(self.clock().timestamp()))),
            ("oauth_token", self.token),
            ("oauth_version", "1.0"),
        ]

    def sign(
        self,
        method: str,
        url: str,
        form: Pairs = (),
        *,
        nonce: str | None = None,
        timestamp: str | None = None,
    ) -> list[tuple[str, str]]:
        """The protocol parameters with `oauth_signature`, for a request to `url` (its query is signed)
        whose form-encoded body holds `form` (leave it empty for JSON and multipart bodies)."""
        protocol = self.protocol_parameters(nonce=nonce, timestamp=timestamp)
        base = signature_base_string(method, url, [*query_parameters(url), *form, *protocol])
        return [*protocol, ("oauth_signature", hmac_sha1(base, self.consumer_secret, self.token_secret))]

    def authorization(
        self,
        method: str,
        url: str,
        form: Pairs = (),
        *,
        nonce: str | None = None,
        timestamp: str | None = None,
    ) -> str:
        """The `Authorization` header value for one request."""
        return authorization_header(self.sign(method, url, form, nonce=nonce, timestamp=timestamp))
