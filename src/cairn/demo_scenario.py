"""`cairn demo --scenario operation`: a fictional seized platform and the operation it starts,
run end to end on benign generated pictures.

Nothing in it resembles real people: accounts are `user-00NN`, e-mails `@example.test`,
IPs from the documentation ranges, payment identifiers `card-00NN`. The platform
(`demo-shop`) has 60 accounts; 12 suspects in 3 countries hold 20 devices (folders of benign
pictures). Some pictures are on the demo "known" list; two suspects' generated pictures cite
one private LoRA; some accounts share a payment identifier or an e-mail (one person, several
accounts). The run imports the list and the records, scans every device, resolves accounts,
accepts the accounts the fictional investigation ties to each suspect, records the actions,
triages, and writes one referral package per country and the incident report.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cairn.demo import jpeg_bytes, picture
from cairn.demo_provenance import A1111_TEXT, png, safetensors
from cairn.store import Store
from cairn.store.people import People

COUNTRIES = ("DK", "NL", "DE")
AGENCY = {"DK": "Demo Police North", "NL": "Demo Police West", "DE": "Demo Police South"}
N_ACCOUNTS, N_SUSPECTS, N_DEVICES = 60, 12, 20
CASE = "op-demo-platform"


def _suspect(i: int) -> str:
    return f"S-{i + 1:02d}"


def generate(out: Path) -> dict:
    """Write the platform's records, the devices' folders and the known list under `out`."""
    rng = np.random.default_rng(16)
    records, devices_dir = out / "records", out / "devices"
    records.mkdir(parents=True)
    known = [picture(7000 + k, (256, 192)) for k in range(6)]  # benign "listed" pictures
    (out / "known.txt").write_text("".join(
        f"sha256 {hashlib.sha256(jpeg_bytes(img)).hexdigest()}\n" for img in known))
    lora = rng.bytes(150_000)
    short = hashlib.sha256(lora).hexdigest()[:12]
    # suspects: i -> country; devices: d -> suspect (suspects 0..7 two devices, the rest one)
    country = {i: COUNTRIES[i % 3] for i in range(N_SUSPECTS)}
    owner = [d // 2 if d < 16 else 8 + (d - 16) for d in range(N_DEVICES)]
    holds: dict[int, list[str]] = {i: [] for i in range(N_SUSPECTS)}  # suspect -> accounts
    for a in range(N_ACCOUNTS):
        if a < 24:
            holds[a // 2].append(f"user-{a:04d}")  # two accounts each for the suspects
    files: dict[int, list[tuple[str, bytes]]] = {d: [] for d in range(N_DEVICES)}
    for d in range(N_DEVICES):
        files[d].append((f"DCIM/IMG_{d:02d}01.jpg", jpeg_bytes(picture(8000 + d, (320, 240)))))
        if d % 3 == 0:  # a copy of a listed picture
            files[d].append((f"Downloads/shared-{d:02d}.jpg", jpeg_bytes(known[d % 6])))
    for d in (4, 12):  # suspects S-03 and S-07: generated pictures citing one private LoRA
        files[d].append((f"outputs/0000{d}-31415.png", png(picture(8100 + d, (320, 240)), {
            "parameters": A1111_TEXT.format(lora=short).replace("3141592", f"31415{d}")})))
    files[4].append(("models/Lora/tide-style.safetensors",
                     safetensors(lora, {"ss_output_name": "tide-style"})))
    for d, entries in files.items():
        for rel, data in entries:
            path = devices_dir / f"D-{d + 1:02d}" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    # the platform's records
    rows: dict[str, list[list[object]]] = {"accounts": [], "payments": [], "access_logs": [],
                                           "transfers": []}
    for a in range(N_ACCOUNTS):
        name = f"user-{a:04d}"
        mail = f"user-{a:04d}@example.test" if a % 2 == 0 else f"user-{a - 1:04d}+alt@example.test"
        rows["accounts"].append([name, mail, COUNTRIES[(a // 2) % 3] if a < 24 else ""])
        card = f"card-{a // 2:04d}" if a < 24 else f"card-{a:04d}"
        for m in range(1 + (a % 3)):
            rows["payments"].append([name, f"2024-0{m + 1}-1{a % 10}T10:00:00Z", "25.00", "EUR",
                                     card, COUNTRIES[(a // 2) % 3] if a < 24 else ""])
        rows["access_logs"].append([name, "2024-03-01T12:00:00Z", f"198.51.100.{a % 250}",
                                    f"DemoBrowser/{a}"])
    for d in range(N_DEVICES):
        for rel, data in files[d]:
            if rel.startswith("Downloads/") or rel.startswith("outputs/"):
                acct = holds[owner[d]][0]
                direction = "upload" if rel.startswith("outputs/") else "download"
                rows["transfers"].append([acct, "2024-03-02T12:00:00Z", direction,
                                          rel.rsplit("/", 1)[-1],
                                          hashlib.sha256(data).hexdigest()])
    headers = {"accounts": ["id", "emails", "country"],
               "payments": ["account", "time", "amount", "currency", "payment_id", "country"],
               "access_logs": ["account", "time", "ip", "user_agent"],
               "transfers": ["account", "time", "direction", "file_name", "sha256"]}
    for table, header in headers.items():
        with open(records / f"{table}.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([header, *rows[table]])
    return {"records": records, "devices": devices_dir, "known": out / "known.txt",
            "country": country, "owner": owner, "holds": holds}


def run_operation(store: Store, out: Path, scan_device: Callable[[Path, str], None]) -> dict:
    """The operation on the generated data: list, case, suspects, devices and their scans
    (`scan_device(folder, device)` scans one device folder into the case), the platform's
    records, accounts accepted as suspects', actions; then triage, referrals per country and
    the incident report. Returns what it wrote."""
    from cairn.cases.incident import build_incident, render_incident
    from cairn.cases.referral import create as referral
    from cairn.cases.triage import triage
    from cairn.lists.formats import read_list
    from cairn.platform import records as rec
    from cairn.platform.resolve import resolve
    from cairn.store.platform import PlatformStore

    made = generate(out)
    fmt, entries, _ = read_list(made["known"])
    store.lists.add("demo-known", str(made["known"]), fmt, 31, (e.to_dict() for e in entries), 0)
    people = People(store)
    people.create_case(CASE)
    case_id = store.cases.id(CASE)
    assert case_id is not None
    for i in range(N_SUSPECTS):
        c = made["country"][i]
        people.add_suspect(case_id, _suspect(i), country=c, agency=AGENCY[c],
                           status="identified")
    for d, s in enumerate(made["owner"]):
        people.add_device(case_id, f"D-{d + 1:02d}", {
            "kind": ("phone", "laptop", "desktop", "storage")[d % 4], "suspect": _suspect(s),
            "seized_at": f"2024-11-{5 + d % 3:02d}", "seized_by": AGENCY[made["country"][s]]})
    for d in range(N_DEVICES):
        scan_device(made["devices"] / f"D-{d + 1:02d}", f"D-{d + 1:02d}")
    ps = PlatformStore(store)
    imported = ps.import_records(case_id, made["records"], "demo-shop", rec.load_mapping(None))
    resolved = resolve(store, case_id)
    for i, accts in made["holds"].items():  # what the investigation ties to each suspect
        ps.merge(case_id, _suspect(i), [], [f"demo-shop:{a}" for a in accts])
    for i in range(N_SUSPECTS):
        c = made["country"][i]
        kind = ("arrest", "house-search", "knock-and-talk", "warning-letter")[i % 4]
        people.add_action(case_id, kind=kind, date=f"2024-11-{5 + i % 20:02d}", country=c,
                          suspects=[_suspect(i)], agency=AGENCY[c])
    triaged = triage(store, CASE)
    packages = {}
    for c in COUNTRIES:
        packages[c] = referral(store, CASE, c, out / "referrals" / c, agency=AGENCY[c])
    incident = build_incident(store, CASE, None)
    for kind in ("html", "md"):
        (out / f"incident.{kind}").write_text(str(render_incident(incident, kind)),
                                              encoding="utf-8")
    return {"case": CASE, "imported": imported, "candidates": len(resolved["candidates"]),
            "tiers": triaged["tiers"], "referrals": {c: str(out / "referrals" / c)
                                                     for c in packages},
            "incident": str(out / "incident.html"), "impact": incident["impact"]}
