"""Discovery of connectors by scanning this package: a new network is a new module.

Every module is imported and every concrete `Connector` subclass it defines (with a
`name`) is a network; modules of shared machinery simply define none.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import cache

from postmast import connectors
from postmast.connectors.base import Connector


class UnknownNetwork(LookupError):
    """Raised when a target names a network no connector module provides."""


@cache
def available() -> dict[str, type[Connector]]:
    """Every connector class in the package, keyed by its network name."""
    found: dict[str, type[Connector]] = {}
    for module_info in pkgutil.iter_modules(connectors.__path__):
        if module_info.name.startswith("_") or module_info.name == "registry":
            continue
        module = importlib.import_module(f"{connectors.__name__}.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, Connector)
                and cls.__module__ == module.__name__
                and not inspect.isabstract(cls)
                and getattr(cls, "name", None)
            ):
                if cls.name in found:
                    raise RuntimeError(f"two connectors claim the network name {cls.name!r}")
                found[cls.name] = cls
    return dict(sorted(found.items()))


def get_connector(network: str) -> type[Connector]:
    """The connector class for `network`, or `UnknownNetwork` with the list of known ones."""
    try:
        return available()[network]
    except KeyError:
        known = ", ".join(available()) or "none"
        raise UnknownNetwork(f"unknown network {network!r} (known: {known})") from None
