"""`cairn scan`: a source into a case, resumable, with its limits."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from collections.abc import Callable

    from cairn.media.limits import Limits
    from cairn.scan.pipeline import ScanSummary
    from cairn.scan.worker import HashOptions
    from cairn.store import Store

from cairn.cli.common import (
    EXIT_INTERRUPTED,
    _emit_json,
    _fail,
    _store,
    err,
    existing_case,
    out,
)
from cairn.cli.hashing import (
    C2PA_TRUST_OPTION,
    DETECTOR_OPTION,
    NOVELAI_KEY_OPTION,
    VIDEO_OPTION,
    check_detector,
    mode_option,
    parse_novelai_keys,
    read_trust,
)


# -- scan -----------------------------------------------------------------------------------
def _size_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    from cairn.scan.caps import MEMORY_MIN, format_size, parse_size

    if value is None:
        return None
    try:
        n = parse_size(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    if n < MEMORY_MIN:
        raise click.BadParameter(f"at least {format_size(MEMORY_MIN)}: a worker holds about "
                                 "0.3 GiB before it reads anything")
    return n


@click.command("scan")
@click.argument("locations", nargs=-1, required=True, metavar="LOCATION...",
                type=click.Path(exists=False, path_type=Path))
@click.option("--case", required=True, help="Case the evidence belongs to.")
@click.option("--new-case", is_flag=True,
              help="Open the case if it does not exist yet (without it, an unknown case is "
                   "refused, naming the nearest: a typo must not start a new case).")
@click.option("--source-name", help="Name of this exhibit [default: the folder or file name].")
@click.option("--device", help="The device (of the case) this exhibit was taken from: the "
              "source is linked to it (`cairn devices add` first).")
@click.option("--workers", type=click.IntRange(1, 256), help="Worker processes [default: cores].")
@click.option("--max-pixels", type=click.IntRange(1), default=100_000_000, show_default=True,
              help="Refuse to decode images larger than this (decompression bombs).")
@click.option("--max-depth", type=click.IntRange(0, 64), default=5, show_default=True,
              help="Archives nested deeper than this are not opened.")
@click.option("--max-ratio", type=click.IntRange(2), default=200, show_default=True,
              help="Largest decompression ratio accepted from an archive.")
@click.option("--max-worker-memory", metavar="SIZE", callback=_size_option,
              help="Address space each worker may use (e.g. 4G, 1536M) [default: "
                   "min(4G, 80% of RAM / workers), at least 2G]. A file that needs more is "
                   "recorded with an error; a fresh worker goes on.")
@click.option("--file-timeout", type=click.FloatRange(0, min_open=True), default=300.0,
              show_default=True, help="Seconds a worker may spend on one top-level file "
              "(with its archive members); then it is stopped, the file recorded with an error.")
@mode_option("fast")
@VIDEO_OPTION
@C2PA_TRUST_OPTION
@NOVELAI_KEY_OPTION
@DETECTOR_OPTION
@click.option("--carve", is_flag=True,
              help="Carve pictures and clips (JPEG, PNG, GIF, WebP, MP4) from the free space "
                   "of the file systems in disk images; each is an item named by its offset.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="`ray`: work units run as Ray tasks on every node of a "
              "cluster (pip install 'cairn[cluster]'), recorded in the PostgreSQL of "
              "CAIRN_DATABASE_URL; every node must see LOCATION at the same path.")
@click.option("--address", default="auto", show_default=True,
              help="With --engine ray: the cluster (auto: the one `ray start` began here; "
                   "HOST:PORT of its head; ray://HOST:PORT through Ray Client, which needs "
                   "ray[client]).")
@click.option("--index-shards", type=click.IntRange(0, 256), default=0, metavar="N",
              help="With --engine ray: the lists' PDQ hashes in N Ray actors (a power of two; "
                   "split by hash prefix) that every node's matching searches, for lists beyond "
                   "one node's memory [default: 0, each node's own index].")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.pass_context
def scan_cmd(ctx: click.Context, locations: tuple[Path, ...], case: str, new_case: bool,
             source_name: str | None, device: str | None, workers: int | None,
             max_pixels: int, max_depth: int, max_ratio: int,
             max_worker_memory: int | None, file_timeout: float, mode: str,
             video_interval: float, c2pa_trust: Path | None, novelai_keys: tuple[str, ...],
             detector: Path | None, carve: bool, engine: str, address: str,
             index_shards: int, as_json: bool, no_progress: bool) -> None:
    """Walk, hash and match an exhibit (folder, archive or file) and record it in a case;
    several exhibits (devices) are several sources, scanned one after the other (with
    --engine ray: together, their work units sharing the cluster).

    Rerunning the same command resumes an interrupted scan and never duplicates an item.
    Each file is read by an isolated worker: a file that crashes it, exhausts its memory or
    outlasts --file-timeout becomes an item with an error, and the scan goes on.
    """
    from cairn.media.limits import Limits
    from cairn.scan.caps import default_caps
    from cairn.scan.pipeline import default_workers, scan
    from cairn.scan.worker import HashOptions
    from cairn.store.common import SourceNameTaken, StoreError

    for location in locations:
        if not os.path.lexists(location):
            _fail(f"evidence not found: {location}")
    if len(locations) > 1 and (source_name or device):
        _fail("--source-name and --device name one exhibit: give one LOCATION with them")
    if index_shards and (engine != "ray" or index_shards & (index_shards - 1)):
        _fail("--index-shards N is for --engine ray, N a power of two (1, 2, 4 ... 256)")
    location = locations[0]
    from cairn.cli.people import device_for_scan, link_sources, refuse_closed

    if not new_case:
        existing_case(ctx, case, "; to open a new case add --new-case (or `cairn cases "
                      "create`)")
    case_id = device_for_scan(ctx, case, device, str(location)) if device else None
    if device is None:
        refuse_closed(ctx, case)
    store = _store(ctx)
    limits = Limits(max_pixels=max_pixels, max_archive_depth=max_depth, max_ratio=max_ratio)
    show = not no_progress and not as_json and err.is_terminal
    progress = Progress(SpinnerColumn(), TextColumn("scanning", style="bold", markup=False),
                        BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}", markup=False),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                        disable=not show)
    task = progress.add_task("scan", total=None, rate="")
    state = {"done": 0}

    def on_total(n: int) -> None:  # per source: the bar covers them all
        progress.update(task, total=(progress.tasks[0].total or 0) + n)

    def on_progress(n: int) -> None:
        state["done"] += n
        elapsed = progress.tasks[0].elapsed or 0
        rate = f"{state['done'] / elapsed:.0f} files/s" if elapsed > 0 else ""
        progress.update(task, advance=n, rate=rate)

    options = HashOptions(mode, video_interval, c2pa_trust=read_trust(c2pa_trust),
                          novelai_keys=tuple(parse_novelai_keys(novelai_keys).items()),
                          detector=check_detector(detector), carve=carve)
    try:
        with progress:
            if engine == "ray":
                summaries = _on_ray(store, case, locations, address, source_name, limits,
                                    options, max_worker_memory, file_timeout, index_shards,
                                    on_total, on_progress)
            else:
                summaries = [scan(store, case, loc, source_name=source_name, limits=limits,
                                  workers=workers, options=options,
                                  arguments={"argv": sys.argv[1:]},
                                  on_total=on_total, on_progress=on_progress,
                                  caps=default_caps(workers or default_workers(),
                                                    max_worker_memory, file_timeout))
                             for loc in locations]
    except KeyboardInterrupt:
        err.print("interrupted: what was recorded stays; rerun the same command to "
                  "resume", style="yellow")
        sys.exit(EXIT_INTERRUPTED)
    except (FileNotFoundError, NotADirectoryError, PermissionError, SourceNameTaken) as e:
        _fail(str(e))
    except StoreError as e:  # the run is already closed as `failed`, with what was recorded
        _fail(f"{e}; what was recorded before it stays (run `cairn report --case "
              f"{shlex.quote(case)}`)")
    if device and case_id is not None:  # the source this scan recorded, by its location
        link_sources(ctx, case_id, device, [x["id"] for x in store.cases.sources(case_id)
                                            if x["location"] == summaries[0].location])
    dicts = [x.to_dict() | ({"device": device} if device else {}) for x in summaries]
    if as_json:
        _emit_json(dicts[0] if len(dicts) == 1 else dicts)
        return
    for summary, s in zip(summaries, dicts, strict=True):
        _print_summary(case, summary.source, s, device)
    out.print(f"report: cairn report --case {shlex.quote(case)} --format html -o report.html",
              highlight=False)


def _print_summary(case: str, source: str, s: dict, device: str | None) -> None:
    tot = s["totals"]
    table = Table(title=f"case {case} · source {source}", show_header=False)
    for label, value in (
        ("files (items)", tot["files"]), ("images", tot["images"]), ("videos", tot["videos"]),
        ("archives", tot["archives"]), ("items matched", tot["items_matched"]),
        ("items with errors", tot["items_with_errors"]),
        ("worker failures", s["worker_failures"]),
        ("new this run", s["new_items"]), ("already recorded", s["skipped_already_recorded"]),
        ("time", f"{s['seconds']:.1f} s ({s['files_per_second']:.0f} files/s)"),
    ):
        table.add_row(label, str(value))
    if device:
        table.add_row("device", device)
    out.print(table)
    if s["worker_failures"]:
        out.print(f"{s['worker_failures']} file(s) stopped their worker (an error, the memory "
                  "ceiling, the time limit or a crash): each was hashed again by a fresh worker "
                  "and recorded with the reason; the scan went on", highlight=False)


def _on_ray(store: Store, case: str, locations: tuple[Path, ...], address: str,
            source_name: str | None, limits: Limits, options: HashOptions,
            max_worker_memory: int | None, file_timeout: float, index_shards: int,
            on_total: Callable[[int], None], on_progress: Callable[[int], None]
            ) -> list[ScanSummary]:
    """The scan on a Ray cluster; each node sizes its workers' memory for its own cores
    unless --max-worker-memory says."""
    try:
        from cairn.cluster import ClusterError
        from cairn.cluster.scan import scan_many
    except ImportError:
        _fail("--engine ray needs Ray: pip install 'cairn[cluster]'")
    try:
        return scan_many(store, case, locations, address=address,
                         source_names=[source_name] * len(locations), limits=limits,
                         options=options, max_worker_memory=max_worker_memory,
                         file_timeout=file_timeout, index_shards=index_shards,
                         arguments={"argv": sys.argv[1:]}, on_total=on_total,
                         on_progress=on_progress)
    except ClusterError as e:
        _fail(str(e))
