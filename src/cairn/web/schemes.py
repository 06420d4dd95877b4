"""Review categorisation schemes, read from schemes.toml beside this module (data, not code:
a new scheme is a new table there). Each category has the number key that records it."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SCHEMES_FILE = Path(__file__).with_name("schemes.toml")


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    key: str  # a single digit: the key that records it
    label: str


@dataclass(frozen=True, slots=True)
class Scheme:
    name: str
    title: str
    categories: tuple[Category, ...]

    def category(self, cid: str) -> Category | None:
        return next((c for c in self.categories if c.id == cid), None)


@cache
def schemes() -> dict[str, Scheme]:
    """The schemes by name, in their `order`. Refuses a file whose keys collide."""
    data = tomllib.loads(SCHEMES_FILE.read_text(encoding="utf-8"))["schemes"]
    out: dict[str, Scheme] = {}
    for name, body in sorted(data.items(), key=lambda kv: kv[1]["order"]):
        cats = tuple(Category(str(c["id"]), str(c["key"]), str(c["label"]))
                     for c in body["categories"])
        keys = [c.key for c in cats]
        if len(set(keys)) != len(keys) or not all(k.isdigit() and len(k) == 1 for k in keys):
            raise ValueError(f"scheme {name}: each category needs its own digit key")
        out[name] = Scheme(name, body["title"], cats)
    return out


def default_scheme() -> Scheme:
    return next(iter(schemes().values()))
