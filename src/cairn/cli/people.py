"""`cairn suspects`, `devices`, `actions`, `operations`, `cases`: who the evidence was seized
from, what was done about it, and a case's lifecycle. Thin adapters over store/people.py;
values are checked by cases/people.py. Every change is one custody entry; a refused one
(exit 2, the value named) writes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import click
from rich.table import Table

from cairn.cases.people import (
    ACTION_KINDS,
    DEVICE_KINDS,
    PeopleError,
    check_choice,
    check_country,
    check_date,
    check_identifier,
    check_imei,
    check_key,
    check_text,
    check_when,
)
from cairn.cli.common import _emit_json, _fail, _store, existing_case, out

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
CASE_OPTION = click.option("--case", "case", required=True, help="The case.")
IDENTIFIER_OPTIONS = (("account", "platform:NAME, e.g. telegram:user-0042"),
                      ("payment", "a payment identifier (IBAN, wallet address, card token)"),
                      ("email", "an e-mail address"), ("phone", "a phone number (E.164)"))


def _people(ctx: click.Context):  # noqa: ANN202 - a People
    from cairn.store.people import People

    return People(_store(ctx))


def _do(call: Callable[[], Any]) -> Any:
    """Run a check or a change; a refusal exits 2 with its message."""
    from sqlalchemy.exc import IntegrityError

    try:
        return call()
    except PeopleError as e:
        _fail(str(e))
    except IntegrityError as e:  # the same id added at the same moment by another process
        _fail(f"refused by the database, nothing written (a concurrent change?): {e.orig}")


def _public(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "source_ids"}


def _emit(records: dict | list[dict], as_json: bool, columns: Iterable[str]) -> None:
    """One record as `field: value` lines, several as a table; JSON as it is (a list stays
    a list, one record is an object)."""
    if as_json:
        _emit_json([_public(r) for r in records] if isinstance(records, list)
                   else _public(records))
        return
    if isinstance(records, dict):
        for k, v in _public(records).items():
            if v not in (None, [], {}):
                out.print(f"{k}: {_cell(v)}", highlight=False, soft_wrap=True)
        return
    cols = list(columns)
    table = Table(*cols)
    for r in records:
        table.add_row(*(_cell(r.get(c)) for c in cols))
    out.print(table)


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return ", ".join(map(str, v))
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_cell(x)}" for k, x in v.items() if x)
    return str(v)


def _identifier_options(prefix: str, help_fmt: str) -> Callable:
    def deco(f: Callable) -> Callable:
        for kind, what in reversed(IDENTIFIER_OPTIONS):
            f = click.option(f"--{prefix}{kind}", f"{prefix.replace('-', '_')}{kind}",
                             multiple=True, help=help_fmt.format(what))(f)
        return f
    return deco


def _identifiers(kw: dict, prefix: str = "") -> list[tuple[str, str]]:
    return [(kind, check_identifier(kind, v)) for kind, _ in IDENTIFIER_OPTIONS
            for v in kw.get(f"{prefix}{kind}", ())]


def _aliases(values: Iterable[str]) -> list[str]:
    return [a for a in (check_text(v.strip(), "alias", 200) for v in values) if a]


def _country(value: str | None) -> str | None:
    return check_country(value) if value else None


# -- suspects -------------------------------------------------------------------------------
@click.group("suspects")
def suspects_group() -> None:
    """A case's suspects: pseudonymous ids, aliases, country, typed identifiers."""


SUSPECT_COLUMNS = ("id", "country", "agency", "status", "aliases", "devices")


