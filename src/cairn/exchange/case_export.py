"""A case's matched and categorised items as Project VIC VICS (`#Cases`), for Griffeye-style
review tools: MD5 (upper-case), SHA1, MediaSize, Category, MediaFiles (name, path, exhibit),
and PDQ in MediaMetadata. Hashes and metadata only: no pixels.

Category: a reviewer's decision under the Project VIC (US) scheme (the workbench's reviews,
`vic-us`) when the content has one (IsPrecategorized false: a person categorised it here;
copies decided differently give the most severe), else the most severe category any matched
list entry gives (1 before 2, 3, 4, then 0; IsPrecategorized true). Every reviewed content is
a Media, matched or not; decisions under other schemes (UK CAID, DHS), whose mapping to the
VIC integers is not public, travel as MediaMetadata `Review` (`scheme:category`), never as a
Category.

VICS has no marking per Media, so the file travels under one TLP (`tlp`): a Media whose
matched entries are marked stricter than that (the entry's own marking or its list's) is
left out and handed to `withheld`, as `lists export` does. RED never widens.

PDQ: only an exact one (bit-identical to the reference) travels. VICS has no place to say how
a hash was computed, and a receiver matches whatever it gets, so a Media whose content has only
a fast PDQ goes without one, its SHA-256 handed to `fast` for the command to count and say
(`cairn rehash --case C` makes it exact)."""

from __future__ import annotations

import json
from typing import IO

from cairn.lists.formats import markings
from cairn.lists.formats.vics import CONTEXT_2

# what an export says of the pictures it wrote without their (fast) PDQ
FAST_PDQ_WHY = ("only a fast PDQ (not bit-identical to the reference) is stored; it is left "
                "out of what is shared")


def exact_pdq(it: dict) -> dict | None:
    """An item's PDQ as exports carry it: the exact one (the store prefers it where both
    exist), else None. A PDQ that says no mode predates modes and is taken as recorded."""
    p = it.get("pdq")
    return p if p and p.get("mode", "exact") == "exact" else None


def fast_pdq_note(n: int, case: str) -> str:
    """The visible, counted reason a command gives for pictures exported without a PDQ."""
    if not n:
        return ""
    return (f"{n} picture(s) have only a fast PDQ: {FAST_PDQ_WHY}; run `cairn rehash "
            f"--case {case}` (or `--all`) and export again to carry their exact PDQ")


SEVERITY = {"1": 0, "2": 1, "3": 2, "4": 3, "0": 4}
VIC_SCHEME = "vic-us"  # web/schemes.toml: the scheme whose categories are VICS's integers


def _category(matches: list[dict]) -> int | None:
    cats = [str(m["entry"].get("category")) for m in matches
            if str(m["entry"].get("category")) in SEVERITY]
    return int(min(cats, key=SEVERITY.__getitem__)) if cats else None


def _reviewed_category(decided: list[dict]) -> int | None:
    cats = [str(r["category"]) for r in decided
            if r["scheme"] == VIC_SCHEME and str(r["category"]) in SEVERITY]
    return int(min(cats, key=SEVERITY.__getitem__)) if cats else None


def _marking(matches: list[dict]) -> str | None:
    return markings.strictest(x for m in matches
                              for x in (m["entry"].get("tlp"), m["entry"].get("list_tlp")))


def write_case_vics(report: dict, out: IO[str], profile: str = "Default", tlp: str = "amber",
                    withheld: list[markings.Withheld] | None = None,
                    fast: list[str] | None = None) -> int:
    media: dict[str, dict] = {}  # by sha256: one Media for all copies, every file listed
    for it in report["items"]:
        counted = [m for m in it["matches"] if m.get("status", "active") == "active"]
        review = it.get("review")
        if not (counted or review) or not it.get("md5"):  # retracted matches stay home
            continue
        m = media.get(it["sha256"])
        if m is None:
            m = media[it["sha256"]] = {"MediaID": len(media) + 1, "MD5": it["md5"].upper(),
                                       "SHA1": (it["sha1"] or "").upper(),
                                       "MediaSize": it["size"], "MediaFiles": []}
            if pdq := exact_pdq(it):
                m["MediaMetadata"] = [{"Name": "PDQ", "Value": pdq["hash"]},
                                      {"Name": "PDQQuality", "Value": str(pdq["quality"])}]
            m["_matches"], m["_reviews"] = [], []
            m["_fast"] = bool(it.get("pdq")) and pdq is None
        name = it["path"].rsplit("/", 1)[-1].rsplit("!/", 1)[-1]
        m["MediaFiles"].append({"FileName": name, "FilePath": it["path"],
                                "SourceID": it["source"]})
        m["_matches"] += counted
        if review:
            m["_reviews"].append(review)
    value: list[dict] = []
    for sha, m in media.items():
        matches = m.pop("_matches")
        decided = m.pop("_reviews")
        only_fast = m.pop("_fast")
        own = _marking(matches)
        if markings.stricter(own, tlp):
            if withheld is not None:
                withheld.append(markings.Withheld("md5", m["MD5"].lower(), own or "red", tlp))
            continue
        if only_fast and fast is not None:
            fast.append(sha)
        m["MediaID"] = len(value) + 1
        by_person = _reviewed_category(decided)
        cat = _category(matches)
        if by_person is not None:
            m["Category"] = by_person
            m["IsPrecategorized"] = False
        elif cat is not None:
            m["Category"] = cat
            m["IsPrecategorized"] = True
        for label in sorted({f"{r['scheme']}:{r['category']}" for r in decided}):
            m.setdefault("MediaMetadata", []).append({"Name": "Review", "Value": label})
        value.append(m)
    doc = {"@odata.context": CONTEXT_2.format(profile=profile, shape="Cases"),
           "value": [{"CaseNumber": report["case"], "Media": value}]}
    out.write(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return len(value)
