"""Discovery of connectors by scanning the package: a new network is a new module or subpackage."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from postmast import connectors
from postmast.connectors.base import Connector
from postmast.connectors.content import Option
from postmast.connectors.mastodon import Mastodon
from postmast.connectors.registry import UnknownNetwork, available, get_connector
from postmast.connectors.webhook import Webhook
from postmast.connectors.x import X

INFRASTRUCTURE = {"base", "content", "errors", "http", "text", "ratelimit", "oauth1"}


@pytest.fixture
def clean_registry() -> Iterator[None]:
    available.cache_clear()
    yield
    available.cache_clear()


def test_finds_the_shipped_networks(clean_registry: None) -> None:
    found = available()
    assert found["webhook"] is Webhook
    assert found["mastodon"] is Mastodon
    assert list(found) == sorted(found)


def test_modules_of_shared_machinery_are_not_networks(clean_registry: None) -> None:
    found = available()
    assert not set(found) & INFRASTRUCTURE
    assert not {cls.__module__.rsplit(".", 1)[-1] for cls in found.values()} & INFRASTRUCTURE
    modules = {m.name for m in pkgutil.iter_modules(connectors.__path__) if not m.name.startswith("_")}
    assert modules >= INFRASTRUCTURE  # the check above looks at modules that exist


def test_every_connector_has_a_complete_manifest(clean_registry: None) -> None:
    for name, cls in available().items():
        assert issubclass(cls, Connector) and not inspect.isabstract(cls)
        assert cls.name == name and name.isidentifier() and name == name.lower()
        assert cls.title and cls.setup
        assert isinstance(cls.max_length, int) and cls.max_length > 0
        field_names = [f.name for f in cls.settings_fields + cls.secret_fields]
        assert len(field_names) == len(set(field_names)), name
        assert all(f.secret for f in cls.secret_fields), name
        assert not any(f.secret for f in cls.settings_fields), name
        option_names = [o.name for o in cls.options]
        assert all(isinstance(o, Option) and o.help for o in cls.options), name
        assert len(option_names) == len(set(option_names)), name


def test_finds_the_networks_of_subpackages_once_where_defined(clean_registry: None) -> None:
    found = available()
    assert found["x"] is X and X.__module__ == "postmast.connectors.x.connector"
    assert found["bluesky"].__module__ == "postmast.connectors.bluesky.connector"
    assert found["mastodon"].__module__ == "postmast.connectors.mastodon.connector"
    assert list(found) == [
        "bluesky",
        "discord",
        "facebook",
        "fake",
        "google_business",
        "instagram",
        "linkedin",
        "mastodon",
        "pinterest",
        "reddit",
        "slack",
        "telegram",
        "threads",
        "webhook",
        "x",
    ]


def test_get_connector(clean_registry: None) -> None:
    assert get_connector("mastodon") is Mastodon
    assert get_connector("webhook") is Webhook


@pytest.mark.parametrize("name", ["nope", "Mastodon", "base", "registry", ""])
def test_unknown_network_lists_the_known_ones(clean_registry: None, name: str) -> None:
    with pytest.raises(UnknownNetwork) as caught:
        get_connector(name)
    message = str(caught.value)
    assert repr(name) in message
    assert "mastodon" in message and "webhook" in message
    assert isinstance(caught.value, LookupError)


# -- a module dropped into the package ---------------------------------------------------------------


@pytest.fixture
def extra_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], None]]:
    """Write modules into a second directory of the `connectors` package for the scan to find."""
    before = set(sys.modules)
    monkeypatch.setattr(connectors, "__path__", [*connectors.__path__, str(tmp_path)])
    available.cache_clear()

    def add(name: str, source: str) -> None:
        """`name` is a module (`fakenet`) or a module of a subpackage (`fakepkg/network`)."""
        path = tmp_path / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        importlib.invalidate_caches()

    yield add
    for module in set(sys.modules) - before:
        if module.startswith("postmast.connectors."):
            del sys.modules[module]
    available.cache_clear()


FAKENET = """
    from postmast.connectors import Connector, PublishResult
    from postmast.connectors.webhook import Webhook  # imported, not defined here: must not count twice


    class Half(Connector):  # abstract: must not count
        name = "half"


    class Fakenet(Connector):
        name = "fakenet"
        title = "Fake network"
        max_length = 42
        setup = "nothing to set up"

        def payload(self, content):
            return {"text": content.text}

        def publish(self, content, credentials, idempotency_key):
            return PublishResult(idempotency_key, None)
