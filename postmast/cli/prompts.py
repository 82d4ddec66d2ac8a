"""What the `account` commands ask a person: KEY=VALUE pairs, secrets (hidden, never echoed,
never from the command line), and the sign-in address of `account connect` and its redirect."""

from __future__ import annotations

import sys

import click

from postmast.connectors import Connector
from postmast.scheduler.accounts import FIELD_RE
from postmast.scheduler.errors import UserError


def parse_pairs(pairs: tuple[str, ...] | list[str], what: str) -> dict[str, str]:
    """KEY=VALUE items to a dict, refusing malformed or repeated keys."""
    result: dict[str, str] = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"{what} {item.split('=')[0][:40]!r}... must look like KEY=VALUE")
        if key in result:
            raise UserError(f"{what} {key!r} is given twice")
        result[key] = value.strip()
    return result


def read_secret_lines() -> dict[str, str]:
    """Secrets as KEY=VALUE lines from stdin (blank lines and # comments ignored)."""
    raw = sys.stdin.buffer.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError("the secrets on stdin are not valid UTF-8 text") from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    for number, line in enumerate(lines, 1):
        if "=" not in line or not FIELD_RE.fullmatch(line.partition("=")[0].strip()):
            # a pasted bare token is not KEY=VALUE: say so without echoing any part of it
            raise UserError(
                f"line {number} of the secrets on stdin is not KEY=VALUE (its value is not shown)"
            )
    pairs = parse_pairs(lines, "secret")
    for key, value in pairs.items():
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise UserError(f"secret {key!r} contains control characters")
    return pairs


def prompt_settings(cls: type[Connector], given: dict[str, str]) -> dict[str, str]:
    """The public settings `account connect` needs and --set did not give, asked (and echoed)."""
    missing = [f for f in cls.sign_in_fields() if not given.get(f.name)]
    if not missing or not cls.check_settings(given) or not sys.stdin.isatty():
        return given  # complete (another setting may stand in), or no terminal: the checks say why
    asked = dict(given)
    for field in missing:
        asked[field.name] = click.prompt(f"{field.name} ({field.help})", err=True).strip()
    return asked


def prompt_secrets(cls: type[Connector]) -> dict[str, str]:
    """Ask for one complete sign-in method, saying which, with hidden prompts (nothing typed is
    echoed); then for the optional secrets no method names."""
    if not cls.secret_fields:
        return {}
    if not sys.stdin.isatty():
        raise UserError(
            "no terminal to ask for secrets; pass them with --secrets-from-stdin (KEY=VALUE lines)"
        )
    methods = cls.secret_methods()
    fields = {f.name: f for f in cls.secret_fields}
    chosen = methods[0] if methods else None
    if len(methods) > 1:
        click.echo(f"{cls.title} accounts sign in with one of:", err=True)
        for number, method in enumerate(methods, 1):
            click.echo(f"  {number}) {method.title}", err=True)
        picked = click.prompt("which one", type=click.IntRange(1, len(methods)), default=1, err=True)
        chosen = methods[picked - 1]
    secrets = {}
    if chosen is not None:
        count = len(chosen.fields)
        click.echo(f"collecting {chosen.title} ({count} secret{'' if count == 1 else 's'})", err=True)
        for name in chosen.fields:
            field = fields[name]
            value = ""
            while not value:  # every secret of the method is needed: ask again rather than fail later
                value = click.prompt(
                    f"{name} ({field.help})", hide_input=True, default="", show_default=False
                )
            secrets[name] = value
    named = {name for method in methods for name in (*method.fields, *method.optional)}
    rest = [fields[name] for name in (chosen.optional if chosen else ())]
    rest += [field for field in cls.secret_fields if field.name not in named and field.asked]
    for field in rest:
        label = f"{field.name} ({field.help})" + ("" if field.required else " [optional, Enter to skip]")
        value = click.prompt(label, hide_input=True, default="", show_default=False)
        if value:
            secrets[field.name] = value
    return secrets


def browser_available() -> bool:
    """A graphical browser can be opened: never a text browser that would take the terminal."""
    import os

    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def show_sign_in(url: str, *, browser: bool) -> None:
    click.echo("Sign in and allow postmast at this address:", err=True)
    click.echo(f"  {url}", err=True)
    if browser and browser_available():
        import webbrowser

        if webbrowser.open(url):
            click.echo("(opened in your browser)", err=True)


def wait_for_redirect(callback: object, *, timeout: float) -> str:
    """The redirect the loopback server receives, or the one pasted on stdin (no browser here)."""
    import select
    import time

    from postmast.scheduler.connect import Callback

    assert isinstance(callback, Callback)
    click.echo(
        f"Waiting for the sign-in to come back to {callback.url} ... on a machine without a browser, "
        "open the address elsewhere and paste here the address it sends you to, then Enter:",
        err=True,
    )
    reading = True
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if callback.received.wait(0.2) and callback.redirect:
            return callback.redirect
        if reading and select.select([sys.stdin], [], [], 0)[0]:
            line = sys.stdin.readline()
            if not line:
                reading = False  # stdin closed: only the browser can answer now
            elif line.strip():
                return line.strip()
    raise UserError(f"no sign-in arrived within {timeout:.0f} seconds; run the command again")
