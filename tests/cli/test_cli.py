"""The `postmast` group itself: help with examples for every command, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from postmast.cli import COMMANDS as LAZY
from postmast.cli import LazyGroup
from postmast.cli import cli as root
from tests.cli.conftest import Cli, error_line, ok


def walk(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found: list[tuple[tuple[str, ...], click.Command]] = []
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
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


HEAVY = ("sqlalchemy", "celery", "kombu", "requests", "alembic", "apscheduler", "postmast.connectors")


def test_the_command_line_imports_no_heavy_library_before_a_command_needs_it() -> None:
    """`postmast --help` answers in a fraction of a second because the commands' modules (and
    SQLAlchemy, Celery, requests, Alembic, the connectors behind them) load only when used."""
    probe = (
        "import sys\n"
        "import postmast.cli\n"
        "try:\n"
        "    postmast.cli.main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert "Commands:" in done.stdout
    assert done.stderr.strip() == "", f"imported by `postmast --help`: {done.stderr.strip()}"
    # and the probe can fail: a command that runs does import them
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, postmast.cli.queue; print('sqlalchemy' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert loaded.stdout.strip() == "True"


QUEUE_NEEDS_NONE_OF = ("requests", "urllib3", "cryptography", "rich.console", "postmast.scheduler.slots")
"""What `postmast queue` has no use for: the HTTP stack (no connector is built), the vault, rich's
tables, the posting-slot machinery (`queue move` only)."""


def test_queue_imports_only_what_it_shows(tmp_path: Path) -> None:
    """`postmast queue` answers in a new process: it loads the store, not the connectors' HTTP stack."""
    probe = (
        "import sys\n"
        "import postmast.cli\n"
        "try:\n"
        "    postmast.cli.main(['queue'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"print(','.join(m for m in {QUEUE_NEEDS_NONE_OF!r} if m in sys.modules), file=sys.stderr)\n"
    )
    env = {
        **os.environ,
        "POSTMAST_DATA_DIR": str(tmp_path),
        "POSTMAST_DATABASE_URL": f"sqlite:///{tmp_path / 'postmast.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True, env=env
    )
    assert "nothing queued" in done.stdout
    assert done.stderr.strip() == "", f"imported by `postmast queue`: {done.stderr.strip()}"
    # and the probe can fail: the command that adds an account builds a connector
    probe = probe.replace(
        "['queue']", "['account', 'add', 'fake', 'x', '--set', 'outbox=" + str(tmp_path / "o") + "']"
    )
    added = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True, env=env
    )
    assert "requests" in added.stderr


def test_the_lazy_listing_is_the_one_the_commands_would_print() -> None:
    """The summaries kept beside the lazy group say what each command's own help says, and
    `postmast --help` prints, at any width, what an eagerly loaded group prints."""
    context = click.Context(root)
    commands = {name: root.get_command(context, name) for name in root.list_commands(context)}
    assert set(commands) == set(LAZY)
    for name, command in commands.items():
        assert command is not None and command.callback is not None
        assert command.callback.__module__ == f"postmast.cli.{LAZY[name][0]}", name
        assert command.get_short_help_str(100) == LAZY[name][1], name
    fresh = LazyGroup("postmast", params=root.params, help=root.help, context_settings=root.context_settings)
    eager = click.Group("postmast", commands=commands, params=root.params, help=root.help)
    for width in (50, 80, 98):  # click's formatter: 50 to max_content_width (100) - 2
        lazy_help = fresh.get_help(
            click.Context(fresh, info_name="postmast", terminal_width=width, max_content_width=100)
        )
        assert not fresh.commands, "formatting the help loaded a command"
        eager_help = eager.get_help(
            click.Context(eager, info_name="postmast", terminal_width=width, max_content_width=100)
        )
        assert lazy_help == eager_help, width


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
