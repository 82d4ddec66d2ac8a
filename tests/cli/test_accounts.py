"""`postmast account ...`: secrets never shown, bad input refused in one line, nothing written."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest
from sqlalchemy import create_engine, text

from postmast.connectors import Content, available
from postmast.connectors.mastodon import Mastodon
from postmast.scheduler.store import Store
from postmast.scheduler.vault import MASK, Vault, generate_key
from tests.cli.conftest import SECRET, Cli, as_json, error_line, ok
from tests.conftest import REPO
from tests.servers.mastodon import MastodonServer


def stored_secrets(db_url: str, data_dir: Path, target_id: int) -> dict[str, str]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            token = connection.execute(
                text("SELECT secrets FROM accounts WHERE id = :id"), {"id": target_id}
            ).scalar_one()
    finally:
        engine.dispose()
    assert SECRET.encode() not in token
    return Vault.from_settings(None, data_dir / "secret.key").decrypt(token)


def test_add_webhook_without_secrets(cli: Cli, counts: Callable[[], dict[str, int]]) -> None:
    result = ok(cli("account", "add", "webhook", "team", "--set", "url=http://127.0.0.1:9/hook"))
    assert result.out == "added webhook:team (secrets stored encrypted: none)\n"
    assert counts()["accounts"] == 1


def test_add_mastodon_with_secrets_from_stdin(cli: Cli, db_url: str, data_dir: Path) -> None:
    result = ok(
        cli(
            "account",
            "add",
            "mastodon",
            "brand",
            "--set",
            "instance=https://mastodon.example",
            "--secrets-from-stdin",
            input=f"# my token\n\naccess_token={SECRET}\n",
        )
    )
    assert result.out == "added mastodon:brand (secrets stored encrypted: access_token)\n"
    [account] = as_json(cli("account", "list", "--json"))["accounts"]
    assert stored_secrets(db_url, data_dir, account["id"]) == {"access_token": SECRET}


def test_secret_never_appears_in_any_output(cli: Cli, two_accounts: dict[str, int]) -> None:
    runs = [
        cli("account", "list"),
        cli("account", "list", "--json"),
        cli("account", "list", "--all"),
        cli("account", "update", "mastodon:brand", "--set", "visibility=unlisted"),
        cli(
            "account",
            "update",
            "mastodon:brand",
            "--json",
            "--secrets-from-stdin",
            input=f"access_token={SECRET}\n",
        ),
        cli("config", "--json"),
        cli(
            "account",
            "add",
            "mastodon",
            "brand",
            "--set",
            "instance=http://127.0.0.1:9",
            "--secrets-from-stdin",
            input=f"access_token={SECRET}\n",
        ),  # a duplicate: refused
        cli("post", "hi", "--to", "mastodon:brand", "--dry-run", "--json"),
    ]
    for result in runs:
        assert SECRET not in result.out and SECRET not in result.err, result
    # every run did what it should (the duplicate add is refused, without echoing what it was given)
    assert [r.code for r in runs] == [0, 0, 0, 0, 0, 0, 1, 0]
    assert "access_token=" + MASK in runs[0].out
    assert json.loads(runs[4].out)["secrets"] == {"access_token": MASK}


def test_account_list_json_shape(cli: Cli, two_accounts: dict[str, int]) -> None:
    data = as_json(cli("account", "list", "--json"))
    assert list(data) == ["accounts"]
    brand, team = data["accounts"]
    assert set(brand) == {
        "id",
        "target",
        "network",
        "name",
        "status",
        "status_reason",
        "settings",
        "secrets",
        "created_at",
    }
    assert (brand["target"], brand["status"], brand["secrets"]) == (
        "mastodon:brand",
        "active",
        {"access_token": MASK},
    )
    assert brand["settings"] == {"instance": "http://127.0.0.1:9"}
    assert (team["target"], team["secrets"], team["settings"]) == (
        "webhook:team",
        {},
        {"url": "http://127.0.0.1:9/hook"},
    )
    assert team["id"] == two_accounts["webhook:team"]


def test_account_list_table(cli: Cli, two_accounts: dict[str, int]) -> None:
    out = ok(cli("account", "list")).out
    assert "mastodon:brand" in out and "webhook:team" in out
    assert "instance=http://127.0.0.1:9" in out


def test_account_list_empty(cli: Cli) -> None:
    assert "no accounts yet" in ok(cli("account", "list")).out
    assert as_json(cli("account", "list", "--json")) == {"accounts": []}


@pytest.mark.parametrize(
    ("stdin", "fragments"),
    [
        (f"{SECRET}\n", ["line 1 of the secrets on stdin is not KEY=VALUE (its value is not shown)"]),
        (f"access_token {SECRET}\n", ["line 1 of the secrets on stdin is not KEY=VALUE"]),
        (f"# comment\naccess_token=x\n={SECRET}\n", ["line 2 of the secrets on stdin is not KEY=VALUE"]),
        (b"access_token=SEKRET\xff\xfe123\n", ["the secrets on stdin are not valid UTF-8 text"]),
        ("access_token=SEK\x00RET123\n", ["secret 'access_token' contains control characters"]),
        ("access_token=SEK\x1bRET123\n", ["secret 'access_token' contains control characters"]),
        (f"access_token={SECRET}\naccess_token={SECRET}\n", ["secret 'access_token' is given twice"]),
        (f"access_token={SECRET}\ntoken={SECRET}\n", ["an unknown secret name was given for mastodon"]),
        ("", ["missing secret 'access_token'"]),
    ],
)
def test_unreadable_secrets_on_stdin(
    cli: Cli,
    two_accounts: dict[str, int],
    counts: Callable[[], dict[str, int]],
    stdin: str | bytes,
    fragments: list[str],
) -> None:
    before = counts()
    result = cli(
        "account",
        "add",
        "mastodon",
        "other",
        "--set",
        "instance=http://127.0.0.1:9",
        "--secrets-from-stdin",
        input=stdin,
    )
    line = error_line(result, *fragments)
    assert "SEK" not in line and "RET123" not in line and result.out == ""
    assert counts() == before


def test_required_secrets_without_a_terminal(
    cli: Cli, two_accounts: dict[str, int], counts: Callable[[], dict[str, int]]
) -> None:
    before = counts()
    result = cli("account", "add", "mastodon", "other", "--set", "instance=http://127.0.0.1:9")
    error_line(result, "no terminal to ask for secrets; pass them with --secrets-from-stdin")
    assert counts() == before


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["myspace", "x"],
            [f"unknown network 'myspace' (known: {', '.join(available())})"],
        ),
        (
            ["webhook", "bad name", "--set", "url=http://127.0.0.1:9/h"],
            ["account name 'bad name' is not valid"],
        ),
        (["webhook", "team2"], ["webhook:team2: missing setting 'url'"]),
        (["webhook", "team2", "--set", "url=not-a-url"], ["url must be an absolute http(s) URL"]),
        (["webhook", "team2", "--set", "url"], ["setting 'url'... must look like KEY=VALUE"]),
        (
            ["webhook", "team2", "--set", "url=http://a.example", "--set", "url=http://b.example"],
            ["setting 'url' is given twice"],
        ),
        (
            ["webhook", "team2", "--set", "url=http://a.example", "--set", "colour=red"],
            ["unknown setting 'colour' for webhook"],
        ),
        (
            ["webhook", "team", "--set", "url=http://127.0.0.1:9/hook"],
            ["account webhook:team already exists"],
        ),
        (["webhook"], ["Missing argument 'NAME'"]),
    ],
)
def test_bad_account_add(
    cli: Cli,
    two_accounts: dict[str, int],
    counts: Callable[[], dict[str, int]],
    args: list[str],
    fragments: list[str],
) -> None:
    before = counts()
    error_line(cli("account", "add", *args), *fragments)
    assert counts() == before


def test_account_remove(cli: Cli, two_accounts: dict[str, int]) -> None:
    ok(cli("post", "later", "--to", "webhook:team", "--at", "in 2h"))
    line = error_line(cli("account", "remove", "webhook:team", "--yes"))
    assert "webhook:team has 1 pending deliveries" in line
    result = ok(cli("account", "remove", "webhook:team", "--yes", "--cancel-pending"))
    assert result.out == "removed webhook:team; cancelled 1 pending deliveries\n"
    assert ok(cli("account", "remove", "mastodon:brand", "--yes")).out == "removed mastodon:brand\n"
    assert as_json(cli("account", "list", "--json")) == {"accounts": []}
    removed = as_json(cli("account", "list", "--all", "--json"))["accounts"]
    assert [a["status"] for a in removed] == ["removed", "removed"]
    error_line(cli("account", "remove", "webhook:team", "--yes"), "no account webhook:team")
    # the name can be used again
    ok(cli("account", "add", "webhook", "team", "--set", "url=http://127.0.0.1:9/hook"))


def test_account_remove_asks_for_confirmation(cli: Cli, two_accounts: dict[str, int]) -> None:
    refused = cli("account", "remove", "webhook:team", input="n\n")
    # the question goes to stderr, then the one error line
    assert (refused.code, refused.err) == (130, "Remove webhook:team? [y/N]: n\npostmast: error: aborted\n")
    assert len(as_json(cli("account", "list", "--json"))["accounts"]) == 2
    result = cli("account", "remove", "webhook:team", input="y\n")
    assert result.code == 0
    assert "Remove webhook:team?" in result.err
    assert len(as_json(cli("account", "list", "--json"))["accounts"]) == 1


def test_account_networks_json(cli: Cli) -> None:
    data = as_json(cli("account", "networks", "--json"))
    networks = {n["network"]: n for n in data["networks"]}
    assert {"mastodon", "webhook"} <= set(networks)
    mastodon = networks["mastodon"]
    assert set(mastodon) == {
        "network",
        "title",
        "max_length",
        "settings",
        "secrets",
        "options",
        "sign_in",
        "setup",
    }
    assert [m["name"] for m in networks["x"]["sign_in"]] == ["oauth1", "oauth2"]
    assert networks["x"]["sign_in"][0]["secrets"] == [
        "consumer_key",
        "consumer_secret",
        "access_token",
        "access_token_secret",
    ]
    assert mastodon["sign_in"] == [
        {"name": "secrets", "title": "Mastodon secrets", "secrets": ["access_token"], "optional": []}
    ]
    visibility = next(o for o in mastodon["options"] if o["name"] == "visibility")
    assert visibility["kind"] == "choice" and "unlisted" in visibility["choices"]
    assert networks["webhook"]["options"] == []
    assert mastodon["max_length"] == 500
    assert {
        "name": "access_token",
        "required": True,
        "help": "an access token with the write:statuses scope",
    } in mastodon["secrets"]
    assert [s["name"] for s in mastodon["settings"] if s["required"]] == ["instance"]
    assert networks["webhook"]["max_length"] == 65536
    table = ok(cli("account", "networks")).out
    assert "mastodon" in table and "spoiler_text" in table


def test_update_secrets_from_stdin_clears_needs_reauth(
    cli: Cli, two_accounts: dict[str, int], db_url: str, data_dir: Path
) -> None:
    engine = create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE accounts SET status = 'needs_reauth', status_reason = 'token revoked' "
                "WHERE network = 'mastodon'"
            )
        )
    engine.dispose()
    brand = next(
        a for a in as_json(cli("account", "list", "--json"))["accounts"] if a["network"] == "mastodon"
    )
    assert (brand["status"], brand["status_reason"]) == ("needs_reauth", "token revoked")
    error_line(cli("post", "hi", "--to", "mastodon:brand"), "account needs re-authorisation (token revoked)")
    result = ok(
        cli("account", "update", "mastodon:brand", "--secrets-from-stdin", input="access_token=NEWTOKEN9\n")
    )
    assert result.out == "updated mastodon:brand (status: active)\n"
    assert stored_secrets(db_url, data_dir, brand["id"]) == {"access_token": "NEWTOKEN9"}
    ok(cli("post", "hi", "--to", "mastodon:brand"))


def test_update_refuses_bad_input(cli: Cli, two_accounts: dict[str, int]) -> None:
    error_line(
        cli("account", "update", "mastodon:ghost", "--set", "visibility=public"), "no account mastodon:ghost"
    )
    error_line(
        cli("account", "update", "mastodon:brand", "--set", "visibility=loud"), "visibility must be one of"
    )
    error_line(cli("account", "update", "mastodon:brand", "--secrets"), "no terminal to ask for secrets")
    [brand] = [a for a in as_json(cli("account", "list", "--json"))["accounts"] if a["network"] == "mastodon"]
    assert brand["settings"] == {"instance": "http://127.0.0.1:9"}


# -- a real terminal ---------------------------------------------------------------------------------


def test_hidden_prompt_under_a_pseudo_terminal(tmp_path: Path) -> None:
    token = "PTY-secret-7Qx9zK"
    server = MastodonServer({token: "alice"})
    server.start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POSTMAST_")}
        env.update(
            {
                "POSTMAST_DATA_DIR": str(tmp_path / "data"),
                "TZ": "UTC",
                "TERM": "dumb",
                "PYTHONPATH": str(REPO),
            }
        )
        child = pexpect.spawn(
            sys.executable,
            ["-m", "postmast", "account", "add", "mastodon", "brand", "--set", f"instance={server.url}"],
            env=env,
            cwd=str(REPO),
            encoding="utf-8",
            timeout=30,
        )
        transcript: list[str] = []
        child.logfile_read = _Collect(transcript)
        child.expect(r"access_token \(an access token with the write:statuses scope\): ")
        child.sendline(token)
        child.expect(pexpect.EOF)
        child.close()
        output = "".join(transcript)
        assert child.exitstatus == 0, output
        assert "added mastodon:brand (secrets stored encrypted: access_token)" in output
        assert token not in output
        assert "PTY-" not in output

        # the account works: its stored credentials publish to the (contract) server
        store = Store(f"sqlite:///{tmp_path / 'data' / 'postmast.db'}")
        with store.read() as session:
            settings, secrets = session.execute(text("SELECT settings, secrets FROM accounts")).one()
        store.dispose()
        credentials = Vault.from_settings(None, tmp_path / "data" / "secret.key").decrypt(bytes(secrets))
        assert credentials == {"access_token": token}
        connector = Mastodon(settings if isinstance(settings, dict) else json.loads(settings))
        result = connector.publish(Content("typed at a hidden prompt"), credentials, "idem-pty-1")
        assert [(c["id"], c["token"], c["text"]) for c in server.created] == [
            (result.remote_id, token, "typed at a hidden prompt")
        ]
    finally:
        server.stop()


class _Collect:
    def __init__(self, into: list[str]) -> None:
        self.into = into

    def write(self, data: str) -> None:
        self.into.append(data)

    def flush(self) -> None:
        pass


def test_a_clear_text_endpoint_needs_allow_insecure(cli: Cli) -> None:
    far = ["account", "add", "mastodon", "far", "--set", "instance=http://192.0.2.1", "--secrets-from-stdin"]
    error_line(
        cli(*far, input="access_token=tok\n"),
        "mastodon:far: instance is http://192.0.2.1: credentials would cross the network in clear text",
        "--allow-insecure",
    )
    error_line(
        cli("account", "add", "webhook", "far", "--set", "url=http://hooks.example.org/x", input=""),
        "url is http://hooks.example.org",
    )
    assert as_json(cli("account", "list", "--json")) == {"accounts": []}
    ok(
        cli("account", "add", "webhook", "near", "--set", "url=http://127.0.0.1:9/x", input="")
    )  # this machine
    lab = [
        "account",
        "add",
        "webhook",
        "lab",
        "--set",
        "url=http://192.0.2.1/x",
        "--allow-insecure",
        "--json",
    ]
    added = as_json(cli(*lab, input=""))
    assert added["settings"] == {"url": "http://192.0.2.1/x", "allow_insecure": "true"}  # kept for the worker
    ok(cli("account", "update", "webhook:lab", "--set", "url=http://192.0.2.2/x"))  # still allowed
    error_line(cli("account", "update", "webhook:lab", "--set", "allow_insecure="), "url is http://192.0.2.2")


def test_rotate_key_through_the_cli(
    cli: Cli, two_accounts: dict[str, int], db_url: str, data_dir: Path
) -> None:
    old_key = (data_dir / "secret.key").read_bytes()
    done = as_json(cli("account", "rotate-key", "--json"))
    assert done == {"accounts": 2, "key_file": str(data_dir / "secret.key")}
    assert (data_dir / "secret.key").read_bytes() != old_key
    assert stored_secrets(db_url, data_dir, two_accounts["mastodon:brand"]) == {"access_token": SECRET}
    error_line(
        cli("account", "rotate-key", env={"POSTMAST_SECRET_KEY": generate_key()}),
        "give the new key on stdin",
    )


def test_account_check(cli: Cli, two_accounts: dict[str, int], db_url: str) -> None:
    data = as_json(cli("account", "check", "--json"))
    assert [(a["target"], a["state"]) for a in data["accounts"]] == [
        ("mastodon:brand", "unreachable"),
        ("webhook:team", "uncheckable"),
    ]
    server = MastodonServer({"good-token": "alice"})
    server.start()
    try:
        engine = create_engine(db_url)
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE accounts SET settings = :s WHERE network = 'mastodon'"),
                {"s": json.dumps({"instance": server.url})},
            )
        engine.dispose()
        refused = cli("account", "check", "mastodon:brand")
        assert refused.code == 1, refused
        assert (
            "needs reauth" in refused.out
            and "postmast account update mastodon:brand --secrets" in refused.out
        )
        assert SECRET not in refused.out + refused.err
        ok(
            cli(
                "account",
                "update",
                "mastodon:brand",
                "--secrets-from-stdin",
                input="access_token=good-token\n",
            )
        )
        fixed = as_json(cli("account", "check", "mastodon:brand", "--json"))["accounts"]
        assert [a["state"] for a in fixed] == ["healthy"]
    finally:
        server.stop()


def test_the_three_frictions_through_the_cli(cli: Cli, two_accounts: dict[str, int]) -> None:
    duplicate = error_line(cli("account", "add", "webhook", "team", "--set", "url=http://127.0.0.1:9/hook"))
    assert "already exists; to change its settings or secrets run: postmast account update webhook:team" in (
        duplicate
    )
    error_line(
        cli("account", "update", "mastodon:brand", "--set", "instance=http://127.0.0.1:9"),
        "mastodon:brand: nothing to change",
    )
    error_line(cli("account", "update", "mastodon:brand"), "nothing to change")
    error_line(
        cli("account", "add", "mastadon", "brand"), "unknown network 'mastadon'", "did you mean 'mastodon'?"
    )
    error_line(cli("account", "update", "blusky:brand", "--set", "a=b"), "did you mean 'bluesky'?")
