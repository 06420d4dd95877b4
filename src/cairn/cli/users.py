"""`cairn users` and `cairn tokens`: who may use `cairn serve`, and the API tokens they use.
Thin adapters over store/users.py. Passwords and tokens are printed once and stored only
hashed; every change is one custody entry (the `users` chain); a refusal exits 2 naming the
value and writes nothing."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
from rich.table import Table

from cairn.cli.common import _emit_json, _fail, _store, out

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
STDIN_OPTION = click.option("--password-stdin", is_flag=True,
                            help="Read the password from the first line of standard input "
                                 "instead of generating one.")
ROLE_CHOICE = click.Choice(["admin", "examiner", "reviewer", "auditor"])
SCOPE_CHOICE = click.Choice(["lookup", "read", "write"])


def _do(call: Callable[[], Any]) -> Any:
    from cairn.store.users import UserError

    try:
        return call()
    except UserError as e:
        _fail(str(e))


def _read_password(password_stdin: bool) -> str | None:
    if not password_stdin:
        return None
    line = sys.stdin.readline()
    if not line:
        _fail("--password-stdin: standard input is empty")
    return line.rstrip("\r\n")


def _table(rows: list[dict], columns: tuple[str, ...]) -> None:
    table = Table(*columns)
    for r in rows:
        table.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in columns))
    out.print(table)


def _secret(as_json: bool, record: dict, line: str, secret: str) -> None:
    """A password or token: printed once, on its own line (or in the JSON)."""
    if as_json:
        _emit_json(record)
        return
    out.print(line, highlight=False)
    click.echo(secret)


# -- users ------------------------------------------------------------------------------------
@click.group("users")
def users_group() -> None:
    """People who log in to `cairn serve`: admin, examiner, reviewer or auditor."""


USER_COLUMNS = ("name", "role", "created_at", "disabled_at", "failed_logins", "locked_until")


@users_group.command("add")
@click.argument("name")
@click.option("--role", required=True, type=ROLE_CHOICE,
              help="admin: everything, users too; examiner: reads and changes granted cases; "
                   "reviewer: reads and reviews granted cases; auditor: custody logs only.")
@STDIN_OPTION
@JSON_OPTION
@click.pass_context
def users_add(ctx: click.Context, name: str, role: str, password_stdin: bool,
              as_json: bool) -> None:
    """Add a user; prints the password once (generated unless --password-stdin)."""
    from cairn.store import users

    given = _read_password(password_stdin)
    user, password = _do(lambda: users.add_user(_store(ctx), name, role, given))
    if given is not None:
        _emit_json(user.public()) if as_json else out.print(
            f"user {name} added ({role})", highlight=False)
        return
    _secret(as_json, user.public() | {"password": password},
            f"user {name} added ({role}); password (shown once, give it securely):", password)


@users_group.command("list")
@JSON_OPTION
@click.pass_context
def users_list(ctx: click.Context, as_json: bool) -> None:
    """Users, their roles, and whether they are disabled or locked."""
    from cairn.store import users

    rows = [u.public() for u in users.users(_store(ctx))]
    _emit_json(rows) if as_json else _table(rows, USER_COLUMNS)


@users_group.command("logins")
@click.argument("name", required=False)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@JSON_OPTION
@click.pass_context
def users_logins(ctx: click.Context, name: str | None, limit: int, as_json: bool) -> None:
    """The latest login attempts to `cairn serve` (of NAME, or every name), newest first:
    when, from which address, and the outcome (ok, wrong_password, locked, disabled,
    unknown_user)."""
    from cairn.store import logins

    rows = logins.attempts(_store(ctx), name, limit)
    _emit_json(rows) if as_json else _table(rows, ("at", "user_name", "remote", "outcome"))


@users_group.command("prune-logins")
@click.option("--older-than", default="90d", show_default=True,
              help="Delete the attempts older than this: 30d, 12h, 90m (at least the "
                   "15 min lockout window).")
@JSON_OPTION
@click.pass_context
def users_prune_logins(ctx: click.Context, older_than: str, as_json: bool) -> None:
    """Delete old login attempts. `cairn serve` keeps 90 days and prunes older ones as it
    records new ones; this empties the record further, or at once."""
    import re

    from cairn.store import logins

    m = re.fullmatch(r"(\d{1,6})([dhm])", older_than.strip())
    if not m:
        _fail(f"--older-than {older_than!r}: a number and d, h or m (30d, 12h, 90m)")
    keep_s = int(m[1]) * {"d": 86_400, "h": 3_600, "m": 60}[m[2]]
    if keep_s < logins.KEEP_MIN_S:
        _fail(f"--older-than {older_than!r}: at least {logins.KEEP_MIN_S // 60}m, the longest "
              "lockout (the attempts behind a lock in force are kept)")
    n = logins.prune_all(_store(ctx), keep_s)
    _emit_json({"deleted": n, "older_than_s": keep_s}) if as_json else out.print(
        f"{n} login attempts older than {older_than} deleted", highlight=False)


def _switch(command: str, disabled: bool, doc: str) -> None:
    @click.argument("name")
    @JSON_OPTION
    @click.pass_context
    def cmd(ctx: click.Context, name: str, as_json: bool) -> None:
        from cairn.store import users

        user = _do(lambda: users.set_disabled(_store(ctx), name, disabled))
        _emit_json(user.public()) if as_json else out.print(
            f"user {name} {'disabled' if disabled else 'enabled'}", highlight=False)

    cmd.__doc__ = doc
    users_group.command(command)(cmd)


_switch("disable", True, "Disable a user: their tokens and sessions stop working at once.")
_switch("enable", False, "Enable a disabled user again (their tokens that are not revoked or "
        "expired work again).")


@users_group.command("reset-password")
@click.argument("name")
@STDIN_OPTION
@JSON_OPTION
@click.pass_context
def users_reset(ctx: click.Context, name: str, password_stdin: bool, as_json: bool) -> None:
    """Set a new password (printed once unless --password-stdin); clears the login back-off
    and ends the user's browser sessions."""
    from cairn.store import users

    given = _read_password(password_stdin)
    password = _do(lambda: users.reset_password(_store(ctx), name, given))
    if given is not None:
        _emit_json({"name": name}) if as_json else out.print(
            f"password of {name} reset", highlight=False)
        return
    _secret(as_json, {"name": name, "password": password},
            f"new password of {name} (shown once, give it securely):", password)


