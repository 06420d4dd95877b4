"""`cairn demo --scenario operation` runs the operation end to end on benign generated data:
every referral package verifies and holds no pixels, triage cites its rules, the incident
report is written, the custody log is whole."""

from __future__ import annotations

import json
from pathlib import Path

from inprocess import run

IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"WEBP", b"ftypheic", b"ftypavif")


def test_the_operation_demo_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "op"
    text = run(tmp_path / "unused", "demo", "--scenario", "operation", "--out", out)
    assert "triage (a suggestion: nothing is actioned automatically)" in text
    home = out / "home"
    for country in ("DK", "NL", "DE"):
        package = out / "referrals" / country
        res = json.loads(run(home, "referral", "verify", package, "--json"))
        assert res["ok"], res
        for f in package.rglob("*"):
            if f.is_file():
                data = f.read_bytes()
                assert not any(m in data for m in IMAGE_MAGIC), f
    summary = json.loads((out / "referrals" / "NL" / "summary.json").read_text())
    assert {s["country"] for s in summary["suspects"]} == {"NL"}
    assert (out / "incident.html").read_text().count("Response actions by country") == 1
    tiers = json.loads(run(home, "suspects", "triage", "--case", "op-demo-platform", "--json"))
    assert tiers["tiers"].get("producer/distributor") == 2  # the two citing the private LoRA
    assert json.loads(run(home, "custody", "verify", "--json"))["ok"]
    accounts = json.loads(run(home, "platform", "accounts", "--case", "op-demo-platform",
                              "--json"))
    assert len(accounts) == 60
