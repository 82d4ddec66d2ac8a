"""Import files: only regular files are read, their form is forgiving (delimiters, BOM, CRLF,
header case), and every problem is named by line and column."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from postmast.scheduler.errors import UserError
from postmast.scheduler.import_files import FileProblem, Row, draft_of, read_file, rows_of


def rows(tmp_path: Path, name: str, data: str | bytes, **kwargs: bool) -> tuple[list[Row], list[FileProblem]]:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return rows_of(path, read_file(path), **kwargs)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "posts.csv"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="is a FIFO; import reads regular files only"):
        read_file(fifo)


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/null"])
def test_a_device_is_refused_before_reading(path: str) -> None:
    with pytest.raises(UserError, match="is a device; import reads regular files only"):
        read_file(Path(path))


def test_a_directory_and_a_socket_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is a directory"):
        read_file(tmp_path)
    path = tmp_path / "s.csv"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        with pytest.raises(UserError, match=r"cannot read|is a socket"):
            read_file(path)
    finally:
        server.close()


def test_the_size_is_checked_from_stat_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from postmast.scheduler import import_files

    monkeypatch.setattr(import_files, "MAX_IMPORT_BYTES", 10)
    (tmp_path / "big.csv").write_text("text,to\n" + "x" * 20)
    with pytest.raises(UserError, match="is 28 bytes; import at most 10"):
        read_file(tmp_path / "big.csv")


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiters_bom_crlf_and_header_case(tmp_path: Path, delimiter: str) -> None:
    text = (
        delimiter.join(["Text", "TO", "At"])
        + "\r\n"
        + delimiter.join(['"a, b; c"', "webhook:team", ""])
        + "\r\n"
    )
    found, problems = rows(tmp_path, "p.csv", b"\xef\xbb\xbf" + text.encode())
    assert problems == []
    assert [(r.line, r.values) for r in found] == [(2, {"text": "a, b; c", "to": "webhook:team"})]


def test_duplicate_and_unknown_headers_are_errors(tmp_path: Path) -> None:
    _, problems = rows(tmp_path, "p.csv", "text,to,Text,notes\nhi,webhook:team,again,x\n")
    assert [(p.line, p.column) for p in problems] == [(1, "Text"), (1, "notes")]
    assert "column given twice" in problems[0].message and "--ignore-columns" in problems[1].message
    found, problems = rows(tmp_path, "q.csv", "text,to,notes\nhi,webhook:team,x\n", ignore_columns=True)
    assert problems == [] and found[0].values == {"text": "hi", "to": "webhook:team"}


def test_variant_and_option_columns(tmp_path: Path) -> None:
    found, problems = rows(
        tmp_path,
        "p.csv",
        "text,to,Bluesky.Text,mastodon:Brand.visibility,mood,x.then\nhi,webhook:team,sky,direct,calm,a | b\n",
    )
    assert problems == []
    assert set(found[0].values) == {
        "text",
        "to",
        "bluesky.text",
        "mastodon:Brand.visibility",
        "mood",
        "x.then",
    }
    draft_problems: list[FileProblem] = []
    draft = draft_of(found[0], draft_problems)
    assert draft is not None and draft_problems == []
    assert draft.variants == [("bluesky", "text", "sky"), ("x", "then", "a"), ("x", "then", "b")]
    assert sorted(draft.options) == ["mastodon:Brand.visibility=direct", "mood=calm"]


def test_lists_use_one_separator(tmp_path: Path) -> None:
    found, _ = rows(tmp_path, "p.csv", "text,to,then,media,alt\n1/,webhook:team,2/ | 3/,a.png|b.png,A|B\n")
    problems: list[FileProblem] = []
    draft = draft_of(found[0], problems)
    assert draft is not None
    assert (draft.then, draft.media, draft.alt) == (["2/", "3/"], ["a.png", "b.png"], ["A", "B"])


def test_json_rows_know_their_lines(tmp_path: Path) -> None:
    data = '[\n  {"text": "a", "to": "webhook:team"},\n\n  {"text": "b",\n   "to": ["webhook:team"]}\n]\n'
    found, problems = rows(tmp_path, "p.json", data)
    assert problems == [] and [r.line for r in found] == [2, 4]
    found, problems = rows(tmp_path, "p.jsonl", '{"text": "a", "to": "webhook:team"}\n\n{"text": 5}\nnope\n')
    assert [r.line for r in found] == [1, 3]
    assert [(p.line, p.message[:14]) for p in problems] == [(4, "not valid JSON")]


def test_broken_files_name_their_line(tmp_path: Path) -> None:
    _, problems = rows(tmp_path, "p.json", '[\n{"text": "a"},\n{"text": }\n]')
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [(3, "not valid JSON")]
    _, problems = rows(tmp_path, "p.csv", "text,to\nx,webhook:team,extra\n")
    assert [(p.line, p.message) for p in problems] == [(2, "3 cells for 2 columns")]
    with pytest.raises(UserError, match=r"p\.csv:2: the file is not UTF-8"):
        rows(tmp_path, "p.csv", b"text,to\n\xff,webhook:team\n")


def test_every_cell_problem_of_a_row(tmp_path: Path) -> None:
    found, _ = rows(tmp_path, "p.json", '[{"text": ["x"], "to": [1], "then": {"a": 1}}]')
    problems: list[FileProblem] = []
    assert draft_of(found[0], problems) is None
    assert {p.column for p in problems} >= {"text", "to", "then"}