# -- tokens -----------------------------------------------------------------------------------
@click.group("tokens")
def tokens_group() -> None:
    """API tokens: `Authorization: Bearer cairn_…`; stored only as their SHA-256."""


TOKEN_COLUMNS = ("id", "user", "name", "scope", "prefix", "status", "created_at",
                 "expires_at", "last_used_at")


@tokens_group.command("create")
@click.option("--user", "user_name", required=True, help="Whose token.")
@click.option("--scope", required=True, type=SCOPE_CHOICE,
              help="lookup: hash lookups only; read: also cases and custody; write: "
                   "everything the user's role may do.")
@click.option("--expires", default="90d", show_default=True,
              help="Lifetime: 30d, 12h, 90m, or never.")
@click.option("--name", help="What it is for (shown in listings).")
@JSON_OPTION
@click.pass_context
def tokens_create(ctx: click.Context, user_name: str, scope: str, expires: str,
                  name: str | None, as_json: bool) -> None:
    """Create a token for a user; prints it once."""
    from cairn.store import users

    life = _do(lambda: users.parse_expires(expires))
    token, secret = _do(lambda: users.create_token(_store(ctx), user_name, scope, life, name))
    _secret(as_json, token.public() | {"token": secret},
            f"token {token.id} ({scope}) for {user_name}, expires "
            f"{token.expires_at or 'never'}; shown once, keep it secret:", secret)


@tokens_group.command("list")
@click.option("--user", "user_name", help="Only this user's tokens.")
@JSON_OPTION
@click.pass_context
def tokens_list(ctx: click.Context, user_name: str | None, as_json: bool) -> None:
    """Tokens with their status (active, revoked, expired) and when each was last used."""
    from cairn.store import users

    rows = [tok.public() for tok in _do(lambda: users.tokens(_store(ctx), user_name))]
    _emit_json(rows) if as_json else _table(rows, TOKEN_COLUMNS)


@tokens_group.command("revoke")
@click.argument("token", metavar="ID_OR_PREFIX")
@JSON_OPTION
@click.pass_context
def tokens_revoke(ctx: click.Context, token: str, as_json: bool) -> None:
    """Revoke a token (by the id or the prefix `cairn tokens list` shows); it stops working
    at once."""
    from cairn.store import users

    tok = _do(lambda: users.revoke_token(_store(ctx), token))
    _emit_json(tok.public()) if as_json else out.print(
        f"token {tok.id} ({tok.prefix}…) of {tok.user} revoked", highlight=False)


GROUPS = (users_group, tokens_group)