@suspects_group.command("add")
@click.argument("key", metavar="ID")
@CASE_OPTION
@click.option("--country", help="ISO 3166-1 alpha-2 (DK, NL, GB).")
@click.option("--alias", "aliases", multiple=True, help="Another name (repeat).")
@_identifier_options("", "Identifier: {} (repeat).")
@click.option("--agency", help="The agency handling this suspect.")
@click.option("--status", help="e.g. identified, arrested, charged.")
@click.option("--notes", help="Free notes.")
@JSON_OPTION
@click.pass_context
def suspects_add(ctx: click.Context, key: str, case: str, country: str | None,
                 aliases: tuple[str, ...], agency: str | None, status: str | None,
                 notes: str | None, as_json: bool, **idents: tuple[str, ...]) -> None:
    """Add a suspect to a case (the id is pseudonymous, unique in the case)."""
    cid = existing_case(ctx, case)
    rec = _do(lambda: _people(ctx).add_suspect(
        cid, check_key(key, "suspect"), aliases=_aliases(aliases),
        identifiers=_identifiers(idents),
        country=_country(country), agency=check_text(agency, "agency", 200),
        status=check_text(status, "status", 100), notes=check_text(notes, "notes")))
    _emit(rec, as_json, SUSPECT_COLUMNS)


@suspects_group.command("list")
@CASE_OPTION
@JSON_OPTION
@click.pass_context
def suspects_list(ctx: click.Context, case: str, as_json: bool) -> None:
    """A case's suspects."""
    _emit(_people(ctx).suspects(existing_case(ctx, case)), as_json, SUSPECT_COLUMNS)


@suspects_group.command("show")
@click.argument("key", metavar="ID")
@CASE_OPTION
@JSON_OPTION
@click.pass_context
def suspects_show(ctx: click.Context, key: str, case: str, as_json: bool) -> None:
    """One suspect, with identifiers and devices."""
    cid = existing_case(ctx, case)
    _emit(_do(lambda: _people(ctx).suspect(cid, key)), as_json, SUSPECT_COLUMNS)


@suspects_group.command("edit")
@click.argument("key", metavar="ID")
@CASE_OPTION
@click.option("--country", help="ISO 3166-1 alpha-2.")
@click.option("--agency")
@click.option("--status")
@click.option("--notes", help="Replaces the notes (\"\" clears a field).")
@click.option("--alias", "aliases", multiple=True, help="Add an alias (repeat).")
@click.option("--drop-alias", "drop_aliases", multiple=True, help="Remove an alias (repeat).")
@_identifier_options("", "Add an identifier: {} (repeat).")
@_identifier_options("drop-", "Remove an identifier: {} (repeat).")
@JSON_OPTION
@click.pass_context
def suspects_edit(ctx: click.Context, key: str, case: str, country: str | None,
                  agency: str | None, status: str | None, notes: str | None,
                  aliases: tuple[str, ...], drop_aliases: tuple[str, ...], as_json: bool,
                  **idents: tuple[str, ...]) -> None:
    """Change a suspect. The custody log keeps what each field was before and after."""
    cid = existing_case(ctx, case)

    def edit() -> dict:
        fields = {k: check_text(v, k, limit) for k, v, limit in (
            ("agency", agency, 200), ("status", status, 100), ("notes", notes, 10_000))
            if v is not None}  # given: "" clears it
        if country is not None:
            fields["country"] = _country(country)
        return _people(ctx).edit_suspect(
            cid, key, set_fields=fields, add_aliases=_aliases(aliases),
            drop_aliases=[a.strip() for a in drop_aliases],
            add_identifiers=_identifiers(idents), drop_identifiers=_identifiers(idents, "drop_"))
    rec = _do(edit)
    if not as_json and not rec["changed"]:
        out.print(f"suspect {key}: nothing changed", highlight=False)
        return
    _emit(rec, as_json, SUSPECT_COLUMNS)


# -- devices --------------------------------------------------------------------------------
@click.group("devices")
def devices_group() -> None:
    """A case's devices: what was seized, from whom, and the sources taken from each."""


DEVICE_COLUMNS = ("id", "kind", "make", "model", "suspect", "seized_at", "sources")


