"""The `postmast` command line. Commands are thin: logic lives in the packages.

Every error is one line on stderr and a non-zero exit code; nothing is written
when a command fails.
"""

from __future__ import annotations

import os
import re
import sys

import click

from postmast import __version__
from postmast.cli import (
    accounts,
    admin,
    deliveries,
    notify,
    posting,
    queue,
    reporting,
    services,
    show,
    slots,
    status,
)
from postmast.scheduler.errors import UserError, one_line


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


for module in (
    accounts,
    posting,
    queue,
    show,
    deliveries,
    slots,
    reporting,
    status,
    notify,
    services,
    admin,
):
    for command in module.COMMANDS:
        cli.add_command(command)


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
