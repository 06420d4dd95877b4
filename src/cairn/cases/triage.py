"""Triage of a case's suspects (issue 16 §3): per suspect, evidence counts computed from the
store and a suggested tier with the rule that placed them. Advisory only: the examiner
decides, nothing is actioned automatically, and every output says so and prints the rules.

Why rules in a file: which evidence makes a "producer" differs between countries' laws and
between operations; the rules are data the examiner can read, change (`--rules`) and cite,
not logic hidden in code. The first rule whose conditions hold places the suspect.

Platform-derived counts (uploads, downloads, payments) come from `platform_counts`, the one
extension point: zeros until the store holds a seized platform's records (issue 16 §1/§2).
"""

from __future__ import annotations

import operator
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from cairn.cases.people import CasePeople, case_people, is_synthetic
from cairn.cases.report import build
from cairn.signals.crypto import bare_ref
from cairn.store import Store
from cairn.trace.links import cited_refs

ADVISORY = ("suggestion only: nothing is actioned automatically; the examiner decides, "
            "and every tier cites the rule that suggested it")
DEFAULT_RULES = Path(__file__).with_name("triage_rules.toml")
NO_RULE = "insufficient evidence"  # where no rule holds

PLATFORM_FIELDS = ("uploads", "downloads", "payments", "payments_total", "payment_span_days")
EVIDENCE_FIELDS = ("items", "known_material", "synthetic_items", "generator_fingerprints",
                   "fingerprints_shared", "model_files", "shared_families")
FIELDS = EVIDENCE_FIELDS + PLATFORM_FIELDS
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
    "==": operator.eq, "!=": operator.ne}
_CONDITION = re.compile(r"\s*([a-z_]+)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*")
_RULE_KEYS = {"name", "tier", "why", "all", "any"}


class TriageError(ValueError):
    """A rules file refused (the message names the rule and the problem), or an unknown case."""


def platform_counts(store: Store, case_id: int, suspects: list[str]
                    ) -> dict[str, dict[str, float]]:
    """Per suspect id, the PLATFORM_FIELDS counted from a seized platform's records of the
    accounts the suspect holds (`account` identifiers `PLATFORM:ACCOUNT`, as `suspects merge`
    attaches them): uploads, downloads, payments (count, total, span in days). Zeros for a
    suspect with no such account, or a case with no platform records."""
    from datetime import datetime

    from cairn.store.people import People
    from cairn.store.platform import PlatformStore

    held = {s["id"]: [tuple(a.split(":", 1)) for a in s["identifiers"].get("account", [])
                      if ":" in a] for s in People(store).suspects(case_id) if s["id"] in suspects}
    pairs = sorted({(p, a) for accts in held.values() for p, a in accts})
    activity = PlatformStore(store).activity(case_id, pairs) if pairs else {}
    out: dict[str, dict[str, float]] = {}
    for key in suspects:
        counts = dict.fromkeys(PLATFORM_FIELDS, 0.0)
        first = last = None
        for pair in held.get(key, []):
            got = activity.get(pair)
            if not got:
                continue
            for f in ("uploads", "downloads", "payments", "payments_total"):
                counts[f] += got[f]
            first = min(x for x in (first, got["first"]) if x) if got["first"] else first
            last = max(x for x in (last, got["last"]) if x) if got["last"] else last
        if first and last:
            span = datetime.fromisoformat(last) - datetime.fromisoformat(first)
            counts["payment_span_days"] = round(span.total_seconds() / 86400, 1)
        out[key] = counts
    return out


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: float

    def holds(self, counts: dict[str, float]) -> bool:
        return _OPS[self.op](counts[self.field], self.value)

    def __str__(self) -> str:
        v = int(self.value) if self.value == int(self.value) else self.value
        return f"{self.field} {self.op} {v}"


@dataclass(frozen=True)
class Rule:
    name: str
    tier: str
    why: str
    all: tuple[Condition, ...]
    any: tuple[Condition, ...]

    def describe(self) -> list[str]:
        """The conditions as the output cites them: `all: ...`, `any: ...`."""
        return ([f"all: {', '.join(map(str, self.all))}"] if self.all else []) + (
            [f"any: {', '.join(map(str, self.any))}"] if self.any else [])

    def holds(self, counts: dict[str, float]) -> bool:
        return (all(c.holds(counts) for c in self.all)
                and (not self.any or any(c.holds(counts) for c in self.any)))


@dataclass(frozen=True)
class Rules:
    source: str  # "default" or the file's path
    text: str  # as written: printed in every output
    rules: tuple[Rule, ...]