def _device_options(f: Callable) -> Callable:
    for opt, help_ in reversed((
            ("--suspect", "The suspect it was seized from (their id in the case)."),
            ("--make", None), ("--model", None), ("--serial", None),
            ("--imei", "15 digits, Luhn-checked."),
            ("--seized-at", "ISO date or date-time."), ("--seized-where", None),
            ("--seized-by", None), ("--notes", None))):
        f = click.option(opt, help=help_)(f)
    return f


def _device_fields(kind: str | None, kw: dict[str, str | None]) -> dict[str, str | None]:
    fields: dict[str, str | None] = {}
    if kind is not None:
        fields["kind"] = check_choice(kind, DEVICE_KINDS, "device kind")
    for k in ("make", "model", "serial", "seized_where", "seized_by", "notes", "suspect"):
        if kw.get(k) is not None:
            fields[k] = check_text(kw[k], k.replace("_", " "), 1000)
    if kw.get("imei") is not None:
        fields["imei"] = check_imei(kw["imei"]) if kw["imei"] else None
    if kw.get("seized_at") is not None:
        fields["seized_at"] = check_when(kw["seized_at"], "seized-at") if kw["seized_at"] \
            else None
    return fields


@devices_group.command("add")
@click.argument("key", metavar="ID")
@CASE_OPTION
@click.option("--kind", required=True, help=f"One of {', '.join(DEVICE_KINDS)}.")
@_device_options
@JSON_OPTION
@click.pass_context
def devices_add(ctx: click.Context, key: str, case: str, kind: str, as_json: bool,
                **kw: str | None) -> None:
    """Add a device to a case (id unique in the case)."""
    cid = existing_case(ctx, case)
    rec = _do(lambda: _people(ctx).add_device(cid, check_key(key, "device"),
                                              _device_fields(kind, kw)))
    _emit(rec, as_json, DEVICE_COLUMNS)


@devices_group.command("edit")
@click.argument("key", metavar="ID")
@CASE_OPTION
@click.option("--kind", help=f"One of {', '.join(DEVICE_KINDS)}.")
@_device_options
@click.option("--no-suspect", is_flag=True, help="It was seized from no known suspect.")
@JSON_OPTION
@click.pass_context
def devices_edit(ctx: click.Context, key: str, case: str, kind: str | None, no_suspect: bool,
                 as_json: bool, **kw: str | None) -> None:
    """Change a device. The custody log keeps what each field was before and after."""
    cid = existing_case(ctx, case)

    def edit() -> dict:
        fields = _device_fields(kind, kw)
        if no_suspect:
            fields["suspect"] = None
        return _people(ctx).edit_device(cid, key, fields)
    rec = _do(edit)
    if not as_json and not rec["changed"]:
        out.print(f"device {key}: nothing changed", highlight=False)
        return
    _emit(rec, as_json, DEVICE_COLUMNS)


@devices_group.command("list")
@CASE_OPTION
@JSON_OPTION
@click.pass_context
def devices_list(ctx: click.Context, case: str, as_json: bool) -> None:
    """A case's devices."""
    _emit(_people(ctx).devices(existing_case(ctx, case)), as_json, DEVICE_COLUMNS)


@devices_group.command("show")
@click.argument("key", metavar="ID")
@CASE_OPTION
@JSON_OPTION
@click.pass_context
def devices_show(ctx: click.Context, key: str, case: str, as_json: bool) -> None:
    """One device, with its sources."""
    cid = existing_case(ctx, case)
    _emit(_do(lambda: _people(ctx).device(cid, key)), as_json, DEVICE_COLUMNS)


