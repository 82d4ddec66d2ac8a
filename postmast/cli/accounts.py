"""`postmast account ...`: add, list, update, remove accounts; list networks."""

from __future__ import annotations

import sys

import click

from postmast.cli.output import console, emit_json, json_option, table
from postmast.cli.prompts import (
    parse_pairs,
    prompt_secrets,
    prompt_settings,
    read_secret_lines,
    show_sign_in,
    wait_for_redirect,
)
from postmast.connectors import available
from postmast.connectors.base import ALLOW_INSECURE
from postmast.context import Context
from postmast.scheduler.accounts import Accounts, connector_class
from postmast.scheduler.errors import UserError

INSECURE_HELP = (
    "Allow plain http:// endpoints on other machines (credentials cross the network in clear "
    "text); kept with the account (remove with --set allow_insecure=)."
)


def _service(ctx: Context) -> Accounts:
    return Accounts(ctx.store, ctx.vault)


@click.group("account")
def account() -> None:
    """Manage the accounts posts go to (secrets are encrypted at rest)."""


@account.command("add")
@click.argument("network")
@click.argument("name")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="A setting (repeatable).")
@click.option("--secrets-from-stdin", is_flag=True, help="Read secrets as KEY=VALUE lines from stdin.")
@click.option("--allow-insecure", is_flag=True, help=INSECURE_HELP)
@json_option
def add(
    network: str,
    name: str,
    settings: tuple[str, ...],
    secrets_from_stdin: bool,
    allow_insecure: bool,
    as_json: bool,
) -> None:
    """Add an account. Secrets are asked with a hidden prompt, never taken as arguments.

    \b
    Example:
      postmast account add mastodon brand --set instance=https://mastodon.social
      printf 'access_token=%s\\n' "$TOKEN" | postmast account add mastodon brand \\
          --set instance=https://mastodon.social --secrets-from-stdin
    """
    cls = connector_class(network)
    values = parse_pairs(settings, "setting")
    if allow_insecure:
        values[ALLOW_INSECURE] = "true"
    problems = cls.check_settings(values)
    if problems:
        raise UserError(f"{network}:{name}: " + "; ".join(p.message for p in problems))
    if secrets_from_stdin:
        secrets = read_secret_lines()
    elif sys.stdin.isatty() or any(f.required for f in cls.secret_fields):
        secrets = prompt_secrets(cls)
    else:
        secrets = {}  # only optional secrets and no terminal to ask for them: add the account without them
    view = _service(Context.from_env()).add(network, name, values, secrets, discover=True)
    for note in view.notes:
        click.echo(f"postmast: note: {note}", err=True)
    if as_json:
        emit_json(view.as_dict())
    else:
        click.echo(f"added {view.target} (secrets stored encrypted: {', '.join(view.secrets) or 'none'})")


@account.command("update")
@click.argument("target")
@click.option(
    "--set", "settings", multiple=True, metavar="KEY=VALUE", help="A setting to change (repeatable)."
)
@click.option("--secrets", "ask_secrets", is_flag=True, help="Replace the secrets (hidden prompt).")
@click.option("--secrets-from-stdin", is_flag=True, help="Replace the secrets from KEY=VALUE lines on stdin.")
@click.option("--allow-insecure", is_flag=True, help=INSECURE_HELP)
@json_option
def update(
    target: str,
    settings: tuple[str, ...],
    ask_secrets: bool,
    secrets_from_stdin: bool,
    allow_insecure: bool,
    as_json: bool,
) -> None:
    """Change settings or secrets; this also clears a needs-re-authorisation flag.

    \b
    Example:
      postmast account update mastodon:brand --secrets
    """
    ctx = Context.from_env()
    service = _service(ctx)
    current = service.get(target)
    cls = connector_class(current.network)
    secrets = None
    if secrets_from_stdin:
        secrets = read_secret_lines()
    elif ask_secrets:
        secrets = prompt_secrets(cls)
    changes = parse_pairs(settings, "setting")
    if allow_insecure:
        changes[ALLOW_INSECURE] = "true"
    view = service.update(target, changes, secrets, discover=True)
    for note in view.notes:
        click.echo(f"postmast: note: {note}", err=True)
    if as_json:
        emit_json(view.as_dict())
    else:
        click.echo(f"updated {view.target} (status: {view.status})")


