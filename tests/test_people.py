"""Suspects, devices, actions, operations and a case's lifecycle (issue 15 §2, §3): through
the CLI, on SQLite and PostgreSQL. Every change is one custody entry and the chain stays
intact; every refusal (exit 2) names the value and writes nothing; a closed case refuses
changes until reopened; a deleted case leaves a tombstone; `case_people` counts what was
found per suspect and device from what a real scan recorded."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from cairn.cases.people import (
    COUNTRIES,
    PeopleError,
    case_people,
    check_country,
    check_date,
    check_identifier,
    check_imei,
    check_when,
    luhn_ok,
)
from cairn.cli import cli
from cairn.store import Store
from inprocess import database

EXAMINER = "examiner-02"
PG = os.environ.get("CAIRN_TEST_POSTGRES_URL")
IMEI = "490154203237518"  # a valid IMEI (Luhn check digit 8)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (the home's SQLite file) or a fresh database on the CI's PostgreSQL."""
    yield from database(request.param)


class Run:
    """`cairn` in-process, as the examiner, on one home and database."""

    def __init__(self, home: Path, url: str | None) -> None:
        self.home, self.url = home, url

    def __call__(self, *args: object, ok: tuple[int, ...] = (0,)) -> str:
        res = CliRunner().invoke(cli, [str(a) for a in args], obj={}, catch_exceptions=False,
                                 env={"CAIRN_HOME": str(self.home), "CAIRN_EXAMINER": EXAMINER,
                                      "CAIRN_DATABASE_URL": self.url, "COLUMNS": "200"})
        assert res.exit_code in ok, f"cairn {args} exited {res.exit_code}:\n{res.output}"
        return res.output

    def json(self, *args: object) -> object:
        return json.loads(self(*args, "--json"))

    def log(self, case: str = "op-harbour") -> list[dict]:
        return json.loads(self("custody", "show", "--case", case, "--json"))

    def store(self) -> Store:
        return Store.open(self.home) if self.url is None else Store(self.url, self.home)


@pytest.fixture
def run(tmp_path: Path, db: str | None) -> Run:
    return Run(tmp_path / "home", db)


def picture(folder: Path, name: str, seed: int, parameters: str | None = None) -> Path:
    """A noise picture; with `parameters`, the PNG text chunk AUTOMATIC1111 writes."""
    folder.mkdir(parents=True, exist_ok=True)
    px = (np.random.default_rng(seed).random((48, 64, 3)) * 255).astype("uint8")
    info = None
    if parameters:
        info = PngInfo()
        info.add_text("parameters", parameters)
    Image.fromarray(px).save(folder / name, pnginfo=info)
    return folder / name


GENERATED = ("a lighthouse at dusk, oil painting\nNegative prompt: blurry\nSteps: 20, "
             "Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 64x48, Model hash: 6ce0161689, "
             "Model: m-6ce0, Version: v1.10.1")


# -- pure checks --------------------------------------------------------------------------
def test_checks_accept_normalise_and_refuse_naming_the_value() -> None:
    assert len(COUNTRIES) == 250 and {"DK", "GB", "NL", "XK"} <= COUNTRIES
    assert check_country(" dk ") == "DK"
    with pytest.raises(PeopleError, match=r"'UK'.*did you mean GB"):
        check_country("UK")
    with pytest.raises(PeopleError, match="'ZZ'"):
        check_country("ZZ")
    assert luhn_ok(IMEI) and not luhn_ok(IMEI[:-1] + "9")
    assert check_imei("49-015420-323751-8") == IMEI
    with pytest.raises(PeopleError, match=r"'490154203237519'.*check digit"):
        check_imei("490154203237519")
    with pytest.raises(PeopleError, match="15 digits"):
        check_imei("12345")
    assert check_date("2024-11-05") == "2024-11-05"
    for bad in ("2024-13-05", "05/11/2024", "20241105", "2024-11-05T10:00"):
        with pytest.raises(PeopleError, match=bad.replace("/", ".")):
            check_date(bad)
    assert check_when("2024-11-05T06:30+01:00", "seized-at") == "2024-11-05T06:30:00+01:00"
    with pytest.raises(PeopleError, match="yesterday"):
        check_when("yesterday", "seized-at")
    assert check_identifier("account", " Telegram:user-0042 ") == "telegram:user-0042"
    assert check_identifier("email", "User@Example.TEST") == "User@example.test"
    assert check_identifier("phone", "+45 12 34-56 78") == "+4512345678"
    for kind, bad in (("account", "user-0042"), ("account", "tele gram:x"),
                      ("email", "user.example.test"), ("phone", "call me"),
                      ("payment", "iban\x1b[2J")):
        with pytest.raises(PeopleError):
            check_identifier(kind, bad)


