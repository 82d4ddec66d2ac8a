"""The HTML report: self-contained, escaped, and opened in headless Chromium (Debian's `chromium`):
it loads with no console message at all (no error, no blocked fetch) and its charts are drawn."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from postmast.scheduler.charts import BAR, COLORS
from postmast.scheduler.deliveries import Filters
from postmast.scheduler.page import lateness_bins, render_page, write_page
from postmast.scheduler.report import build
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.history import Spec, generate

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
    "--window-size=1200,1400",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "chromium is not installed (Debian package chromium; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def open_page(page: Path, tmp_path: Path) -> tuple[list[str], Image.Image]:
    """Console messages Chromium logged for the page, and a screenshot of it."""
    shot = tmp_path / "shot.png"
    # Chromium hangs under libfaketime (.ci/run's shifted-date run); the page has nothing dated to check
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}
    result = subprocess.run(
        [
            chromium(),
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert shot.exists(), result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return console, Image.open(shot).convert("RGB")


def rgb(color: str) -> tuple[int, int, int]:
    return (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16))


@pytest.fixture
def history(store: Store, vault: Vault) -> None:
    from tests.factories import add_account

    brand = add_account(store, vault, "mastodon", "brand")
    team = add_account(store, vault, "webhook", "team")
    start = store.now() - timedelta(days=2)
    generate(
        store,
        [
            Spec(brand, Status.PUBLISHED, 40, lateness=[1, 5, 20, 45, 90, 400], attempts=[None]),
            Spec(
                brand,
                Status.FAILED,
                6,
                attempts=["PermanentError"],
                error_class="PermanentError",
                error="<script>alert(1)</script>",
            ),
            Spec(team, Status.PUBLISHED, 20, lateness=[-2, 3], attempts=[None]),
            Spec(team, Status.MISSED, 3, error_class="Missed"),
            Spec(team, Status.SCHEDULED, 5),
        ],
        start=start,
        step=1800,
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_report_opens_in_chromium_without_console_errors_and_draws_its_charts(
    store: Store, history: None, tmp_path: Path
) -> None:
    report = build(store, Filters())
    page = tmp_path / "report.html"
    write_page(report, page, UTC, store.now())
    html = page.read_text()
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<td>webhook:team</td>" in html
    assert html.count('href="https://example.org/p/') == 60  # every published post is linked
    console, shot = open_page(page, tmp_path)
    assert console == []
    colors = shot.getcolors(maxcolors=shot.width * shot.height)
    assert colors is not None
    counts = {color: n for n, color in colors}
    # the charts are drawn: stacked columns (published, failed, missed), lateness columns and success bars
    for color in (COLORS["published"], COLORS["failed"], COLORS["missed"], COLORS["scheduled"], BAR):
        assert counts.get(rgb(color), 0) > 50, color


def test_a_page_that_calls_out_or_errs_is_caught(tmp_path: Path) -> None:
    """The check above can fail: a blocked fetch and a script error are both console messages."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
        '<img src="https://example.org/x.png"><p>bad</p>'
    )
    console, _ = open_page(page, tmp_path)
    assert len(console) == 1 and "example.org/x.png" in console[0]


def test_lateness_bins() -> None:
    assert lateness_bins([-1, 0, 9.9, 10, 59, 3600, 99999]) == [
        ("early", 1),
        ("<10s", 2),
        ("10-30s", 1),
        ("30s-1m", 1),
        ("1-5m", 0),
        ("5-15m", 0),
        ("15m-1h", 0),
        (">1h", 2),
    ]


def test_an_empty_report_renders(store: Store) -> None:
    html = render_page(build(store, Filters()), UTC, datetime(2026, 12, 1, tzinfo=UTC))
    assert "0 deliveries" in html and html.count("<svg") == 3
