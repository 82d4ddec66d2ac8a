"""The `postmast` group itself: help with examples for every command, one-line errors."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from postmast.cli import cli as root
from tests.cli.conftest import Cli, error_line, ok


def walk(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found: list[tuple[tuple[str, ...], click.Command]] = []
    for name, command in sorted(group.commands.items()):
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found += walk(command, (*path, name))
    return found


COMMANDS = walk(root)
LEAVES = [path for path, command in COMMANDS if not isinstance(command, click.Group)]


def description(help_text: str) -> list[str]:
    """The lines between the usage line and the first section (Options:/Commands:)."""
    lines = help_text.splitlines()
    end = next(i for i, line in enumerate(lines) if line in ("Options:", "Commands:"))
    return [line for line in lines[1:end] if line.strip()]


def test_the_walk_finds_the_commands() -> None:
    names = {" ".join(path) for path in LEAVES}
    assert {
        "post",
        "queue move",
        "cancel",
        "reschedule",
        "retry",
        "report",
        "account add",
        "account list",
        "account update",
        "account remove",
        "account networks",
        "db upgrade",
        "key generate",
        "config",
        "run",
        "worker",
        "scheduler",
        "demo",
        "import",
        "slots set",
        "slots show",
        "slots clear",
        "show",
        "status",
        "notify test",
        "notify secret",
        "notify incidents",
    } <= names
    assert "queue" in {" ".join(path) for path, _ in COMMANDS}  # a group: it lists, `queue move` reorders


@pytest.mark.parametrize("path", LEAVES, ids=[" ".join(p) for p in LEAVES])
def test_every_command_help_ends_with_an_example(cli: Cli, path: tuple[str, ...]) -> None:
    result = ok(cli(*path, "--help"))
    text = description(result.out)
    starts = [i for i, line in enumerate(text) if line.strip() == "Example:"]
    assert starts, f"postmast {' '.join(path)} --help has no Example: block"
    example = text[starts[-1] + 1 :]
    assert example, "the Example: block is empty"
    # nothing but indented example lines follows it, and they use this very command
    assert all(line.startswith("    ") for line in example), example
    assert f"postmast {' '.join(path)}" in "\n".join(example)


def test_top_level_help_has_an_example(cli: Cli) -> None:
    text = description(ok(cli("--help")).out)
    assert "  Example:" in text
    assert any(line.strip().startswith("postmast post ") for line in text)


def test_unknown_command_and_option_are_one_line(cli: Cli) -> None:
    error_line(cli("frobnicate"), "No such command 'frobnicate'", code=2)
    error_line(cli("queue", "--colour"), "No such option '--colour'", "(see: postmast queue --help)", code=2)


def test_corrupt_database_is_one_line_without_traceback(cli: Cli, data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "postmast.db").write_text("this is not a database " * 100)
    result = cli("queue")
    assert result.code != 0
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("postmast: error: "), result.err
    assert "file is not a database" in lines[0]
    assert "Traceback" not in result.err + result.out


def test_bare_postmast_prints_its_usage(cli: Cli) -> None:
    result = cli()
    assert result.code == 0 and result.err == ""
    assert result.out.startswith("Usage: postmast [OPTIONS] COMMAND [ARGS]...\n")
    assert "\nCommands:\n" in result.out and "  report " in result.out


def test_errors_quote_at_most_80_characters_of_user_text(cli: Cli) -> None:
    line = error_line(cli("post", "hi", "--to", "webhook:" + "y" * 5000))
    assert len(line) < 300 and "y" * 81 not in line and "…" in line
    line = error_line(cli("report", "--since", "z" * 70000))
    assert len(line) < 300 and "z" * 81 not in line
