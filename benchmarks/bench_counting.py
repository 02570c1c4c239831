"""Benchmark of qwem.counting on the default corpus (V = 10,000, L = 16, oov="drop").

Prints tokens/s, pair-updates/s and peak memory of `cooccurrence_counts` (raw and weighted counts), the
numba compile time (measured separately, in a fresh numba cache folder, before timing), and the ratio
against a straightforward numpy baseline measured in the same run: for each offset k, `np.bincount` of
`tok[:-k]*V + tok[k:]` over a batch of documents (pairs that cross a document masked out), accumulated
into a V*V int64 array, then symmetrised. The baseline computes raw counts only; the fast counter computes
raw and weighted counts. The script checks that both give identical raw counts.

Usage: python benchmarks/bench_counting.py [--V 10000] [--L 16] [--repeats 2] [--synthetic N_TOKENS]
Run it when the machine is quiet (`uptime` load < 1.5); it uses about 4 GB at V = 10,000 (the baseline
and the comparison hold a second and third V x V matrix; the fast counter alone stays under 2 GB).
"""
import argparse, os, resource, sys, tempfile, time

# a fresh numba cache folder, so that the first call below measures a real compile (not a cache load)
os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="qwem-bench-numba-"))

import numpy as np
from _machine import cpu_model


def peak_rss_gb():
    "Peak resident set size of this process so far (resource.getrusage ru_maxrss, KiB on Linux)."
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def baseline_raw_counts(tokens, offsets, V, L, batch_tokens=1 << 24):
    "Raw symmetric counts by np.bincount per offset k over batches of whole documents."
    acc = np.zeros(V * V, np.int64)
    doc = np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(offsets))
    start = 0
    while start < len(tokens):  # batches end on a document boundary
        end = int(offsets[np.searchsorted(offsets, start + batch_tokens, side="right") - 1])
        if end <= start: end = int(offsets[np.searchsorted(offsets, start, side="right")])
        tok, dd = tokens[start:end].astype(np.int64), doc[start:end]
        for k in range(1, L + 1):
            same = dd[:-k] == dd[k:]
            acc += np.bincount(tok[:-k][same] * V + tok[k:][same], minlength=V * V)
        start = end
    acc = acc.reshape(V, V)
    acc += acc.T  # numpy buffers the overlapping transpose
    return acc


def load_stream(args):
    if args.synthetic:
        from qwem.counting import random_stream
        n_docs = args.synthetic // 1000
        return random_stream(n_docs, args.V, rng=np.random.default_rng(0), max_len=2000), f"synthetic Zipf stream, {n_docs:,} documents"
    from qwem.corpus import default_corpus
    ts = default_corpus()
    tokens, offsets = ts.restrict(args.V, oov="drop")
    return (tokens, offsets), f"default corpus {ts.fingerprint[:12]}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--V", type=int, default=10_000)
    p.add_argument("--L", type=int, default=16)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--synthetic", type=int, default=0, help="use a random Zipf stream of about N tokens")
    p.add_argument("--no-baseline", action="store_true")
    args = p.parse_args()
    import numba
    from qwem.counting import cooccurrence_counts, _forward_kernel

    with open("/proc/loadavg") as f: load = f.read().split()[0]
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, numba threads {numba.get_num_threads()} "
          f"(threading layer: {numba.config.THREADING_LAYER}), load average {load}")
    t0 = time.perf_counter()
    (tokens, offsets), what = load_stream(args)
    print(f"input: {what}: {len(tokens):,} tokens, {len(offsets) - 1:,} documents, V = {args.V:,}, "
          f"L = {args.L} (loaded in {time.perf_counter() - t0:.1f} s)")
    V, L = args.V, args.L

    t0 = time.perf_counter()
    cooccurrence_counts(np.array([0, 1, 0], tokens.dtype), np.array([0, 3]), 2, 2, progress=False)
    cooccurrence_counts(np.array([0, 1, 0], tokens.dtype), np.array([0, 3]), 2, 2, progress=False,
                        layout="separate")
    print(f"numba compile (fresh cache {os.environ['NUMBA_CACHE_DIR']}): {time.perf_counter() - t0:.1f} s "
          f"(cache hits {sum(_forward_kernel.stats.cache_hits.values())}, excluded from the timings below)")

    rss0 = peak_rss_gb()
    times = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        c = cooccurrence_counts(tokens, offsets, V, L, progress=False)
        times.append(time.perf_counter() - t0)
        if r + 1 < args.repeats: del c
    fast = min(times)
    n_pairs = c.meta["n_pairs"]
    print(f"\nfast counter ({c.meta['layout']} layout, {c.meta['threads']} threads), raw + weighted counts:")
    print(f"  time          {fast:.2f} s (best of {args.repeats}: " + ", ".join(f"{t:.2f}" for t in times) + ")")
    print(f"  tokens/s      {len(tokens) / fast / 1e6:.1f} M")
    print(f"  pair-updates  {n_pairs / fast / 1e6:.0f} M pairs/s ({n_pairs:,} pairs at distance 1..{L}, each "
          f"adding to raw and weighted, both directions)")
    arrays = (c.raw.nbytes + c.weighted.nbytes) / 2**30
    print(f"  peak memory   {peak_rss_gb():.2f} GiB peak RSS of the whole process (ru_maxrss; "
          f"{rss0:.2f} GiB before counting: Python, numba, the token stream); result arrays {arrays:.2f} GiB")

    if args.no_baseline: return
    t0 = time.perf_counter()
    base = baseline_raw_counts(np.asarray(tokens), np.asarray(offsets), V, L)
    tb = time.perf_counter() - t0
    same = np.array_equal(base, c.raw)
    print(f"\nnumpy baseline (np.bincount per offset k, raw counts only): {tb:.2f} s, "
          f"{len(tokens) / tb / 1e6:.1f} M tokens/s")
    print(f"  identical raw counts: {same}")
    print(f"\nratio baseline / fast: {tb / fast:.1f}x on {cpu_model()} (the fast time includes the weighted counts)")
    if not same: sys.exit("raw counts differ from the baseline")


if __name__ == "__main__":
    main()
