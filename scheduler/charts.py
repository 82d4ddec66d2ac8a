"""Charts as inline SVG, drawn here: the HTML report needs no script and no network.

Three shapes are enough: stacked columns (deliveries over time by status), plain
columns (the lateness distribution) and horizontal bars (success per network). Every
text is escaped; sizes are in SVG user units and the charts scale with the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

COLORS = {
    "published": "#2e7d32",
    "failed": "#c62828",
    "unknown": "#ef6c00",
    "reconciling": "#f9a825",
    "missed": "#6a1b9a",
    "cancelled": "#9e9e9e",
    "scheduled": "#1565c0",
    "queued": "#0277bd",
    "publishing": "#00838f",
    "retry_wait": "#4e342e",
}
BAR = "#1565c0"
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 240, 44, 46, 12


def _svg(body: list[str], title: str, height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'class="chart" aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def _axis(peak: int, plot_h: int) -> list[str]:
    parts = [f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#555"/>']
    for frac in (0, 0.5, 1):
        y = TOP + plot_h - frac * plot_h
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{round(peak * frac)}</text>"
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - 8}" y2="{y:.1f}" stroke="#ddd"/>'
        )
    return parts


def _label_every(n: int) -> int:
    return max(1, n // 12)


def stacked_columns(
    buckets: Sequence[tuple[str, Mapping[str, int]]], order: Sequence[str], title: str
) -> str:
    """One column per bucket, its statuses stacked in `order`, with a legend."""
    plot_h = HEIGHT - TOP - BOTTOM
    peak = max([sum(c.values()) for _, c in buckets] + [1])
    slot = (WIDTH - LEFT - 8) / max(1, len(buckets))
    body = _axis(peak, plot_h)
    every = _label_every(len(buckets))
    for i, (label, counts) in enumerate(buckets):
        x = LEFT + i * slot + slot * 0.1
        y = float(TOP + plot_h)
        for status in order:
            n = counts.get(status, 0)
            if not n:
                continue
            h = n / peak * plot_h
            y -= h
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}" '
                f'fill="{COLORS.get(status, BAR)}">'
                f"<title>{escape(label)}: {n} {escape(status)}</title></rect>"
            )
        if i % every == 0:
            body.append(
                f'<text x="{x + slot * 0.4:.1f}" y="{TOP + plot_h + 14}" text-anchor="middle" '
                f'font-size="10">{escape(label)}</text>'
            )
    used = [s for s in order if any(c.get(s) for _, c in buckets)]
    for j, status in enumerate(used):
        lx = LEFT + j * 100
        body.append(
            f'<rect x="{lx}" y="{HEIGHT - 18}" width="10" height="10" fill="{COLORS.get(status, BAR)}"/>'
            f'<text x="{lx + 14}" y="{HEIGHT - 9}" font-size="11">{escape(status)}</text>'
        )
    return _svg(body, title)


def columns(bins: Sequence[tuple[str, int]], title: str) -> str:
    """One column per bin (the lateness distribution)."""
    plot_h = HEIGHT - TOP - BOTTOM + 20
    peak = max([n for _, n in bins] + [1])
    slot = (WIDTH - LEFT - 8) / max(1, len(bins))
    body = _axis(peak, plot_h)
    for i, (label, n) in enumerate(bins):
        x = LEFT + i * slot + slot * 0.1
        h = n / peak * plot_h
        body.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}" '
            f'fill="{BAR}"><title>{escape(label)}: {n}</title></rect>'
            f'<text x="{x + slot * 0.4:.1f}" y="{TOP + plot_h + 14}" text-anchor="middle" '
            f'font-size="10">{escape(label)}</text>'
        )
    return _svg(body, title)


def bars(rows: Sequence[tuple[str, float, str]], title: str) -> str:
    """One horizontal bar per row: a label, a fraction from 0 to 1 and the text beside it."""
    row_h = 26
    height = TOP + row_h * max(1, len(rows)) + 8
    label_w = 150
    span = WIDTH - label_w - 190
    body = []
    for i, (label, fraction, text) in enumerate(rows):
        y = TOP + i * row_h
        w = max(0.0, min(1.0, fraction)) * span
        body.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" font-size="12">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{span}" height="16" fill="#eee"/>'
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="16" fill="{COLORS["published"]}">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
            f'<text x="{label_w + span + 8}" y="{y + 16}" font-size="12">{escape(text)}</text>'
        )
    return _svg(body, title, height)
