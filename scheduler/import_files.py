"""Import files: CSV, JSON and JSON Lines read into rows, each with the line it starts on.

Reading is careful about what the path is: only a regular file is read (a FIFO, a
device or a directory is refused in one line, before anything blocks or fills memory),
its size is checked from `stat` first, and no more than that is read.

CSV: the delimiter (`,`, `;` or tab) is taken from the header line; a UTF-8 BOM and
CRLF line ends are accepted; headers are case-insensitive; a column given twice is an
error. Cells that hold lists (`then`, `media`, `alt`, `options`) separate their parts
with `|` (`LIST_SEPARATOR`), in every format; `to` separates targets with spaces.
Columns are the post's fields (`FIELDS`), a variant's (`bluesky.text`,
`mastodon:brand.media`) or an option of any network (`visibility`, `mastodon.visibility`).
Every problem is a `FileProblem` (line, column, message); nothing stops at the first.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from postmast.connectors import available
from postmast.scheduler.drafts import SHORTCUTS, VARIANT_FIELDS, Draft, parse_scope
from postmast.scheduler.errors import UserError, one_line

MAX_IMPORT_ROWS = 10_000
MAX_IMPORT_BYTES = 64 * 1024 * 1024
LIST_SEPARATOR = "|"
FIELDS = (
    "text",
    "to",
    "at",
    "tz",
    "media",
    "alt",
    "then",
    "options",
    "cw",
    "lang",
    "visibility",
    "max_lateness",
    "reply_to",
    "repeat",
    "until",
    "count",
    "evergreen",
)
LISTS = frozenset({"media", "alt", "then", "options", "reply_to"})
SUFFIXES = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class FileProblem:
    line: int
    """1-based line of the file (0: the file as a whole)."""
    column: str
    message: str

    def render(self, name: str) -> str:
        """One printable line: what the file holds (a column name, a cell) is shown escaped."""
        where = f"{name}:{self.line}" if self.line else name
        return one_line(
            f"{where}: {self.column}: {self.message}" if self.column else f"{where}: {self.message}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": one_line(self.column), "message": one_line(self.message)}


@dataclass
class Row:
    line: int
    values: dict[str, Any] = field(default_factory=dict)
    """Column (as `column_of` names it) -> cell: text in CSV, any JSON value in JSON."""


def read_file(path: Path) -> bytes:
    """The bytes of a regular file of at most `MAX_IMPORT_BYTES`; UserError for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = (
                "a directory"
                if stat.S_ISDIR(info.st_mode)
                else "a FIFO"
                if stat.S_ISFIFO(info.st_mode)
                else "a device"
                if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                else "a socket"
                if stat.S_ISSOCK(info.st_mode)
                else "not a regular file"
            )
            raise UserError(f"{path} is {kind}; import reads regular files only")
        if info.st_size > MAX_IMPORT_BYTES:
            raise UserError(f"{path} is {info.st_size:,} bytes; import at most {MAX_IMPORT_BYTES:,} at once")
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(MAX_IMPORT_BYTES + 1)
        if len(data) > MAX_IMPORT_BYTES:
            raise UserError(f"{path} grew past {MAX_IMPORT_BYTES:,} bytes while it was read")
        return data
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def option_names() -> frozenset[str]:
    return frozenset(option.name for cls in available().values() for option in cls.options)


def column_of(header: str) -> str:
    """A header as the importer names it: lower-case field, network lower-case, account as given.

    Raises UserError for a header that is no column."""
    raw = header.strip()
    scope, _, name = raw.rpartition(".")
    name = name.lower()
    if not scope:
        if name in FIELDS or name in option_names():
            return name
        raise UserError(f"unknown column (columns: {', '.join(FIELDS)}, an option, or SCOPE.FIELD)")
    try:
        normal = parse_scope(scope)
    except UserError as exc:
        raise UserError(f"unknown column: {exc}") from None
    if name in VARIANT_FIELDS or name in option_names():
        return f"{normal}.{name}"
    raise UserError(f"unknown column: {name!r} is neither {', '.join(VARIANT_FIELDS)} nor a network's option")


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(f"{name}:{line}: the file is not UTF-8 text (save it as UTF-8)") from None


