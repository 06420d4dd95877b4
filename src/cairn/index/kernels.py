"""Compiled inner loops of the Hamming index (numba): probing, verifying, scanning, sweeping.

Why compiled, and why in stages: at 10M hashes an exact radius-31 query must look up ~2,900
buckets and verify ~3,000 candidate rows, each a random read into hundreds of megabytes. One
random read costs ~100-250 ns here, so done one after another they bound a query at ~1 ms.
Each stage below is a flat loop over independent reads with a software prefetch `AHEAD`
iterations early, so the memory system works on many of them at once; verification writes its
output without a branch. The result is several times what the same arithmetic reaches as
numpy array operations (measured in `bench/bench_index.py`).

Compiled on first use and cached next to this file, else in the user's cache folder (or in
NUMBA_CACHE_DIR); where none is writable (a locked-down service account), compiled in memory
by every process instead.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

# Iterations between a prefetch and its use, and the prefetch's locality hint. Measured at 1M,
# 2M and 10M rows on this 2-core machine while other work loaded it (bench: best of 6 passes,
# configurations interleaved): 16 to L1 (the old setting) 2,400 queries/s at 10M; 32 to L2
# (locality 1) 5,200; 48 to L2 5,000; 48 to L1 4,600. On a quiet machine 8..48 to L1 measured
# alike: the deeper, L2-bound prefetch keeps more reads in flight when the cores are shared.
AHEAD = 32
LOCALITY = 1


def compiled(fn):
    """njit, cached on disk where numba finds a writable place for it, else in memory."""
    try:
        return njit(cache=True, nogil=True, boundscheck=False)(fn)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return njit(nogil=True, boundscheck=False)(fn)


@intrinsic
def _popcount(typingctx, x):
    """Population count of a uint64: one POPCNT instruction."""
    sig = types.int64(types.uint64)  # signed: mixing uint64 with int64 would make floats

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@intrinsic
def _prefetch(typingctx, arr, row):
    """Ask for the cache line holding arr[row] (first element of that row) without waiting."""
    sig = types.void(arr, row)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        zero = context.get_constant(types.intp, 0)
        index = [args[1]] + [zero] * (aryty.ndim - 1)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, index, wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read, LOCALITY (see above), data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(LOCALITY), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@compiled
def _distance(codes, row, qs, q):
    """Hamming distance of row `row` of codes and query q, 256 bits as four uint64 words
    (inlined by LLVM where it is called)."""
    return (_popcount(codes[row, 0] ^ qs[q, 0]) + _popcount(codes[row, 1] ^ qs[q, 1])
            + _popcount(codes[row, 2] ^ qs[q, 2]) + _popcount(codes[row, 3] ^ qs[q, 3]))


@compiled
def _keep(out_q, out_id, out_d, h, q, row, d):
    """Hit h (query, row, distance) written while the buffers hold it; returns h + 1 either
    way, so a caller whose buffers were short learns the size they need."""
    if h < out_q.shape[0]:
        out_q[h] = q
        out_id[h] = row
        out_d[h] = d
    return h + 1


@compiled
def bucket_ranges(offsets, off_base, built, qkeys, masks, mask_table, starts, counts, totals):
    """For every query and probe (a table and a key within the probe radius of the query's
    substring): where its bucket starts within its table's slice of the order array, and how
    many rows it holds. totals[q] is the query's candidate count, so crowded queries can go
    to a scan instead. Laid out [query, probe] in starts and counts. Returns how many
    buckets had impossible bounds (a damaged index file): their reads would leave the array."""
    nq = qkeys.shape[0]
    n_probes = masks.shape[0]
    n = nq * n_probes
    for q in range(nq):  # first every address: no division in the loop that waits on memory
        for i in range(n_probes):
            k = mask_table[i]
            starts[q * n_probes + i] = off_base[k] + (qkeys[q, k] ^ masks[i])
    bad = 0
    for p in range(n):
        if p + AHEAD < n:
            _prefetch(offsets, starts[p + AHEAD])
        at = starts[p]
        a = np.int64(offsets[at])
        b = np.int64(offsets[at + 1])
        if b < a or b > built:
            bad += 1
            a = b = 0
        counts[p] = b - a
        starts[p] = a
    for q in range(nq):
        t = 0
        for i in range(n_probes):
            t += counts[q * n_probes + i]
        totals[q] = t
    return bad


@compiled
def verify(codes, order, built, starts, counts, mask_table, active, qs, radius, cand, cand_q,
           out_q, out_id, out_d):
    """Gather the rows in the buckets of the `active` queries, then compare each with its
    query on all 256 bits; (query, row, distance) of those within `radius` go to out_*.
    cand/cand_q/out_* must hold the active queries' candidate total. Returns the hit count,
    or -1 where a bucket names a row the index does not have (a damaged index file).
    A row met through two tables is reported twice; the caller keeps one."""
    n_probes = mask_table.shape[0]
    n_rows = codes.shape[0]
    n = 0
    for t in range(active.shape[0]):
        q = active[t]
        base = q * n_probes
        for i in range(n_probes):
            p = base + i
            st = starts[p] + mask_table[i] * built  # table k's rows start at k * built
            if i + AHEAD < n_probes:
                _prefetch(order, starts[p + AHEAD] + mask_table[i + AHEAD] * built)
            for j in range(counts[p]):
                row = np.int64(order[st + j])
                if row >= n_rows:
                    return -1
                cand[n] = row
                cand_q[n] = q
                n += 1
    h = 0
    for i in range(n):
        if i + AHEAD < n:
            _prefetch(codes, cand[i + AHEAD])
        row = cand[i]
        q = cand_q[i]
        d = _distance(codes, row, qs, q)
        out_q[h] = q
        out_id[h] = row
        out_d[h] = d
        h += d <= radius  # branch-free: the next row's reads are never held up
    return h


@compiled
def scan(codes, lo, hi, qs, radius, out_q, out_id, out_d):
    """Compare rows [lo, hi) with every query (a linear scan, rows read once for all queries).
    Writes at most len(out_q) hits; returns how many there are, so a caller whose buffer was
    short can call again with one that fits."""
    h = 0
    nq = qs.shape[0]
    for row in range(lo, hi):
        c0, c1, c2, c3 = codes[row, 0], codes[row, 1], codes[row, 2], codes[row, 3]
        for q in range(nq):
            d = (_popcount(c0 ^ qs[q, 0]) + _popcount(c1 ^ qs[q, 1])
                 + _popcount(c2 ^ qs[q, 2]) + _popcount(c3 ^ qs[q, 3]))
            if d <= radius:
                h = _keep(out_q, out_id, out_d, h, q, row, d)
    return h


@compiled
def _row_key(codes, r, bits, start, length):
    """Table key of row r: its hash bits bits[start], ..., bits[start + length - 1] (bit p is
    bit 7 - p % 8 of byte p // 8, as the hex reads), the first most significant. Each bit is
    shifted to its place on its own, so the reads overlap (not a chain of shift-and-or)."""
    key = np.uint64(0)
    one = np.uint64(1)
    for j in range(length):
        p = bits[start + j]
        bit = (np.uint64(codes[r, p >> 3]) >> np.uint64(7 - (p & 7))) & one
        key |= bit << np.uint64(length - 1 - j)
    return np.int64(key)


@compiled
def substring_keys(codes, bits, starts, lengths, out):
    """out[r, k]: table k's key of row r, from its bits bits[starts[k]:starts[k] + lengths[k]].
    As numpy operations this was ~0.1 ms for one query."""
    for r in range(codes.shape[0]):
        for k in range(starts.shape[0]):
            out[r, k] = _row_key(codes, r, bits, starts[k], lengths[k])


@njit(cache=True, nogil=True, boundscheck=False, parallel=True)
def count_sort(codes, bits, starts, lengths, off_base, order, offsets):
    """Build every table by counting sort, the tables shared among the cores: no keys array,
    no sort scratch, two passes over the rows per table. offsets[off_base[k] + key] becomes
    where bucket `key` of table k starts (its last offset is the row count);
    order[k * n:(k + 1) * n] holds table k's rows by key, ascending within a bucket (the
    order a merge keeps)."""
    n = codes.shape[0]
    m = starts.shape[0]
    for k in prange(m):
        base = off_base[k]
        size = np.int64(1) << lengths[k]
        start, length = starts[k], lengths[k]
        for j in range(size + 1):
            offsets[base + j] = 0
        for r in range(n):  # 1: count each bucket
            offsets[base + _row_key(codes, r, bits, start, length)] += 1
        run = np.int64(0)  # each count becomes its bucket's end
        for j in range(size):
            run += np.int64(offsets[base + j])
            offsets[base + j] = run
        offsets[base + size] = n
        for r in range(n - 1, -1, -1):  # 2: place rows from the back; ends become starts
            at = base + _row_key(codes, r, bits, start, length)
            offsets[at] -= 1
            order[np.int64(k) * n + np.int64(offsets[at])] = r


# Candidates gathered (their codes prefetched as they are met) before they are verified:
# 512 and 4,096 alike at 10M; at 1M 512 took ~7% less (27.4 against 29.5 us a query).
SWEEP_CHUNK = 512


@compiled
def _verify_chunk(codes, qs, radius, cand_q, cand_row, nc, out_q, out_id, out_d, h):
    """Compare candidates [0, nc) with their queries; hits appended at out_*[h...] while
    they fit (the count goes on, so a caller whose buffer was short can size it)."""
    for i in range(nc):
        if i + AHEAD < nc:
            _prefetch(codes, cand_row[i + AHEAD])
        row = cand_row[i]
        q = cand_q[i]
        d = _distance(codes, row, qs, q)
        if d <= radius:
            h = _keep(out_q, out_id, out_d, h, q, row, d)
    return h


@compiled
def sweep_table(offsets, obase, order, rbase, built, bits, pbits, codes, qkey, qs, ghigh,
                gstart, glow, radius, limit, qtotal, crowded, part, pairs, probes, pa, pc,
                cand_q, cand_row, out_q, out_id, out_d, stages):
    """One table's probes for a whole batch of queries, in address order.

    Why: a batch of thousands of queries probes every part of a table (10,000 queries x
    ~300 probes into 2^23 buckets touch each cache line of the offsets several times).
    Probed one query at a time, each probe is a random read (a TLB miss and a cache miss);
    in the order of the bucket's top `pbits` bits, the probes of a partition fall in a
    window of the offsets and of the order array that stays in cache, and the windows are
    visited in address order. The probe masks come grouped by their top bits (ghigh[g],
    with low parts glow[gstart[g]:gstart[g + 1]]): every probe of one (query, group) pair
    is in the same window, so the counting sort places pairs (a few per query), not probes.

    qkey[q]: query q's key in this table; qtotal/crowded: candidates met so far per query,
    and queries past `limit` (a scan answers those: they are skipped from here on). part
    (2^pbits + 1), pairs (len(qkey) x groups), probes, pa, pc (len(qkey) x masks), cand_q,
    cand_row (SWEEP_CHUNK): scratch. Returns the hits (query, row, distance) found, written
    to out_* while they fit; -1 where a bucket names a row the index does not have, -2
    where a bucket's bounds are impossible (a damaged index file). `stages` below 5 stops
    early, for `HammingIndex.sweep_cost` only: 3 after the bucket lookups, 4 after the rows
    are gathered (nothing verified, no hits)."""
    nq = qkey.shape[0]
    ng = ghigh.shape[0]
    n_rows = codes.shape[0]
    shift = bits - pbits
    n_parts = np.int64(1) << pbits
    for j in range(n_parts + 1):
        part[j] = 0
    for q in range(nq):  # 1: count the pairs of each partition
        if crowded[q]:
            continue
        top = qkey[q] >> shift
        for g in range(ng):
            part[(top ^ ghigh[g]) + 1] += 1
    for j in range(n_parts):
        part[j + 1] += part[j]
    n = part[n_parts]
    for q in range(nq):  # 2: place them, query and group packed in one word
        if crowded[q]:
            continue
        top = qkey[q] >> shift
        for g in range(ng):
            p = top ^ ghigh[g]
            at = part[p]
            pairs[at] = (q << 16) | g
            part[p] = at + 1
    m = 0
    for i in range(n):  # 3: bucket bounds; the non-empty ones kept, with their query
        if i + AHEAD < n:
            w = pairs[i + AHEAD]
            _prefetch(offsets, obase + (qkey[w >> 16] ^ (ghigh[w & 0xFFFF] << shift)))
        w = pairs[i]
        q = w >> 16
        g = w & 0xFFFF
        key = qkey[q] ^ (ghigh[g] << shift)
        for j in range(gstart[g], gstart[g + 1]):
            at = obase + (key ^ glow[j])
            a = np.int64(offsets[at])
            b = np.int64(offsets[at + 1])
            if b < a or b > built:
                return -2
            qtotal[q] += b - a  # written whether empty or not, kept only if not: no branch
            probes[m] = q
            pa[m] = rbase + a
            pc[m] = b - a
            m += b > a
        crowded[q] |= qtotal[q] > limit
    if stages < 4:
        return 0
    h = 0
    nc = 0
    chunk = cand_q.shape[0] if stages >= 5 else 0  # 0: gathered, never verified
    for j in range(m):  # 4: gather the rows of those buckets, verify them a chunk at a time
        if j + AHEAD < m:
            _prefetch(order, pa[j + AHEAD])
        q = probes[j]
        if crowded[q]:
            continue
        st = pa[j]
        for r in range(pc[j]):
            row = np.int64(order[st + r])
            if row >= n_rows:
                return -1
            if chunk == 0:
                continue
            _prefetch(codes, row)  # asked for now, compared a chunk later: reads overlap
            cand_q[nc] = q
            cand_row[nc] = row
            nc += 1
            if nc == chunk:
                h = _verify_chunk(codes, qs, radius, cand_q, cand_row, nc, out_q, out_id,
                                  out_d, h)
                nc = 0
    return _verify_chunk(codes, qs, radius, cand_q, cand_row, nc, out_q, out_id, out_d, h)
