"""`cairn demo`: the main job on generated benign data (exhibits, or the operation)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from cairn.store import Store

from cairn.cli.common import (
    _store,
    out,
)
from cairn.cli.scan import scan_cmd


@click.command("demo")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("demo-out"), show_default=True)
@click.option("--scenario", type=click.Choice(["exhibits", "operation"]), default="exhibits",
              show_default=True,
              help="exhibits: a phone and a workstation, their lists and provenance. "
                   "operation: a fictional seized platform, 12 suspects in 3 countries, 20 "
                   "devices; resolution, triage, one referral package per country.")
@click.pass_context
def demo_cmd(ctx: click.Context, out_dir: Path, scenario: str) -> None:
    """Generate benign demo evidence and lists, import, scan, and write the reports."""
    import shutil

    if scenario == "operation":
        return _demo_operation(ctx, out_dir)

    from cairn.cases.incident import build_incident, render_incident
    from cairn.cases.report import active, build, render
    from cairn.demo import make_demo
    from cairn.demo_operation import stage_operation
    from cairn.demo_provenance import make_ai_exhibit
    from cairn.lists.formats import read_list

    if out_dir.exists():
        shutil.rmtree(out_dir)
    made = make_demo(out_dir)
    ai = make_ai_exhibit(out_dir)  # also leaves one of its outputs on the phone
    ctx.obj["home"] = out_dir / "home"
    ctx.obj.pop("store", None)
    store = _store(ctx)
    for fname, lname in (("known.csv", "demo-pdq"), ("known.md5", "demo-md5")):
        fmt, entries, _ = read_list(made["lists"] / fname)
        store.lists.add(lname, str(made["lists"] / fname), fmt, 31,
                        (e.to_dict() for e in entries), 0)
        out.print(f"imported list {lname}: {len(entries)} entries ({fmt})")
    ctx.invoke(scan_cmd, locations=(made["exhibit"],), case="demo", new_case=True,
               source_name=None, workers=None,
               max_pixels=100_000_000, max_depth=5, max_ratio=200, mode="fast",
               video_interval=1.0, as_json=False,
               no_progress=False)
    ctx.invoke(scan_cmd, locations=(ai["exhibit"],), case="demo", c2pa_trust=ai["anchors"],
               novelai_keys=(f"demo-signer={ai['novelai_key']}",), no_progress=False)
    notes = stage_operation(store, "demo", out_dir)
    incident = build_incident(store, "demo", notes.read_text(encoding="utf-8"))
    for kind in ("html", "md"):
        (out_dir / f"incident.{kind}").write_text(str(render_incident(incident, kind)),
                                                  encoding="utf-8")
    report = build(store, "demo")
    for fmt in ("html", "json"):
        (out_dir / f"report.{fmt}").write_text(render(report, fmt), encoding="utf-8")
    found = {it["path"] for it in report["items"] if active(it)}
    missed = sorted(set(made["planted"]) - found)
    out.print(f"planted copies and edits found: {len(made['planted']) - len(missed)}"
              f"/{len(made['planted'])}" + (f" (missed: {', '.join(missed)})" if missed else ""))
    s = report["summary"]
    linked = sum(1 for it in report["items"] for f in it["findings"] if f.get("model_files"))
    out.print(f"provenance: {s['items_with_generator_claims']} generator claims, "
              f"{s['items_declared_synthetic']} declared synthetic, {s['models']} model file "
              f"linked to {linked} picture(s)", highlight=False)
    spans = sum(1 for f in report["trace"]["families"] if len(f["sources"]) > 1)
    strong = sum(1 for lk in report["trace"]["links"] if lk["strength"] == "strong")
    out.print(f"trace: {s['families']} families ({spans} spanning both exhibits), "
              f"{strong} strong fingerprint links", highlight=False)
    out.print(f"operation: {incident['impact']['suspects']} suspects, "
              f"{incident['impact']['devices']} devices, "
              f"{sum(a['total'] for a in incident['response_actions'])} actions in "
              f"{len(incident['response_actions'])} countries", highlight=False)
    out.print(f"report: {(out_dir / 'report.html').resolve()}", highlight=False)
    out.print(f"incident report: {(out_dir / 'incident.html').resolve()}", highlight=False)
    _demo_reviewer(store, out_dir)


def _demo_reviewer(store: Store, out_dir: Path) -> None:
    """A reviewer granted the demo case, and the command that opens it in the workbench."""
    from cairn.store import users

    case_id = store.cases.id("demo")
    assert case_id is not None
    _, password = users.add_user(store, "demo-reviewer", "reviewer")
    users.grant_case(store, case_id, "demo-reviewer")
    home = (out_dir / "home").resolve()
    out.print(f"review it in the browser: CAIRN_HOME={home} cairn serve --port 8021, then "
              f"open http://127.0.0.1:8021/ui/cases/demo/queue and log in as demo-reviewer "
              f"(password {password}, a demo's: shown once)", highlight=False, soft_wrap=True)


def _demo_operation(ctx: click.Context, out_dir: Path) -> None:
    import shutil

    from cairn.demo_scenario import CASE, run_operation
    from cairn.scan.pipeline import scan
    from cairn.store.people import People

    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    ctx.obj["home"] = out_dir / "home"
    ctx.obj.pop("store", None)
    store = _store(ctx)

    def scan_device(folder: Path, device: str) -> None:
        summary = scan(store, CASE, folder, arguments={"demo": "operation"})
        case_id = store.cases.id(CASE)
        assert case_id is not None
        source = next(x for x in store.cases.sources(case_id) if x["location"] == str(folder))
        People(store).link_source(case_id, device, source["id"])
        out.print(f"scanned {device}: {summary.to_dict()['totals']['files']} files",
                  highlight=False)

    res = run_operation(store, out_dir, scan_device)
    imp = res["impact"]
    out.print(f"platform records: {sum(res['imported']['counts'].values())} rows; "
              f"{res['candidates']} account candidate(s) from entity resolution", highlight=False)
    out.print(f"case {CASE}: {imp['suspects']} suspects, {imp['devices']} devices, "
              f"{imp['items_known_material']} items of known material, "
              f"{imp['items_synthetic']} synthetic, {imp['families_across_suspects']} "
              "families shared between suspects", highlight=False)
    out.print("triage (a suggestion: nothing is actioned automatically): " + ", ".join(
        f"{n} {t}" for t, n in res["tiers"].items()), highlight=False)
    for c, path in res["referrals"].items():
        out.print(f"referral {c}: {path}", highlight=False)
    out.print(f"incident report: {res['incident']}", highlight=False)
