"""Plain tables that fit the terminal: long cells end in an ellipsis, `--wide` shows them whole.

Hand-made rather than rich's tables because a report may have 100,000 rows: this lays them
out in one pass (rich takes seconds per 10,000). Width comes from the terminal, or from
`COLUMNS` when the output is piped (no limit without it: a file gets every character).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from rich.cells import cell_len, set_cell_size

GAP = "  "
MIN_FLEX = 10


def output_width() -> int | None:
    """The width to fit, or None for no limit."""
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdecimal() and int(columns) > 20 else None


def _width(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)


def cell(value: Any) -> str:
    """One line of text for a cell: None is empty, line breaks and tabs become spaces."""
    if value is None:
        return ""
    text = str(value)
    return " ".join(text.split()) if any(c in text for c in "\n\r\t") else text


def clip(text: str, width: int) -> str:
    """`text` cut to `width` cells, ending in an ellipsis when cut."""
    if _width(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    return set_cell_size(text, width - 1).rstrip() + "…"


def widths(
    headers: Sequence[str], cells: Sequence[Sequence[str]], flexible: Sequence[str], limit: int | None
) -> list[int]:
    natural = [max([_width(h), *(_width(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    if limit is None:
        return natural
    total = sum(natural) + len(GAP) * (len(headers) - 1)
    flex = [i for i, h in enumerate(headers) if h in flexible]
    if total <= limit or not flex:
        return natural
    fixed = sum(w for i, w in enumerate(natural) if i not in flex) + len(GAP) * (len(headers) - 1)
    room = max(limit - fixed, MIN_FLEX * len(flex))
    result = list(natural)
    # give each flexible column what it needs, narrowest first, sharing the room that is left
    for n, i in enumerate(sorted(flex, key=lambda i: natural[i])):
        share = room // (len(flex) - n)
        result[i] = min(natural[i], max(MIN_FLEX, share))
        room -= result[i]
    return result


def lines(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    flexible: Sequence[str] = (),
    right: Sequence[str] = (),
    wide: bool = False,
    limit: int | None = None,
) -> Iterator[str]:
    """The table as lines: a header, a rule, then one line per row."""
    cells = [[cell(v) for v in row] for row in rows]
    sizes = widths(headers, cells, () if wide else flexible, None if wide else limit)
    last = len(headers) - 1

    def line(values: Sequence[str]) -> str:
        parts = []
        for i, value in enumerate(values):
            text = clip(value, sizes[i])
            pad = " " * (sizes[i] - _width(text))
            parts.append(pad + text if headers[i] in right else text + ("" if i == last else pad))
        return GAP.join(parts).rstrip()

    yield line(headers)
    yield GAP.join("─" * w for w in sizes)
    for row in cells:
        yield line(row)


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], **options: Any) -> None:
    options.setdefault("limit", output_width())
    sys.stdout.write("\n".join(lines(headers, rows, **options)) + "\n")
