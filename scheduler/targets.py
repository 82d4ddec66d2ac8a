"""Account targets as users write them (`network:name`): the syntax only, no lookup.

Apart from `accounts` because listing and filtering deliveries (`postmast queue`) need the
syntax but not what `accounts` loads (the connectors' HTTP stack, the vault's cryptography).
"""

from __future__ import annotations

import re

from postmast.scheduler.errors import UserError

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
NETWORK_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")


def parse_target(target: str) -> tuple[str, str]:
    """`network:name` -> (network, name), with a clear error for anything no account can be."""
    network, sep, name = target.partition(":")
    if not sep or not NETWORK_RE.fullmatch(network) or not NAME_RE.fullmatch(name):
        raise UserError(f"target {target!r} must look like NETWORK:NAME, e.g. mastodon:brand")
    return network.lower(), name