@devices_group.command("link")
@click.argument("key", metavar="ID")
@CASE_OPTION
@click.option("--source", "source_name", required=True, help="A source of the case.")
@JSON_OPTION
@click.pass_context
def devices_link(ctx: click.Context, key: str, case: str, source_name: str,
                 as_json: bool) -> None:
    """Link a source already scanned to the device it was taken from (`cairn scan
    --device` links new ones)."""
    store = _store(ctx)
    cid = existing_case(ctx, case)
    found = [s for s in store.cases.sources(cid) if s["name"] == source_name]
    if not found:
        names = ", ".join(s["name"] for s in store.cases.sources(cid)) or "none"
        _fail(f"case {case!r} has no source named {source_name!r}; its sources: {names}")
    res = link_sources(ctx, cid, key, [s["id"] for s in found])
    if as_json:
        _emit_json(res)
    else:
        for r in res:
            out.print(f"source {r['source']} {'linked to' if r['linked'] else 'was already on'}"
                      f" device {r['device']}", highlight=False)


def link_sources(ctx: click.Context, case_id: int, key: str, source_ids: list[int]
                 ) -> list[dict]:
    """Link sources to a device; a refusal exits 2."""
    people = _people(ctx)
    return _do(lambda: [people.link_source(case_id, key, sid) for sid in source_ids])


def device_for_scan(ctx: click.Context, case: str, key: str, location: str) -> int:
    """Before `cairn scan --device`: the case's id, once the case is open, has the device,
    and the exhibit at `location` (if scanned before) is on no other device; refuses (exit 2)
    naming the case's devices, so a refused link never follows a finished scan."""
    import os

    store = _store(ctx)
    cid = store.cases.id(case)
    if cid is None:
        _fail(f"no case named {case!r}, so no device {key!r}; `cairn cases create {case}` "
              "and `cairn devices add` first")
    people = _people(ctx)
    _do(lambda: (people.require_open(cid), people.device(cid, key)))
    loc = os.path.abspath(os.fsdecode(location))  # as scan() names the source's location
    for d in people.devices(cid):
        for sid, name in zip(d["source_ids"], d["sources"], strict=True):
            if d["id"] != key and any(s["id"] == sid and s["location"] == loc
                                      for s in store.cases.sources(cid)):
                _fail(f"source {name!r} ({loc}) is linked to device {d['id']!r}, not "
                      f"{key!r}")
    return cid


def refuse_closed(ctx: click.Context, case: str) -> None:
    """Before a scan: refuse a closed or deleted case (a new name is fine)."""
    cid = _store(ctx).cases.id(case)
    if cid is not None:
        _do(lambda: _people(ctx).require_open(cid))


# -- actions --------------------------------------------------------------------------------
@click.group("actions")
def actions_group() -> None:
    """What was done: arrests, searches, seizures, interviews, warnings, referrals..."""


ACTION_COLUMNS = ("id", "date", "kind", "country", "agency", "suspects", "devices", "outcome")


@actions_group.command("add")
@CASE_OPTION
@click.option("--kind", required=True, help=f"One of {', '.join(ACTION_KINDS)}.")
@click.option("--suspect", "suspects", multiple=True, help="A suspect's id (repeat).")
@click.option("--device", "devices", multiple=True, help="A device's id (repeat).")
@click.option("--date", "when", required=True, help="ISO date, YYYY-MM-DD.")
@click.option("--country", required=True, help="ISO 3166-1 alpha-2.")
@click.option("--agency")
@click.option("--outcome")
@click.option("--notes")
@JSON_OPTION
@click.pass_context
def actions_add(ctx: click.Context, case: str, kind: str, suspects: tuple[str, ...],
                devices: tuple[str, ...], when: str, country: str, agency: str | None,
                outcome: str | None, notes: str | None, as_json: bool) -> None:
    """Record an action of a case."""
    cid = existing_case(ctx, case)
    rec = _do(lambda: _people(ctx).add_action(
        cid, kind=check_choice(kind, ACTION_KINDS, "action kind"), date=check_date(when),
        country=check_country(country), suspects=suspects, devices=devices,
        agency=check_text(agency, "agency", 200), outcome=check_text(outcome, "outcome"),
        notes=check_text(notes, "notes")))
    _emit(rec, as_json, ACTION_COLUMNS)


