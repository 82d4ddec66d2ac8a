"""The `postmast` command line. Commands are thin: logic lives in the packages.

Every error is one line on stderr and a non-zero exit code; nothing is written
when a command fails.
"""

from __future__ import annotations

import importlib
import os
import re
import sys

import click

from postmast import __version__
from postmast.scheduler.errors import UserError, one_line

COMMANDS: dict[str, tuple[str, str]] = {
    "account": ("accounts", "Manage the accounts posts go to (secrets are encrypted at rest)."),
    "cancel": ("deliveries", "Cancel deliveries that have not started (all or none)."),
    "config": (
        "admin",
        "Show the effective configuration (passwords and keys masked), and the modes of the data "
        "directory...",
    ),
    "db": ("admin", "The job store's schema."),
    "demo": ("admin", "Run the whole path on this machine: queue posts to a local webhook, publish, report."),
    "import": ("posting", "Queue every post of a .csv, .tsv, .json or .jsonl file: all of them, or none."),
    "key": ("admin", "The key that encrypts account secrets."),
    "notify": (
        "notify",
        "Notifications by signed webhook and e-mail (sent by the scheduler, one per incident).",
    ),
    "post": ("posting", "Queue TEXT for every --to account."),
    "queue": (
        "queue",
        "Show what needs attention (failed, missed, unknown, accounts to re-authorise, deliveries overdue...",
    ),
    "report": (
        "reporting",
        "Report every delivery (due, published, lateness, attempts, link or error) and summarise them per...",
    ),
    "reschedule": (
        "deliveries",
        "Move deliveries that have not started to a new time, or by an amount (all or none).",
    ),
    "retry": ("deliveries", "Send failed or missed deliveries again, now."),
    "run": (
        "services",
        "Run a worker and the scheduler together on this machine; Ctrl-C stops both cleanly.",
    ),
    "scheduler": ("services", "Run the dispatcher: hands due deliveries to the workers."),
    "show": (
        "show",
        "Show the whole story of a delivery (a number, or delivery:N) or of a post (post:N): each...",
    ),
    "slots": (
        "slots",
        "Weekly posting slots per account: `post --next-slot` takes each target's next free one.",
    ),
    "status": (
        "status",
        "Say what runs where (from the heartbeats), whether the broker answers and how many messages wait...",
    ),
    "worker": ("services", "Run a worker: publishes the deliveries the scheduler hands out."),
}
"""Each command: the module of `postmast.cli` that defines it (in its `COMMANDS`), and the start
of its help as `postmast --help` lists it (at most 100 characters, the widest help).
tests/cli/test_cli.py checks both against the commands themselves."""


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command runs or shows its help.

    The modules import SQLAlchemy, Celery, requests and the connectors; `postmast --help` (and
    every other command) should not pay for all of them: that took seconds on a cold start.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module = importlib.import_module(f"postmast.cli.{COMMANDS[cmd_name][0]}")
            for command in module.COMMANDS:
                self.commands.setdefault(command.name or "", command)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click lists them, from the summaries above for commands not loaded yet."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            loaded = self.commands.get(name)
            if loaded is not None:
                if not loaded.hidden:
                    rows.append((name, loaded.get_short_help_str(limit)))
            else:
                rows.append((name, click.Command(name, help=COMMANDS[name][1]).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="postmast")
def cli() -> None:
    """postmast: one schedule of posts for many networks, each published on time, exactly once.

    \b
    Example:
      postmast account add mastodon brand --set instance=https://mastodon.social
      postmast post "Hello" --to mastodon:brand --at "2026-12-01 09:00" --tz Europe/Berlin
      postmast run            # worker + scheduler on this machine
      postmast report
    """


QUOTE_LIMIT = 80
"""Characters of one word of the user's text an error quotes; a 70,000-character post is not echoed."""
_LONG_WORD = re.compile(rf"\S{{{QUOTE_LIMIT + 1},}}")


def shorten(message: str) -> str:
    """`message` with every run of more than QUOTE_LIMIT non-space characters cut, ending in `…`."""
    return _LONG_WORD.sub(lambda m: m.group(0)[: QUOTE_LIMIT - 1] + "…", message)


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"postmast: error: {shorten(one_line(message))}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the command and turns every error into one line and an exit code."""
    try:
        result = cli.main(args=argv, prog_name="postmast", standalone_mode=False)
    except UserError as exc:
        _fail(str(exc))
    except click.exceptions.NoArgsIsHelpError as exc:  # bare `postmast`: its usage, as --help prints it
        click.echo(exc.ctx.get_help())
        sys.exit(0)
    except click.exceptions.Abort:
        _fail("aborted", 130)
    except click.ClickException as exc:
        command = getattr(exc, "ctx", None)
        context = f" (see: {command.command_path} --help)" if command is not None else ""
        _fail(exc.format_message().replace("\n", " ") + context, exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("POSTMAST_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        _fail(f"internal error: {type(exc).__name__}: {first} (set POSTMAST_DEBUG=1 for a traceback)", 2)
    sys.exit(result if isinstance(result, int) else 0)