# -- the flow through the CLI ---------------------------------------------------------------
def test_suspects_devices_actions_operations_logged_and_intact(run: Run, tmp_path: Path
                                                                ) -> None:
    ev = tmp_path / "exhibit-phone"
    picture(ev, "a.png", 1)
    run("keys", "create", "--examiner", EXAMINER)  # every entry below is signed
    run("cases", "create", "op-harbour")
    s = run.json("suspects", "add", "S-01", "--case", "op-harbour", "--country", "dk",
                 "--alias", "harbourfox", "--account", "Telegram:user-0042",
                 "--payment", "IBAN DK00 0000 0000 0042", "--email", "user-0042@example.test",
                 "--phone", "+45 1234 5678", "--agency", "Police-North", "--status",
                 "identified")
    assert s["country"] == "DK" and s["identifiers"] == {
        "account": ["telegram:user-0042"], "payment": ["IBAN DK00 0000 0000 0042"],
        "email": ["user-0042@example.test"], "phone": ["+4512345678"]}
    run("suspects", "add", "S-02", "--case", "op-harbour", "--country", "NL")
    d = run.json("devices", "add", "D-01", "--case", "op-harbour", "--suspect", "S-01",
                 "--kind", "phone", "--make", "Example", "--model", "X1", "--imei", IMEI,
                 "--seized-at", "2024-11-05T06:30", "--seized-where", "Harbour Street 1",
                 "--seized-by", "officer-7")
    assert d["suspect"] == "S-01" and d["imei"] == IMEI and d["sources"] == []
    scanned = run.json("scan", ev, "--case", "op-harbour", "--new-case", "--device", "D-01",
                       "--no-progress")
    assert scanned["device"] == "D-01"
    assert run.json("devices", "show", "D-01", "--case", "op-harbour")["sources"] == [
        "exhibit-phone"]
    # a rescan of the same exhibit for the same device links nothing again
    run("scan", ev, "--case", "op-harbour", "--new-case", "--device", "D-01", "--no-progress")
    a = run.json("actions", "add", "--case", "op-harbour", "--kind", "arrest", "--suspect",
                 "S-01", "--suspect", "S-02", "--device", "D-01", "--date", "2024-11-05",
                 "--country", "dk", "--agency", "Police-North", "--outcome", "detained")
    assert a["suspects"] == ["S-01", "S-02"] and a["devices"] == ["D-01"]
    run("actions", "add", "--case", "op-harbour", "--kind", "knock-and-talk", "--suspect",
        "S-02", "--date", "2024-11-06", "--country", "NL")
    # lists are lists, even of one; one record is an object of the same shape as each
    listed = run.json("actions", "list", "--case", "op-harbour")
    assert [x["kind"] for x in listed] == ["arrest", "knock-and-talk"]
    assert run.json("suspects", "list", "--case", "op-harbour")[0] == run.json(
        "suspects", "show", "S-01", "--case", "op-harbour")
    assert isinstance(run.json("devices", "list", "--case", "op-harbour"), list)

    edited = run.json("suspects", "edit", "S-01", "--case", "op-harbour", "--country", "SE",
                      "--drop-alias", "harbourfox", "--alias", "fox-2", "--drop-payment",
                      "IBAN DK00 0000 0000 0042", "--status", "arrested")
    assert edited["changed"] == ["aliases", "country", "identifiers", "status"]
    run.json("devices", "edit", "D-01", "--case", "op-harbour", "--model", "X2")
    cleared = run.json("suspects", "edit", "S-02", "--case", "op-harbour", "--country", "")
    assert cleared["country"] is None and cleared["changed"] == ["country"]
    # nothing to change: no entry
    run("suspects", "edit", "S-01", "--case", "op-harbour", "--country", "SE")

    run("operations", "create", "Op-Lighthouse", "--agency", "Police-North", "--agency",
        "Europol", "--country", "DK", "--country", "nl")
    run("operations", "add-case", "Op-Lighthouse", "--case", "op-harbour")
    op = run.json("operations", "show", "Op-Lighthouse")
    assert op["countries"] == ["DK", "NL"] and op["cases"] == [
        {"case": "op-harbour", "suspects": ["S-01", "S-02"], "devices": ["D-01"],
         "actions": 2}]
    assert op["actions_by_country"] == {"DK": {"arrest": 1}, "NL": {"knock-and-talk": 1}}
    assert run.json("operations", "list") == [
        {"name": "Op-Lighthouse", "agencies": ["Police-North", "Europol"],
         "countries": ["DK", "NL"], "cases": ["op-harbour"]}]

    run("devices", "add", "D-02", "--case", "op-harbour", "--kind", "tablet")
    refused = run("scan", ev, "--case", "op-harbour", "--new-case", "--device", "D-02",
                  "--no-progress",
                  ok=(2,))
    assert "is linked to device 'D-01', not 'D-02'" in " ".join(refused.split())

    log = run.log()
    assert all(e["signature"] for e in log)
    assert sum(e["action"] == "scan.started" for e in log) == 2  # not the refused third
    assert [e["action"] for e in log if not e["action"].startswith(("scan.", "source."))] == [
        "key.registered", "case.created", "suspect.added", "suspect.added", "device.added",
        "device.linked", "action.added", "action.added", "suspect.edited", "device.edited",
        "suspect.edited", "operation.case_added", "device.added"]
    ed, cleared_entry = [e for e in log if e["action"] == "suspect.edited"]
    assert cleared_entry["details"] == {"suspect": "S-02", "before": {"country": "NL"},
                                        "after": {"country": None}}
    assert ed["details"]["before"] == {
        "aliases": ["harbourfox"], "country": "DK", "status": "identified",
        "identifiers": s["identifiers"]}
    assert ed["details"]["after"]["country"] == "SE"
    assert ed["details"]["after"]["aliases"] == ["fox-2"]
    assert ed["details"]["after"]["identifiers"]["payment"] == []
    (dev,) = [e for e in log if e["action"] == "device.edited"]
    assert dev["details"] == {"device": "D-01", "before": {"model": "X1"},
                              "after": {"model": "X2"}}
    (linked,) = [e for e in log if e["action"] == "device.linked"]
    assert linked["details"]["source_name"] == "exhibit-phone"
    store_chain = json.loads(run("custody", "verify", "--json"))
    assert store_chain["ok"]
    # the key's registration and operation.created
    assert store_chain["chains"]["store"]["entries"] == 2
    assert store_chain["chains"]["store"]["signed"]