@account.command("list")
@click.option("--all", "include_removed", is_flag=True, help="Include removed accounts.")
@json_option
def list_accounts(include_removed: bool, as_json: bool) -> None:
    """List accounts; secrets show as a mask.

    \b
    Example:
      postmast account list --json
    """
    views = _service(Context.from_env()).all(include_removed=include_removed)
    if as_json:
        emit_json({"accounts": [v.as_dict() for v in views]})
        return
    if not views:
        click.echo("no accounts yet; add one with: postmast account add NETWORK NAME --set KEY=VALUE")
        return
    rows = [
        (
            v.id,
            v.target,
            v.status + (f" ({v.status_reason})" if v.status_reason else ""),
            " ".join(f"{k}={val}" for k, val in v.settings.items()),
            " ".join(f"{k}={val}" for k, val in v.secrets.items()),
        )
        for v in views
    ]
    console().print(
        table(None, ["id", "account", "status", "settings", "secrets"], rows, wide=["settings", "status"])
    )


@account.command("remove")
@click.argument("target")
@click.option("--cancel-pending", is_flag=True, help="Cancel the account's deliveries that have not started.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove(target: str, cancel_pending: bool, yes: bool) -> None:
    """Remove an account; its past deliveries stay in reports.

    \b
    Example:
      postmast account remove mastodon:old-brand --cancel-pending --yes
    """
    service = _service(Context.from_env())
    view = service.get(target)
    if not yes:
        click.confirm(f"Remove {view.target}?", abort=True, err=True)
    cancelled = service.remove(target, cancel_pending=cancel_pending)
    click.echo(
        f"removed {view.target}" + (f"; cancelled {cancelled} pending deliveries" if cancelled else "")
    )


@account.command("networks")
@json_option
def networks(as_json: bool) -> None:
    """List the networks postmast can post to: the settings and secrets each needs, and the
    post options it takes (--option NAME=VALUE; --json shows each option's values and help).

    \b
    Example:
      postmast account networks
    """
    found = available()
    if as_json:
        emit_json(
            {
                "networks": [
                    {
                        "network": cls.name,
                        "title": cls.title,
                        "max_length": cls.max_length,
                        "settings": [
                            {"name": f.name, "required": f.required, "help": f.help}
                            for f in cls.settings_fields
                        ],
                        "secrets": [
                            {"name": f.name, "required": f.required, "help": f.help}
                            for f in cls.secret_fields
                        ],
                        "options": [option.as_dict() for option in cls.options],
                        "sign_in": [
                            {
                                "name": m.name,
                                "title": m.title,
                                "secrets": list(m.fields),
                                "optional": list(m.optional),
                            }
                            for m in cls.secret_methods()
                        ],
                        "setup": cls.setup,
                    }
                    for cls in found.values()
                ]
            }
        )
        return
    rows = [
        (
            cls.name,
            cls.max_length,
            ", ".join(f.name + ("" if f.required else "?") for f in cls.settings_fields),
            ", ".join(f.name + ("" if f.required else "?") for f in cls.secret_fields),
            ", ".join(option.name for option in cls.options) or "-",
            cls.setup,
        )
        for cls in found.values()
    ]
    console().print(
        table(
            None,
            ["network", "limit", "settings", "secrets", "options", "setup"],
            rows,
            wide=["settings", "secrets", "setup"],
        )
    )


@account.command("connect")
@click.argument("network")
@click.argument("name")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="A setting (repeatable).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Loopback port for the redirect (0: any free one; X needs the one registered with the app).",
)
@click.option("--no-browser", is_flag=True, help="Do not open a browser; print the address only.")
@click.option(
    "--timeout",
    type=click.IntRange(10, 3600),
    default=300,
    show_default=True,
    help="Seconds to wait for the sign-in.",
)
@click.option("--allow-insecure", is_flag=True, help=INSECURE_HELP)
@json_option
def connect(
    network: str,
    name: str,
    settings: tuple[str, ...],
    port: int,
    no_browser: bool,
    timeout: int,
    allow_insecure: bool,
    as_json: bool,
) -> None:
    """Connect an account by the network's own sign-in: OAuth 2.0 in a browser (X, LinkedIn,
    Facebook, Instagram and Threads with --set client_id=ID; Google Business Profile, Pinterest and
    Reddit with --set oauth_client_id=ID; Mastodon: postmast registers its app on the instance), or
    a hidden prompt for the rest (Bluesky handle and app password, bot tokens, webhook URLs, X's
    OAuth 1.0a keys).
    An existing account gets the new credentials. Nothing secret is taken from the command line.

    \b
    Example:
      postmast account connect mastodon brand --set instance=https://mastodon.social
      postmast account connect x brand --set client_id=YOUR_CLIENT_ID --port 8765
      postmast account connect bluesky brand --set handle=brand.bsky.social
    """
    from postmast.scheduler.connect import Connection, Terminal, signs_in_with_oauth

    network = network.lower()
    values = parse_pairs(settings, "setting")
    if allow_insecure:
        values[ALLOW_INSECURE] = "true"
    values = prompt_settings(connector_class(network), values)
    ctx = Context.from_env()
    if signs_in_with_oauth(network, values):
        terminal = Terminal(
            show=lambda url: show_sign_in(url, browser=not no_browser),
            wait=lambda callback: wait_for_redirect(callback, timeout=timeout),
            ask_secret=lambda field, help_text: (
                click.prompt(
                    f"{field} ({help_text})", hide_input=True, default="", show_default=False, err=True
                )
                if sys.stdin.isatty()
                else ""
            ),
        )
        view = Connection(ctx.store, ctx.vault).connect(network, name, values, terminal, port=port)
    else:
        cls = connector_class(network)
        secrets = prompt_secrets(cls)
        service = _service(ctx)
        existing = {v.target for v in service.all()}
        target = f"{network}:{name}"
        view = (
            service.update(target, values, secrets, discover=True)
            if target in existing
            else service.add(network, name, values, secrets, discover=True)
        )
    for note in view.notes:
        click.echo(f"postmast: note: {note}", err=True)
    if as_json:
        emit_json(view.as_dict())
    else:
        click.echo(
            f"connected {view.target} (status: {view.status}; "
            f"secrets stored encrypted: {', '.join(view.secrets) or 'none'})"
        )


