"""Who is who: accounts proposed as one person, each link with its reason and strength.

Accounts are linked only by an identifier they share, never by a name that looks alike:
- `email`   the same normalised e-mail address (strong);
- `payment` the same payment identifier: card fingerprint, wallet, processor reference
            (strong);
- `device`  a seized device of the case holds files both accounts transferred (medium when
            one of them uploaded such a file or they share two or more, weak otherwise);
- `ip_ua`   the same IP address with the same user agent, a pair seen with at most
            RARE_PAIR accounts (weak: a shared household, a café, a VPN exit).
A value shared by more than COMMON accounts (a placeholder e-mail, a payment processor's
house reference, a file everyone downloaded) links nobody: it is listed under `common`, so
the examiner sees it was not used. Union-find turns the links into candidate groups.

Candidates are proposals: the examiner accepts one with `cairn suspects merge` (the accounts
become `account` identifiers of a suspect, logged) or leaves it.

Country per candidate comes only from what the records and the case say, each with its
source: the payments' country, the account's declared country, the country of the action
that seized a device holding the account's files (or that device's suspect's country).
An IP address gives a country only through an offline GeoIP database the examiner supplies
(`--geoip FILE.mmdb`, platform/geoip.py), and then apart: `ip_countries` per candidate counts
the access-log rows by the country of their address, naming the database; it never joins
`countries`, which hold what the records say.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from cairn.platform.geoip import GeoIp
from cairn.store import Store
from cairn.store.platform import PlatformStore
from cairn.trace.unionfind import UnionFind

RARE_PAIR = 3
COMMON = 10
STRENGTH = {"email": "strong", "payment": "strong"}
ORDER = {"strong": 0, "medium": 1, "weak": 2}


def _groups(rows: Iterable[tuple[str, str, str]]) -> Iterator[tuple[str, list[str]]]:
    """(value, ["platform:account", ...]) from rows sorted by value."""
    value: str | None = None
    who: list[str] = []
    for v, plat, acct in rows:
        if v != value and who and value is not None:
            yield value, who
            who = []
        value = v
        who.append(f"{plat}:{acct}")
    if who and value is not None:
        yield value, who


def resolve(store: Store, case_id: int, geoip: GeoIp | None = None) -> dict:
    """{"candidates": [...], "common": [...], "rules": {...}}: candidates largest first,
    numbered from 1 (the number `suspects merge --candidate` takes). With `geoip`, each
    candidate also gets `ip_countries` (see the module's docstring)."""
    ps = PlatformStore(store)
    links: list[dict] = []
    common: list[dict] = []
    for kind in ("email", "payment", "ip_ua"):
        rows = ps.shared(case_id, kind, RARE_PAIR if kind == "ip_ua" else None)
        for value, who in _groups(rows):
            who = sorted(dict.fromkeys(who))
            if len(who) < 2:
                continue
            limit = RARE_PAIR if kind == "ip_ua" else COMMON
            if len(who) > limit:
                if kind != "ip_ua":  # pairs seen with many accounts are the usual case
                    common.append({"reason": kind, "value": value, "accounts": len(who)})
                continue
            for other in who[1:]:
                links.append({"a": who[0], "b": other, "reason": kind, "value": value,
                              "strength": STRENGTH.get(kind, "weak"), "shared_by": len(who)})
    pair_keys = {lk["value"] for lk in links if lk["reason"] == "ip_ua"}
    pairs = ps.pair_values(case_id, pair_keys) if pair_keys else {}
    for lk in links:
        if lk["reason"] == "ip_ua":
            ip, ua = pairs.get(lk["value"], ("?", None))
            lk["value"] = {"ip": ip, "user_agent": ua}
    device_links, account_devices, device_ids = _device_links(ps, case_id, common)
    links += device_links
    names = sorted({a for lk in links for a in (lk["a"], lk["b"])})
    at = {a: i for i, a in enumerate(names)}
    uf = UnionFind(len(names))
    for lk in links:
        uf.union(at[lk["a"]], at[lk["b"]])
    groups: dict[int, list[str]] = {}
    for i, lab in enumerate(uf.labels().tolist()) if names else []:
        groups.setdefault(lab, []).append(names[i])
    members = sorted(groups.values(), key=lambda g: (-len(g), g[0]))
    countries = _countries(ps, case_id, [m for g in members for m in g], account_devices,
                           device_ids)
    group_of = {a: k for k, group in enumerate(members) for a in group}
    links_of: list[list[dict]] = [[] for _ in members]
    for lk in links:  # both ends of a link are in one group; its order kept (sorts are stable)
        links_of[group_of[lk["a"]]].append(lk)
    candidates = []
    for n, group in enumerate(members, 1):
        mine = sorted(links_of[n - 1],
                      key=lambda lk: (ORDER[lk["strength"]], lk["reason"], lk["a"], lk["b"]))
        candidates.append({
            "candidate": n, "accounts": group,
            "strength": mine[0]["strength"] if mine else None,
            "links": mine,
            "devices": sorted({d for a in group for d in account_devices.get(a, ())}),
            "countries": _merge_countries(countries, group)})
    if geoip is not None:
        _ip_countries(ps, case_id, candidates, geoip)
    return {"candidates": candidates, "common": common,
            "rules": {"rare_ip_user_agent": f"seen with at most {RARE_PAIR} accounts",
                      "common_value": f"shared by more than {COMMON} accounts: no link",
                      "geoip": (f"{geoip.source()}: counted apart as ip_countries, the "
                                "weakest source (VPNs, carrier NAT, roaming)" if geoip else
                                "not used: an IP address is never a country here")},
            **({"geoip_database": geoip.describe()} if geoip else {})}


def _ip_countries(ps: PlatformStore, case_id: int, candidates: list[dict], geoip: GeoIp
                  ) -> None:
    """Each candidate's access-log rows counted by the country of their IP address."""
    wanted = {(a.partition(":")[0], a.partition(":")[2])
              for cand in candidates for a in cand["accounts"]}
    ips = ps.access_ips(case_id, wanted)
    country: dict[str, str | None] = {}
    for cand in candidates:
        counts: dict[str, int] = {}
        rows = unknown = 0
        for a in cand["accounts"]:
            for ip, n in ips.get((a.partition(":")[0], a.partition(":")[2]), {}).items():
                if ip not in country:
                    country[ip] = geoip.country(ip)
                rows += n
                code = country[ip]
                if code:
                    counts[code] = counts.get(code, 0) + n
                else:
                    unknown += n
        cand["ip_countries"] = {
            "countries": [{"country": c, "rows": n} for c, n in
                          sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))],
            "rows": rows, "unknown": unknown, "source": geoip.source()}


