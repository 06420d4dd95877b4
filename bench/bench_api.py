"""HMA-compatible lookup under load: `GET /m/raw_lookup` against a generated PDQ list.

    nice .venv/bin/python bench/bench_api.py --entries 1M --client raw
    nice .venv/bin/python bench/bench_api.py --entries 1M --client raw --compare --no-faiss
    nice .venv/bin/python bench/bench_api.py --entries 10M --client raw --home /tmp/b10m

A SQLite store gets an N-entry list (bench_rematch's generator: 90% PDQ, 10% MD5, uniform
random) through the store's import path, and its list index is built; `--home DIR` keeps
that store and reuses it on the next run (10M entries take ~15 min to import). The server
is the real `cairn serve --workers 2 --port 0` on 127.0.0.1 (the port it prints), asked with
a `lookup` token of a user the bench adds (`--server router`: the HMA router alone, no auth,
in one uvicorn process, as earlier figures were taken). `--compare` first runs the server as
it was before the fast path, side by side in the same run: `cairn serve --http h11 --loop
asyncio --no-fast-lookup` (FastAPI's routes, pure-Python HTTP parsing, asyncio's loop), then
as it is (api/fast_lookup.py in front of FastAPI, httptools, uvloop). 64 concurrent
keep-alive clients (`--client raw`: a bare asyncio HTTP/1.1 client on uvloop when installed,
which keeps up with well over 5,000 requests/s; `httpx`: httpx's AsyncClient, which saturates
first) send raw_lookups (10% near copies of listed hashes, 8 bits flipped, the
rest random) until a count or a time is reached. Printed: lookups/s, p50/p99 latency, errors.
Then, side by side in the same run: the same request served by a FastAPI route over faiss
`IndexBinaryFlat` range search (what HMA's PDQ matcher does; needs faiss-cpu from the
`bench` extra), the batch rate of Cairn's matcher (`Matcher.match_many`, 10,000 hashes a
call, what `POST /api/v1/lookup` does: first as it was, each query probed on its own, then
one call with its index sweep on one thread, the same call swept on two threads, and two
calls at once as two workers serving two batch requests; wall rate and CPU time a hash),
and HMA's own published figures. The client and the server share this machine's cores.
Targets (issue 17), printed met or missed: >= 2,000 lookups/s, p99 <= 25 ms, 0 errors at
10M on 2 cores; batch >= 50,000 hashes/s. Timings go here, never into tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rematch import count, flip, list_entries, planted_codes  # noqa: E402
from figures import Figure, emit, size_label  # noqa: E402

SEED = 17
HMA_FIGURES = (
    "HMA, its own goals: ~1 lookup/s per box",
    "HMA, a user's report: 450-500 req/s on 10 pods",
)


# -- the servers (run in a subprocess: `bench_api.py --serve HOME --kind cairn|faiss`) -------
def cairn_app(home: str):  # noqa: ANN201 - a FastAPI app
    from fastapi import FastAPI

    from cairn.api.hma import hma_router
    from cairn.store.store import Store

    async def open_guard() -> None:  # no auth; async, as a token check from a cache would be
        return None

    store = Store.open(home)
    router = hma_router(store, open_guard, recheck=30.0)  # HMA re-reads every 30 s too
    app = FastAPI()
    app.include_router(router)
    return app


def faiss_app(home: str):  # noqa: ANN201 - a FastAPI app
    """raw_lookup as HMA's PDQ index answers it: faiss IndexBinaryFlat, range search < 32."""
    import faiss
    from fastapi import FastAPI, Response
    from fastapi.responses import JSONResponse

    from cairn.store.store import Store

    ids, rows = [], []
    for entry_id, _, kind, value, _ in Store.open(home).lists.entries():
        if kind == "pdq":
            ids.append(entry_id)
            rows.append(bytes.fromhex(value))
    index = faiss.IndexBinaryFlat(256)
    index.add(np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(-1, 32))
    id_of = np.asarray(ids, dtype=np.int64)
    app = FastAPI()

    @app.get("/m/raw_lookup")
    def raw_lookup(signal_type: str, signal: str) -> Response:
        q = np.frombuffer(bytes.fromhex(signal), dtype=np.uint8).reshape(1, 32)
        _, _, found = index.range_search(q, 32)  # distances < 32: radius 31 inclusive
        return JSONResponse({"matches": id_of[found].tolist()})

    return app