def test_bad_input_is_refused_naming_the_value_and_writes_nothing(run: Run, tmp_path: Path
                                                                   ) -> None:
    ev = picture(tmp_path / "exhibit-07", "a.png", 3).parent
    run("cases", "create", "op-harbour")
    run("suspects", "add", "S-01", "--case", "op-harbour")
    run("devices", "add", "D-01", "--case", "op-harbour", "--kind", "laptop")
    run("operations", "create", "Op-Lighthouse")
    action = ("actions", "add", "--case", "op-harbour", "--kind", "arrest", "--date",
              "2024-11-05", "--country", "DK")
    bad = [
        ((*action, "--suspect", "S-99"), "no suspect 'S-99' in this case; its suspects: S-01"),
        ((*action, "--suspect", "S-01", "--device", "D-42"),
         "no device 'D-42' in this case; its devices: D-01"),
        (("suspects", "add", "S-02", "--case", "op-harbour", "--country", "UK"),
         "country 'UK' is not an ISO 3166-1 alpha-2 code; did you mean GB?"),
        (("suspects", "add", "S-02", "--case", "op-harbour", "--country", "Denmark"),
         "country 'Denmark'"),
        (("devices", "add", "D-02", "--case", "op-harbour", "--kind", "phone", "--imei",
          "490154203237519"), "IMEI '490154203237519'"),
        ((*action[:-3], "2024-11-31", "--country", "DK"), "date '2024-11-31'"),
        (("actions", "add", "--case", "op-harbour", "--kind", "arrest", "--date",
          "05/11/2024", "--country", "DK"), "date '05/11/2024'"),
        (("suspects", "add", "S-01", "--case", "op-harbour"), "suspect 'S-01' exists"),
        (("devices", "add", "D-01", "--case", "op-harbour", "--kind", "phone"),
         "device 'D-01' exists"),
        (("devices", "add", "D-02", "--case", "op-harbour", "--kind", "fax"),
         "device kind 'fax'"),
        (("devices", "add", "D-02", "--case", "op-harbour", "--kind", "phone",
          "--suspect", "S-77"), "no suspect 'S-77'"),
        (("actions", "add", "--case", "op-harbour", "--kind", "raid", "--date",
          "2024-11-05", "--country", "DK"), "action kind 'raid'"),
        (("suspects", "add", "S-02", "--case", "op-harbour", "--account", "user-0042"),
         "account 'user-0042'"),
        (("suspects", "add", "bad id", "--case", "op-harbour"), "suspect id 'bad id'"),
        (("suspects", "edit", "S-01", "--case", "op-harbour", "--drop-alias", "nobody"),
         "no alias 'nobody'"),
        (("suspects", "edit", "S-01", "--case", "op-harbour", "--country", "XX",
          "--status", "arrested"), "country 'XX'"),
        (("scan", ev, "--case", "op-harbour", "--new-case", "--device", "D-09", "--no-progress"),
         "no device 'D-09' in this case; its devices: D-01"),
        (("operations", "create", "Op-Lighthouse"), "operation named 'Op-Lighthouse' exists"),
        (("operations", "add-case", "Op-Nowhere", "--case", "op-harbour"),
         "no operation named 'Op-Nowhere'; operations: Op-Lighthouse"),
        (("cases", "create", "op-harbour"), "a case named 'op-harbour' exists"),
        (("cases", "rename", "op-harbour", "   "), "case name"),
    ]
    before, store_before = run.log(), run.store().custody_entries(chain="store")
    for args, message in bad:
        res = CliRunner().invoke(cli, [str(a) for a in args], obj={},
                                 env={"CAIRN_HOME": str(run.home), "CAIRN_EXAMINER": EXAMINER,
                                      "CAIRN_DATABASE_URL": run.url, "COLUMNS": "500"})
        assert res.exit_code == 2, (args, res.output)
        assert message in " ".join(res.output.split()), (args, res.output)
    assert run.log() == before  # not one entry more
    assert run.store().custody_entries(chain="store") == store_before
    assert run.json("suspects", "show", "S-01", "--case", "op-harbour")["status"] is None
    assert run.json("actions", "list", "--case", "op-harbour") == []
    assert run.json("cases", "list")[0]["sources"] == 0  # the refused scan recorded nothing
    assert json.loads(run("custody", "verify", "--json"))["ok"]


