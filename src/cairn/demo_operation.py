"""The demo's operation: who the two exhibits were seized from and what was done, all of it
fictional (user-0042, example.test), so that `make demo` ends with an incident report."""

from __future__ import annotations

from pathlib import Path

from cairn.store import Store
from cairn.store.people import People

NOTES = """# Examiner's notes (demo, fictional)

## Lessons learned
- The phone's chat media held copies of pictures first made on the workstation: trace
  families across devices early, before interviews.
- The workstation's LoRA file linked three generated pictures to it by hash.

## Recommendations
- Share the new hashes with the partner agencies over TAXII (TLP:AMBER).
- Check the other buyers' devices against the LoRA's hashes.
"""


def stage_operation(store: Store, case: str, out_dir: Path) -> Path:
    """Suspects, devices (linked to the case's two sources, phone first), actions and an
    operation for the demo case; returns the examiner's notes file it writes."""
    people = People(store)
    case_id = store.cases.id(case)
    assert case_id is not None
    people.add_suspect(case_id, "S-01", country="DK", agency="Demo Police North",
                       aliases=["harbourfox"], status="arrested",
                       identifiers=[("account", "telegram:user-0042"),
                                    ("email", "user-0042@example.test"),
                                    ("payment", "DK0000000000000042")])
    people.add_suspect(case_id, "S-02", country="NL", agency="Demo Police West",
                       status="identified", identifiers=[("account", "forum:user-0043")])
    people.add_device(case_id, "D-01", {"kind": "phone", "suspect": "S-01",
                                        "seized_at": "2024-11-05", "seized_where": "Aarhus",
                                        "seized_by": "Demo Police North"})
    people.add_device(case_id, "D-02", {"kind": "desktop", "suspect": "S-02",
                                        "seized_at": "2024-11-06",
                                        "seized_by": "Demo Police West"})
    for source, device_key in zip(store.cases.sources(case_id), ("D-01", "D-02"), strict=False):
        people.link_source(case_id, device_key, source["id"])
    for kind, date, country, suspect, device, outcome in (
            ("arrest", "2024-11-05", "DK", "S-01", "D-01", "remanded"),
            ("device-seizure", "2024-11-05", "DK", "S-01", "D-01", None),
            ("house-search", "2024-11-06", "NL", "S-02", "D-02", "desktop seized"),
            ("knock-and-talk", "2024-11-20", "NL", "S-02", None, "account closed"),
            ("warning-letter", "2024-12-02", "DK", "S-01", None, None)):
        people.add_action(case_id, kind=kind, date=date, country=country,
                          suspects=[suspect], devices=[device] if device else [],
                          agency="Demo Police North" if country == "DK" else
                          "Demo Police West", outcome=outcome)
    people.create_operation("Op-Demo-Lighthouse", ["Demo Police North", "Demo Police West"],
                            ["DK", "NL"])
    people.add_case_to_operation("Op-Demo-Lighthouse", case_id)
    notes = out_dir / "notes.md"
    notes.write_text(NOTES, encoding="utf-8")
    return notes
