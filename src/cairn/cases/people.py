"""Suspects, devices and actions: the checks their values pass before the store takes them,
and `case_people`, what was found per suspect and per device (for reports).

Why the checks are strict: these values go into a court record and into reports shared
between agencies, where `UK` for `GB`, an IMEI with a typo or `5/11/2024` (which day?) cause
real mistakes. Each refusal names the value and says what would be accepted.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from cairn.store import Store


class PeopleError(ValueError):
    """Input refused (a bad value, an unknown or duplicate id, a closed case): the message
    names the value and what is accepted."""


DEVICE_KINDS = ("phone", "laptop", "desktop", "tablet", "storage", "server", "cloud-account")
ACTION_KINDS = ("arrest", "house-search", "device-seizure", "interview", "knock-and-talk",
                "warning-letter", "referral", "platform-takedown", "public-awareness")
IDENTIFIER_KINDS = ("account", "payment", "email", "phone")
CASE_STATUSES = ("open", "closed", "deleted")

# ISO 3166-1 alpha-2, the officially assigned codes (249), plus XK (Kosovo): user-assigned,
# but the code the EU, Europol and Interpol use, so an agency's records carry it.
_CODES = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR
BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ
EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW
GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY
KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV
MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY
QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG
TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM
ZW XK"""
COUNTRIES = frozenset(_CODES.split())
# codes people type that ISO does not assign to the country they mean
_COUNTRY_HINTS = {"UK": "GB", "EL": "GR"}

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}")
_PLATFORM = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_key(value: str, what: str) -> str:
    """A suspect's or device's pseudonymous id: letters, digits and `._:@-`, up to 100."""
    if not _KEY.fullmatch(value):
        raise PeopleError(f"{what} id {value!r}: use letters, digits and . _ : @ - "
                          "(up to 100, starting with a letter or digit)")
    return value


def check_country(value: str) -> str:
    """An ISO 3166-1 alpha-2 code, upper-cased."""
    code = value.strip().upper()
    if code in COUNTRIES:
        return code
    hint = _COUNTRY_HINTS.get(code)
    raise PeopleError(f"country {value!r} is not an ISO 3166-1 alpha-2 code"
                      + (f"; did you mean {hint}?" if hint else " (e.g. DK, NL, GB)"))


def check_imei(value: str) -> str:
    """A 15-digit IMEI whose last digit is its Luhn check digit (spaces and dashes dropped)."""
    digits = re.sub(r"[\s-]", "", value)
    if not re.fullmatch(r"\d{15}", digits):
        raise PeopleError(f"IMEI {value!r}: an IMEI is 15 digits")
    if not luhn_ok(digits):
        raise PeopleError(f"IMEI {value!r}: the check digit is wrong (Luhn): a digit is "
                          "mistyped")
    return digits


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def check_date(value: str, what: str = "date") -> str:
    """An ISO calendar date, YYYY-MM-DD."""
    try:
        if _DATE.fullmatch(value):
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise PeopleError(f"{what} {value!r}: use an ISO date, YYYY-MM-DD (e.g. 2024-11-05)")


def check_when(value: str, what: str) -> str:
    """An ISO date or date-time (`2024-11-05`, `2024-11-05T06:30`, with an offset or not)."""
    if _DATE.fullmatch(value):
        return check_date(value, what)
    try:
        if _DATE.match(value):
            return datetime.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise PeopleError(f"{what} {value!r}: use an ISO date or date-time "
                      "(2024-11-05 or 2024-11-05T06:30+01:00)")