def serve(home: str, kind: str) -> None:
    import uvicorn

    app = cairn_app(home) if kind == "router" else faiss_app(home)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                            access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            sys.exit("uvicorn did not start")
        time.sleep(0.02)
    print(f"LISTENING {server.servers[0].sockets[0].getsockname()[1]}", flush=True)
    try:
        thread.join()  # until terminated
    except KeyboardInterrupt:  # stop() sends SIGINT: a quiet exit, not a traceback
        server.should_exit = True
        thread.join(10)


# -- the client ------------------------------------------------------------------------------
def queries(n_entries: int, k: int) -> list[str]:
    rng = np.random.default_rng(SEED + 1)
    planted = planted_codes(n_entries, SEED, max(1, k // 10))
    near = flip(planted, 8, rng)
    rand = rng.integers(0, 256, (k - len(near), 32), dtype=np.uint8)
    out = [r.tobytes().hex() for r in np.concatenate([near, rand])]
    rng.shuffle(out)
    return out


async def load(base: str, hexes: list[str], clients: int, total: int, seconds: float,
               token: str | None = None) -> tuple[float, np.ndarray, int, int]:
    """(elapsed s, latencies ms, errors, hits) of `total` raw_lookups or `seconds`."""
    import httpx

    latencies: list[float] = []
    errors = hits = 0
    sent = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10.0,
                                 headers=headers) as http:
        async def worker() -> None:
            nonlocal errors, hits, sent
            while sent < total and time.perf_counter() < deadline:
                hx = hexes[sent % len(hexes)]
                sent += 1
                t0 = time.perf_counter()
                try:
                    r = await http.get("/m/raw_lookup",
                                       params={"signal_type": "pdq", "signal": hx})
                    ok = r.status_code == 200
                    hits += bool(ok and r.json()["matches"])
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - t0) * 1000)
                errors += not ok

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    return elapsed, np.asarray(latencies), errors, hits


async def load_raw(base: str, hexes: list[str], clients: int, total: int, seconds: float,
                   token: str | None = None) -> tuple[float, np.ndarray, int, int]:
    """`load` with a bare asyncio HTTP/1.1 keep-alive client instead of httpx: httpx's
    AsyncClient costs more CPU per request than the server does (it slows down as
    connections are added), and on 2 shared cores the client's cost is the server's loss."""
    host, port = base.rsplit("//", 1)[1].split(":")
    latencies: list[float] = []
    errors = hits = sent = 0
    deadline = time.perf_counter() + seconds
    auth = f"Authorization: Bearer {token}\r\n" if token else ""

    async def worker() -> None:
        nonlocal errors, hits, sent
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while sent < total and time.perf_counter() < deadline:
                hx = hexes[sent % len(hexes)]
                sent += 1
                t0 = time.perf_counter()
                writer.write(f"GET /m/raw_lookup?signal_type=pdq&signal={hx} HTTP/1.1\r\n"
                             f"Host: {host}\r\n{auth}\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n")
                              if h.lower().startswith(b"content-length:"))
                body = await reader.readexactly(length)
                latencies.append((time.perf_counter() - t0) * 1000)
                ok = head.startswith(b"HTTP/1.1 200")
                errors += not ok
                hits += ok and body != b'{"matches":[]}'
        finally:
            writer.close()

    t0 = time.perf_counter()
    results = await asyncio.gather(*(worker() for _ in range(clients)), return_exceptions=True)
    errors += sum(isinstance(r, Exception) for r in results)
    return time.perf_counter() - t0, np.asarray(latencies), errors, hits


BEFORE = ("--http", "h11", "--loop", "asyncio", "--no-fast-lookup")  # as it was (--compare)