def _delimiter(header_line: str) -> str:
    counts = {d: 0 for d in ",;\t"}
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_rows(text: str, problems: list[FileProblem], ignore_columns: bool) -> list[Row]:
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        problems.append(FileProblem(1, "", f"not valid CSV: {exc}"))
        return []
    if not header or not any(h.strip() for h in header):
        problems.append(FileProblem(1, "", "the first line must name the columns, e.g. text,to,at"))
        return []
    columns: list[str | None] = []
    seen: dict[str, str] = {}
    for raw in header:
        try:
            name = column_of(raw)
        except UserError as exc:
            if not ignore_columns:
                problems.append(FileProblem(1, raw.strip()[:60], f"{exc} (or use --ignore-columns)"))
            columns.append(None)
            continue
        if name in seen:
            problems.append(FileProblem(1, raw.strip()[:60], f"column given twice (also as {seen[name]!r})"))
        seen[name] = raw.strip()
        columns.append(name)
    for required in ("text", "to"):
        if required not in seen:
            problems.append(FileProblem(1, required, f"the file has no {required!r} column"))
    rows: list[Row] = []
    line = reader.line_num
    try:
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(columns):
                problems.append(FileProblem(start, "", f"{len(cells)} cells for {len(columns)} columns"))
                continue
            values = {
                c: cell for c, cell in zip(columns, cells, strict=False) if c is not None and cell != ""
            }
            rows.append(Row(start, values))
            if len(rows) > MAX_IMPORT_ROWS:
                break
    except csv.Error as exc:
        problems.append(FileProblem(reader.line_num, "", f"not valid CSV: {exc}"))
    return rows


def _object_row(line: int, value: Any, problems: list[FileProblem], ignore_columns: bool) -> Row | None:
    if not isinstance(value, dict):
        problems.append(FileProblem(line, "", "each post must be a JSON object"))
        return None
    row = Row(line)
    for key, cell in value.items():
        try:
            name = column_of(str(key))
        except UserError as exc:
            if not ignore_columns:
                problems.append(FileProblem(line, str(key)[:60], f"{exc} (or use --ignore-columns)"))
            continue
        if name in row.values:
            problems.append(FileProblem(line, str(key)[:60], "field given twice"))
        if cell is not None and cell != "":
            row.values[name] = cell
    return row


def _json_rows(text: str, problems: list[FileProblem], ignore_columns: bool) -> list[Row]:
    """A JSON list of objects, each with the line it starts on (read element by element)."""
    decoder = json.JSONDecoder()
    rows: list[Row] = []
    index, line = 0, 1

    def skip(position: int) -> int:
        nonlocal line
        while position < len(text) and text[position] in " \t\r\n":
            line += text[position] == "\n"
            position += 1
        return position

    def fail(message: str) -> list[Row]:
        problems.append(FileProblem(line, "", message))
        return []

    index = skip(index)
    if index >= len(text) or text[index] != "[":
        return fail("the file must hold a JSON list of post objects")
    index = skip(index + 1)
    if index < len(text) and text[index] == "]":
        return rows
    while True:
        try:
            value, end = decoder.raw_decode(text, index)
        except RecursionError:
            return fail("the JSON nests too deeply")
        except json.JSONDecodeError as exc:
            problems.append(FileProblem(exc.lineno, "", f"not valid JSON: {exc.msg}"))
            return []
        row = _object_row(line, value, problems, ignore_columns)
        if row is not None:
            rows.append(row)
        if len(rows) > MAX_IMPORT_ROWS:
            return rows
        line += text.count("\n", index, end)
        index = skip(end)
        if index < len(text) and text[index] == ",":
            index = skip(index + 1)
            continue
        if index < len(text) and text[index] == "]":
            if skip(index + 1) != len(text):
                return fail("text after the end of the JSON list")
            return rows
        return fail("not valid JSON: expected ',' or ']' after a post")


def _jsonl_rows(text: str, problems: list[FileProblem], ignore_columns: bool) -> list[Row]:
    rows: list[Row] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except RecursionError:
            problems.append(FileProblem(number, "", "the JSON nests too deeply"))
            continue
        except json.JSONDecodeError as exc:
            problems.append(FileProblem(number, "", f"not valid JSON: {exc.msg}"))
            continue
        row = _object_row(number, value, problems, ignore_columns)
        if row is not None:
            rows.append(row)
        if len(rows) > MAX_IMPORT_ROWS:
            break
    return rows