@account.command("check")
@click.argument("target", required=False)
@json_option
def check(target: str | None, as_json: bool) -> None:
    """Ask each network who the stored credentials are: healthy, expiring in N days, or needs
    re-authorisation, with the command that fixes it. Exits 1 when an account needs you.

    \b
    Example:
      postmast account check
      postmast account check mastodon:brand --json
    """
    from postmast.scheduler.checkup import BAD, Checkup

    ctx = Context.from_env()
    found = Checkup(ctx.store, ctx.vault).run(target)
    if as_json:
        emit_json({"accounts": [h.as_dict() for h in found]})
    elif not found:
        click.echo("no accounts yet; add one with: postmast account add NETWORK NAME")
    else:
        rows = [(h.target, h.state.replace("_", " "), h.detail, h.fix or "-") for h in found]
        console().print(table(None, ["account", "state", "detail", "fix"], rows, wide=["detail", "fix"]))
    if any(h.state in BAD for h in found):
        sys.exit(1)


@account.command("rotate-key")
@click.option(
    "--new-key-from-stdin",
    is_flag=True,
    help="Read the new key from stdin (needed when the key comes from POSTMAST_SECRET_KEY or its file).",
)
@json_option
def rotate_key(new_key_from_stdin: bool, as_json: bool) -> None:
    """Re-encrypt every account's secrets under a new key, in one transaction (a crash
    half-way leaves the old key working). With postmast's own key file a new key is made
    and replaces it; a key from the environment must be installed by you afterwards.
    Stop workers and schedulers first, and start them again after.

    \b
    Example:
      postmast account rotate-key
      postmast key generate > new.key && postmast account rotate-key --new-key-from-stdin < new.key
    """
    from postmast.scheduler.rotation import rotate_key as rotate

    new_key = None
    if new_key_from_stdin:
        new_key = sys.stdin.readline().strip()
        if not new_key:
            raise UserError("no key on stdin (make one with: postmast key generate)")
    ctx = Context.from_env()
    done = rotate(ctx.store, ctx.settings, new_key)
    if as_json:
        emit_json(done.as_dict())
    elif done.key_file is not None:
        click.echo(f"re-encrypted the secrets of {done.accounts} accounts; the new key is in {done.key_file}")
    else:
        click.echo(
            f"re-encrypted the secrets of {done.accounts} accounts; now put the new key in "
            "POSTMAST_SECRET_KEY (or the file POSTMAST_SECRET_KEY_FILE names) and restart postmast"
        )


COMMANDS = [account]
