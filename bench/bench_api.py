"""HMA-compatible lookup under load: `GET /m/raw_lookup` against a generated PDQ list.

    nice .venv/bin/python bench/bench_api.py --entries 1M
    nice .venv/bin/python bench/bench_api.py --entries 10M      # the issue's scale

A fresh SQLite store gets an N-entry list (bench_rematch's generator: 90% PDQ, 10% MD5,
uniform random) through the store's import path, and its list index is built. The HMA router
(api/hma.py, no auth) is served by uvicorn in a subprocess on 127.0.0.1 (port picked by the
server); 64 concurrent clients (httpx AsyncClient, keep-alive) send raw_lookups (10% near
copies of listed hashes, 8 bits flipped, the rest random) until a count or a time is reached.
Printed: lookups/s, p50/p99 latency, errors. Then, side by side in the same run: the same
request served by a FastAPI route over faiss `IndexBinaryFlat` range search (what HMA's PDQ
matcher does; needs faiss-cpu from the `bench` extra), the batch rate of Cairn's matcher
(`match_many`, what `POST /api/v1/lookup` will do), and HMA's own published figures. The
client and the server share this machine's cores. Targets (issue 17): >= 2,000 lookups/s,
p99 <= 25 ms, 0 errors at 10M on 2 cores; batch >= 50,000 hashes/s. Timings go here, never
into tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
    for entry_id, _, kind, value, _ in Store.open(home).iter_entries():
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

    app = cairn_app(home) if kind == "cairn" else faiss_app(home)
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
    thread.join()  # until terminated


# -- the client ------------------------------------------------------------------------------
def queries(n_entries: int, k: int) -> list[str]:
    rng = np.random.default_rng(SEED + 1)
    planted = planted_codes(n_entries, SEED, max(1, k // 10))
    near = flip(planted, 8, rng)
    rand = rng.integers(0, 256, (k - len(near), 32), dtype=np.uint8)
    out = [r.tobytes().hex() for r in np.concatenate([near, rand])]
    rng.shuffle(out)
    return out


async def load(base: str, hexes: list[str], clients: int, total: int, seconds: float
               ) -> tuple[float, np.ndarray, int, int]:
    """(elapsed s, latencies ms, errors, hits) of `total` raw_lookups or `seconds`."""
    import httpx

    latencies: list[float] = []
    errors = hits = 0
    sent = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10.0) as http:
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


async def load_raw(base: str, hexes: list[str], clients: int, total: int, seconds: float
                   ) -> tuple[float, np.ndarray, int, int]:
    """`load` with a bare asyncio HTTP/1.1 keep-alive client instead of httpx: httpx's
    AsyncClient costs more CPU per request than the server does (it slows down as
    connections are added), and on 2 shared cores the client's cost is the server's loss."""
    host, port = base.rsplit("//", 1)[1].split(":")
    latencies: list[float] = []
    errors = hits = sent = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors, hits, sent
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while sent < total and time.perf_counter() < deadline:
                hx = hexes[sent % len(hexes)]
                sent += 1
                t0 = time.perf_counter()
                writer.write(f"GET /m/raw_lookup?signal_type=pdq&signal={hx} HTTP/1.1\r\n"
                             f"Host: {host}\r\n\r\n".encode())
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


def run_server(home: Path, kind: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(home), "--kind", kind],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the server prints its port once it listens
    if not line.startswith("LISTENING "):
        proc.kill()
        raise RuntimeError(f"{kind} server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


def measure(home: Path, kind: str, hexes: list[str], args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    proc, base = run_server(home, kind)
    started = time.perf_counter() - t0
    try:
        client = load_raw if args.client == "raw" else load
        asyncio.run(client(base, hexes[:200], args.clients, 200, 30))  # warm-up (JIT, index)
        elapsed, lat, errors, hits = asyncio.run(
            client(base, hexes, args.clients, count(args.requests), args.seconds))
    finally:
        proc.terminate()
        proc.wait(10)
    n = len(lat)
    print(f"{kind:>5} raw_lookup: {n / elapsed:,.0f} lookups/s, p50 "
          f"{np.percentile(lat, 50):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms, errors "
          f"{errors}, hits {hits:,} of {n:,} ({args.clients} {args.client} clients, "
          f"{elapsed:.1f} s; "
          f"server ready in {started:.1f} s)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", default="1M")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--requests", default="20k", help="raw_lookups per server (at most)")
    ap.add_argument("--seconds", type=float, default=20.0, help="per server (at most)")
    ap.add_argument("--batch", default="100k", help="hashes in the batch lookup")
    ap.add_argument("--client", choices=["httpx", "raw"], default="httpx",
                    help="httpx AsyncClient, or a bare asyncio HTTP/1.1 client (see load_raw)")
    ap.add_argument("--no-faiss", action="store_true", help="skip the faiss side by side")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--kind", default="cairn", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.kind)
        return
    n = count(args.entries)
    from cairn.scan.listindex import open_matcher
    from cairn.store.store import Store

    os.environ.setdefault("CAIRN_EXAMINER", "bench")
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        home = Path(tmp) / "home"
        store = Store.open(home)
        t0 = time.perf_counter()
        store.add_list("BENCH_LIST", "generated", "te-local", 31, list_entries(n, SEED), 0)
        t_import = time.perf_counter() - t0
        t0 = time.perf_counter()
        matcher = open_matcher(store)  # persisted: the server memory-maps it
        print(f"list: {n:,} entries imported in {t_import:.1f} s, index built in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)

        hexes = queries(n, 20_000)
        measure(home, "cairn", hexes, args)
        if not args.no_faiss:
            try:
                import faiss  # noqa: F401
            except ImportError:
                print("faiss: not installed (pip install faiss-cpu; the `bench` extra)")
            else:
                measure(home, "faiss", hexes, args)

        k = count(args.batch)
        batch = [{"pdq": {"hash": h, "quality": 100}} for h in queries(n, k)]
        matcher.match_many(batch[:1000])  # warm-up
        t0 = time.perf_counter()
        found = matcher.match_many(batch)
        t_batch = time.perf_counter() - t0
        print(f"batch (Matcher.match_many, as POST /api/v1/lookup will): {k / t_batch:,.0f} "
              f"hashes/s ({k:,} hashes in {t_batch:.2f} s, {sum(map(bool, found)):,} with "
              "matches)", flush=True)
        for line in HMA_FIGURES:
            print(line)
        if n < 10_000_000:
            print("targets (>= 2,000 lookups/s, p99 <= 25 ms, 0 errors; batch >= 50,000 "
                  "hashes/s) apply at --entries 10M")
        store.close()


if __name__ == "__main__":
    main()
