"""The terminal is safe from evidence: names that are rich markup or carry escape sequences
print literally, as visible escapes, and never crash a command; JSON stays exact JSON.

Every command runs in-process (click's CliRunner) on a case, a list, a source and files whose
names carry `[/]`, `[bold red]`, an OSC title sequence with BEL, a clear-screen CSI, a carriage
return and U+202E (right-to-left override). A file name cannot hold `/`, so `[/]` comes in
through the case, list and source names, and a folder is named `[x]`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cairn.cli import cli
from cairn.cli.text import json_safe, visible, visible_lines
from cairn.demo import jpeg_bytes, picture

# what must never reach a terminal raw: ESC, BEL, CR, C1 CSI, bidi override and isolate
RAW = ("\x1b", "\x07", "\r", "\x9b", "\u202e", "\u2066")
CASE = "case [/] \x1b]0;pwned\x07 \u202eevil"
LIST = "[bold red]list[/]\x1b[2J"
SOURCE = "src [/]\x1b[2J\u202e\x9b"
FILES = ["[bold red]a[x].jpg", "\x1b]0;pwned\x07.jpg", "\x1b[2J.jpg", "\u202egpj.exe.jpg",
         "cr\rline.jpg", "iso\u2066.jpg"]


class Run:
    """`cairn` in this process, on one store, with both streams kept apart."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()

    def __call__(self, *args: str | Path, ok: tuple[int, ...] = (0,)) -> Result:
        res = self.runner.invoke(cli, ["--home", str(self.home), *map(str, args)], obj={},
                                 env={"COLUMNS": "300"})
        shown = res.stdout + res.stderr
        assert res.exception is None or isinstance(res.exception, SystemExit), (
            f"cairn {args!r} raised {res.exception!r}\n{shown}")
        assert res.exit_code in ok, f"cairn {args!r} exited {res.exit_code}\n{shown}"
        raw = [ch for ch in RAW if ch in shown]
        assert not raw, f"cairn {args!r} printed raw {raw!r}:\n{shown!r}"
        return res


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Run, list[Path]]:
    """Evidence with hostile names under a folder `[x]`, and a list of their SHA-256."""
    folder = tmp_path / "ev" / "[x]"
    folder.mkdir(parents=True)
    paths = []
    for seed, name in enumerate(FILES):
        p = folder / name
        p.write_bytes(jpeg_bytes(picture(seed + 40, (160, 120))))
        paths.append(p)
    listed = tmp_path / "listed.txt"
    listed.write_text("".join(hashlib.sha256(p.read_bytes()).hexdigest() + "\n"
                              for p in paths))
    run = Run(tmp_path / "home")
    run("lists", "import", listed, "--name", LIST, "--type", "sha256")
    return run, paths


def test_hostile_names_print_literally_and_inert(hostile: tuple[Run, list[Path]]) -> None:
    run, paths = hostile
    shown_list = visible(LIST)
    assert shown_list == "[bold red]list[/]\\x1b[2J"
    assert shown_list in run("lists").stdout

    scan = run("scan", paths[0].parent.parent, "--case", CASE, "--new-case", "--source-name",
               SOURCE,
               "--workers", "1", "--no-progress").stdout
    assert visible(CASE) in scan and visible(SOURCE) in scan
    assert "case [/] \\x1b]0;pwned\\x07 \\u202eevil" in scan
    assert visible(CASE) in run("cases").stdout

    match = run("match", *paths).stdout
    for p in paths:
        assert f"{visible(p)}: MATCH list={shown_list} signal=sha256" in match
    assert "\\x1b]0;pwned\\x07.jpg" in match and "\\u202egpj.exe.jpg" in match
    assert "cr\\rline.jpg" in match

    trace = run("trace", "--case", CASE).stdout
    assert trace.startswith(visible(CASE) + ":")

    hashed = run("hash", *paths).stdout
    provenance = run("provenance", *paths, ok=(0, 1)).stdout
    for p in paths:
        assert visible(p) in hashed and visible(p) in provenance

    # a name in an error message: shown, not parsed as markup (`[/]` used to raise)
    err = run("trace", "--case", "no [/] such \x1b[2J", ok=(2,)).stderr
    assert "no case named 'no [/] such \\x1b[2J'" in err
    err = run("lists", "import", paths[0], "--name", LIST, ok=(2,)).stderr
    assert "error:" in err and "exists" in err


