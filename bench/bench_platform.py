"""Platform records benchmark: generate a seized platform's tables as files, import them into
a case (one transaction, streaming) and resolve entities. The issue's scale is 1M accounts,
5M payments and 20M access-log rows:

    .venv/bin/python bench/bench_platform.py --accounts 1000000 --payments 5000000 \\
        --access 20000000

The default is a tenth of that. Each stage runs in its own forked process, so the peak RSS
printed is that stage's own. Planted: 1% of accounts share an e-mail (case or +tag
differing) with another, 1% a card fingerprint, 1% a home IP + user agent; every other
value is unique, so resolution should find 3 candidates of two accounts per 100 accounts;
the resolve stage fails unless it finds exactly the planted links. `--dir D --reuse` keeps
the records a run at the same scale left in D. All fictional: user-NNNNNNN, example.test,
IPv6 documentation addresses (2001:db8::/32).
Uses SQLite in a temporary home unless CAIRN_DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

AGENTS = [f"Mozilla/5.0 (Example OS {i}) ExampleBrowser/{100 + i}" for i in range(40)]


def generate(folder: Path, n_accounts: int, n_payments: int, n_access: int
             ) -> dict[str, int]:
    """Write the tables; return the links planted per reason (a pair is planted when both
    of its accounts have rows carrying the shared value)."""
    rng = random.Random(16)
    paid, seen = bytearray(n_accounts), bytearray(n_accounts)
    folder.mkdir(parents=True, exist_ok=True)

    with open(folder / "accounts.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "names", "emails", "created", "country"])
        for i in range(n_accounts):
            email = f"user-{i:07d}@example.test"
            if i % 100 == 1:  # shares i-1's address, written another way
                email = f"User-{i - 1:07d}+alt@EXAMPLE.test"
            w.writerow([f"user-{i:07d}", f"Person {i}", email,
                        1_600_000_000 + i, ("NL", "DK", "DE", "")[i % 4]])
    with open(folder / "payments.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["account", "time", "amount", "currency", "method", "payment_id",
                    "country"])
        for k in range(n_payments):
            i = rng.randrange(n_accounts)
            card = i - 1 if i % 100 == 3 else i  # 3 shares 2's card
            paid[i] = 1
            w.writerow([f"user-{i:07d}", 1_650_000_000 + k, f"{rng.randrange(100, 9999)/100}",
                        "EUR", "card", f"fp-{card:08x}", ("NL", "DK", "")[k % 3]])
    with open(folder / "access_logs.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["account", "time", "ip", "user_agent", "item"])
        for k in range(n_access):
            i = rng.randrange(n_accounts)
            home = i - 1 if i % 100 == 5 else i  # 5 uses 4's home IP and browser
            seen[i] = 1
            ip = f"2001:db8::{home >> 16:x}:{home & 0xffff:x}"
            w.writerow([f"user-{i:07d}", 1_660_000_000 + k, ip,
                        AGENTS[home % len(AGENTS)], f"/item/{rng.randrange(50_000)}"])
    return {"email": sum(1 for i in range(1, n_accounts, 100)),
            "payment": sum(1 for i in range(3, n_accounts, 100) if paid[i] and paid[i - 1]),
            "ip_ua": sum(1 for i in range(5, n_accounts, 100) if seen[i] and seen[i - 1])}


def stage(name: str, fn: Callable[[], str]) -> None:
    """Run `fn` in a forked child; print its seconds, peak RSS and what it said."""
    r, w = os.pipe()
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            msg = fn()
            code = 0
        except BaseException as e:  # noqa: BLE001 - reported by the parent
            msg, code = f"failed: {e!r}", 1
        os.write(w, msg.encode())
        os._exit(code)
    os.close(w)
    _, status, usage = os.wait4(pid, 0)
    msg = os.read(r, 1 << 16).decode()
    os.close(r)
    secs = time.perf_counter() - t
    print(f"{name:<10} {secs:8.1f} s  peak RSS {usage.ru_maxrss / 1024:8.0f} MiB  {msg}",
          flush=True)
    if status:
        sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--payments", type=int, default=500_000)
    ap.add_argument("--access", type=int, default=2_000_000)
    ap.add_argument("--dir", type=Path, help="work folder (default: a temporary one)")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the records DIR holds from a run at the same scale (the store "
                         "is always new)")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="cairn-bench-platform-"))
    folder, home = work / "records", work / "home"
    os.environ.setdefault("CAIRN_EXAMINER", "bench")
    print(f"{args.accounts:,} accounts, {args.payments:,} payments, {args.access:,} "
          f"access-log rows in {work}", flush=True)

    scale = f"{args.accounts} {args.payments} {args.access}"
    planted_file = work / "planted.json"

    def gen() -> str:
        planted = generate(folder, args.accounts, args.payments, args.access)
        planted_file.write_text(json.dumps({"scale": scale, "planted": planted}))
        size = sum(p.stat().st_size for p in folder.iterdir())
        return f"{size / 2**20:.0f} MiB of CSV"

    def imp() -> str:
        from cairn.platform.records import load_mapping
        from cairn.store import Store
        from cairn.store.people import People
        from cairn.store.platform import PlatformStore

        store = Store.open(home)
        cid = People(store).create_case("bench")["name"] and store.cases.id("bench")
        res = PlatformStore(store).import_records(cid, folder, "bench-forum",
                                                  load_mapping(None))
        rows = sum(res["counts"].values())
        return f"{rows:,} rows, {res['rejected']} rejected"

    def res() -> str:
        from cairn.platform.resolve import resolve
        from cairn.store import Store

        store = Store.open(home)
        out = resolve(store, store.cases.id("bench"))
        accounts = sum(len(c["accounts"]) for c in out["candidates"])
        reasons: dict[str, int] = {}
        for c in out["candidates"]:
            for lk in c["links"]:
                reasons[lk["reason"]] = reasons.get(lk["reason"], 0) + 1
        planted = json.loads(planted_file.read_text())["planted"]
        if reasons != planted or len(out["candidates"]) != sum(planted.values()):
            raise AssertionError(f"found {reasons} in {len(out['candidates'])} candidates; "
                                 f"planted {planted}")
        return (f"{len(out['candidates']):,} candidates, {accounts:,} accounts, links "
                f"{reasons} (= planted)")

    shutil.rmtree(home, ignore_errors=True)
    if args.reuse and planted_file.exists() and \
            json.loads(planted_file.read_text())["scale"] == scale:
        print("generate   reused", folder, flush=True)
    else:
        stage("generate", gen)
    stage("import", imp)
    stage("resolve", res)
    print(f"self peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
