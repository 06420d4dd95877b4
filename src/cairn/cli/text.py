"""Printing evidence-derived text to a terminal: never as markup, never a control character.

Paths, names and metadata come from evidence, and whoever named the evidence may have meant
harm: `[/]` in a file name made rich raise, `[bold red]` restyled the line, and raw escape
sequences reached the terminal (ESC ] 0 ; retitles the window, ESC [ 2 J clears it, U+202E
reverses what follows so `gpj.exe` reads `exe.jpg`). So the consoles here print every string
as plain text (rich markup and emoji codes off; styles come as `styled` parts), and show every
control character, C0, DEL and C1, bidi overrides and isolates, line separators and stray
surrogates, as a visible escape (`\\x1b`, `\\u202e`; a byte a file name could not decode
shows as the byte, `\\xff`). A backslash is left as it is: the display is for reading,
`--json` is the exact form (JSON escapes, the data unchanged).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from rich.console import Console
from rich.segment import Segment
from rich.text import Text

# C0, DEL, C1; ALM, LRM/RLM, line/paragraph separators, bidi embeddings/overrides/isolates;
# lone surrogates (undecodable bytes of a file name)
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
                    "\ud800-\udfff]")
# what JSON may leave raw inside strings yet a terminal acts on (JSON escapes C0 itself;
# outside strings it writes only spaces and newlines)
UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
                            "\ud800-\udfff]")
NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    if ch in NAMED:
        return NAMED[ch]
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte the name had
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(value: object) -> str:
    """`value` as text with every control character shown as an escape: one line, inert."""
    text = str(value)
    return UNSAFE.sub(_escape, text) if UNSAFE.search(text) else text


def visible_lines(text: str) -> str:
    """Multi-line text (a CSV or HTML report on a terminal) with its line breaks kept and
    every other control character escaped."""
    return "".join(visible(part) if part not in ("\n", "\r\n") else part
                   for part in re.split(r"(\r?\n)", text))


def json_safe(text: str) -> str:
    """JSON text (as json.dumps writes it) with the characters a terminal acts on written as
    \\u escapes: the same JSON data, and a lone surrogate, which a UTF-8 stream would
    refuse, no longer stops the output."""
    return UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def json_text(data: object) -> str:
    """JSON as the CLI prints it: non-ASCII readable, nothing a terminal acts on."""
    return json_safe(json.dumps(data, indent=2, ensure_ascii=False))


def styled(*parts: str | tuple[str, str]) -> Text:
    """A line from parts, each plain text or (text, style): the values escaped, the styles
    ours, so a name can neither restyle nor break it."""
    return Text.assemble(*((visible(p[0]), p[1]) if isinstance(p, tuple) else visible(p)
                           for p in parts))


class SafeConsole(Console):
    """A rich console that prints strings as plain text (markup and emoji codes off, even
    if asked: style with `styled` or `style=`) with control characters escaped, and escapes
    any that reach its output another way (a Text built elsewhere)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(markup=False, emoji=False, **kwargs)  # type: ignore[arg-type]

    def render_str(self, text: str, **kwargs: object) -> Text:
        kwargs.update(markup=False, emoji=False)
        return super().render_str(visible(text), **kwargs)  # type: ignore[arg-type]

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        # the last step before the stream: line breaks are rich's own, control segments
        # (cursor moves of a progress bar) too; any other control character is escaped
        return super()._render_buffer(
            seg if seg.control or seg.text == "\n" or not UNSAFE.search(seg.text) else
            Segment("\n".join(visible(x) for x in seg.text.split("\n")), seg.style, seg.control)
            for seg in buffer)