def test_json_output_is_the_data_unchanged(hostile: tuple[Run, list[Path]]) -> None:
    run, paths = hostile
    run("scan", paths[0].parent.parent, "--case", CASE, "--new-case", "--source-name", SOURCE,
        "--workers", "1", "--no-progress")
    (listed,) = json.loads(run("lists", "--json").stdout)
    assert listed["name"] == LIST
    assert CASE in [c["name"] for c in json.loads(run("cases", "--json").stdout)]
    records = json.loads(run("match", *paths, "--json").stdout)
    assert [r["path"] for r in records] == [str(p) for p in paths]
    assert {m["list"] for r in records for m in r["matches"]} == {LIST}
    assert json.loads(run("hash", paths[3], "--json").stdout)["path"] == str(paths[3])
    report = json.loads(run("report", "--case", CASE).stdout)
    assert sorted(Path(i["path"]).name for i in report["items"]) == sorted(FILES)
    assert json.loads(run("trace", "--case", CASE, "--json").stdout)["case"] == CASE


def test_visible_escapes_every_control_character() -> None:
    for code in [*range(0x20), *range(0x7F, 0xA0), 0x61C, 0x200E, 0x200F,
                 *range(0x2028, 0x202F), *range(0x2066, 0x206A)]:
        shown = visible(f"a{chr(code)}b")
        assert shown.isprintable() and shown.startswith("a\\") and shown.endswith("b"), code
    assert visible("a\x1b[2Jb") == "a\\x1b[2Jb" and visible("\u202e") == "\\u202e"
    assert visible("t\tn\nr\r") == "t\\tn\\nr\\r"
    assert visible(b"a\xff.jpg".decode("utf-8", "surrogateescape")) == "a\\xff.jpg"
    assert visible("plain [bold] é ✓") == "plain [bold] é ✓"
    assert visible_lines("a,\x1b[2J\r\nb\u202e\n") == "a,\\x1b[2J\r\nb\\u202e\n"
    text = json.dumps({"k": "\x1b\u202e\x9b\udcff\n"}, ensure_ascii=False)
    assert "\u202e" not in json_safe(text) and json.loads(json_safe(text)) == json.loads(text)


def test_console_styles_ours_and_escapes_theirs() -> None:
    """On a colour terminal our styles are still escape sequences, while one inside a name,
    even in a Text or table built without `styled`, is shown, not sent."""
    import io

    from rich.table import Table
    from rich.text import Text

    from cairn.cli.text import SafeConsole, styled

    buf = io.StringIO()
    con = SafeConsole(file=buf, force_terminal=True, color_system="standard", width=200)
    con.print(styled(("title\x1b]0;pwned\x07", "bold"), " [red]plain[/]"))
    con.print(Text("raw \x1b[2J text \u202e"))
    table = Table("name")
    table.add_row("cell \x1b[2J [/]")
    table.add_row(Text("text cell \x1b]0;x"))
    con.print(table)
    con.print("string [/] \x1b[2J", style="yellow", highlight=False)
    shown = buf.getvalue()
    assert "\x1b[1m" in shown  # bold, ours
    for theirs in ("\x1b]", "\x1b[2J", "\x07", "\u202e"):
        assert theirs not in shown
    for literal in ("title\\x1b]0;pwned\\x07", " [red]plain[/]", "raw \\x1b[2J text \\u202e",
                    "cell \\x1b[2J [/]", "text cell \\x1b]0;x", "string [/] \\x1b[2J"):
        assert literal in shown
