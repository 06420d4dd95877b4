"""The timeline as a self-contained SVG (no scripts, no external assets): one row per event,
a dot at its time on a shared axis, labelled with what was first seen and where the time
came from. Embeds in the HTML report under its strict CSP."""

from __future__ import annotations

from datetime import datetime
from html import escape

WIDTH, ROW, LEFT, RIGHT, TOP = 900, 22, 330, 40, 40


def _ts(iso: str) -> float:
    dt = datetime.fromisoformat(iso)
    return dt.timestamp() if dt.tzinfo else dt.replace(tzinfo=None).timestamp()


def timeline_svg(events: list[dict], title: str = "First seen", standalone: bool = True
                 ) -> str:
    """`standalone`: a file of its own (with the SVG namespace); else markup to inline in
    HTML, where the namespace is implied (and the report names no URL at all)."""
    ns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    if not events:
        return (f'<svg{ns} width="{WIDTH}" height="40">'
                f'<text x="10" y="25" font-family="sans-serif" font-size="13">{escape(title)}:'
                " no dated events</text></svg>")
    times = [_ts(e["time"]) for e in events]
    lo, hi = min(times), max(times)
    span = (hi - lo) or 1.0
    height = TOP + ROW * len(events) + 30
    x = lambda t: LEFT + (t - lo) / span * (WIDTH - LEFT - RIGHT)  # noqa: E731
    parts = [f'<svg{ns} width="{WIDTH}" height="{height}" '
             'font-family="sans-serif" font-size="11">',
             f'<text x="10" y="20" font-size="14" font-weight="600">{escape(title)}</text>',
             f'<line x1="{LEFT}" y1="{height - 25}" x2="{WIDTH - RIGHT}" y2="{height - 25}" '
             'stroke="#888"/>']
    for label, t in ((events[0]["time"][:10], lo), (events[-1]["time"][:10], hi)):
        parts.append(f'<text x="{x(t):.1f}" y="{height - 10}" text-anchor="middle">'
                     f"{escape(label)}</text>")
    colours = {"family": "#1f6feb"}
    for k, (e, t) in enumerate(zip(events, times, strict=True)):
        y = TOP + k * ROW
        parts.append(f'<text x="10" y="{y + 4}">{escape(e["what"][:48])}</text>')
        parts.append(f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" '
                     'stroke="#eee"/>')
        colour = colours.get(e["kind"], "#a4161a")
        parts.append(f'<circle cx="{x(t):.1f}" cy="{y}" r="5" fill="{colour}">'
                     f'<title>{escape(e["time"])} · {escape(e["time_source"])} · '
                     f'{escape(e["source"])}/{escape(e["path"])}</title></circle>')
    parts.append("</svg>")
    return "\n".join(parts)
