"""A seized platform's records (issue 16 §1, §2), through the CLI on SQLite and PostgreSQL:
an import with a mapping keeps the good rows and names each bad one by file and line, in one
custody entry that holds every input file's SHA-256; an import that fails as a whole writes
nothing; transfers link accounts to the case's items by SHA-256, MD5 and PDQ; entity
resolution proposes exactly the accounts that share an identifier, each link with its reason,
and never merges on a name; merge and split are logged; deconfliction finds what two cases
share. All records are fictional (user-0042, example.test, documentation IP ranges)."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from cairn.platform import records as rec
from cairn.store import schema as t
from inprocess import database
from test_people import GENERATED, Run, picture


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Iterator[str | None]:
    yield from database(request.param)


@pytest.fixture
def run(tmp_path: Path, db: str | None) -> Run:
    return Run(tmp_path / "home", db)


def write_csv(path: Path, header: list[str], rows: list[list[object]], delimiter: str = ","
              ) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


MAPPING = """
list_separator = "|"
delimiter = ";"
timezone = "+01:00"

[accounts]
file = "users"
id = "user_id"
names = "display"
emails = "mail"
created = "joined"
country = "cc"

[payments]
file = "orders"
account = "acct"
time = "when"
payment_id = "card_fp"
"""


def platform_export(folder: Path) -> Path:
    """Columns named the platform's way (the mapping above: `;` between fields, `|` between
    names), good rows and bad ones; a user agent holding `;` is quoted by the writer."""
    write_csv(folder / "users.csv", ["user_id", "display", "mail", "joined", "cc"], [
        ["user-0001", "Ann|Annie", "user-0001@example.test", "2024-01-02T10:00:00", "nl"],
        ["user-0002", "Bob", "not-an-address", "2024-01-02", "NL"],           # line 3
        ["user-0003", "Cid", "user-0003@example.test", "1704240000", ""],
        ["user-0004", "Dee", "", "2024-13-45", "NL"],                         # line 5
        ["user-0005", "Eve", "", "2024-01-02", "ZZ"],                         # line 6
        ["user-0001", "Ann again", "", "2024-01-02", "NL"],                   # line 7
    ], ";")
    lines = [{"acct": "user-0001", "when": "2024-02-01T00:00:00Z", "amount": "9.99",
              "currency": "eur", "method": "card", "card_fp": "fp-0001", "country": "NL"},
             {"acct": "user-9999", "when": "2024-02-01T00:00:00Z", "amount": "1",
              "card_fp": "fp-0002"},                                          # line 2
             {"acct": "user-0003", "when": "2024-02-02", "amount": "1e400"}]  # line 3
    (folder / "orders.jsonl").write_text(
        "\n".join(json.dumps(x) for x in lines) + "\nnot json\n[1, 2]\n")  # lines 4, 5
    write_csv(folder / "access_logs.csv", ["account", "time", "ip", "user_agent", "item"], [
        ["user-0001", "2024-03-01T00:00:00Z", "192.0.2.10", "Mozilla/5.0 (X11; L)", "/i/1"],
        ["user-0003", "2024-03-01T00:00:00Z", "2001:db8::1", "Mozilla/5.0 (X11)", "/i/2"],
        ["user-0003", "2024-03-01T00:00:00Z", "198.51.100.300", "x", "/i/3"],  # line 4
    ], ";")
    with open(folder / "access_logs.csv", "ab") as f:
        f.write(b"user-0001;2024-03-01T00:00:00Z;192.0.2.11;caf\xe9;/i/4\n")  # line 5
        f.write(b"user-0001;2024-03-01T00:00:00Z;192.0.2.12\n")  # line 6: 3 fields
    write_csv(folder / "transfers.csv",
              ["account", "time", "direction", "file_name", "md5", "sha256", "pdq"], [
                  ["user-0001", "2024-04-01T00:00:00Z", "UL", "a.png", "", "ab" * 32, ""],
                  ["user-0003", "2024-04-01T00:00:00Z", "sideways", "b.png", "", "", ""],
                  ["user-0003", "2024-04-01T00:00:00Z", "down", "c.png", "12345", "", ""],
              ], ";")
    return folder


def test_import_with_a_mapping_keeps_good_rows_and_names_bad_ones(run: Run, tmp_path: Path
                                                                  ) -> None:
    folder = platform_export(tmp_path / "seized-forum")
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING)
    run("cases", "create", "op-harbour")
    res = json.loads(run("platform", "import", folder, "--case", "op-harbour", "--platform",
                         "Forum-X", "--mapping", mapping, "--json", ok=(3,)))
    assert res["counts"] == {"accounts": 2, "payments": 1, "access_logs": 2, "transfers": 1}
    rejected = {(r["file"], r["line"]): r["reason"] for r in res["rejected_rows"]}
    assert rejected == {
        ("users.csv", 3): "emails: 'not-an-address' is not an e-mail address",
        ("users.csv", 5): "created: '2024-13-45' is not a time (ISO 8601 or Unix seconds)",
        ("users.csv", 6): "country: 'ZZ' is not an ISO 3166-1 alpha-2 code",
        ("users.csv", 7): "account 'user-0001' appears twice",
        ("orders.jsonl", 2): "account 'user-9999' is not in the accounts table",
        ("orders.jsonl", 3): "amount: '1e400' is out of range",
        ("orders.jsonl", 4): "not JSON: Expecting value: line 1 column 1 (char 0)",
        ("orders.jsonl", 5): "not a JSON object",
        ("access_logs.csv", 4): "ip: '198.51.100.300' is not an IP address",
        ("access_logs.csv", 5): "not UTF-8 at byte 45",
        ("access_logs.csv", 6): "3 fields, the header has 5",
        ("transfers.csv", 3): "direction: 'sideways': upload or download",
        ("transfers.csv", 4): "md5: '12345' is not 32 hex digits"}
    assert res["rejected"] == 13
    # the custody entry: counts, rejected, and the SHA-256 of every input file as read
    log = [e for e in run.log() if e["action"] == "platform.imported"]
    assert len(log) == 1
    details = log[0]["details"]
    assert {f["file"]: f["sha256"] for f in details["files"]} == {
        p.name: sha256(p) for p in folder.iterdir()}
    assert details["counts"] == res["counts"] and details["rejected"] == 13
    assert details["platform"] == "forum-x" and details["mapping"]["accounts"]["id"] == "user_id"
    assert "intact" in run("custody", "verify", "--case", "op-harbour")
    assert run.json("platform", "imports", "--case", "op-harbour")[0]["files"] == \
        details["files"]
    accounts = {a["account"]: a for a in run.json("platform", "accounts", "--case",
                                                  "op-harbour")}
    assert sorted(accounts) == ["user-0001", "user-0003"]
    a1 = accounts["user-0001"]
    # the mapping's list separator, time zone (+01:00 for a time without one), country case
    assert a1["names"] == ["Ann", "Annie"] and a1["created"] == "2024-01-02T09:00:00Z"
    assert a1["country"] == "NL" and a1["payment_ids"] == ["fp-0001"]
    assert a1["transfers"][0]["direction"] == "upload" and a1["transfers"][0]["items"] == []
    assert accounts["user-0003"]["created"] == "2024-01-03T00:00:00Z"  # Unix seconds
    store = run.store()
    with store.engine.connect() as c:  # the quoted field kept its delimiter; IPv6 compressed
        assert sorted(c.execute(select(t.platform_access.c.ip, t.platform_access.c.user_agent)
                                ).all()) == [("192.0.2.10", "Mozilla/5.0 (X11; L)"),
                                             ("2001:db8::1", "Mozilla/5.0 (X11)")]
    store.close()
    # the same files again would count every payment twice: refused, nothing written
    again = run("platform", "import", folder, "--case", "op-harbour", "--platform",
                "forum-x", "--mapping", mapping, ok=(2,))
    assert "already holds 4 of these files" in again
    assert len([e for e in run.log() if e["action"] == "platform.imported"]) == 1


def test_an_import_that_fails_as_a_whole_writes_nothing(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    write_csv(folder / "accounts.csv", ["id", "emails"],
              [[f"user-{i:04d}", f"user-{i:04d}@example.test"] for i in range(50)])
    # the last table lacks a required column: found after the accounts were inserted
    write_csv(folder / "transfers.csv", ["account", "time", "file_name"],
              [["user-0001", "2024-04-01", "a.png"]])
    run("cases", "create", "op-harbour")
    before = run.log()
    out = run("platform", "import", folder, "--case", "op-harbour", "--platform", "forum-x",
              ok=(2,))
    assert "transfers.csv: no column 'direction'" in out
    store = run.store()
    with store.engine.connect() as c:
        for table in (t.platform_imports, t.platform_accounts, t.platform_emails):
            assert c.execute(select(func.count()).select_from(table)).scalar_one() == 0
    store.close()
    assert run.log() == before
    # a mapping with a typo is refused before anything is read
    bad = tmp_path / "bad.toml"
    bad.write_text('[accounts]\nmail = "e"\n')
    assert "accounts has no field 'mail'" in run("platform", "import", folder, "--case",
                                                 "op-harbour", "--platform", "forum-x",
                                                 "--mapping", bad, ok=(2,))
    # no accounts: the other tables have nothing to refer to
    (folder / "accounts.csv").unlink()
    assert "no accounts table" in run("platform", "import", folder, "--case", "op-harbour",
                                      "--platform", "forum-x", ok=(2,))
    assert run.log() == before


def resolution_export(folder: Path, known: str) -> Path:
    """24 accounts. Linked: 1~2 by e-mail (case and +tag differ), 3~4 by a payment
    identifier, 5~6 by a rare IP + user agent, 23~24 by a file on a seized device (23
    uploaded it, 24 downloaded it). Not linked: 7 and 8 share only a name; 7..10 share an
    IP + user agent (four accounts: not rare); 11..22 share a processor's house reference
    (twelve accounts: common)."""
    accounts = []
    for i in range(1, 25):
        name = "Sam Example" if i in (7, 8) else f"Person {i}"
        email = {1: "user-0001@example.test", 2: "User-0001+alt@EXAMPLE.test"}.get(
            i, f"user-{i:04d}@example.test")
        accounts.append([f"user-{i:04d}", name, email, "2024-01-01",
                         {1: "NL", 2: "DK"}.get(i, "")])
    write_csv(folder / "accounts.csv", ["id", "names", "emails", "created", "country"],
              accounts)
    payments = [["user-0003", "2024-02-01", "5", "EUR", "card", "fp-3344", "BE"],
                ["user-0004", "2024-02-02", "5", "EUR", "card", "fp-3344", ""]]
    payments += [[f"user-{i:04d}", "2024-02-01", "5", "EUR", "transfer", "proc-house", ""]
                 for i in range(11, 23)]
    write_csv(folder / "payments.csv", ["account", "time", "amount", "currency", "method",
                                        "payment_id", "country"], payments)
    access = [["user-0005", "2024-03-01", "198.51.100.7", "UA-rare/1.0", "/i/1"],
              ["user-0006", "2024-03-02", "198.51.100.7", "UA-rare/1.0", "/i/1"],
              ["user-0006", "2024-03-02", "198.51.100.7", "UA-other/2.0", "/i/1"]]
    access += [[f"user-{i:04d}", "2024-03-01", "192.0.2.1", "Mozilla/5.0", "/i/2"]
               for i in range(7, 11)]
    write_csv(folder / "access_logs.csv", ["account", "time", "ip", "user_agent", "item"],
              access)
    write_csv(folder / "transfers.csv",
              ["account", "time", "direction", "file_name", "md5", "sha256", "pdq"],
              [["user-0023", "2024-04-01", "upload", "lighthouse.png", "", known, ""],
               ["user-0024", "2024-04-02", "download", "lighthouse.png", "", known, ""]])
    return folder


def test_resolution_links_only_shared_identifiers_each_with_its_reason(run: Run,
                                                                       tmp_path: Path) -> None:
    phone = tmp_path / "phone-extraction"
    known = picture(phone, "lighthouse.png", 31)
    run("cases", "create", "op-harbour")
    run("devices", "add", "D-01", "--case", "op-harbour", "--kind", "phone")
    run("scan", phone, "--case", "op-harbour", "--device", "D-01", "--no-progress")
    run("actions", "add", "--case", "op-harbour", "--kind", "device-seizure", "--device",
        "D-01", "--date", "2024-11-05", "--country", "DE", "--agency", "Police-South")
    folder = resolution_export(tmp_path / "export", sha256(known))
    run("platform", "import", folder, "--case", "op-harbour", "--platform", "forum-x")
    res = run.json("platform", "resolve", "--case", "op-harbour")
    cands = {tuple(c["accounts"]): c for c in res["candidates"]}
    f = "forum-x:user-"
    assert sorted(cands) == [(f"{f}0001", f"{f}0002"), (f"{f}0003", f"{f}0004"),
                             (f"{f}0005", f"{f}0006"), (f"{f}0023", f"{f}0024")]
    reasons = {k: [(lk["reason"], lk["value"], lk["strength"]) for lk in c["links"]]
               for k, c in cands.items()}
    assert reasons[(f"{f}0001", f"{f}0002")] == [("email", "user-0001@example.test",
                                                  "strong")]
    assert reasons[(f"{f}0003", f"{f}0004")] == [("payment", "fp-3344", "strong")]
    assert reasons[(f"{f}0005", f"{f}0006")] == [
        ("ip_ua", {"ip": "198.51.100.7", "user_agent": "UA-rare/1.0"}, "weak")]
    assert reasons[(f"{f}0023", f"{f}0024")] == [
        ("device", {"device": "D-01", "files": 1, "uploaded": True}, "medium")]
    # a shared name, a common IP + user agent and a house reference link nobody
    linked = {a for c in res["candidates"] for a in c["accounts"]}
    assert not linked & {f"{f}{i:04d}" for i in range(7, 23)}
    assert res["common"] == [{"reason": "payment", "value": "proc-house", "accounts": 12}]
    # countries from the records and the seizure, each with its source; never an IP
    assert cands[(f"{f}0001", f"{f}0002")]["countries"] == [
        {"country": "DK", "sources": [f"declared by {f}0002"]},
        {"country": "NL", "sources": [f"declared by {f}0001"]}]
    assert cands[(f"{f}0003", f"{f}0004")]["countries"] == [
        {"country": "BE", "sources": [f"payments of {f}0003 (1)"]}]
    seized = cands[(f"{f}0023", f"{f}0024")]
    assert seized["devices"] == ["D-01"] and [c["country"] for c in seized["countries"]] == [
        "DE"] and "device-seizure" in seized["countries"][0]["sources"][0]
    assert cands[(f"{f}0005", f"{f}0006")]["countries"] == []
    (tmp_path / "x.mmdb").write_bytes(b"not a database")
    assert "x.mmdb: not a MaxMind DB" in run("platform", "resolve", "--case", "op-harbour",
                                             "--geoip", tmp_path / "x.mmdb", ok=(2,))
    assert all("ip_countries" not in c for c in res["candidates"])  # only when asked

    # accepting: a candidate's accounts become a suspect's identifiers, logged
    n = next(c["candidate"] for c in res["candidates"] if c["accounts"][0] == f"{f}0001")
    s = run.json("suspects", "merge", "--case", "op-harbour", "--into", "S-01",
                 "--candidate", n)
    assert s["identifiers"]["account"] == [f"{f}0001", f"{f}0002"] and s["created"]
    run("suspects", "add", "S-02", "--case", "op-harbour", "--country", "BE",
        "--account", f"{f}0003", "--email", "user-0003@example.test")
    s = run.json("suspects", "merge", "--case", "op-harbour", "--into", "S-01", "--suspect",
                 "S-02", "--account", f"{f}0004")
    assert s["identifiers"]["account"] == [f"{f}{i:04d}" for i in range(1, 5)]
    assert s["aliases"] == ["S-02"] and s["country"] == "BE"
    assert [x["id"] for x in run.json("suspects", "list", "--case", "op-harbour")] == ["S-01"]
    # an account another suspect holds, an account the records do not have: refused
    run("suspects", "add", "S-03", "--case", "op-harbour")
    assert "held by suspect 'S-01'" in run("suspects", "merge", "--case", "op-harbour",
                                           "--into", "S-03", "--account", f"{f}0001", ok=(2,))
    assert "no account 'forum-x:user-9999'" in run(
        "suspects", "merge", "--case", "op-harbour", "--into", "S-03", "--account",
        f"{f}9999", ok=(2,))
    # splitting undoes part of it
    split = run.json("suspects", "split", "S-01", "--case", "op-harbour", "--new", "S-04",
                     "--account", f"{f}0003", "--email", "user-0003@example.test")
    assert split["identifiers"]["account"] == [f"{f}0003"] and split["split_from"] == "S-01"
    assert f"{f}0003" not in run.json("suspects", "show", "S-01", "--case",
                                      "op-harbour")["identifiers"]["account"]
    actions = [e["action"] for e in run.log() if e["action"].startswith("suspect.")]
    assert actions == ["suspect.merged", "suspect.added", "suspect.merged", "suspect.added",
                       "suspect.split"]
    merged = [e for e in run.log() if e["action"] == "suspect.merged"][1]["details"]
    assert merged["before"]["S-02"]["identifiers"]["account"] == [f"{f}0003"]
    assert "intact" in run("custody", "verify", "--case", "op-harbour")


def test_geoip_counts_a_candidates_access_rows_apart_from_the_records(
        run: Run, tmp_path: Path) -> None:
    """With an offline GeoIP database (written here in MaxMind's layout; the addresses are
    assigned fictional countries), each candidate's access-log rows are counted by the
    country of their address, naming the database, and never joined to `countries`."""
    from test_geoip import write_db

    folder = tmp_path / "export"
    folder.mkdir()
    write_csv(folder / "accounts.csv", ["id", "names", "emails", "created", "country"],
              [["user-0001", "A", "user-0001@example.test", "2024-01-01", "NL"],
               ["user-0002", "B", "User-0001@example.test", "2024-01-01", ""]])
    write_csv(folder / "access_logs.csv", ["account", "time", "ip", "user_agent", "item"],
              [["user-0001", "2024-03-01", "81.0.1.1", "UA/1", "/i/1"],
               ["user-0001", "2024-03-02", "81.0.9.9", "UA/1", "/i/1"],
               ["user-0002", "2024-03-02", "2a00:1000::5", "UA/2", "/i/2"],
               ["user-0002", "2024-03-03", "10.0.0.8", "UA/2", "/i/2"]])
    run("cases", "create", "op-geo")
    run("platform", "import", folder, "--case", "op-geo", "--platform", "site.example.test")
    db = write_db(tmp_path / "geo.mmdb", {"81.0.0.0/16": "DK", "2a00:1000::/32": "SE"})
    res = run.json("platform", "resolve", "--case", "op-geo", "--geoip", db)
    (cand,) = res["candidates"]
    assert cand["countries"] == [
        {"country": "NL", "sources": ["declared by site.example.test:user-0001"]}]
    ipc = cand["ip_countries"]
    assert ipc["countries"] == [{"country": "DK", "rows": 2}, {"country": "SE", "rows": 1}]
    assert (ipc["rows"], ipc["unknown"]) == (4, 1) and "geo.mmdb" in ipc["source"]
    assert res["geoip_database"]["sha256"] == sha256(db)
    text = run("platform", "resolve", "--case", "op-geo", "--geoip", db)
    assert "IP addresses (weakest; GeoIP GeoLite2-Country built" in text and "DK 2, SE 1" in text


def test_no_merge_without_a_shared_identifier(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    write_csv(folder / "accounts.csv", ["id", "names", "emails"], [
        ["user-0041", "Sam Example", "sam@example.test"],
        ["user-0042", "Sam Example", "sam.example@example.test"],
        ["user-0043", "Sam  Example", "sam@example.test.example"]])
    write_csv(folder / "access_logs.csv", ["account", "time", "ip", "user_agent"], [
        ["user-0041", "2024-03-01", "192.0.2.5", "UA/1"],
        ["user-0042", "2024-03-01", "192.0.2.5", "UA/2"],      # same IP, other agent
        ["user-0043", "2024-03-01", "192.0.2.6", "UA/1"]])     # same agent, other IP
    run("cases", "create", "op-harbour")
    run("platform", "import", folder, "--case", "op-harbour", "--platform", "forum-x")
    res = run.json("platform", "resolve", "--case", "op-harbour")
    assert res["candidates"] == [] and res["common"] == []
    assert "no candidates" in run("platform", "resolve", "--case", "op-harbour")


def noise(path: Path, seed: int, rotate: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    px = (np.random.default_rng(seed).random((48, 64, 3)) * 255).astype("uint8")
    img = Image.fromarray(px)
    (img.transpose(Image.Transpose.ROTATE_90) if rotate else img).save(path)
    return path


def flip_bits(hex64: str, n: int, start: int = 0) -> str:
    """`n` bits (at most 42) of a 256-bit hash flipped, 6 apart from bit `start`."""
    v = int(hex64, 16)
    for b in range(n):
        v ^= 1 << (start + b * 6)
    return f"{v:064x}"


def test_files_handed_over_beside_the_records_are_scanned_and_linked(
        run: Run, tmp_path: Path) -> None:
    """Transfers that name a file handed over in FOLDER/files (no hash in the record): the
    import scans that folder as source PLATFORM-files; each such transfer links to its file,
    and through the file's SHA-256 and PDQ to the seized device's copies; the record keeps
    its own (empty) hash fields."""
    phone = tmp_path / "phone"
    seized = noise(phone / "DCIM" / "IMG_0001.png", 61)
    noise(phone / "DCIM" / "IMG_0002.png", 62, rotate=True)  # a turned copy of upload 2
    folder = tmp_path / "export"
    write_csv(folder / "accounts.csv", ["id", "names", "emails"],
              [["user-0051", "A", "user-0051@example.test"]])
    write_csv(folder / "transfers.csv", ["account", "time", "direction", "file_name"],
              [["user-0051", "2024-04-01", "upload", "uploads/a.png"],
               ["user-0051", "2024-04-02", "upload", "uploads/b.png"],
               ["user-0051", "2024-04-03", "download", "uploads/missing.png"]])
    (folder / "files" / "uploads").mkdir(parents=True)
    (folder / "files" / "uploads" / "a.png").write_bytes(seized.read_bytes())
    noise(folder / "files" / "uploads" / "b.png", 62)
    run("cases", "create", "op-files")
    run("scan", phone, "--case", "op-files", "--no-progress")
    res = run.json("platform", "import", folder, "--case", "op-files", "--platform", "shop")
    assert res["handed_over"]["source"] == "shop-files"
    assert res["handed_over"]["totals"]["files"] == 2
    (acct,) = run.json("platform", "accounts", "--case", "op-files")
    by_name = {x["file_name"]: x for x in acct["transfers"]}
    a = {(r["source"], r["path"], r["via"]) for r in by_name["uploads/a.png"]["items"]}
    assert a == {("shop-files", "uploads/a.png", "file"), ("phone", "DCIM/IMG_0001.png",
                                                           "file+sha256")}
    b = {(r["source"], r["path"], r["via"]) for r in by_name["uploads/b.png"]["items"]}
    assert b == {("shop-files", "uploads/b.png", "file"),
                 ("phone", "DCIM/IMG_0002.png", "file+pdq")}
    assert by_name["uploads/missing.png"]["items"] == []
    assert all(x["sha256"] is None and x["pdq"] is None for x in acct["transfers"])
    assert acct["summary"]["linked_items"] == 4


def test_transfers_link_accounts_to_items_matches_and_synthetic_findings(
        run: Run, tmp_path: Path) -> None:
    ev = tmp_path / "laptop-image"
    known = noise(ev / "known.png", 41)
    generated = picture(ev, "generated.png", 42, GENERATED)
    noise(ev / "lookalike.png", 43)
    noise(ev / "unrelated.png", 44)
    listed = tmp_path / "known.txt"
    listed.write_text(f"sha256 {sha256(known)}\n")
    run("lists", "import", listed, "--name", "known-demo", "--format", "te-local")
    run("cases", "create", "op-harbour")
    run("scan", ev, "--case", "op-harbour", "--no-progress")
    store = run.store()
    case_id = store.cases.id("op-harbour")
    items = {Path(it["path"]).name: it for it in store.records.case_items(case_id)}
    store.close()
    near = flip_bits(items["lookalike.png"]["pdq"]["hash"], 12)
    folder = tmp_path / "export"
    write_csv(folder / "accounts.csv", ["id"], [["user-0042"], ["user-0043"]])
    write_csv(folder / "transfers.csv",
              ["account", "time", "direction", "file_name", "md5", "sha256", "pdq"], [
                  ["user-0042", "2024-04-01", "download", "k.png", "", sha256(known), ""],
                  ["user-0042", "2024-04-02", "upload", "g.png",
                   hashlib.md5(generated.read_bytes()).hexdigest(), "", ""],
                  ["user-0042", "2024-04-03", "upload", "l.jpg", "", "", near],
                  ["user-0043", "2024-04-03", "download", "x.png", "", "cd" * 32,
                   flip_bits(items["lookalike.png"]["pdq"]["hash"], 40, 3)]])
    run("platform", "import", folder, "--case", "op-harbour", "--platform", "forum-x")
    accounts = {a["account"]: a for a in run.json("platform", "accounts", "--case",
                                                  "op-harbour")}
    x = accounts["user-0042"]["transfers"]
    assert [(r["path"], r["via"], r["distance"], r["active_matches"], r["synthetic"])
            for tr in x for r in tr["items"]] == [
        ("known.png", "sha256", 0, 1, False), ("generated.png", "md5", 0, 0, True),
        ("lookalike.png", "pdq", 12, 0, False)]
    assert x[0]["items"][0]["lists"] == ["known-demo"]
    assert accounts["user-0042"]["summary"] == {
        "uploads": 2, "downloads": 1, "linked_items": 3, "items_with_active_matches": 1,
        "synthetic_items": 1}
    # neither the hash nor a PDQ 40+ bits away links anything
    assert accounts["user-0043"]["transfers"][0]["items"] == []
    one = run.json("platform", "accounts", "--case", "op-harbour", "--account", "user-0043")
    assert [a["account"] for a in one] == ["user-0043"]


def test_deconfliction_across_two_cases(run: Run, tmp_path: Path) -> None:
    shared = noise(tmp_path / "a-phone" / "shared.png", 51)
    noise(tmp_path / "b-laptop" / "copy.png", 51)  # the same bytes, in the other case
    noise(tmp_path / "b-laptop" / "turned.png", 51, rotate=True)  # the same, rotated
    noise(tmp_path / "a-phone" / "only-a.png", 52)
    for case in ("op-a", "op-b"):
        run("cases", "create", case)
    run("scan", shared.parent, "--case", "op-a", "--no-progress")
    run("scan", tmp_path / "b-laptop", "--case", "op-b", "--no-progress")
    a, b = tmp_path / "records-a", tmp_path / "records-b"
    write_csv(a / "accounts.csv", ["id", "country"], [["user-0042", "DK"], ["user-0001", ""]])
    write_csv(a / "payments.csv", ["account", "time", "payment_id"],
              [["user-0042", "2024-02-01", "fp-7777"], ["user-0001", "2024-02-01", "fp-1"]])
    write_csv(b / "accounts.csv", ["id", "country"], [["user-0042", "NL"], ["user-0002", ""]])
    run("platform", "import", a, "--case", "op-a", "--platform", "forum-x")
    run("platform", "import", b, "--case", "op-b", "--platform", "forum-x")
    run("suspects", "add", "S-01", "--case", "op-a", "--country", "DK", "--email",
        "user-0042@example.test")
    run("suspects", "add", "S-07", "--case", "op-b", "--country", "NL", "--email",
        "User-0042+x@example.test", "--payment", "fp-7777")
    run("suspects", "add", "S-08", "--case", "op-b", "--email", "user-0099@example.test")
    res = run.json("deconflict", "--case", "op-a", "--case", "op-b")
    assert res["cases"] == ["op-a", "op-b"]
    assert [(h["kind"], h["value"], h["cases"], h["countries"]) for h in res["suspects"]] == [
        ("email", "user-0042@example.test", ["op-a", "op-b"], ["DK", "NL"])]
    assert [(h["value"], h["cases"], h["countries"]) for h in res["accounts"]] == [
        ("forum-x:user-0042", ["op-a", "op-b"], ["DK", "NL"])]
    pay = res["payment_ids"]
    assert [(h["value"], h["cases"]) for h in pay] == [("fp-7777", ["op-a", "op-b"])]
    assert sorted(w["via"] for w in pay[0]["appearances"]) == [
        "payments of forum-x:user-0042", "suspect S-07"]
    assert len(res["content"]) == 1
    fam = res["content"][0]
    assert fam["cases"] == ["op-a", "op-b"] and fam["representative"] == sha256(shared)
    assert sorted((m["case"], m["path"], m["via"].split(" ")[0]) for m in fam["members"]) == [
        ("op-a", "shared.png", "representative"), ("op-b", "copy.png", "same"),
        ("op-b", "turned.png", "pdq")]
    # one case: compared with every other
    assert run.json("deconflict", "--case", "op-a") == res
    text = run("deconflict", "--case", "op-a", "--case", "op-b")
    assert "accounts: account forum-x:user-0042" in text and "content: family of 3" in text


def test_records_reader_parts() -> None:
    assert rec.normalise_email("User-0042+Shop@Example.TEST") == "user-0042@example.test"
    assert rec.parse_time("2024-01-02T03:04:05+02:00") == "2024-01-02T01:04:05Z"
    assert rec.parse_time(1704240000) == "2024-01-03T00:00:00Z"
    for bad in ("yesterday", "1899-01-01", True, "99999999999999"):
        with pytest.raises(rec.RowError):
            rec.parse_time(bad)
    assert rec.ip_ua_key("192.0.2.1", "UA") != rec.ip_ua_key("192.0.2.1", "UA2")
    m = rec.Mapping()
    assert rec.check_row("transfers", {"account": "user-0042", "time": "2024-01-01",
                                       "direction": "DL", "sha256": "AB" * 32},
                         m)["sha256"] == "ab" * 32
    with pytest.raises(rec.RowError, match="account missing"):
        rec.check_row("payments", {"time": "2024-01-01"}, m)
    with pytest.raises(rec.RowError, match="control characters"):
        rec.check_row("accounts", {"id": "user\x00-0042"}, m)


def test_hostile_rows_are_rejected_one_by_one(run: Run, tmp_path: Path) -> None:
    """A line over the limit, NUL bytes, a deeply nested JSON value, a field the CSV reader
    refuses: each is one rejected row; the rows around them import."""
    folder = tmp_path / "export"
    write_csv(folder / "accounts.csv", ["id"], [["user-0042"]])
    nested = "[" * 100_000 + "]" * 100_000
    lines = [json.dumps({"account": "user-0042", "time": "2024-03-01", "ip": "192.0.2.1"}),
             json.dumps({"account": "user-0042", "time": "2024-03-01", "ip": "192.0.2.2",
                         "item": "x" * (rec.MAX_LINE + 10)}),
             json.dumps({"account": "user-0042", "time": "2024-03-01", "ip": "192.0.2.3",
                         "user_agent": "UA\u0000"}),
             '{"account": "user-0042", "time": "2024-03-01", "ip": "192.0.2.4", "item": '
             + nested + "}",
             json.dumps({"account": "user-0042", "time": {"t": 1}, "ip": "192.0.2.5"}),
             json.dumps({"account": "user-0042", "time": "2024-03-02", "ip": "192.0.2.6"})]
    (folder / "access_logs.jsonl").write_text("\n".join(lines) + "\n")
    write_csv(folder / "payments.csv", ["account", "time", "payment_id"], [
        ["user-0042", "2024-02-01", "fp-1"]])
    with open(folder / "payments.csv", "a") as f:
        f.write('user-0042,2024-02-01,"fp-2\n')  # an unterminated quote
        f.write("user-0042,2024-02-01,fp-3\n")
    run("cases", "create", "op-harbour")
    res = json.loads(run("platform", "import", folder, "--case", "op-harbour", "--platform",
                         "forum-x", "--json", ok=(3,)))
    assert res["counts"] == {"accounts": 1, "payments": 2, "access_logs": 2, "transfers": 0}
    reasons = {(r["file"], r["line"]): r["reason"] for r in res["rejected_rows"]}
    assert reasons[("access_logs.jsonl", 2)] == f"line over {rec.MAX_LINE} bytes"
    assert reasons[("access_logs.jsonl", 3)] == "user_agent: holds control characters"
    assert reasons[("access_logs.jsonl", 4)].startswith("not JSON")
    assert reasons[("access_logs.jsonl", 5)].startswith("time: {'t': 1} is not a time")
    assert reasons[("payments.csv", 3)].startswith("not CSV")
    assert len(reasons) == 5


def test_shortcuts_give_what_the_general_parsers_give(tmp_path: Path) -> None:
    """The import's fast paths (C address parsing, Unix seconds through gmtime, cells checked
    in place) accept exactly what the general parsers accept, with the same values, and
    leave every refusal, with its message, to check_row."""
    import ipaddress
    import random

    rng = random.Random(16)
    m = rec.Mapping()
    addresses = ["192.0.2.1", "::ffff:192.0.2.1", "::192.0.2.1", "fe80::1%eth0", "01.2.3.4",
                 "2001:DB8:0:0:1:0:0:1", "2001:db8::0:1", "1:2:3:4:5:6:7::", ":1::", "1::2:"]
    for _ in range(20_000):
        parts = [rng.choice(["", "0", "00", "0000", "00000", "1", "ffff", "FfFf",
                             format(rng.randrange(65536), "x")])
                 for _ in range(rng.randint(1, 9))]
        text = ":".join(parts)
        if rng.random() < 0.3:
            text += ":" + ".".join(rng.choice(["0", "1", "255", "256", "01"])
                                   for _ in range(rng.choice([3, 4, 4])))
        addresses.append(text)
        addresses.append(".".join(rng.choice(["0", "9", "10", "255", "256", "01", ""])
                                  for _ in range(rng.choice([3, 4, 4, 5]))))
    for text in addresses:
        try:
            want: str | None = ipaddress.ip_address(text).compressed
        except ValueError:
            want = None
        row = {"account": "user-0042", "time": "2024-01-01", "ip": text}
        try:
            got: str | None = rec.check_row("access_logs", row, m)["ip"]
        except rec.RowError as e:
            assert str(e).startswith("ip")
            got = None
        assert got == want, text
    for seconds in [0, 631151999, 631152000, 4102444799, 4102444800, 10**12 - 1,
                    *(rng.randrange(631152000, 4102444800) for _ in range(5_000))]:
        try:
            slow: str | None = rec.parse_time(float(seconds))
        except rec.RowError:
            slow = None
        try:
            fast: str | None = rec.parse_time(str(seconds))
        except rec.RowError:
            fast = None
        assert fast == slow, seconds
    # a CSV of good rows and rows spoiled one field at a time: the same values or errors
    spoil = ["", " ", "\x00", "x" * 1001, "not-a-time", "1899-01-01", "99999999999999",
             "300.1.2.3", "٣٤٥", "¹2", " 1704240000 ", "2001:db8::1 ", "user\t-0042"]
    rows = []
    for k in range(3_000):
        row = [f"user-{k % 7:04d}", str(1_660_000_000 + k), f"2001:db8::{k:x}",
               f"UA/{k % 3}", f"/item/{k}"]
        if k % 3:
            row[rng.randrange(5)] = rng.choice(spoil)
        rows.append(row)
    path = write_csv(tmp_path / "access_logs.csv", ["account", "time", "ip", "user_agent",
                                                  "item"], rows)
    with open(path, "rb") as f:
        general = []
        for n, raw, error in rec.read_rows(f, path, m.columns["access_logs"], m.delimiter):
            try:
                checked = rec.check_row("access_logs", raw or {}, m) if error is None else None
                general.append((n, checked and tuple(checked.values()), error))
            except rec.RowError as e:
                general.append((n, None, str(e)))
    with open(path, "rb") as f:
        assert list(rec.checked_rows(f, path, "access_logs", m)) == general
    assert sum(1 for _, values, _ in general if values is None) > 1_000


def test_a_bulk_import_rebuilds_its_indexes_and_a_failed_one_keeps_them(
        run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite a large import drops and rebuilds its tables' indexes inside its
    transaction (store/platform.py); every threshold 0 makes this import a large one."""
    from sqlalchemy import inspect

    from cairn.store import platform as store_platform

    monkeypatch.setattr(store_platform, "REBUILD_BYTES", 0)
    tables = (t.platform_emails, t.platform_payments, t.platform_access)

    def indexes() -> dict[str, list[tuple[str, tuple]]]:
        store = run.store()
        found = {tb.name: sorted((str(i["name"]), tuple(i["column_names"]))
                                 for i in inspect(store.engine).get_indexes(tb.name))
                 for tb in tables}
        store.close()
        return found

    declared = {tb.name: sorted((str(i.name), tuple(c.name for c in i.columns))
                                for i in tb.indexes) for tb in tables}
    run("cases", "create", "op-harbour")
    assert indexes() == declared
    folder = resolution_export(tmp_path / "export", "ab" * 32)
    (folder / "transfers.csv").unlink()
    run("platform", "import", folder, "--case", "op-harbour", "--platform", "forum-x")
    assert indexes() == declared
    resolved = json.loads(run("platform", "resolve", "--case", "op-harbour", "--json"))
    assert {lk["reason"] for c in resolved["candidates"] for lk in c["links"]} == {
        "email", "payment", "ip_ua"}
    # a second import that fails after its first file went in: rows and indexes roll back
    other = tmp_path / "other"
    write_csv(other / "accounts.csv", ["id", "emails"],
              [[f"user-9{i:03d}", f"user-9{i:03d}@example.test"] for i in range(50)])
    write_csv(other / "payments.csv", ["account", "when"], [["user-9001", "2024-01-01"]])
    assert "no column" in run("platform", "import", other, "--case", "op-harbour",
                              "--platform", "forum-y", ok=(2,))
    assert indexes() == declared