def run_async(coro):  # noqa: ANN001, ANN201 - a coroutine and its result
    """`asyncio.run`, on uvloop when it is installed (the client's cost is the server's loss
    on shared cores; both sides of --compare get the same client)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def run_server(home: Path, kind: str, workers: int, extra: tuple[str, ...] = ()
               ) -> tuple[subprocess.Popen, str]:
    """The server in a subprocess, and its base URL once it listens. `serve`: the real
    `cairn serve --workers N --port 0 EXTRA...` (it prints the port it bound); `router` and
    `faiss`: this file's `--serve` (one uvicorn process)."""
    if kind == "serve":
        cmd = [sys.executable, "-c", "import sys; from cairn.entry import main; sys.exit(main())",
               "serve", "--port", "0", "--workers", str(workers), *extra]
        env = os.environ | {"CAIRN_HOME": str(home),
                            "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    else:
        cmd = [sys.executable, __file__, "--serve", str(home), "--kind", kind]
        env = dict(os.environ)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the server prints its port once it listens
    found = re.search(r"listening on (http://\S+)", line)
    if found:
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain the rest
        return proc, found.group(1)
    if line.startswith("LISTENING "):
        return proc, f"http://127.0.0.1:{int(line.split()[1])}"
    proc.kill()
    raise RuntimeError(f"{kind} server did not start: {line!r}")


def wait_ready(base: str, token: str | None, limit: float = 120.0) -> None:
    """Until the server answers a lookup (`cairn serve` binds before its workers start)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + limit
    while True:
        try:
            r = httpx.get(f"{base}/m/raw_lookup", headers=headers, timeout=30.0,
                          params={"signal_type": "pdq", "signal": "0" * 64})
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{base} did not answer a lookup in {limit:.0f} s")
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)  # uvicorn's supervisor stops its workers on SIGINT
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def measure(home: Path, kind: str, hexes: list[str], args: argparse.Namespace,
            token: str | None, extra: tuple[str, ...] = ()) -> tuple[float, float, int]:
    """Load one server; prints and returns (lookups/s, p99 ms, errors)."""
    t0 = time.perf_counter()
    proc, base = run_server(home, kind, args.workers, extra)
    try:
        wait_ready(base, token)
        started = time.perf_counter() - t0
        client = load_raw if args.client == "raw" else load
        # warm-up: every worker compiles its kernels and opens the index
        run_async(client(base, hexes[:2000], args.clients, 2000, 30, token))
        elapsed, lat, errors, hits = run_async(
            client(base, hexes, args.clients, count(args.requests), args.seconds, token))
    finally:
        stop(proc)
    n = len(lat)
    rate, p99 = n / elapsed, float(np.percentile(lat, 99))
    what = {"serve": f"cairn serve --workers {args.workers}", "router": "cairn router",
            "faiss": "faiss"}[kind] + (f" {' '.join(extra)}" if extra else "")
    print(f"{what}: raw_lookup {rate:,.0f} lookups/s, p50 {np.percentile(lat, 50):.1f} ms, "
          f"p99 {p99:.1f} ms, errors {errors}, hits {hits:,} of {n:,} ({args.clients} "
          f"{args.client} clients, {elapsed:.1f} s; server ready in {started:.1f} s)",
          flush=True)
    return rate, p99, errors


def lookup_token(store) -> str:  # noqa: ANN001 - a Store
    """A `lookup` token of a bench user (added once per store)."""
    from cairn.store import users

    if not any(u.name == "user-0042" for u in users.users(store)):
        users.add_user(store, "user-0042", "examiner", by="bench")
    return users.create_token(store, "user-0042", "lookup", None, name="bench_api",
                              by="bench")[1]


def batch_rate(matcher, hexes: list[str], per_call: int, threads: int,  # noqa: ANN001
               index_threads: int | None = None) -> tuple[float, float, int]:
    """(hashes/s, CPU us a hash, hashes with matches) of `Matcher.match_many` over `hexes`
    in calls of `per_call`, `threads` calls at a time (the kernels release the GIL), each
    call's index sweep on `index_threads` threads (None: the index's default, every core).
    CPU time is the process's (every thread's), which a loaded machine inflates less than
    wall time."""
    from concurrent.futures import ThreadPoolExecutor

    records = [{"pdq": {"hash": h, "quality": 100}} for h in hexes]
    calls = [records[i:i + per_call] for i in range(0, len(records), per_call)]
    matcher.pdq.threads = index_threads
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        with ThreadPoolExecutor(threads) as pool:
            found = [f for part in pool.map(matcher.match_many, calls) for f in part]
    finally:
        matcher.pdq.threads = None
    cpu = (time.process_time() - c0) / len(records) * 1e6
    return len(records) / (time.perf_counter() - t0), cpu, sum(map(bool, found))


def exact_queries(n_entries: int, k: int) -> list[tuple[str, str]]:
    """`k` exact signals: 10% MD5s of the list (hits), the rest random MD5s and SHA-256s."""
    rng = np.random.default_rng(SEED + 2)
    listed = []
    for e in list_entries(min(n_entries, 1_000_000), SEED):
        if e["signal_type"] == "md5":
            listed.append(("md5", e["value"]))
            if len(listed) == max(1, k // 10):
                break
    rest = [("md5", rng.bytes(16).hex()) if i % 2 else ("sha256", rng.bytes(32).hex())
            for i in range(k - len(listed))]
    out = listed + rest
    rng.shuffle(out)  # type: ignore[arg-type]
    return out


def http_batch(home: Path, args: argparse.Namespace, token: str,
               kinds: dict[str, list[tuple[str, str]]]) -> dict[str, float]:
    """POST /api/v1/lookup with `--per-call` signals a request (the cap is 10,000) to the
    real `cairn serve --workers N`, N requests at a time: {kind: hashes/s}, printed."""
    import httpx

    from cairn.service.lookup import MAX_SIGNALS

    per = min(args.per_call, MAX_SIGNALS)
    proc, base = run_server(home, "serve", args.workers)
    rates = {}
    try:
        wait_ready(base, token)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with httpx.Client(base_url=base, headers=headers, timeout=120.0) as http:
            def post(sigs: list[tuple[str, str]]) -> tuple[int, int]:
                body = json.dumps({"signals": [{"type": t, "value": v} for t, v in sigs]})
                r = http.post("/api/v1/lookup", content=body)
                if r.status_code != 200:
                    return 1, 0
                return 0, sum(1 for x in r.json()["results"] if x["matches"])

            from concurrent.futures import ThreadPoolExecutor

            for kind, sigs in kinds.items():
                calls = [sigs[i:i + per] for i in range(0, len(sigs), per)]
                with ThreadPoolExecutor(args.workers) as pool:
                    # warm-up: every worker opens the index (a worker's first batch costs
                    # seconds); posts one after another may all reach the same worker
                    list(pool.map(post, [calls[0]] * (2 * args.workers)))
                    t0 = time.perf_counter()
                    res = list(pool.map(post, calls))
                dt = time.perf_counter() - t0
                errors, hits = sum(r[0] for r in res), sum(r[1] for r in res)
                rates[kind] = len(sigs) / dt if not errors else 0.0
                print(f"batch over HTTP (POST /api/v1/lookup, {per:,} {kind} hashes a "
                      f"request, {args.workers} at a time, cairn serve --workers "
                      f"{args.workers}): {rates[kind]:,.0f} hashes/s ({len(sigs):,} hashes in "
                      f"{dt:.1f} s, {hits:,} with matches, {errors} errors)", flush=True)
    finally:
        stop(proc)
    return rates


def route_cost(home: Path, n: int) -> None:
    """`--cost`: what one 10,000-hash `POST /api/v1/lookup` costs in CPU time of the serving
    thread (best of 5; a loaded machine inflates wall time, not this), part by part, called
    in-process: parsing (json + the route's pydantic model), checking the values, the
    matcher, and the answer built and encoded, now and as FastAPI's encoder did it."""
    from fastapi.encoders import jsonable_encoder

    from cairn.api.lookup import LookupRequest
    from cairn.service import lookup as svc
    from cairn.store.store import Store

    def best(f) -> float:  # noqa: ANN001 - a callable
        times = []
        for _ in range(5):
            t0 = time.thread_time()
            f()
            times.append((time.thread_time() - t0) * 1000)
        return min(times)

    def parts(store: Store, sigs: list[tuple[str, str]]) -> tuple[float, ...]:
        body = json.dumps({"signals": [{"type": t, "value": v} for t, v in sigs]}).encode()
        req = LookupRequest.model_validate(json.loads(body))
        signals = svc.check([(x.type, x.value) for x in req.signals])
        matcher = svc.MATCHERS.get(store)
        matcher.pdq.threads = 1  # the index sweep on this thread, where thread_time sees it
        records = [svc._record(x) for x in signals]
        return (best(lambda: LookupRequest.model_validate(json.loads(body))),
                best(lambda: svc.check([(x.type, x.value) for x in req.signals])),
                best(lambda: matcher.match_many(records)),
                best(lambda: json.dumps(jsonable_encoder(
                    {"results": svc.lookup(store, signals)}), ensure_ascii=False,
                    separators=(",", ":")).encode()),
                best(lambda: svc.lookup_json(store, signals)))

    store = Store.open(home)
    for kind in ("exact", "pdq"):
        sigs = (exact_queries(n, 10_000) if kind == "exact"
                else [("pdq", h) for h in queries(n, 10_000)])
        parse, check, match, old, new = parts(store, sigs)
        for what, answer in (("as it was (jsonable_encoder)", old), ("now (lookup_json)", new)):
            total = parse + check + answer
            print(f"{kind}, {what}, CPU ms per 10,000 hashes at {n:,}: parse {parse:.1f}, "
                  f"check {check:.1f}, matcher {match:.1f}, lookup + answer {answer:.1f}; "
                  f"total {total:.0f} -> {10_000 / total * 1000:,.0f} hashes/s per core",
                  flush=True)
    pdq_budget(store, [h for _, h in sigs], parse + check + new - match, match)
    store.close()


def random_read_ns(codes: np.ndarray) -> float:
    """Nanoseconds one core takes to read a random row of `codes` (uint64[N, 4]) at best:
    20M random rows read with a software prefetch 8..128 rows ahead, best of 3 each; the
    floor under any verification of candidates that are random rows."""
    from numba import njit

    from cairn.index.kernels import _prefetch

    @njit(nogil=True, boundscheck=False)
    def gather(codes, rows, ahead):  # noqa: ANN001, ANN202
        x = np.uint64(0)
        for i in range(rows.shape[0]):
            if i + ahead < rows.shape[0]:
                _prefetch(codes, rows[i + ahead])
            x ^= codes[rows[i], 0]
        return x

    rows = np.random.default_rng(2).integers(0, len(codes), 20_000_000)
    gather(codes, rows[:100], 8)
    best = float("inf")
    for ahead in (8, 16, 32, 64, 128):
        for _ in range(3):
            t0 = time.thread_time()
            gather(codes, rows, ahead)
            best = min(best, time.thread_time() - t0)
    return best / len(rows) * 1e9


def pdq_budget(store, hexes: list[str], request_ms: float,  # noqa: ANN001 - a Store
               match_ms: float) -> None:
    """The PDQ batch target (50,000 hashes/s on this 2-core machine: 40 us of CPU a hash)
    against what a hash costs: the request's own work (parse, check, answer: `request_ms`
    per batch) and the matcher's (`match_ms`), of which the index's swept batch stage by
    stage (`HammingIndex.sweep_cost`, one thread, radius 31)."""
    from cairn.index.mih import codes_from_hex
    from cairn.service import lookup as svc

    index = svc.MATCHERS.get(store).pdq
    cost = index.sweep_cost(codes_from_hex(hexes), 31)
    own, match = (ms / len(hexes) * 1000 for ms in (request_ms, match_ms))
    budget = 2 / 50_000 * 1e6
    floor = random_read_ns(np.asarray(index._codes).view(np.uint64))
    print(f"pdq batch: this machine reads a random row of the index's {len(index):,} codes in "
          f"{floor:.1f} ns at best (one core, reads overlapped as deep as helps): the "
          f"{cost['candidates']:,.0f} candidates a hash cost >= "
          f"{cost['candidates'] * floor / 1000:.1f} us to read, whatever verifies them",
          flush=True)
    bound = own + cost["buckets"] + cost["candidates"] * floor / 1000
    print(f"pdq batch, CPU us a hash at {len(index):,} rows: the request's own work "
          f"{own:.1f}, the matcher {match:.1f}, of which the index's sweep: bucket lookups "
          f"{cost['buckets']:.1f}, rows gathered {cost['gather']:.1f}, "
          f"{cost['candidates']:,.0f} candidates verified {cost['verify']:.1f}; total "
          f"{own + match:.1f} against the {budget:.0f} that 50,000 hashes/s on 2 cores "
          f"allows (at most {2e6 / (own + match):,.0f} hashes/s on 2 cores; the request, the "
          f"bucket lookups and the candidates read at the floor above, nothing else: "
          f"{bound:.1f} us, at most {2e6 / bound:,.0f})", flush=True)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def build_store(home: Path, n: int):  # noqa: ANN201 - a Store
    """The store at `home` with its N-entry bench list and built index (reused if there)."""
    from cairn.scan.listindex import open_matcher
    from cairn.store.store import Store

    store = Store.open(home)
    have = {x["name"]: x for x in store.lists.all()}
    if "BENCH_LIST" in have and have["BENCH_LIST"]["entry_count"] != n:
        sys.exit(f"{home} holds a list of {have['BENCH_LIST']['entry_count']:,} entries, "
                 f"not {n:,}: use another --home")
    if "BENCH_LIST" not in have:
        t0 = time.perf_counter()
        store.lists.add("BENCH_LIST", "generated", "te-local", 31, list_entries(n, SEED), 0)
        print(f"list: {n:,} entries imported in {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    matcher = open_matcher(store)  # persisted: the servers memory-map it
    print(f"list: {n:,} entries, index opened (built if missing) in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    return store, matcher


def run_bench(home: Path, args: argparse.Namespace) -> None:
    n = count(args.entries)
    store, matcher = build_store(home, n)
    token = lookup_token(store) if args.server == "serve" else None
    hexes = queries(n, 20_000)
    if args.no_load:
        rate, p99, errors = float("nan"), float("nan"), -1
    elif args.compare:
        if args.server != "serve":
            sys.exit("--compare compares `cairn serve` before and after: --server serve")
        old_rate, old_p99, _ = measure(home, "serve", hexes, args, token, BEFORE)
    if not args.no_load:
        rate, p99, errors = measure(home, args.server, hexes, args, token)
    if args.compare and not args.no_load:
        print(f"before -> now: {old_rate:,.0f} -> {rate:,.0f} lookups/s "
              f"(x{rate / old_rate:.1f}), p99 {old_p99:.1f} -> {p99:.1f} ms", flush=True)
    if not args.no_faiss and not args.no_load:
        try:
            import faiss  # noqa: F401
        except ImportError:
            print("faiss: not installed (pip install faiss-cpu; the `bench` extra)")
        else:
            measure(home, "faiss", hexes, args, None)

    if args.no_batch:
        store.close()
        return
    k = count(args.batch)
    batch = queries(n, k)
    matcher.match_many([{"pdq": {"hash": h, "quality": 100}} for h in batch[:1000]])  # JIT
    from cairn.index import sweep

    sweep_min = sweep.SWEEP_MIN
    sweep.SWEEP_MIN = 1 << 62  # as it was: every query probed on its own, BATCH at a time
    try:
        per_s, cpu, matched = batch_rate(matcher, batch, args.per_call, 1, 1)
    finally:
        sweep.SWEEP_MIN = sweep_min
    print(f"batch (Matcher.match_many, {args.per_call:,} hashes a call), as it was (no sweep; "
          f"each query probed on its own), one call at a time: {per_s:,.0f} hashes/s, "
          f"{cpu:.1f} us CPU a hash ({k:,} hashes, {matched:,} with matches)", flush=True)
    best = 0.0
    cores = min(2, os.cpu_count() or 1)
    for threads, index_threads, what in (
            (1, 1, "one call at a time, its index sweep on 1 thread"),
            (1, cores, f"one call at a time, its index sweep on {cores} threads"),
            (cores, None, f"{cores} calls at a time (as {cores} workers would)")):
        per_s, cpu, matched = batch_rate(matcher, batch, args.per_call, threads, index_threads)
        best = max(best, per_s)
        print(f"batch (Matcher.match_many, {args.per_call:,} hashes a call, as POST "
              f"/api/v1/lookup does), {what}: {per_s:,.0f} hashes/s, {cpu:.1f} us CPU a "
              f"hash ({k:,} hashes, {matched:,} with matches)", flush=True)
    http = {}
    if token is not None:
        http = http_batch(home, args, token,
                          {"pdq": [("pdq", h) for h in batch], "exact": exact_queries(n, k)})
    for line in HMA_FIGURES:
        print(line)
    load1 = os.getloadavg()[0]
    scale = "" if n >= 10_000_000 else f" (the targets apply at 10M; this is {n:,})"
    print(f"targets{scale}, load before the run {args.load_before:.2f}, after {load1:.2f}, "
          f"{os.cpu_count()} cores:\n"
          f"  >= 2,000 lookups/s: {rate:,.0f} {verdict(rate >= 2000)}\n"
          f"  p99 <= 25 ms: {p99:.1f} ms {verdict(p99 <= 25)}\n"
          f"  0 errors: {errors} {verdict(errors == 0)}\n"
          f"  batch >= 50,000 hashes/s: {best:,.0f} {verdict(best >= 50_000)} (the matcher"
          " alone)", flush=True)
    for kind, per_s in http.items():
        print(f"  batch over HTTP, {kind}, >= 50,000 hashes/s: {per_s:,.0f} "
              f"{verdict(per_s >= 50_000)}", flush=True)
    store.close()
    how, size = f"{args.clients} clients, {args.server}, {args.client} client", size_label(n)
    emit("bench_api", [Figure("api.lookups_per_s", rate, how, size),
                       Figure("api.p99_ms", p99, how, size),
                       Figure("api.errors", None if errors < 0 else errors, how, size),
                       Figure("api.batch_per_s", best, "; ".join(
                           [f"{k:,} hashes, best of 1 and 2 threads"]
                           + [f"over HTTP, {kind}: {v:,.0f}" for kind, v in http.items()]),
                           size)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", default="1M")
    ap.add_argument("--home", type=Path, help="keep the store here and reuse it next time")
    ap.add_argument("--server", choices=["serve", "router"], default="serve",
                    help="`cairn serve --workers N` with a token, or the HMA router alone")
    ap.add_argument("--workers", type=int, default=2, help="cairn serve --workers")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--requests", default="20k", help="raw_lookups per server (at most)")
    ap.add_argument("--seconds", type=float, default=20.0, help="per server (at most)")
    ap.add_argument("--batch", default="100k", help="hashes in the batch lookup")
    ap.add_argument("--per-call", type=int, default=10_000, help="hashes per match_many")
    ap.add_argument("--client", choices=["httpx", "raw"], default="httpx",
                    help="httpx AsyncClient, or a bare asyncio HTTP/1.1 client (see load_raw)")
    ap.add_argument("--no-faiss", action="store_true", help="skip the faiss side by side")
    ap.add_argument("--compare", action="store_true",
                    help="first the server as it was (FastAPI routes, h11, asyncio), then now")
    ap.add_argument("--no-batch", action="store_true", help="skip the batch rate")
    ap.add_argument("--no-load", action="store_true",
                    help="skip the raw_lookup load (the batch rates only)")
    ap.add_argument("--cost", action="store_true",
                    help="only the CPU cost of one 10,000-hash batch lookup, part by part "
                         "(needs --home with the store)")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--kind", default="router", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.kind)
        return
    args.load_before = os.getloadavg()[0]
    os.environ.setdefault("CAIRN_EXAMINER", "bench")
    if args.cost:
        if not args.home:
            sys.exit("--cost measures the store in --home (built by an earlier run)")
        route_cost(args.home, count(args.entries))
        return
    if args.home:
        run_bench(args.home, args)
        return
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        run_bench(Path(tmp) / "home", args)


if __name__ == "__main__":
    main()