def load_rules(path: Path | None = None) -> Rules:
    """The shipped rules, or the file at `path`; a bad file raises TriageError naming the
    rule and what is wrong (nothing is guessed)."""
    where = str(path) if path else "default"
    try:
        text = (path or DEFAULT_RULES).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TriageError(f"rules file {where}: cannot read it: {e}") from None
    return parse_rules(text, where)


def parse_rules(text: str, where: str = "rules") -> Rules:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise TriageError(f"rules file {where}: not TOML: {e}") from None
    unknown = sorted(set(doc) - {"version", "rule"})
    if unknown:
        raise TriageError(f"rules file {where}: unknown key(s) {', '.join(unknown)}; "
                          "expected `version` and [[rule]] tables")
    if doc.get("version", 1) != 1:
        raise TriageError(f"rules file {where}: version {doc['version']!r}; this Cairn reads 1")
    raw = doc.get("rule")
    if not isinstance(raw, list) or not raw:
        raise TriageError(f"rules file {where}: no [[rule]] tables")
    rules, names = [], set()
    for i, r in enumerate(raw, 1):
        label = f"rules file {where}: rule {i}" + (
            f" ({r['name']!r})" if isinstance(r, dict) and isinstance(r.get("name"), str) else "")
        if not isinstance(r, dict):
            raise TriageError(f"{label}: not a table")
        extra = sorted(set(r) - _RULE_KEYS)
        if extra:
            raise TriageError(f"{label}: unknown key(s) {', '.join(extra)}; a rule has "
                              f"{', '.join(sorted(_RULE_KEYS))}")
        for key in ("name", "tier"):
            if not isinstance(r.get(key), str) or not r[key].strip():
                raise TriageError(f"{label}: `{key}` must be a non-empty string")
        if r["name"] in names:
            raise TriageError(f"{label}: the name is used by an earlier rule")
        names.add(r["name"])
        if not isinstance(r.get("why", ""), str):
            raise TriageError(f"{label}: `why` must be a string")
        rules.append(Rule(r["name"], r["tier"], r.get("why", ""),
                          _conditions(r.get("all", []), f"{label}: `all`"),
                          _conditions(r.get("any", []), f"{label}: `any`")))
    return Rules(where, text, tuple(rules))


def _conditions(raw: object, label: str) -> tuple[Condition, ...]:
    if not isinstance(raw, list):
        raise TriageError(f"{label} must be a list of conditions like \"known_material >= 1\"")
    out = []
    for c in raw:
        m = _CONDITION.fullmatch(c) if isinstance(c, str) else None
        if m is None:
            raise TriageError(f"{label}: {c!r} is not FIELD OP NUMBER "
                              f"(e.g. \"known_material >= 1\"; OP one of {' '.join(_OPS)})")
        if m.group(1) not in FIELDS:
            raise TriageError(f"{label}: unknown field {m.group(1)!r}; fields: "
                              f"{', '.join(FIELDS)}")
        out.append(Condition(m.group(1), m.group(2), float(m.group(3))))
    return tuple(out)


def place(rules: Rules, counts: dict[str, float]) -> tuple[str, Rule | None]:
    """The suggested tier and the rule that gave it (None: no rule held)."""
    for r in rules.rules:
        if r.holds(counts):
            return r.tier, r
    return NO_RULE, None


class SuspectTriage(TypedDict):
    id: str
    country: str | None
    devices: list[str]
    counts: dict[str, float]
    generators: list[str]
    fingerprints: list[str]  # model/LoRA/VAE hashes their generated items cite
    shared_with: list[str]  # other suspects holding the same content or fingerprints
    tier: str
    rule: str | None
    why: str
    conditions: list[str]  # the rule's conditions: `all: ...`, `any: ...`