def test_lines_read_in_blocks_as_one_by_one(tmp_path: Path) -> None:
    """Whole buffers of lines are decoded at once; line numbers, texts and errors are those
    of reading one line at a time, whatever the buffer size."""
    import io

    body = [b"account,time,ip", b"user-0042,1704240000,192.0.2.1\r", b"user-\xff42,1,2",
            b"x" * (rec.MAX_LINE + 5), b"", b"user-0043,2024-01-01,192.0.2.2",
            b"y" * rec.MAX_LINE, b"user-\xc3", b"last,no,newline"]
    data = b"\n".join(body)
    path = tmp_path / "access_logs.csv"
    m = rec.Mapping()

    class OneByOne(io.RawIOBase):  # no peek: the line-by-line path
        def __init__(self) -> None:
            self.f = io.BytesIO(data)

        def readline(self, size: int | None = -1) -> bytes:
            return self.f.readline(size)

    def rows(f: object) -> list:
        return list(rec.read_rows(f, path, m.columns["access_logs"], m.delimiter))  # type: ignore[arg-type]

    want = rows(OneByOne())
    assert [n for n, _, _ in want] == [2, 3, 4, 6, 7, 8, 9]
    for size in (7, 4096, 1 << 20, 3 << 20):
        assert rows(io.BufferedReader(io.BytesIO(data), size)) == want, size
