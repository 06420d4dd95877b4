"""The `cairn` command: the root group, the signal handling, and where every verb is
registered (each lives in a module of its own beside this one).

Exit codes scripts can rely on:
  0  done (for `match`: at least one file matched)
  1  `match` only: nothing matched
  2  usage error, or a fatal error (named in the message)
  3  done, but with rejected input: list lines that were not imported
  130 interrupted (Ctrl-C); what was recorded stays recorded, rerun to resume
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from cairn import __version__, default_home
from cairn.scan import interrupt
from cairn.scan.interrupt import Interrupted

if TYPE_CHECKING:
    pass

from cairn.cli.common import (
    EXIT_INTERRUPTED,
    _fail,
    err,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cairn")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="CAIRN_HOME",
              default=None, help="Store directory [env CAIRN_HOME; default ~/.cairn].")
@click.pass_context
def cli(ctx: click.Context, home: Path | None) -> None:
    """Cairn: hash evidence, match it against hash lists of known material, report."""
    ctx.ensure_object(dict)
    ctx.obj["home"] = home or default_home()



def _interrupt(signum: int, _frame: object) -> None:
    for s in (signal.SIGINT, signal.SIGTERM):  # cleanup runs once; kill -9 if it ever hangs
        signal.signal(s, signal.SIG_IGN)
    exc = interrupt.arrived(signal.Signals(signum).name)
    if not interrupt.deferring():  # else raised when the store write under way is done
        raise exc


def _unraisable(default: Callable[[Any], object]) -> Callable[[Any], object]:
    """Python's hook for an exception it drops (raised in a finaliser), quiet for ours: the
    interrupt is recorded and raised again (`interrupt.check`), never a traceback."""
    def hook(u: Any) -> None:
        if not isinstance(u.exc_value, Interrupted):
            default(u)
    return hook


def _interrupted(name: str) -> NoReturn:
    err.print(f"interrupted ({name}): what was recorded stays; rerun the same command to "
              "resume", markup=False, highlight=False)
    sys.exit(EXIT_INTERRUPTED)


def main() -> None:
    """The console entry: SIGINT and SIGTERM unwind every command (runs are closed, workers
    killed) and end it with one line and exit 130, never a traceback. A signal whose
    exception Python dropped still ends the command as interrupted (see scan/interrupt.py)."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    sys.unraisablehook = _unraisable(sys.unraisablehook)
    try:
        cli(obj={})
    except Interrupted as e:
        _interrupted(str(e))
    except SystemExit as e:  # click ends every command so, done or failed
        name = interrupt.pending()
        if name is not None and e.code != EXIT_INTERRUPTED:
            _interrupted(name)
        raise
    except Exception as e:
        if (name := interrupt.pending()) is not None:
            _interrupted(name)
        # only a command that loaded the store can have raised it (`hash` never loads it)
        custody = sys.modules.get("cairn.store.custody")
        if custody is not None and isinstance(e, custody.UnsignedWrite):
            _fail(str(e))
        raise


def _register() -> None:
    from cairn.cli.cluster import cluster_group
    from cairn.cli.custody import custody_group, keys_group, sources_group
    from cairn.cli.demo import demo_cmd
    from cairn.cli.exchange import exchange_group, feedback_cmd, serve_cmd
    from cairn.cli.hashing import hash_cmd, match_cmd, provenance_cmd
    from cairn.cli.lists import lists_group, rematch_cmd
    from cairn.cli.people import GROUPS
    from cairn.cli.platform import GROUPS as PLATFORM_GROUPS
    from cairn.cli.referral import referral_group  # also adds `suspects triage`
    from cairn.cli.rehash import rehash_cmd
    from cairn.cli.report import report_cmd
    from cairn.cli.scan import scan_cmd
    from cairn.cli.trace import trace_cmd
    from cairn.cli.users import GROUPS as USER_GROUPS

    for group in (hash_cmd, provenance_cmd, match_cmd, scan_cmd, report_cmd, rehash_cmd,
                  trace_cmd, demo_cmd, lists_group, rematch_cmd, serve_cmd, exchange_group,
                  feedback_cmd, custody_group, keys_group, sources_group, *GROUPS, *PLATFORM_GROUPS,
                  referral_group, *USER_GROUPS, cluster_group):
        cli.add_command(group)


_register()

if __name__ == "__main__":
    main()