def triage(store: Store, case: str, rules: Rules | None = None) -> dict[str, Any]:
    """Every suspect of `case` counted and placed. Reads only."""
    rules = rules or load_rules()
    case_id = store.cases.id(case)
    if case_id is None:
        raise TriageError(f"no case named {case!r}")
    found = case_people(store, case_id)
    ev = evidence(store, case, found)
    platform = platform_counts(store, case_id, [s["id"] for s in found["suspects"]])
    out: list[SuspectTriage] = []
    for s in found["suspects"]:
        e = ev[s["id"]]
        counts = {"items": s["items"], "known_material": s["matched_items"],
                  "synthetic_items": s["synthetic_items"],
                  "generator_fingerprints": len(e["fingerprints"]),
                  "fingerprints_shared": e["fingerprints_shared"],
                  "model_files": e["model_files"], "shared_families": e["shared_families"],
                  **platform.get(s["id"], dict.fromkeys(PLATFORM_FIELDS, 0))}
        tier, rule = place(rules, counts)
        out.append(SuspectTriage(
            id=s["id"], country=s["country"], devices=s["devices"], counts=counts,
            generators=sorted(e["generators"]), fingerprints=sorted(e["fingerprints"]),
            shared_with=sorted(e["shared_with"]), tier=tier,
            rule=rule.name if rule else None,
            why=rule.why if rule else "no rule held",
            conditions=rule.describe() if rule else []))
    tiers: dict[str, int] = {}
    for placed in out:
        tiers[placed["tier"]] = tiers.get(placed["tier"], 0) + 1
    return {"case": case, "advisory": ADVISORY, "tiers": tiers, "suspects": out,
            "rules": {"source": rules.source, "text": rules.text}}


def evidence(store: Store, case: str, found: CasePeople) -> dict[str, dict[str, Any]]:
    """What the counts of case_people do not hold, per suspect: generators and the model
    hashes their generated items cite, model files on their devices, and what they share
    with other suspects: content families, and private fingerprints (a hash cited by
    several suspects' items that is a model file seized in the case: public checkpoints,
    cited by everyone, are not a link)."""
    rep = build(store, case, with_trace=True)
    owner = {src: s["id"] for s in found["suspects"] for src in s["sources"]}
    ev: dict[str, dict[str, Any]] = {
        s["id"]: {"generators": set(), "fingerprints": set(), "model_files": 0,
                  "shared_families": 0, "fingerprints_shared": 0, "shared_with": set()}
        for s in found["suspects"]}
    citers: dict[str, set[str]] = {}  # fingerprint -> suspects citing it
    seized: set[str] = set()  # every form a seized model file may be cited by
    for it in rep["items"]:
        who = owner.get(it["source"])
        for f in it["findings"]:
            if f.get("kind") == "model_file":
                seized.update(str(k).lower() for k in f.get("cited_as") or [])
                if who is not None:
                    ev[who]["model_files"] += 1
            elif who is not None and is_synthetic(f):
                if f.get("generator"):
                    ev[who]["generators"].add(str(f["generator"]))
                for ref in cited_refs(f):
                    ev[who]["fingerprints"].add(bare_ref(ref))
                    citers.setdefault(bare_ref(ref), set()).add(who)
    for who, e in ev.items():
        shared = {fp for fp in e["fingerprints"] if fp in seized and len(citers[fp]) > 1}
        e["fingerprints_shared"] = len(shared)
        e["shared_with"] |= {o for fp in shared for o in citers[fp]} - {who}
    for fam in rep["trace"]["families"]:
        holders = {owner[src] for src in fam["sources"] if src in owner}
        if len(holders) > 1:
            for who in holders:
                ev[who]["shared_families"] += 1
                ev[who]["shared_with"] |= holders - {who}
    return ev


def to_text(result: dict[str, Any]) -> str:
    """The triage as a reader sees it: the advisory, one block per suspect, the rules."""
    lines = [f"Triage of case {result['case']}: {result['advisory']}.", ""]
    for s in result["suspects"]:
        c = s["counts"]
        lines.append(f"{s['id']} ({s['country'] or 'no country'}): suggested tier "
                     f"{s['tier']!r} by rule {s['rule'] or '(none)'}: {s['why']}"
                     + (f" [{'; '.join(s['conditions'])}]" if s["conditions"] else ""))
        lines.append("    " + ", ".join(f"{k} {_num(c[k])}" for k in FIELDS))
        if s["generators"] or s["fingerprints"]:
            lines.append(f"    generators: {', '.join(s['generators']) or '-'}; "
                         f"fingerprints: {', '.join(s['fingerprints']) or '-'}")
        if s["shared_with"]:
            lines.append(f"    shares content or fingerprints with: {', '.join(s['shared_with'])}")
    if not result["suspects"]:
        lines.append("(the case has no suspects: `cairn suspects add`)")
    lines += ["", f"Platform counts ({', '.join(PLATFORM_FIELDS)}) are zero until a platform's "
              "records are imported.", "",
              f"Rules ({result['rules']['source']}):", "", result["rules"]["text"].rstrip(), "",
              f"Reminder: {result['advisory']}."]
    return "\n".join(lines) + "\n"


def _num(v: float) -> str:
    return str(int(v)) if float(v) == int(v) else f"{v:.2f}"