def check_identifier(kind: str, value: str) -> str:
    """A suspect's typed identifier, normalised: `account` is `platform:NAME` (platform
    lower-cased), `email` lower-cased domain, `phone` digits with an optional leading +,
    `payment` as given (an IBAN, a wallet address, a card token), without spaces around."""
    v = value.strip()
    if not v or _CONTROL.search(v):
        raise PeopleError(f"{kind} {value!r}: empty or holds control characters")
    if kind == "account":
        platform, sep, name = v.partition(":")
        platform = platform.strip().lower()
        if not sep or not name.strip() or not _PLATFORM.fullmatch(platform):
            raise PeopleError(f"account {value!r}: write it platform:NAME "
                              "(e.g. telegram:user-0042)")
        return f"{platform}:{name.strip()}"
    if kind == "email":
        if not _EMAIL.fullmatch(v):
            raise PeopleError(f"e-mail {value!r} is not an address (user@example.test)")
        local, _, domain = v.rpartition("@")
        return f"{local}@{domain.lower()}"
    if kind == "phone":
        digits = re.sub(r"[\s().-]", "", v)
        if not re.fullmatch(r"\+?\d{5,15}", digits):
            raise PeopleError(f"phone {value!r}: digits with an optional leading + "
                              "(E.164, e.g. +4512345678)")
        return digits
    if kind == "payment":
        return v
    raise PeopleError(f"identifier kind {kind!r}: one of {', '.join(IDENTIFIER_KINDS)}")


def check_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise PeopleError(f"{what} {value!r}: one of {', '.join(choices)}")
    return value


def check_text(value: str | None, what: str, limit: int = 10_000) -> str | None:
    """Free text (notes, agency, outcome): None and "" are None (an edit's "" clears the
    field); refused when over `limit`."""
    if not value:
        return None
    if len(value) > limit:
        raise PeopleError(f"{what} is {len(value)} characters; at most {limit}")
    return value


# -- what was found per suspect and per device --------------------------------------------
def is_synthetic(finding: dict[str, Any]) -> bool:
    """A provenance finding that says the content was generated: declared synthetic (C2PA
    digital source type, a detector's decision) or naming a generator."""
    return bool(finding.get("synthetic") or finding.get("generator"))


class Found(TypedDict):
    """What was found on a device's sources (or all of a suspect's devices' sources)."""

    sources: list[str]  # source names, in the order they were added
    items: int
    active_matches: int
    matched_items: int  # items with at least one active match
    synthetic_items: int  # items with a finding that is_synthetic()


class DeviceFound(Found):
    id: str
    kind: str
    suspect: str | None


class SuspectFound(Found):
    id: str
    country: str | None
    devices: list[str]


class CasePeople(TypedDict):
    suspects: list[SuspectFound]
    devices: list[DeviceFound]
    unattributed_sources: list[str]  # sources linked to no device


def case_people(store: Store, case_id: int) -> CasePeople:
    """Per suspect and per device of a case: its sources and, counted from the store, its
    items, active matches (list entries still active, lists that detect rather than mark
    known-good files), matched items and items with a synthetic provenance finding.
    A suspect's figures are those of its devices' sources together. Reads only."""
    from cairn.store.people import People

    people = People(store)
    counts = people.source_counts(case_id, is_synthetic)
    names = {s["id"]: s["name"] for s in store.cases.sources(case_id)}

    def tally(source_ids: list[int]) -> Found:
        total = {"items": 0, "active_matches": 0, "matched_items": 0, "synthetic_items": 0}
        for sid in source_ids:
            for k, n in counts.get(sid, {}).items():
                total[k] += n
        return Found(sources=[names[s] for s in source_ids], items=total["items"],
                     active_matches=total["active_matches"],
                     matched_items=total["matched_items"],
                     synthetic_items=total["synthetic_items"])

    devices = people.devices(case_id)
    by_suspect: dict[str | None, list[dict]] = {}
    for d in devices:
        by_suspect.setdefault(d["suspect"], []).append(d)
    out_devices = [DeviceFound(id=d["id"], kind=d["kind"], suspect=d["suspect"],
                               **tally(d["source_ids"])) for d in devices]
    out_suspects = []
    for s in people.suspects(case_id):
        own = by_suspect.get(s["id"], [])
        out_suspects.append(SuspectFound(
            id=s["id"], country=s["country"], devices=[d["id"] for d in own],
            **tally(sorted({sid for d in own for sid in d["source_ids"]}))))
    linked = {sid for d in devices for sid in d["source_ids"]}
    return CasePeople(suspects=out_suspects, devices=out_devices,
                      unattributed_sources=[n for sid, n in sorted(names.items())
                                            if sid not in linked])
