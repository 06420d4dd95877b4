"""The case overview's insights: exhibits ranked, a timeline, suspects and devices.

- Exhibits (sources) ranked by matched items, then by what they share with other exhibits
  (trace/graph.py `rank_sources`: families spanning them and fingerprint links), each with
  its items, synthetic items and the device and suspect it was imaged from.
- The timeline: an SVG drawn here (no script; inline under the page's CSP, presentation
  attributes only): items per time bucket by the file time recorded at scan (a bar each,
  its count in the bar's title and in a table beside), and the case's actions (arrests,
  searches, seizures) as labelled marks on the same axis. Items without a time, or with
  one before 1980-01-01 (the zip/DOS epoch: such a time is missing or reset, never real;
  1970-01-01 is the usual one) or later than tomorrow, are not drawn: counted and said,
  so one wrong clock cannot squash every bar into one.
- Suspects and devices with what was found on each (cases/people.py `case_people`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from html import escape
from typing import Any

from sqlalchemy import BigInteger, cast, func, select

from cairn.cases.people import case_people, is_synthetic
from cairn.store import Store
from cairn.store import schema as t
from cairn.store.people import People
from cairn.trace.families import Family
from cairn.trace.graph import rank_sources
from cairn.web.tracecache import trace_if_ready

BUCKETS = 24  # bars on the timeline
PLAUSIBLE_FROM = 315_532_800  # 1980-01-01T00:00:00Z
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BAR_H = 900, 220, 50, 20, 20, 120


def exhibits(store: Store, case_id: int) -> list[dict[str, Any]]:
    """The exhibits ranked; on a large case whose families and links are being computed
    (web/tracecache.py `trace_if_ready`), what they share is None until they are."""
    tr = trace_if_ready(store, case_id)
    fams = [Family(f["id"], f["representative"], f["members"], f["sources"])
            for f in tr.families] if tr is not None else []
    shared = {r["source"]: r for r in rank_sources(fams, tr.links)} if tr is not None else {}
    counts = People(store).source_counts(case_id, is_synthetic)
    owner: dict[str, tuple[str, str | None]] = {}
    for d in People(store).devices(case_id):
        for name in d["sources"]:
            owner[name] = (d["id"], d["suspect"])
    rows = []
    for s in store.cases.sources(case_id):
        c = counts.get(s["id"], {})
        sh = shared.get(s["name"], {})
        dev, sus = owner.get(s["name"], (None, None))
        rows.append({"source": s["name"], "items": c.get("items", 0),
                     "matched_items": c.get("matched_items", 0),
                     "synthetic_items": c.get("synthetic_items", 0),
                     "shared_families": sh.get("shared_families", 0) if tr else None,
                     "link_weight": sh.get("link_weight", 0.0) if tr else None,
                     "shares_with": sh.get("shares_with", []), "device": dev, "suspect": sus})
    rows.sort(key=lambda r: (-r["matched_items"],
                             -((r["shared_families"] or 0) + (r["link_weight"] or 0.0)),
                             r["source"]))
    return rows


def item_histogram(store: Store, case_id: int, buckets: int = BUCKETS,
                   also: list[float] | None = None) -> dict[str, Any]:
    """Items per time bucket by their recorded file time: {lo, hi, width (s), counts,
    undated}, the buckets spanning the items' times and `also` (the actions': one axis for
    both); one aggregate query (integer division: the same on SQLite and PostgreSQL)."""
    i, s = t.items.c, t.sources.c
    until = datetime.now(UTC).timestamp() + 86400
    in_case = s.case_id == case_id
    plausible = i.mtime.between(PLAUSIBLE_FROM, until)
    with store.engine.connect() as c:
        n = c.execute(select(func.count()).select_from(t.items)
                      .join(t.sources, i.source_id == s.id).where(in_case)).scalar_one()
        lo, hi, dated = c.execute(
            select(func.min(i.mtime), func.max(i.mtime), func.count(i.mtime))
            .join(t.sources, i.source_id == s.id).where(in_case, plausible)).one()
        if not dated:
            return {"lo": None, "hi": None, "width": 0, "counts": [], "undated": n or 0}
        lo_s, hi_s = int(min([lo, *(also or [])])), int(max([hi, *(also or [])]))
        width = max(1, (hi_s - lo_s) // buckets + 1)
        bucket = (cast(i.mtime, BigInteger) - lo_s) // width
        counts = [0] * buckets
        for b, k in c.execute(select(bucket, func.count()).join(t.sources, i.source_id == s.id)
                              .where(in_case, plausible).group_by(bucket)):
            counts[min(buckets - 1, max(0, int(b)))] += k
    return {"lo": lo_s, "hi": hi_s, "width": width, "counts": counts,
            "undated": (n or 0) - dated}


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


def _action_time(a: dict[str, Any]) -> float:
    return datetime.combine(date.fromisoformat(a["date"][:10]), datetime.min.time(),
                            UTC).timestamp()


def timeline_svg(hist: dict[str, Any], actions: list[dict[str, Any]]) -> str:
    """The timeline as inline SVG markup (role=img, titled; each bar and mark has a title
    a screen reader and a mouse both read). Escaped: labels come from the case."""
    times = [_action_time(a) for a in actions]
    bounds = times + ([hist["lo"], hist["hi"] + hist["width"]] if hist["counts"] else [])
    if not bounds:
        return ('<svg role="img" aria-label="timeline: no dated items or actions" '
                'width="400" height="30"><text x="4" y="20">No dated items or actions.'
                "</text></svg>")
    lo, hi = min(bounds), max(bounds)
    span = (hi - lo) or 86400.0
    lo, hi = lo - span * 0.02, hi + span * 0.02
    span = hi - lo

    def x(ts: float) -> float:
        return LEFT + (ts - lo) / span * (WIDTH - LEFT - RIGHT)

    base = TOP + BAR_H
    parts = [f'<svg role="img" aria-labelledby="tl-title" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
             '<title id="tl-title">Items by recorded file time (bars) and the case\'s '
             "actions (triangles)</title>",
             f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" '
             'stroke="#111"/>']
    counts = hist["counts"]
    top = max(counts) if counts else 0
    for k, n in enumerate(counts):
        if not n:
            continue
        start = hist["lo"] + k * hist["width"]
        x0, x1 = x(start), x(start + hist["width"])
        h = max(2.0, BAR_H * n / top)
        parts.append(f'<rect class="bar" x="{x0:.1f}" y="{base - h:.1f}" '
                     f'width="{max(1.0, x1 - x0 - 1):.1f}" height="{h:.1f}" fill="#555">'
                     f"<title>{n} items, {_day(start)} to {_day(start + hist['width'])}"
                     "</title></rect>")
    if top:
        parts.append(f'<text x="4" y="{TOP + 8}">{top}</text>'
                     f'<text x="4" y="{base}">0</text>')
    for a, ts in zip(actions, times, strict=True):
        cx = x(ts)
        label = f"{a['kind']} {a['date'][:10]} {a['country']}"
        parts.append(f'<path class="action" d="M{cx:.1f},{base + 4} l-6,12 h12 z" '
                     f'fill="#fff" stroke="#111" stroke-width="2"><title>{escape(label)}'
                     f"{escape(' · ' + ', '.join(a['suspects'])) if a['suspects'] else ''}"
                     "</title></path>")
    for k in range(5):  # ticks: the ends anchored inwards, never cut off
        ts = lo + span * k / 4
        anchor = "start" if k == 0 else "end" if k == 4 else "middle"
        parts.append(f'<line x1="{x(ts):.1f}" y1="{base}" x2="{x(ts):.1f}" y2="{base + 20}" '
                     f'stroke="#767676"/><text x="{x(ts):.1f}" y="{HEIGHT - 8}" '
                     f'text-anchor="{anchor}">{_day(ts)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def insights(store: Store, case_id: int) -> dict[str, Any]:
    actions = People(store).actions(case_id)
    hist = item_histogram(store, case_id, also=[_action_time(a) for a in actions])
    return {"exhibits": exhibits(store, case_id), "histogram": hist, "actions": actions,
            "timeline_svg": timeline_svg(hist, actions), "people": case_people(store, case_id),
            "buckets": [{"from": _day(hist["lo"] + k * hist["width"]), "items": n}
                        for k, n in enumerate(hist["counts"]) if n]}