def test_case_lifecycle_close_reopen_rename_delete(run: Run, tmp_path: Path) -> None:
    ev = picture(tmp_path / "exhibit-01", "a.png", 5).parent
    run("cases", "create", "op-harbour")
    run("suspects", "add", "S-01", "--case", "op-harbour")
    run("scan", ev, "--case", "op-harbour", "--new-case", "--no-progress")
    assert run.json("cases", "close", "op-harbour", "--reason", "trial over")["status"] == (
        "closed")
    n = len(run.log())
    closed = "case 'op-harbour' is closed; `cairn cases reopen op-harbour` to change it"
    for args in (("suspects", "edit", "S-01", "--case", "op-harbour", "--status", "charged"),
                 ("suspects", "add", "S-02", "--case", "op-harbour"),
                 ("devices", "add", "D-01", "--case", "op-harbour", "--kind", "phone"),
                 ("actions", "add", "--case", "op-harbour", "--kind", "arrest", "--date",
                  "2024-11-05", "--country", "DK"),
                 ("scan", ev, "--case", "op-harbour", "--new-case", "--no-progress"),
                 ("cases", "rename", "op-harbour", "op-quay"),
                 ("cases", "close", "op-harbour")):
        out = run(*args, ok=(2,))
        assert (closed if args[1] != "close" else "is already closed") in " ".join(
            out.split()), out
    assert len(run.log()) == n
    # reading still works
    assert run.json("suspects", "list", "--case", "op-harbour")[0]["id"] == "S-01"

    run("cases", "reopen", "op-harbour")
    run("cases", "reopen", "op-harbour", ok=(2,))  # not closed
    run("suspects", "edit", "S-01", "--case", "op-harbour", "--status", "charged")
    run("cases", "rename", "op-harbour", "op-quay")
    assert "no case named 'op-harbour'" in run("suspects", "list", "--case", "op-harbour",
                                               ok=(2,))

    n = len(run.log("op-quay"))
    assert "add --force" in run("cases", "delete", "op-quay", ok=(2,))
    assert len(run.log("op-quay")) == n
    run("cases", "delete", "op-quay", "--force")
    assert run.json("cases") == [] and run.json("cases", "list") == []
    (gone,) = run.json("cases", "list", "--all")
    assert gone["name"] == "op-quay" and gone["status"] == "deleted" and gone["items"] == 1
    run("suspects", "add", "S-03", "--case", "op-quay", ok=(2,))
    run("cases", "reopen", "op-quay", ok=(2,))
    run("scan", ev, "--case", "op-quay", "--new-case", "--no-progress", ok=(2,))
    log = run.log("op-quay")
    assert [e["action"] for e in log if e["action"].startswith("case.")] == [
        "case.created", "case.closed", "case.reopened", "case.renamed", "case.deleted"]
    assert log[-1]["action"] == "case.deleted" and log[-1]["details"] == {
        "name": "op-quay", "before": "open", "after": "deleted", "reason": None,
        "kept": {"sources": 1, "items": 1}}
    (renamed,) = [e for e in log if e["action"] == "case.renamed"]
    assert renamed["details"] == {"before": "op-harbour", "after": "op-quay"}
    (closing,) = [e for e in log if e["action"] == "case.closed"]
    assert closing["details"]["reason"] == "trial over"
    assert json.loads(run("custody", "verify", "--case", "op-quay", "--json"))["ok"]


