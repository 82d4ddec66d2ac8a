"""Discovery of connectors by scanning this package: a new network is a new module or subpackage.

Every module is imported, and so is every module of every subpackage (a network that needs
several files, e.g. `connectors/x/`); each concrete `Connector` subclass a module *defines*
(with a `name`) is a network. A class a module merely imports (a subpackage's `__init__`
exporting its connector, a helper importing another network's class) is counted once, where
it is defined. Modules of shared machinery define none; `_private` modules are skipped.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterable, Iterator
from functools import cache
from types import ModuleType

from postmast import connectors
from postmast.connectors.base import Connector


class UnknownNetwork(LookupError):
    """Raised when a target names a network no connector module provides."""


def _modules(path: Iterable[str], prefix: str) -> Iterator[ModuleType]:
    """Every public module under `path`, subpackages included, imported (errors are not hidden)."""
    for module_info in pkgutil.iter_modules(path):
        if module_info.name.startswith("_") or f"{prefix}{module_info.name}" == __name__:
            continue
        module = importlib.import_module(f"{prefix}{module_info.name}")
        yield module
        if module_info.ispkg:
            yield from _modules(module.__path__, f"{module.__name__}.")


@cache
def available() -> dict[str, type[Connector]]:
    """Every connector class in the package, keyed by its network name."""
    found: dict[str, type[Connector]] = {}
    for module in _modules(connectors.__path__, f"{connectors.__name__}."):
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
    found = _by_module_name(network)
    if found is not None:
        return found
    try:
        return available()[network]
    except KeyError:
        known = ", ".join(available()) or "none"
        raise UnknownNetwork(f"unknown network {network!r} (known: {known})") from None


def _by_module_name(network: str) -> type[Connector] | None:
    """The connector of the module or subpackage named after `network` (`connectors/fake.py`,
    `connectors/x/`), where one is: naming one network then imports that network only, not all
    of them (some compile large tables at import). None sends the caller to the full scan."""
    if not network.isidentifier() or network.startswith("_"):
        return None
    name = f"{connectors.__name__}.{network}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if (
            issubclass(cls, Connector)
            and not inspect.isabstract(cls)
            and getattr(cls, "name", None) == network
        ):
            return cls
    return None