def _device_links(ps: PlatformStore, case_id: int, common: list[dict]
                  ) -> tuple[list[dict], dict[str, set[str]], dict[str, int]]:
    """Links between accounts whose transferred files are on one seized device, and each
    account's devices (by files that at most COMMON accounts transferred), and the devices'
    ids."""
    rows = ps.device_files(case_id)
    spread = ps.transfer_spread(case_id, {r["sha256"] or r["md5"] for r in rows})
    per_device: dict[tuple[str, int], dict[str, dict]] = {}
    account_devices: dict[str, set[str]] = {}
    noted: set[str] = set()
    for r in rows:
        h = r["sha256"] or r["md5"]
        if spread.get(h, 0) > COMMON:
            if h not in noted:
                noted.add(h)
                common.append({"reason": "device", "value": h, "accounts": spread[h]})
            continue
        who = f"{r['platform']}:{r['account']}"
        account_devices.setdefault(who, set()).add(r["device"])
        got = per_device.setdefault((r["device"], r["device_id"]), {}).setdefault(
            who, {"files": set(), "uploaded": False})
        got["files"].add(h)
        got["uploaded"] |= r["direction"] == "upload"
    links = []
    for (device, _), accts in sorted(per_device.items()):
        holders = sorted(accts)
        for other in holders[1:]:
            a, b = accts[holders[0]], accts[other]
            shared = a["files"] | b["files"]
            strong = a["uploaded"] or b["uploaded"] or len(shared) >= 2
            links.append({"a": holders[0], "b": other, "reason": "device",
                          "value": {"device": device, "files": len(shared),
                                    "uploaded": a["uploaded"] or b["uploaded"]},
                          "strength": "medium" if strong else "weak",
                          "shared_by": len(holders)})
    return links, account_devices, {key: did for key, did in per_device}


def _countries(ps: PlatformStore, case_id: int, accounts: list[str],
               account_devices: dict[str, set[str]], device_ids: dict[str, int]
               ) -> dict[str, list[dict]]:
    """account -> [{country, source}]."""
    split: list[tuple[str, str]] = [(a.partition(":")[0], a.partition(":")[2])
                                    for a in accounts]
    records = ps.countries(case_id, split)
    seized = ps.device_countries(case_id, set(device_ids.values())) if device_ids else {}
    out: dict[str, list[dict]] = {}
    for a, key in zip(accounts, split, strict=True):
        got = records.get(key, {"declared": None, "payments": {}})
        found = [{"country": c, "source": f"payments of {a} ({n})"}
                 for c, n in sorted(got["payments"].items())]
        if got["declared"]:
            found.append({"country": got["declared"], "source": f"declared by {a}"})
        for dev in sorted(account_devices.get(a, ())):
            for s in seized.get(device_ids[dev], []):
                found.append({"country": s["country"],
                              "source": f"device {dev} holding {a}'s files: {s['source']}"})
        out[a] = found
    return out


def _merge_countries(countries: dict[str, list[dict]], group: list[str]) -> list[dict]:
    """Per country: every source that names it, payments first."""
    by: dict[str, list[str]] = {}
    for a in group:
        for c in countries.get(a, []):
            by.setdefault(c["country"], []).append(c["source"])
    return [{"country": c, "sources": s} for c, s in
            sorted(by.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