@actions_group.command("list")
@CASE_OPTION
@JSON_OPTION
@click.pass_context
def actions_list(ctx: click.Context, case: str, as_json: bool) -> None:
    """A case's actions, by date."""
    _emit(_people(ctx).actions(existing_case(ctx, case)), as_json, ACTION_COLUMNS)


# -- operations -----------------------------------------------------------------------------
@click.group("operations")
def operations_group() -> None:
    """Operations: cases across agencies and countries (a case belongs to at most one)."""


@operations_group.command("create")
@click.argument("name")
@click.option("--agency", "agencies", multiple=True, help="A taking-part agency (repeat).")
@click.option("--country", "countries", multiple=True, help="ISO 3166-1 alpha-2 (repeat).")
@JSON_OPTION
@click.pass_context
def operations_create(ctx: click.Context, name: str, agencies: tuple[str, ...],
                      countries: tuple[str, ...], as_json: bool) -> None:
    """Create an operation."""
    rec = _do(lambda: _people(ctx).create_operation(
        name, [check_text(a, "agency", 200) or "" for a in agencies],
        [check_country(c) for c in countries]))
    _emit(rec, as_json, ())


@operations_group.command("list")
@JSON_OPTION
@click.pass_context
def operations_list(ctx: click.Context, as_json: bool) -> None:
    """Operations with their agencies, countries and cases."""
    _emit(_people(ctx).operations(), as_json, ("name", "agencies", "countries", "cases"))


@operations_group.command("add-case")
@click.argument("name")
@CASE_OPTION
@JSON_OPTION
@click.pass_context
def operations_add_case(ctx: click.Context, name: str, case: str, as_json: bool) -> None:
    """Put a case in an operation."""
    cid = existing_case(ctx, case)
    _emit(_do(lambda: _people(ctx).add_case_to_operation(name, cid)), as_json, ())


@operations_group.command("show")
@click.argument("name")
@JSON_OPTION
@click.pass_context
def operations_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """An operation: its cases, their suspects, its actions by country."""
    rec = _do(lambda: _people(ctx).operation(name))
    if as_json:
        _emit_json(rec)
        return
    out.print(f"operation {rec['name']}: agencies {_cell(rec['agencies']) or '-'}; countries "
              f"{_cell(rec['countries']) or '-'}", highlight=False)
    for c in rec["cases"]:
        out.print(f"  case {c['case']}: suspects {_cell(c['suspects']) or '-'}; devices "
                  f"{_cell(c['devices']) or '-'}; {c['actions']} action(s)", highlight=False)
    for country, kinds in rec["actions_by_country"].items():
        out.print(f"  {country}: " + ", ".join(f"{n} {k}" for k, n in kinds.items()),
                  highlight=False)


# -- cases ----------------------------------------------------------------------------------
CASE_COLUMNS = ("name", "status", "operation", "sources", "items", "suspects", "devices",
                "created_at")


@click.group("cases", invoke_without_command=True)
@JSON_OPTION
@click.pass_context
def cases_group(ctx: click.Context, as_json: bool) -> None:
    """Cases in this store (`cairn cases` alone lists them): create, rename, close, reopen,
    delete; grant to and revoke from users of `cairn serve`."""
    if ctx.invoked_subcommand is None:
        _emit(_people(ctx).cases(), as_json, CASE_COLUMNS)


@cases_group.command("list")
@click.option("--all", "include_deleted", is_flag=True, help="Deleted cases too.")
@JSON_OPTION
@click.pass_context
def cases_list(ctx: click.Context, include_deleted: bool, as_json: bool) -> None:
    """Cases with their status, operation and counts (deleted ones only with --all)."""
    _emit(_people(ctx).cases(include_deleted), as_json, CASE_COLUMNS)