"""


def test_a_new_module_is_discovered(extra_modules: Callable[[str, str], None]) -> None:
    extra_modules("fakenet", FAKENET)
    found = available()
    assert {"fakenet", "mastodon", "webhook"} <= set(found)
    assert found["fakenet"].__module__ == "postmast.connectors.fakenet"
    assert found["fakenet"].max_length == 42
    assert "half" not in found
    assert found["webhook"] is Webhook
    assert get_connector("fakenet") is found["fakenet"]


def test_the_scan_result_is_cached_until_cleared(extra_modules: Callable[[str, str], None]) -> None:
    first = available()
    extra_modules("fakenet", FAKENET)
    assert "fakenet" not in available()  # cached
    assert first == available()
    available.cache_clear()
    assert "fakenet" in available()


def test_private_modules_are_skipped(extra_modules: Callable[[str, str], None]) -> None:
    extra_modules("_draftnet", FAKENET.replace('"fakenet"', '"draftnet"'))
    assert "draftnet" not in available()
    assert "postmast.connectors._draftnet" not in sys.modules


def test_two_connectors_claiming_one_name_is_an_error(extra_modules: Callable[[str, str], None]) -> None:
    extra_modules("fakenet", FAKENET)
    extra_modules("fakenet_copy", FAKENET)
    with pytest.raises(RuntimeError, match="fakenet"):
        available()


def test_a_module_claiming_a_shipped_name_is_an_error(extra_modules: Callable[[str, str], None]) -> None:
    extra_modules("mastodon2", FAKENET.replace('"fakenet"', '"mastodon"'))
    with pytest.raises(RuntimeError, match="mastodon"):
        available()


def test_a_new_subpackage_is_discovered_once(extra_modules: Callable[[str, str], None]) -> None:
    extra_modules("fakepkg/network", FAKENET)
    extra_modules(
        "fakepkg/helpers", "from postmast.connectors.fakepkg.network import Fakenet  # imported again\n"
    )
    extra_modules(
        "fakepkg/__init__",
        "from postmast.connectors.fakepkg.network import Fakenet\n\n__all__ = ['Fakenet']\n",
    )
    found = available()  # three modules hold Fakenet: counted once, where it is defined
    assert found["fakenet"].__module__ == "postmast.connectors.fakepkg.network"
    assert {"fakenet", "mastodon", "webhook", "x"} <= set(found) and "half" not in found
    assert get_connector("fakenet") is found["fakenet"]


def test_private_modules_of_a_subpackage_are_skipped(extra_modules: Callable[[str, str], None]) -> None:
    extra_modules("fakepkg/__init__", "")
    extra_modules("fakepkg/_draft", FAKENET)
    assert "fakenet" not in available()
    assert "postmast.connectors.fakepkg._draft" not in sys.modules


def test_a_broken_subpackage_is_an_error_not_a_silent_gap(extra_modules: Callable[[str, str], None]) -> None:
    extra_modules("fakepkg/__init__", "")
    extra_modules("fakepkg/network", "import postmast.connectors.no_such_module\n")
    with pytest.raises(ImportError):
        available()


def test_naming_a_network_finds_the_class_the_scan_finds(clean_registry: None) -> None:
    for name, cls in available().items():
        assert get_connector(name) is cls, name


def test_naming_a_network_imports_that_network_only() -> None:
    """`get_connector` tries the module named after the network before scanning every module."""
    probe = (
        "import sys\n"
        "from postmast.connectors.registry import get_connector\n"
        "get_connector('fake')\n"
        "print(sorted(m for m in sys.modules if m.startswith('postmast.connectors.x')"
        " or m.startswith('postmast.connectors.mastodon')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
    # and the probe can fail: a name that is no module is found by the full scan, which imports all
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            probe.replace(
                "get_connector('fake')",
                "import contextlib\nwith contextlib.suppress(LookupError):\n    get_connector('nosuch')",
            ),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "postmast.connectors.x" in done.stdout