def test_cases_alone_still_lists(run: Run, tmp_path: Path) -> None:
    run("scan", picture(tmp_path / "ex", "a.png", 6).parent, "--case", "op-plain", "--new-case",
        "--no-progress")
    assert "op-plain" in run("cases")
    (c,) = run.json("cases")
    assert c | {"created_at": None} == {
        "name": "op-plain", "status": "open", "operation": None, "sources": 1, "items": 1,
        "suspects": 0, "devices": 0, "created_at": None}


# -- what was found per suspect and device -----------------------------------------------------
def test_case_people_counts_items_matches_and_synthetic_findings(run: Run, tmp_path: Path
                                                                 ) -> None:
    phone, sd = tmp_path / "phone-extraction", tmp_path / "sd-card"
    known = picture(phone, "known.png", 11)
    picture(phone, "generated.png", 12, GENERATED)
    picture(phone, "plain.png", 13)
    picture(sd, "generated-too.png", 14, GENERATED.replace("Seed: 42", "Seed: 43"))
    other = picture(tmp_path / "laptop-image", "x.png", 15)
    loose = picture(tmp_path / "found-on-desk", "y.png", 16)
    listed = tmp_path / "known.txt"
    listed.write_text(f"sha256 {hashlib.sha256(known.read_bytes()).hexdigest()}\n"
                      f"sha256 {hashlib.sha256(loose.read_bytes()).hexdigest()}\n")
    run("lists", "import", listed, "--name", "known-demo", "--format", "te-local")
    run("cases", "create", "op-harbour")
    for args in (("suspects", "add", "S-01"), ("suspects", "add", "S-02"),
                 ("suspects", "add", "S-03"),
                 ("devices", "add", "D-01", "--kind", "phone", "--suspect", "S-01"),
                 ("devices", "add", "D-02", "--kind", "storage", "--suspect", "S-01"),
                 ("devices", "add", "D-03", "--kind", "laptop", "--suspect", "S-02")):
        run(*args, "--case", "op-harbour")
    run("scan", phone, "--case", "op-harbour", "--new-case", "--device", "D-01", "--no-progress")
    run("scan", sd, "--case", "op-harbour", "--new-case", "--device", "D-02", "--no-progress")
    run("scan", other.parent, "--case", "op-harbour", "--new-case", "--no-progress")
    run("devices", "link", "D-03", "--case", "op-harbour", "--source", "laptop-image")
    run("scan", loose.parent, "--case", "op-harbour", "--new-case", "--no-progress")
    # a source holds to one device
    assert "linked to device 'D-03'" in run("devices", "link", "D-01", "--case", "op-harbour",
                                            "--source", "laptop-image", ok=(2,))

    store = run.store()
    cid = store.cases.id("op-harbour")
    people = case_people(store, cid)
    by_device = {d["id"]: d for d in people["devices"]}
    assert by_device["D-01"] == {
        "id": "D-01", "kind": "phone", "suspect": "S-01", "sources": ["phone-extraction"],
        "items": 3, "active_matches": 1, "matched_items": 1, "synthetic_items": 1}
    assert by_device["D-02"] | {"sources": None} == {
        "id": "D-02", "kind": "storage", "suspect": "S-01", "sources": None, "items": 1,
        "active_matches": 0, "matched_items": 0, "synthetic_items": 1}
    assert by_device["D-03"]["items"] == 1 and by_device["D-03"]["synthetic_items"] == 0
    by_suspect = {s["id"]: s for s in people["suspects"]}
    assert by_suspect["S-01"] == {
        "id": "S-01", "country": None, "devices": ["D-01", "D-02"],
        "sources": ["phone-extraction", "sd-card"], "items": 4, "active_matches": 1,
        "matched_items": 1, "synthetic_items": 2}
    assert by_suspect["S-03"] | {"country": None} == {
        "id": "S-03", "country": None, "devices": [], "sources": [], "items": 0,
        "active_matches": 0, "matched_items": 0, "synthetic_items": 0}
    assert people["unattributed_sources"] == ["found-on-desk"]

    # a withdrawn entry's match is no longer active
    run("lists", "withdraw", "known-demo", hashlib.sha256(known.read_bytes()).hexdigest())
    again = {d["id"]: d for d in case_people(store, cid)["devices"]}
    assert again["D-01"]["active_matches"] == 0 and again["D-01"]["items"] == 3
    store.close()