def _case_name(name: str) -> str:
    if not name.strip() or len(name) > 200:
        raise PeopleError(f"case name {name!r}: 1 to 200 characters, not only spaces")
    return name


@cases_group.command("create")
@click.argument("name")
@JSON_OPTION
@click.pass_context
def cases_create(ctx: click.Context, name: str, as_json: bool) -> None:
    """Create an empty case (refused when the name is taken)."""
    _emit(_do(lambda: _people(ctx).create_case(_case_name(name))), as_json, ())


@cases_group.command("rename")
@click.argument("name")
@click.argument("new")
@JSON_OPTION
@click.pass_context
def cases_rename(ctx: click.Context, name: str, new: str, as_json: bool) -> None:
    """Rename a case; its chain of custody records the old name."""
    cid = existing_case(ctx, name)
    _emit(_do(lambda: _people(ctx).rename_case(cid, _case_name(new))), as_json, ())


def _status_command(command: str, status: str, doc: str) -> None:
    @click.argument("name")
    @click.option("--reason", help="Why (kept in the custody log).")
    @JSON_OPTION
    @click.pass_context
    def cmd(ctx: click.Context, name: str, reason: str | None, as_json: bool,
            force: bool = False) -> None:
        cid = existing_case(ctx, name)
        if status == "deleted" and not force:
            _fail(f"deleting case {name!r} hides it and refuses any change to it (its rows "
                  "and chain of custody stay); add --force to do it")
        _emit(_do(lambda: _people(ctx).set_case_status(cid, status, reason)), as_json, ())
    cmd.__doc__ = doc
    if status == "deleted":
        cmd = click.option("--force", is_flag=True, help="Do it.")(cmd)
    cases_group.command(command)(cmd)


_status_command("close", "closed", "Close a case: it refuses changes (scans, edits) until "
                "reopened.")
_status_command("reopen", "open", "Reopen a closed case.")
_status_command("delete", "deleted", "Delete a case (--force): it is hidden and refuses "
                "changes; its sources, items and chain of custody are kept, the chain ends "
                "with a `case.deleted` tombstone.")



def _grant(ctx: click.Context, name: str, user: str, grant: bool) -> dict:
    from cairn.store import users
    from cairn.store.users import UserError

    cid = existing_case(ctx, name)
    try:
        return (users.grant_case if grant else users.revoke_case)(_store(ctx), cid, user)
    except UserError as e:
        _fail(str(e))


@cases_group.command("grant")
@click.argument("name")
@click.option("--user", required=True, help="An examiner or reviewer of `cairn serve`.")
@JSON_OPTION
@click.pass_context
def cases_grant(ctx: click.Context, name: str, user: str, as_json: bool) -> None:
    """Let an examiner or reviewer see a case through `cairn serve` (admins and auditors
    see every case); logged in the case's chain of custody."""
    _emit(_grant(ctx, name, user, True), as_json, ())


@cases_group.command("revoke")
@click.argument("name")
@click.option("--user", required=True, help="The user the case was granted to.")
@JSON_OPTION
@click.pass_context
def cases_revoke(ctx: click.Context, name: str, user: str, as_json: bool) -> None:
    """Take a case's grant from a user; logged in the case's chain of custody."""
    _emit(_grant(ctx, name, user, False), as_json, ())


@cases_group.command("grants")
@click.argument("name", required=False)
@click.option("--user", help="Only this user's grants.")
@JSON_OPTION
@click.pass_context
def cases_grants(ctx: click.Context, name: str | None, user: str | None,
                 as_json: bool) -> None:
    """Who was granted which case (of one case, or all)."""
    from cairn.store import users

    cid = existing_case(ctx, name) if name else None
    _emit(users.grants(_store(ctx), cid, user), as_json, ("case", "user", "role", "granted_at"))


GROUPS = (suspects_group, devices_group, actions_group, operations_group, cases_group)
