"""Evidence roots: the only folders `cairn serve` reads evidence from.

`cairn serve --evidence-root CASE=DIR` (repeatable) makes DIR a root of case CASE;
`--evidence-root DIR` (no case) makes it a root of every case. The server reads evidence in
two places, and both ask this module first:

- a scan started over HTTP (`POST /api/v1/scans`, service/scans.py): its path must lie inside
  a root of the scan's case; with no root for that case the server scans nothing for it;
- a thumbnail (`/ui/thumb/ID`, web/routes.py): the item's file (for an archive member or a
  file carved from a disk image: the archive or image holding it) must lie inside a root of
  its case. A server started with no root at all serves each item from inside its own source's
  recorded location only (what `cairn scan` was pointed at), so a thumbnail never reads
  outside the evidence either way.

A path is resolved with every symlink followed (`os.path.realpath`, which also removes `..`)
and must then lie inside a root's own resolved path: `..` segments and symlinks that lead out
are refused alike, with `OutsideRoots` naming the path as it was given and the case, and
refused before anything says whether the path exists (an outside path that does not exist
gets the same answer as one that does). A relative path is taken inside the case's first
root. A NUL byte is never a path.

For `--workers N` the roots travel to each process in $CAIRN_SERVE_EVIDENCE_ROOTS as a JSON
list of [case, folder] pairs (`to_env`, `from_env`; case `*` for every case); the former
os.pathsep-separated list of folders is still read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from cairn.store import Store
from cairn.store import schema as t

ENV_ROOTS = "CAIRN_SERVE_EVIDENCE_ROOTS"
ANY_CASE = "*"


class OutsideRoots(PermissionError):
    """A path that is not inside an evidence root of its case once resolved (or a case with
    no roots): the message names the path as given and the case."""


class EvidenceRootError(ValueError):
    """A `--evidence-root` value that names no folder."""


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


@dataclass(frozen=True)
class EvidenceRoots:
    """(case or ANY_CASE, the root's resolved folder) pairs, in the order given."""

    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, specs: Iterable[str | Path]) -> EvidenceRoots:
        """From `CASE=DIR` or `DIR` values; EvidenceRootError names one that is no folder.
        A value that is itself a folder is a root of every case even if it holds `=`."""
        pairs: list[tuple[str, str]] = []
        for spec in specs:
            text = os.fspath(spec)
            case, folder = ANY_CASE, text
            head, eq, tail = text.partition("=")
            if eq and head and os.sep not in head and not os.path.isdir(text):
                case, folder = head, tail
            if not folder or "\0" in folder or not os.path.isdir(folder):
                raise EvidenceRootError(f"--evidence-root {text!r}: {folder!r} is not a folder "
                                        "(give DIR or CASE=DIR)")
            pairs.append((case, os.path.realpath(folder)))
        return cls(tuple(pairs))

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def for_case(self, case: str) -> list[str]:
        """The case's own roots first, then the roots of every case."""
        return ([r for c, r in self.pairs if c == case]
                + [r for c, r in self.pairs if c == ANY_CASE])

    def resolve(self, path: str, case: str) -> Path:
        """The real path of `path` (a scan's) when it lies inside a root of `case`;
        OutsideRoots otherwise, FileNotFoundError when inside but nothing is there."""
        roots = self.for_case(case)
        if not roots:
            raise OutsideRoots(f"this server has no evidence root for case {case!r} "
                               "(`cairn serve --evidence-root CASE=DIR`): it scans nothing "
                               "for it")
        if not path or "\0" in path:
            raise OutsideRoots(f"{path!r} is not a path inside the evidence roots of case "
                               f"{case!r}")
        given = path if os.path.isabs(path) else os.path.join(roots[0], path)
        real = os.path.realpath(given)
        if not any(_inside(real, root) for root in roots):
            raise OutsideRoots(f"{path!r} is outside the evidence roots of case {case!r}")
        if not os.path.lexists(real):
            raise FileNotFoundError(f"nothing at {path!r} inside the evidence roots")
        return Path(real)

    def check_file(self, case: str, location: str, raw_path: bytes) -> None:
        """OutsideRoots unless the file at `location`/`raw_path` (an item's, as its source
        recorded it; for an archive member or a file in a disk image, the file holding it:
        what the raw path names before its first NUL) resolves inside a root of `case`, or,
        on a server with no roots at all, inside its source's own location."""
        if "\0" in location:
            raise OutsideRoots(f"item path {raw_path!r} in {location!r} is not a file path")
        top = raw_path.split(b"\0", 1)[0]  # a member: the archive or disk image holding it
        base = os.fsencode(location)
        path = os.path.join(base, top) if os.path.isdir(base) and top else base
        real = os.fsdecode(os.path.realpath(path))
        shown = os.fsdecode(path)
        if not self.pairs:
            own = os.path.realpath(location)
            if not _inside(real, own):
                raise OutsideRoots(f"{shown!r} resolves outside its source's location "
                                   f"{location!r}")
            return
        if not any(_inside(real, root) for root in self.for_case(case)):
            raise OutsideRoots(f"{shown!r} is outside the evidence roots of case {case!r}")

    def to_env(self) -> str:
        return json.dumps([list(p) for p in self.pairs])

    @classmethod
    def from_env(cls, text: str | None = None) -> EvidenceRoots:
        """The roots `cairn serve` handed its worker processes (see the module)."""
        text = os.environ.get(ENV_ROOTS, "") if text is None else text
        if not text:
            return cls()
        if text.startswith("["):
            return cls(tuple((str(c), str(r)) for c, r in json.loads(text)))
        return cls(tuple((ANY_CASE, os.path.realpath(p)) for p in text.split(os.pathsep) if p))


def as_roots(roots: EvidenceRoots | Iterable[str | Path] | None) -> EvidenceRoots:
    """EvidenceRoots from itself, or from folders and `CASE=DIR` values."""
    if roots is None:
        return EvidenceRoots()
    if isinstance(roots, EvidenceRoots):
        return roots
    return EvidenceRoots.parse(roots)


def case_name(store: Store, case_id: int) -> str | None:
    with store.engine.connect() as c:
        return c.execute(select(t.cases.c.name).where(t.cases.c.id == case_id)).scalar()


def roots_of(app: object) -> EvidenceRoots:
    """The roots an app was created with (`api.app.create_app` keeps them in its state)."""
    roots = getattr(getattr(app, "state", None), "evidence_roots", None)
    return roots if isinstance(roots, EvidenceRoots) else EvidenceRoots()
