"""Shared output for read commands: a readable table by default, or `--json` / `--csv`."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:  # rich loads for the commands that draw its tables (`queue` and `report` do not)
    from rich.console import Console
    from rich.table import Table

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(func)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV Injection")."""


def neutralise(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading `'`; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return "" if value is None else value


def emit_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """CSV on stdout, every text cell neutralised against formula injection."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([neutralise(v) for v in row] for row in rows)


def console() -> Console:
    """A console for tables; when piped, wide enough that nothing is cut."""
    from rich.console import Console

    probe = Console()
    return Console(highlight=False, soft_wrap=False, width=None if probe.is_terminal else 240)


def table(
    title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, wide: Sequence[str] = ()
) -> Table:
    """A table whose `wide` columns fold; the others keep their full width, never cut."""
    from rich.table import Table

    cells = [["" if v is None else str(v) for v in row] for row in rows]
    result = Table(title=title, title_justify="left", header_style="bold", show_edge=False, pad_edge=False)
    for index, column in enumerate(columns):
        if column in wide:
            result.add_column(column, overflow="fold", ratio=1, min_width=12)
        else:
            width = max([len(column), *(len(row[index]) for row in cells)])
            result.add_column(column, no_wrap=True, min_width=width)
    for row in cells:
        result.add_row(*row)
    return result


def excerpt(text: str, width: int = 40) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"