def rows_of(path: Path, data: bytes, *, ignore_columns: bool = False) -> tuple[list[Row], list[FileProblem]]:
    """The rows of an import file and every problem of its form (not yet of its posts)."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise UserError(f"{path.name}: import files end in .csv, .tsv, .json, .jsonl or .ndjson")
    text = _decode(data, path.name)
    problems: list[FileProblem] = []
    reader = {"csv": _csv_rows, "json": _json_rows, "jsonl": _jsonl_rows}[kind]
    rows = reader(text, problems, ignore_columns)
    if len(rows) > MAX_IMPORT_ROWS:
        raise UserError(
            f"{path.name} holds more than {MAX_IMPORT_ROWS:,} posts; import at most that many at once"
        )
    if not rows and not problems:
        problems.append(FileProblem(0, "", "the file holds no posts"))
    return rows, problems


# -- rows to drafts -------------------------------------------------------------------------------


def _parts(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(LIST_SEPARATOR) if part.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v for v in value if v.strip()]
    raise UserError(f"must be text or a list of texts (parts separated by '{LIST_SEPARATOR}')")


def _one_text(value: Any) -> list[str]:
    return [_text(value) or ""]


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise UserError("must be text")
    return str(value)


def _media(value: Any) -> tuple[list[str], list[str] | None]:
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):  # [{"path", "alt"}]
        return [str(m.get("path", "")) for m in value], [str(m.get("alt", "")) for m in value]
    return _parts(value), None


def _options(value: Any) -> list[str]:
    if isinstance(value, dict):
        if not all(isinstance(v, str | int | bool) for v in value.values()):
            raise UserError("options must map names to text, numbers or true/false")
        return [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in value.items()]
    return _parts(value)


def _targets(value: Any) -> list[str]:
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise UserError("must be a list of NETWORK:NAME")
        return [v.strip() for v in value if v.strip()]
    text = _text(value) or ""
    return [t for t in text.replace(LIST_SEPARATOR, " ").replace(",", " ").split() if t]


def draft_of(row: Row, problems: list[FileProblem]) -> Draft | None:
    """The draft of one row; problems of its cells are added to `problems` (with its line)."""
    before = len(problems)
    values = row.values

    def cell(column: str, parse: Any, fallback: Any) -> Any:
        try:
            return parse(values.get(column))
        except UserError as exc:
            problems.append(FileProblem(row.line, column, str(exc)))
            return fallback

    text = cell("text", _text, None)
    if text is None and "text" not in [p.column for p in problems[before:]]:
        problems.append(FileProblem(row.line, "text", "the text is missing"))
    to = cell("to", _targets, [])
    if not to:
        problems.append(
            FileProblem(row.line, "to", "no target: give NETWORK:NAME (several: space-separated)")
        )
    paths, alts = cell("media", _media, ([], None))
    if alts is None:
        alts = cell("alt", _parts, [])
    options = cell("options", _options, [])
    for name, option in SHORTCUTS.items():
        value = cell(name, _text, None)
        if value:
            options.append(f"{option}={value}")
    variants: list[tuple[str, str, str]] = []
    for column in list(values):
        scope, dot, name = column.rpartition(".")
        if column in FIELDS:
            continue
        if not dot:  # an option column: `visibility`
            option_value = cell(column, _text, None)
            if option_value is not None:
                options.append(f"{column}={option_value}")
        elif name in VARIANT_FIELDS:
            parts = cell(column, _one_text if name == "text" else _parts, [])
            variants += [(scope, name, part) for part in parts]
        else:
            option_value = cell(column, _text, None)
            if option_value is not None:
                options.append(f"{column}={option_value}")
    reply = values.get("reply_to")
    replies = (
        [f"{k}={v}" for k, v in reply.items()] if isinstance(reply, dict) else cell("reply_to", _parts, [])
    )
    draft = Draft(
        text=text or "",
        to=to,
        at=cell("at", _text, None),
        tz=cell("tz", _text, None),
        media=paths,
        alt=alts,
        then=cell("then", _parts, []),
        options=options,
        max_lateness=cell("max_lateness", _text, None),
        reply_to=replies,
        variants=variants,
        repeat=cell("repeat", _text, None),
        until=cell("until", _text, None),
        count=cell("count", _text, None),
        evergreen=cell("evergreen", _text, None),
    )
    return draft if len(problems) == before else None


def known_columns() -> Sequence[str]:
    return [*FIELDS, *sorted(option_names())]
