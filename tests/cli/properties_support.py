"""Shared parts of the property tests of the `postmast` command line (`test_cli_properties*.py`).

Every run (in-process, SQLite) ends with exit code 0 and sensible output, or a non-zero code with
exactly one line on stderr starting `postmast: error:` (no traceback, no "internal error", no
control character from the input) and the tables as they were. Arguments are what a real process
can receive: no NUL, and only the lone surrogates that undecodable bytes become (U+DC80-U+DCFF).
"""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.cli.conftest import Cli
from tests.conftest import CliResult
from tests.factories import tiny_png
from tests.scheduler.properties_support import LATENESS, TEXT, WHEN_TEXT, ZONE_NAME, label, mostly

PROPERTY = settings(
    max_examples=int(os.environ.get("POSTMAST_PROPERTY_EXAMPLES", "40")),  # more for a deeper search
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
TEAM, BIG, BRAND = "webhook:team", "webhook:big", "mastodon:brand"


def argv_safe(text: str) -> str:
    """What a real process could receive: no NUL; a lone surrogate only from an undecodable byte."""
    return "".join(
        "\udcff" if 0xD800 <= ord(c) <= 0xDFFF and not 0xDC80 <= ord(c) <= 0xDCFF else c
        for c in text.replace("\x00", "")
    )


ARG = TEXT.map(argv_safe)


def check(result: CliResult, before: dict[str, int], after: dict[str, int]) -> bool:
    """A clean success (True) or a clean one-line refusal with nothing written (False)."""
    assert "Traceback" not in result.out + result.err, result
    label("success" if result.code == 0 else "refused")
    if result.code == 0:
        assert all(line.startswith("postmast: note: ") for line in result.err.splitlines()), result
        return True
    assert result.err.endswith("\n") and result.err.count("\n") == 1, result
    line = result.err[:-1]
    assert line.startswith("postmast: error: ") and "internal error" not in line, result
    assert not any(unicodedata.category(c) == "Cc" for c in line), result  # \r, ESC, tab: shown escaped
    assert after == before, f"refused, yet rows were written: {result}"
    return False


def check_import(result: CliResult, before: dict[str, int], after: dict[str, int], name: str) -> bool:
    """As `check`, for `postmast import`: a refusal may list its problems first, one line each,
    `NAME[:LINE]: [column: ]message`, before its one `postmast: error:` line."""
    lines = result.err.splitlines(keepends=True)
    if result.code != 0 and len(lines) > 1:
        assert all(line.startswith(name) for line in lines[:-1]), result
        assert all(not any(unicodedata.category(c) == "Cc" for c in line[:-1]) for line in lines[:-1]), result
        result = CliResult(result.code, result.out, lines[-1])
    return check(result, before, after)


def add_accounts(cli: Cli) -> dict[str, int]:
    """`webhook:team`, `webhook:big` (2 000 000 characters) and `mastodon:brand`, through the CLI."""
    found = {}
    for network, name, setting, secrets in (
        ("webhook", "team", "url=http://127.0.0.1:9/hook", None),
        ("webhook", "big", "url=http://127.0.0.1:9/hook", None),
        ("mastodon", "brand", "instance=http://127.0.0.1:9", "access_token=SEKRET123\n"),
    ):
        more = ["--set", "max_length=2000000"] if name == "big" else []
        stdin = ["--secrets-from-stdin"] if secrets else []
        result = cli(
            "account", "add", network, name, "--set", setting, *more, *stdin, "--json", input=secrets
        )
        assert result.code == 0, result
        found[f"{network}:{name}"] = json.loads(result.out)["id"]
    return found


def media_files(tmp_path: Path) -> dict[str, str]:
    """Paths for --media: an image, a text file, a directory, a missing file, an unknown home."""
    (tmp_path / "ok.png").write_bytes(tiny_png(4, 3))
    (tmp_path / "notes.png").write_text("not an image")
    return {
        "png": str(tmp_path / "ok.png"),
        "text": str(tmp_path / "notes.png"),
        "dir": str(tmp_path),
        "missing": str(tmp_path / "gone.png"),
        "home": "~nosuchuser/x.png",
    }


def options(*choices: tuple[str, st.SearchStrategy[str]], max_size: int = 5) -> st.SearchStrategy[list[str]]:
    """Any number of `--flag value` pairs, in any order; a flag given twice counts double."""
    pairs = [st.tuples(st.just(flag), value) for flag, value in choices]
    return st.lists(st.one_of(*pairs), max_size=max_size).map(
        lambda items: [p for item in items for p in item]
    )


TARGET_ARG = mostly(
    st.sampled_from([TEAM, BIG]), st.sampled_from([BRAND, "webhook:nobody", "WEBHOOK:team", "webhook:"]) | ARG
)
WHEN_ARG = mostly(
    st.sampled_from(
        ["in 1h", "+90s", "now", "2030-06-01 09:00", "2030-06-01T09:00+02:00", "2031-01-01T00:00Z"]
    ),
    WHEN_TEXT.map(argv_safe),
)
ZONE_ARG = mostly(
    st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata"]) | st.timezone_keys(), ZONE_NAME.map(argv_safe)
)
LATENESS_ARG = mostly(st.sampled_from(["30m", "2h", "90", "1.5h"]), LATENESS.map(str) | ARG)
NUMBER_ARG = mostly(
    st.integers(1, 12).map(str),
    st.integers().map(str) | ARG | st.sampled_from(["0", "1e3", "9" * 5000, "٣", "2147483648"]),
)
